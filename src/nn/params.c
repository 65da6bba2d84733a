/* Parameters: a model's named persistent f32 tensors.
 *
 * Names follow PyTorch's state_dict ("encoder.0.weight") and are checked when
 * added: non-empty, at most ED_PARAM_NAME_MAX bytes, printable ASCII without
 * spaces, quotes or backslashes, no empty component ("a..b", ".a", "a.") and
 * unique. Trainable tensors require grad; buffers (running_mean) do not.
 *
 * ed_params_pack moves the data of every trainable tensor into one block and
 * gives each a gradient wrapping its slice of a second block of the same
 * layout (slices start 64-byte aligned; the padding between them stays zero,
 * so a kernel may run straight across it). The tensors keep their identity:
 * only ->data and ->grad change, so pointers handed out before stay valid.
 * The autograd tape reuses an existing t->grad (grad_buffer in tape.c), so
 * backward writes into the block; grad_defined says whether it has been
 * written since the last zero_grad (torch's "grad is None").
 *
 * ed_clip_grad_norm follows torch.nn.utils.clip_grad_norm_: total 2-norm over
 * all defined gradients, coef = max_norm / (total + 1e-6) clamped to 1, every
 * gradient multiplied by it. The sum of squares is taken in double over
 * fixed chunks added in order, so the result does not depend on threads. */
#include "core/ed_internal.h"

#include <math.h>
#include <stdlib.h>

typedef struct ed_param_entry {
    char *name;
    ed_tensor *t;
    int trainable;
    int64_t offset;       /* in floats into the blocks, once packed */
} ed_param_entry;

struct ed_params {
    int n, cap;
    ed_param_entry *e;
    int packed;
    float *data_block, *grad_block;
    int64_t block_numel;  /* floats in each block, padding included */
};

/* For the optimizers (src/optim): the packed blocks, or 0 when not packed. */
int ed__params_blocks(const ed_params *p, float **data, float **grad, int64_t *numel)
{
    if (!p || !p->packed) return 0;
    *data = p->data_block;
    *grad = p->grad_block;
    *numel = p->block_numel;
    return 1;
}

#define ED_PARAM_NAME_MAX 255
#define ALIGN_FLOATS 16   /* 64 bytes */

ed_status ed_params_new(ed_params **out)
{
    if (!out) return ed__err(ED_E_ARG, "params_new: out is NULL");
    *out = calloc(1, sizeof **out);
    if (!*out) return ed__err(ED_E_NOMEM, "params_new: out of memory");
    return ED_OK;
}

void ed_params_free(ed_params *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->e[i].name);
        ed_tensor_free(p->e[i].t);
    }
    free(p->e);
    ed__aligned_free(p->data_block);
    ed__aligned_free(p->grad_block);
    free(p);
}

static ed_status check_name(const ed_params *p, const char *name)
{
    if (!name || !*name) return ed__err(ED_E_ARG, "params_add: the name is empty");
    size_t len = strlen(name);
    if (len > ED_PARAM_NAME_MAX)
        return ed__err(ED_E_ARG, "params_add: name '%.40s...' is %zu bytes long (at most %d)", name, len, ED_PARAM_NAME_MAX);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= ' ' || c >= 127 || c == '"' || c == '\\')
            return ed__err(ED_E_ARG, "params_add: name '%s' has an invalid character at position %zu "
                           "(printable ASCII without spaces, quotes or backslashes)", name, i);
        if (c == '.' && (i == 0 || i + 1 == len || name[i + 1] == '.'))
            return ed__err(ED_E_ARG, "params_add: name '%s' has an empty component", name);
    }
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->e[i].name, name)) return ed__err(ED_E_ARG, "params_add: name '%s' is already used", name);
    return ED_OK;
}

ed_status ed_params_add(ed_params *p, const char *name, int ndim, const int64_t *shape, int trainable, ed_tensor **out)
{
    if (out) *out = NULL;
    if (!p || !out) return ed__err(ED_E_ARG, "params_add: params or out is NULL");
    if (p->packed)
        return ed__err(ED_E_STATE, "params_add: cannot add '%s': the parameters are already packed", name ? name : "(null)");
    ED_TRY(check_name(p, name));
    if (ndim > 0 && shape)
        for (int d = 0; d < ndim; d++)
            if (shape[d] <= 0)
                return ed__err(ED_E_ARG, "params_add: '%s' has size %lld in dimension %d (sizes must be positive)",
                               name, (long long)shape[d], d);
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        ed_param_entry *e = realloc(p->e, (size_t)cap * sizeof *e);
        if (!e) return ed__err(ED_E_NOMEM, "params_add: out of memory");
        p->e = e;
        p->cap = cap;
    }
    ed_tensor *t = NULL;
    ED_TRY(ed_tensor_new(ED_F32, ndim, shape, &t));
    char *nm = strdup(name);
    if (!nm) { ed_tensor_free(t); return ed__err(ED_E_NOMEM, "params_add: out of memory"); }
    if (trainable) t->requires_grad = 1;
    p->e[p->n++] = (ed_param_entry){ .name = nm, .t = t, .trainable = trainable ? 1 : 0 };
    *out = t;
    return ED_OK;
}

static int64_t round_up(int64_t n) { return (n + ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS; }

ed_status ed_params_pack(ed_params *p)
{
    if (!p) return ed__err(ED_E_ARG, "params_pack: params is NULL");
    if (p->packed) return ED_OK;
    int64_t total = 0;
    for (int i = 0; i < p->n; i++)
        if (p->e[i].trainable) {
            p->e[i].offset = total;
            total += round_up(p->e[i].t->numel);
        }
    size_t bytes = (size_t)(total > 0 ? total : ALIGN_FLOATS) * sizeof(float);
    float *data = ed__aligned_alloc(bytes), *grad = ed__aligned_alloc(bytes);
    if (!data || !grad) {
        ed__aligned_free(data);
        ed__aligned_free(grad);
        return ed__err(ED_E_NOMEM, "params_pack: cannot allocate 2 x %zu bytes", bytes);
    }
    memset(data, 0, bytes);
    memset(grad, 0, bytes);
    /* Make every gradient wrapper first, so a failure leaves p unchanged. */
    ed_tensor **wraps = calloc((size_t)(p->n > 0 ? p->n : 1), sizeof *wraps);
    ed_status st = wraps ? ED_OK : ed__err(ED_E_NOMEM, "params_pack: out of memory");
    for (int i = 0; st == ED_OK && i < p->n; i++) {
        ed_tensor *t = p->e[i].t;
        if (p->e[i].trainable) st = ed__tensor_wrap(ED_F32, t->ndim, t->shape, grad + p->e[i].offset, &wraps[i]);
    }
    if (st != ED_OK) {
        for (int i = 0; wraps && i < p->n; i++) ed_tensor_free(wraps[i]);
        free(wraps);
        ed__aligned_free(data);
        ed__aligned_free(grad);
        return st;
    }
    for (int i = 0; i < p->n; i++) {
        if (!p->e[i].trainable) continue;
        ed_tensor *t = p->e[i].t;
        float *d = data + p->e[i].offset;
        memcpy(d, t->data, (size_t)t->numel * sizeof(float));
        if (t->owns_data) ed__aligned_free(t->data);
        t->data = d;
        t->owns_data = 0;
        /* A gradient written before packing moves with its tensor. */
        if (t->grad && t->grad_defined && t->grad->dtype == ED_F32)
            memcpy(wraps[i]->data, t->grad->data, (size_t)t->numel * sizeof(float));
        else
            t->grad_defined = 0;
        ed_tensor_free(t->grad);
        t->grad = wraps[i];
    }
    free(wraps);
    p->data_block = data;
    p->grad_block = grad;
    p->block_numel = total;
    p->packed = 1;
    return ED_OK;
}

int ed_params_count(const ed_params *p) { return p ? p->n : 0; }

const char *ed_params_name(const ed_params *p, int i) { return (p && i >= 0 && i < p->n) ? p->e[i].name : NULL; }

ed_tensor *ed_params_tensor(const ed_params *p, int i) { return (p && i >= 0 && i < p->n) ? p->e[i].t : NULL; }

int ed_params_trainable(const ed_params *p, int i) { return (p && i >= 0 && i < p->n) ? p->e[i].trainable : 0; }

ed_tensor *ed_params_find(const ed_params *p, const char *name)
{
    if (!p || !name) { ed__err(ED_E_ARG, "params_find: params or name is NULL"); return NULL; }
    for (int i = 0; i < p->n; i++)
        if (!strcmp(p->e[i].name, name)) return p->e[i].t;
    ed__err(ED_E_ARG, "params_find: no parameter named '%s'", name);
    return NULL;
}

int64_t ed_params_numel(const ed_params *p, int trainable_only)
{
    int64_t n = 0;
    for (int i = 0; p && i < p->n; i++)
        if (p->e[i].trainable || !trainable_only) n += p->e[i].t->numel;
    return n;
}

void ed_params_zero_grad(ed_params *p)
{
    if (!p) return;
    /* Per tensor, not the whole block: the block's padding is never written. */
    for (int i = 0; i < p->n; i++) ed_tensor_zero_grad(p->e[i].t);
}

/* ---- gradient clipping ------------------------------------------------------ */

#define CLIP_CHUNK 16384

static double sum_squares(const float *x, int64_t n)
{
    int64_t nchunks = (n + CLIP_CHUNK - 1) / CLIP_CHUNK;
    if (nchunks <= 1) {
        double s = 0;
        for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
        return s;
    }
    double *part = malloc((size_t)nchunks * sizeof *part);
    if (!part) {   /* same chunked order, serially */
        double total = 0;
        for (int64_t c = 0; c < nchunks; c++) {
            double s = 0;
            for (int64_t i = c * CLIP_CHUNK; i < n && i < (c + 1) * CLIP_CHUNK; i++) s += (double)x[i] * x[i];
            total += s;
        }
        return total;
    }
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nchunks; c++) {
        double s = 0;
        int64_t end = (c + 1) * CLIP_CHUNK < n ? (c + 1) * CLIP_CHUNK : n;
        for (int64_t i = c * CLIP_CHUNK; i < end; i++) s += (double)x[i] * x[i];
        part[c] = s;
    }
    double total = 0;
    for (int64_t c = 0; c < nchunks; c++) total += part[c];
    free(part);
    return total;
}

ed_status ed_clip_grad_norm(ed_params *p, double max_norm, double *total_norm)
{
    if (total_norm) *total_norm = 0;
    if (!p) return ed__err(ED_E_ARG, "clip_grad_norm: params is NULL");
    if (isnan(max_norm)) return ed__err(ED_E_ARG, "clip_grad_norm: max_norm is NaN");
    double ss = 0;
    for (int i = 0; i < p->n; i++) {
        ed_tensor *g = ed_tensor_grad(p->e[i].t);
        if (!p->e[i].trainable || !g) continue;
        if (g->dtype != ED_F32) return ed__err(ED_E_DTYPE, "clip_grad_norm: gradient of '%s' is %s, expected float32",
                                               p->e[i].name, ed_dtype_name(g->dtype));
        ss += sum_squares(ed__cf32(g), g->numel);
    }
    double norm = sqrt(ss);
    if (total_norm) *total_norm = norm;
    if (!isfinite(norm))
        return ed__err(ED_E_NAN, "clip_grad_norm: the total norm of the gradients is %g", norm);
    if (max_norm <= 0) return ED_OK;
    double coef = max_norm / (norm + 1e-6);
    if (coef >= 1.0) return ED_OK;   /* torch multiplies by the clamped 1.0: no change */
    float c = (float)coef;
    for (int i = 0; i < p->n; i++) {
        ed_tensor *g = ed_tensor_grad(p->e[i].t);
        if (!p->e[i].trainable || !g) continue;
        float *x = ed__f32(g);
        int64_t n = g->numel;
        ED_PARALLEL_FOR_IF(n > 65536)
        for (int64_t j = 0; j < n; j++) x[j] *= c;
    }
    return ED_OK;
}
