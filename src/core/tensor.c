/* Tensors: allocation (heap with reference counts, or arena), metadata,
 * conversions. Data is always contiguous and 64-byte aligned. */
#include "ed_internal.h"

#include <math.h>
#include <stdlib.h>

void ed__node_release(ed_node *n);   /* autograd/tape.c */

size_t ed_dtype_size(ed_dtype t)
{
    switch (t) {
    case ED_F32: return 4;
    case ED_F64: return 8;
    case ED_I64: return 8;
    case ED_I32: return 4;
    case ED_U8: return 1;
    case ED_BF16: return 2;
    }
    return 0;
}

const char *ed_dtype_name(ed_dtype t)
{
    switch (t) {
    case ED_F32: return "float32";
    case ED_F64: return "float64";
    case ED_I64: return "int64";
    case ED_I32: return "int32";
    case ED_U8: return "uint8";
    case ED_BF16: return "bfloat16";
    }
    return "unknown";
}

/* Shape checks common to every allocation: known dtype, 0..8 dims, sizes
 * >= 0 and a byte count that fits. */
static ed_status check_shape(ed_dtype dt, int ndim, const int64_t *shape, int64_t *numel)
{
    if (ed_dtype_size(dt) == 0) return ed__err(ED_E_DTYPE, "tensor: unknown dtype %d", (int)dt);
    if (ndim < 0 || ndim > ED_MAX_DIMS) return ed__err(ED_E_ARG, "tensor: %d dimensions (0..%d allowed)", ndim, ED_MAX_DIMS);
    if (ndim > 0 && !shape) return ed__err(ED_E_ARG, "tensor: shape is NULL");
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return ed__err(ED_E_ARG, "tensor: negative size %lld in dimension %d", (long long)shape[i], i);
        if (shape[i] && n > (INT64_C(1) << 40) / shape[i])
            return ed__err(ED_E_NOMEM, "tensor: too many elements (dimension %d of size %lld)", i, (long long)shape[i]);
        n *= shape[i];
    }
    *numel = n;
    return ED_OK;
}

static ed_status alloc_impl(ed_dtype dt, int ndim, const int64_t *shape, bool zero, bool heap, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "tensor: out is NULL");
    *out = NULL;
    int64_t numel;
    ED_TRY(check_shape(dt, ndim, shape, &numel));
    size_t bytes = (size_t)numel * ed_dtype_size(dt);
    ed_arena *a = heap ? NULL : ed__active_arena();
    ed_tensor *t;
    if (a) {
        t = ed__arena_alloc(a, sizeof *t);
        void *d = t ? ed__arena_alloc(a, bytes) : NULL;
        if (!t || !d) return ed__err(ED_E_NOMEM, "arena full: cannot allocate %zu bytes (used %zu)", bytes, ed_arena_used(a));
        memset(t, 0, sizeof *t);
        t->data = d;
        t->in_arena = 1;
    } else {
        t = calloc(1, sizeof *t);
        if (!t) return ed__err(ED_E_NOMEM, "tensor: out of memory");
        t->data = ed__aligned_alloc(bytes);
        if (!t->data) { free(t); return ed__err(ED_E_NOMEM, "tensor: cannot allocate %zu bytes", bytes); }
        t->owns_data = 1;
        t->refcount = 1;
    }
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    if (zero && bytes) memset(t->data, 0, bytes);
    *out = t;
    return ED_OK;
}

ed_status ed__alloc(ed_dtype dt, int ndim, const int64_t *shape, ed_tensor **out)
{ return alloc_impl(dt, ndim, shape, false, false, out); }
ed_status ed__alloc_zeros(ed_dtype dt, int ndim, const int64_t *shape, ed_tensor **out)
{ return alloc_impl(dt, ndim, shape, true, false, out); }
ed_status ed__alloc_like(const ed_tensor *t, ed_tensor **out)
{ return alloc_impl(t->dtype, t->ndim, t->shape, true, false, out); }
ed_status ed__alloc_heap_zeros(ed_dtype dt, int ndim, const int64_t *shape, ed_tensor **out)
{ return alloc_impl(dt, ndim, shape, true, true, out); }

ed_status ed__tensor_wrap(ed_dtype dt, int ndim, const int64_t *shape, void *data, ed_tensor **out)
{
    int64_t numel;
    *out = NULL;
    ED_TRY(check_shape(dt, ndim, shape, &numel));
    ed_tensor *t = calloc(1, sizeof *t);
    if (!t) return ed__err(ED_E_NOMEM, "tensor: out of memory");
    t->dtype = dt;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->data = data;
    t->refcount = 1;
    *out = t;
    return ED_OK;
}

ed_status ed_tensor_new(ed_dtype dt, int ndim, const int64_t *shape, ed_tensor **out)
{ return alloc_impl(dt, ndim, shape, true, true, out); }

ed_status ed_tensor_from_data(ed_dtype dt, int ndim, const int64_t *shape, const void *data, ed_tensor **out)
{
    ED_TRY(alloc_impl(dt, ndim, shape, false, true, out));
    size_t bytes = (size_t)(*out)->numel * ed_dtype_size(dt);
    if (bytes && !data) { ed_tensor_free(*out); *out = NULL; return ed__err(ED_E_ARG, "tensor: data is NULL"); }
    if (bytes) memcpy((*out)->data, data, bytes);
    return ED_OK;
}

ed_status ed__materialise(const ed_tensor *t)
{
    if (!t || !t->deferred) return ED_OK;
    if (!t->node || !t->node->materialise) return ed__err(ED_E_STATE, "tensor: deferred data has no producer to write it");
    ED_TRY(t->node->materialise(t->node));
    ((ed_tensor *)t)->deferred = 0;
    return ED_OK;
}

ed_status ed_tensor_clone(const ed_tensor *src, ed_tensor **out)
{
    ED_TRY(ed__check_tensor(src, "clone", "tensor"));   /* also writes a deferred tensor */
    return ed_tensor_from_data(src->dtype, src->ndim, src->shape, src->data, out);
}

ed_status ed_tensor_detach(const ed_tensor *t, ed_tensor **out) { return ed_tensor_clone(t, out); }

ed_tensor *ed_tensor_retain(ed_tensor *t)
{
    if (t && !t->in_arena) t->refcount++;
    return t;
}

void ed_tensor_free(ed_tensor *t)
{
    if (!t || t->in_arena) return;
    if (--t->refcount > 0) return;
    if (t->node) ed__node_release(t->node);
    if (t->grad) ed_tensor_free(t->grad);
    if (t->owns_data) ed__aligned_free(t->data);
    free(t);
}

ed_dtype ed_tensor_dtype(const ed_tensor *t) { return t->dtype; }
int ed_tensor_ndim(const ed_tensor *t) { return t->ndim; }
const int64_t *ed_tensor_shape(const ed_tensor *t) { return t->shape; }
int64_t ed_tensor_numel(const ed_tensor *t) { return t->numel; }
void *ed_tensor_data(ed_tensor *t) { return ed__materialise(t) == ED_OK ? t->data : NULL; }
const void *ed_tensor_cdata(const ed_tensor *t) { return ed__materialise(t) == ED_OK ? t->data : NULL; }

double ed__get(const ed_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ED_F32: return ((const float *)t->data)[i];
    case ED_F64: return ((const double *)t->data)[i];
    case ED_I64: return (double)((const int64_t *)t->data)[i];
    case ED_I32: return ((const int32_t *)t->data)[i];
    case ED_U8: return ((const uint8_t *)t->data)[i];
    case ED_BF16: {
        uint32_t u = (uint32_t)((const uint16_t *)t->data)[i] << 16;
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    }
    return 0;
}

void ed__set(ed_tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case ED_F32: ((float *)t->data)[i] = (float)v; break;
    case ED_F64: ((double *)t->data)[i] = v; break;
    case ED_I64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case ED_I32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case ED_U8: ((uint8_t *)t->data)[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5); break;
    case ED_BF16: {
        float f = (float)v;
        uint32_t u;
        memcpy(&u, &f, 4);
        if ((u & 0x7fffffff) > 0x7f800000) u = 0x7fc00000;           /* NaN stays NaN */
        else u += 0x7fff + ((u >> 16) & 1);                        /* round to nearest even */
        ((uint16_t *)t->data)[i] = (uint16_t)(u >> 16);
        break;
    }
    }
}

double ed_tensor_item(const ed_tensor *t)
{
    if (!t || t->numel < 1 || ed__materialise(t) != ED_OK) return NAN;
    return ed__get(t, 0);
}

ed_status ed_tensor_fill(ed_tensor *t, double v)
{
    ED_TRY(ed__check_tensor(t, "fill", "tensor"));
    if (t->frozen) return ed__err(ED_E_STATE, "fill: the tensor is frozen (ed_model_freeze)");
    for (int64_t i = 0; i < t->numel; i++) ed__set(t, i, v);
    return ED_OK;
}

ed_status ed_tensor_to(const ed_tensor *x, ed_dtype dt, ed_tensor **out)
{
    ED_TRY(ed__check_tensor(x, "to", "tensor"));   /* also writes a deferred tensor */
    ED_TRY(alloc_impl(dt, x->ndim, x->shape, false, false, out));
    if (dt == x->dtype) {
        memcpy((*out)->data, x->data, (size_t)x->numel * ed_dtype_size(dt));
        return ED_OK;
    }
    if (x->dtype == ED_F32 && dt == ED_F64) {
        for (int64_t i = 0; i < x->numel; i++) ed__f64(*out)[i] = ed__cf32(x)[i];
    } else if (x->dtype == ED_F64 && dt == ED_F32) {
        for (int64_t i = 0; i < x->numel; i++) ed__f32(*out)[i] = (float)ed__cf64(x)[i];
    } else {
        for (int64_t i = 0; i < x->numel; i++) ed__set(*out, i, ed__get(x, i));
    }
    return ED_OK;
}

ed_status ed_tensor_set_requires_grad(ed_tensor *t, int flag)
{
    ED_TRY(ed__check_tensor(t, "requires_grad", "tensor"));
    if (flag && t->dtype != ED_F32 && t->dtype != ED_F64)
        return ed__err(ED_E_DTYPE, "requires_grad: only float tensors can require gradients (got %s)", ed_dtype_name(t->dtype));
    if (!flag && t->node)
        return ed__err(ED_E_STATE, "requires_grad: a non-leaf tensor cannot stop requiring grad; detach it");
    t->requires_grad = flag ? 1 : 0;
    return ED_OK;
}

int ed_tensor_requires_grad(const ed_tensor *t) { return t && (t->requires_grad || t->node); }

ed_tensor *ed_tensor_grad(const ed_tensor *t)
{
    if (!t || !t->grad || !t->grad_defined) return NULL;
    if (ed__grad_plain(t->grad) != ED_OK) return NULL;   /* an NHWC temporary (ed_tensor.nhwc) seen mid-backward */
    return t->grad;
}

/* The buffer stays (a packed parameter's is a slice of the gradient block)
 * but its contents are dropped: ed_tensor_grad says NULL, the optimizer
 * skips it, and the next backward that writes it zero-fills it first
 * (tape.c's grad_buffer), so clearing it here too would be a second pass
 * over every parameter's gradient at each step. */
void ed_tensor_zero_grad(ed_tensor *t)
{
    if (!t || !t->grad) return;
    t->grad_defined = 0;
}
