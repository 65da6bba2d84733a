/* Reductions: sum and mean.
 *   x any shape (0-d included), float32 or float64.
 *   dims: the dims to reduce (negative counts from the end; a 0-d tensor
 *     takes 0 or -1). NULL or ndims == 0 reduces over all elements, as
 *     torch's dim=() does. A dim listed twice is an error, as in torch.
 *   keepdim: reduced dims stay as size 1; otherwise they are removed (a full
 *     reduction gives a 0-d tensor with one element).
 *   mean = sum / count; the mean of no elements is NaN and their sum 0.
 *   Backward: gx += gy broadcast over the reduced dims (divided by the
 *     count for mean).
 *
 * Determinism: sums accumulate in double over fixed chunks of RED_CHUNK
 * consecutive reduced elements (contiguous runs inside a chunk use eight
 * interleaved partials, for speed); each chunk starts from 0 and the chunk
 * partials are added in chunk order. The work can then be split across any
 * number of threads (by chunk and by output) with bit-identical results. */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

#define RED_CHUNK 4096   /* reduced elements per partial sum */
#define RED_BLOCK 64     /* adjacent outputs summed together when the last dim is kept */

/* The input's dims with size-1 dims dropped and runs of kept or reduced
 * dims merged, so most reductions become one or two loops. */
typedef struct {
    int n;                              /* coalesced dims */
    int64_t size[ED_MAX_DIMS];
    bool red[ED_MAX_DIMS];
    int64_t ostride[ED_MAX_DIMS];       /* stride in the output (kept dims) */
    int nk, nr;                         /* kept and reduced dims, in order */
    int64_t ksize[ED_MAX_DIMS], kstride[ED_MAX_DIMS];
    int64_t rsize[ED_MAX_DIMS], rstride[ED_MAX_DIMS];
    int64_t numel, n_out, n_red;
} red_plan;

#define T float
#define K(n) n##_f32
#include "reduce_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "reduce_kern.h"
#undef T
#undef K

typedef struct {
    bool mean;
    bool red[ED_MAX_DIMS];   /* per input dim */
} reduce_ctx;

static void make_plan(const ed_tensor *x, const bool *red, red_plan *p)
{
    memset(p, 0, sizeof *p);
    p->numel = x->numel;
    for (int d = 0; d < x->ndim; d++) {
        if (x->shape[d] == 1) continue;
        if (p->n > 0 && p->red[p->n - 1] == red[d]) {
            p->size[p->n - 1] *= x->shape[d];
        } else {
            p->size[p->n] = x->shape[d];
            p->red[p->n] = red[d];
            p->n++;
        }
    }
    if (p->n == 0) { p->size[0] = 1; p->red[0] = false; p->n = 1; }   /* one element */
    int64_t is = 1, os = 1;
    int64_t istride[ED_MAX_DIMS];
    for (int d = p->n - 1; d >= 0; d--) {
        istride[d] = is;
        is *= p->size[d];
        p->ostride[d] = p->red[d] ? 0 : os;
        if (!p->red[d]) os *= p->size[d];
    }
    p->n_out = 1;
    p->n_red = 1;
    for (int d = 0; d < p->n; d++) {
        if (p->red[d]) {
            p->rsize[p->nr] = p->size[d];
            p->rstride[p->nr++] = istride[d];
            p->n_red *= p->size[d];
        } else {
            p->ksize[p->nk] = p->size[d];
            p->kstride[p->nk++] = istride[d];
            p->n_out *= p->size[d];
        }
    }
    if (p->nr == 0) { p->rsize[0] = 1; p->rstride[0] = 0; p->nr = 1; }
}

static void run_forward(const red_plan *p, const ed_tensor *x, ed_tensor *y, bool mean, double *part,
                        int64_t n_chunks)
{
    /* vectorise across outputs when the last coalesced dim is kept */
    const bool vec = p->nk > 0 && !p->red[p->n - 1];
    const int64_t L = vec ? p->ksize[p->nk - 1] : 1;
    const int64_t per_row = vec ? (L + RED_BLOCK - 1) / RED_BLOCK : 1;
    const int64_t n_blocks = p->n_out / L * per_row;
    const int64_t items = n_blocks * n_chunks;
    const bool f64 = x->dtype == ED_F64;
    ED_PARALLEL_FOR_IF(p->numel > 32768)
    for (int64_t it = 0; it < items; it++) {
        int64_t b = it / n_chunks, c = it % n_chunks;
        int64_t o0 = b / per_row * L + b % per_row * RED_BLOCK;
        int64_t cnt = vec ? (L - b % per_row * RED_BLOCK < RED_BLOCK ? L - b % per_row * RED_BLOCK : RED_BLOCK) : 1;
        int64_t j0 = c * RED_CHUNK, j1 = j0 + RED_CHUNK < p->n_red ? j0 + RED_CHUNK : p->n_red;
        double res[RED_BLOCK];
        if (f64) reduce_item_f64(p, ed__cf64(x), o0, cnt, j0, j1, res);
        else reduce_item_f32(p, ed__cf32(x), o0, cnt, j0, j1, res);
        if (n_chunks == 1) {
            if (f64) reduce_store_f64(res, cnt, mean, p->n_red, ed__f64(y) + o0);
            else reduce_store_f32(res, cnt, mean, p->n_red, ed__f32(y) + o0);
        } else {
            memcpy(part + c * p->n_out + o0, res, (size_t)cnt * sizeof(double));
        }
    }
    if (n_chunks == 1) return;
    ED_PARALLEL_FOR_IF(p->n_out > 1024)
    for (int64_t o = 0; o < p->n_out; o++) {
        double s = part[o];
        for (int64_t c = 1; c < n_chunks; c++) s += part[c * p->n_out + o];
        if (f64) reduce_store_f64(&s, 1, mean, p->n_red, ed__f64(y) + o);
        else reduce_store_f32(&s, 1, mean, p->n_red, ed__f32(y) + o);
    }
}

static ed_status reduce_backward(ed_node *n)
{
    const reduce_ctx *c = n->ctx;
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    const ed_tensor *x = n->in[0];
    if (!gx || x->numel == 0) return ED_OK;
    red_plan p;
    make_plan(x, c->red, &p);
    ED_DISPATCH_FLOAT(x->dtype, reduce_bwd, &p, n->out->grad->data, gx->data, c->mean);
    return ED_OK;
}

static ed_status reduce(bool mean, const ed_tensor *x, const int *dims, int ndims, int keepdim, ed_tensor **out)
{
    const char *name = mean ? "mean" : "sum";
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", name);
    *out = NULL;
    ED_TRY(ed__check_float(x, name, "input"));
    if (ndims < 0) return ed__err(ED_E_ARG, "%s: ndims must be >= 0, got %d", name, ndims);
    if (ndims > 0 && !dims) return ed__err(ED_E_ARG, "%s: dims is NULL but ndims is %d", name, ndims);
    reduce_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.mean = mean;
    /* a 0-d tensor accepts dim 0 and -1, as torch wraps scalars as 1-D */
    const int rank = x->ndim > 0 ? x->ndim : 1;
    for (int i = 0; i < ndims; i++) {
        int d = dims[i];
        if (d < -rank || d >= rank)
            return ed__err(ED_E_RANGE, "%s: dimension out of range (expected to be in range of [%d, %d], but got %d)",
                           name, -rank, rank - 1, d);
        if (d < 0) d += rank;
        if (ctx.red[d]) return ed__err(ED_E_ARG, "%s: dim %d appears multiple times in the list of dims", name, d);
        ctx.red[d] = true;
    }
    if (ndims == 0)
        for (int d = 0; d < x->ndim; d++) ctx.red[d] = true;

    int64_t shape[ED_MAX_DIMS];
    int ondim = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!ctx.red[d]) shape[ondim++] = x->shape[d];
        else if (keepdim) shape[ondim++] = 1;
    }
    ed_tensor *y;
    ED_TRY(ed__alloc(x->dtype, ondim, shape, &y));

    if (x->numel == 0) {
        /* nothing to add: sums are 0, means of nothing NaN (torch's 0/0) */
        for (int64_t i = 0; i < y->numel; i++) ed__set(y, i, mean ? NAN : 0.0);
    } else {
        red_plan p;
        make_plan(x, ctx.red, &p);
        int64_t n_chunks = (p.n_red + RED_CHUNK - 1) / RED_CHUNK;
        double *part = NULL;
        if (n_chunks > 1) {
            part = ed__scratch((size_t)(n_chunks * p.n_out) * sizeof(double));
            if (!part) { ed_tensor_free(y); return ed__err(ED_E_NOMEM, "%s: cannot allocate partial sums", name); }
        }
        run_forward(&p, x, y, mean, part, n_chunks);
        ed__scratch_free(part);
    }
    ed_node *node;
    ed_status st = ed__record(y, name, reduce_backward, 1, &x, &ctx, sizeof ctx, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_sum(const ed_tensor *x, const int *dims, int ndims, int keepdim, ed_tensor **out)
{
    return reduce(false, x, dims, ndims, keepdim, out);
}

ed_status ed_mean(const ed_tensor *x, const int *dims, int ndims, int keepdim, ed_tensor **out)
{
    return reduce(true, x, dims, ndims, keepdim, out);
}
