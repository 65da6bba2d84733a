/* linear and matmul, on one small GEMM (linear_kern.h).
 *   linear: x (..., in) with ndim >= 1, weight (out, in), bias (out) or NULL
 *     -> y (..., out) = x @ weight^T + bias. The leading dims of x are one
 *     batch of rows M.
 *     Backward: gx += gy @ weight; gweight += gy^T @ x; gbias += sum of gy
 *     over the rows.
 *   matmul: a (n, k) @ b (k, m) -> (n, m), or batched (..., n, k) @
 *     (..., k, m) with equal batch dims (no broadcasting and no 1-D
 *     operands, unlike torch.matmul; shapes that differ are an error).
 *     Backward: ga += gc @ b^T; gb += a^T @ gc.
 *   Float32 or float64, all operands of one dtype. A product with an
 *   operand's transpose on the right copies that operand transposed into
 *   scratch first, so the GEMM's inner loop always runs over contiguous
 *   rows of B and C. */
#include "core/ed_internal.h"
#include "ops/typed.h"

#define GEMM_MB 32    /* rows of C per work item */
#define GEMM_NB 256   /* columns of C per work item */
#define GEMM_KB 128   /* depth of a B tile */

#define T float
#define K(n) n##_f32
#include "linear_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "linear_kern.h"
#undef T
#undef K

/* C += op(A) @ B, dispatched on dtype; see gemm in linear_kern.h. */
static void gemm(ed_dtype dt, int64_t batch, int64_t M, int64_t N, int64_t Kd, const void *A, int64_t sab,
                 int64_t sam, int64_t sak, const void *B, int64_t sbb, void *C, int64_t scb)
{
    if (dt == ED_F64) gemm_f64(batch, M, N, Kd, A, sab, sam, sak, B, sbb, C, scb);
    else gemm_f32(batch, M, N, Kd, A, sab, sam, sak, B, sbb, C, scb);
}

/* A scratch copy of src (batch of R x C matrices) transposed; NULL when out
 * of memory. Free with ed__scratch_free. */
static void *transposed(const ed_tensor *src, int64_t batch, int64_t R, int64_t Cn)
{
    void *d = ed__scratch((size_t)(batch * R * Cn) * ed_dtype_size(src->dtype));
    if (d) ED_DISPATCH_FLOAT(src->dtype, transpose, batch, R, Cn, src->data, d);
    return d;
}

/* ---- linear ----------------------------------------------------------------- */

static ed_status linear_backward(ed_node *n)
{
    const ed_tensor *x = n->in[0], *w = n->in[1], *gy = n->out->grad;
    const int64_t in = w->shape[1], outf = w->shape[0];
    int64_t M = 1;
    for (int d = 0; d < x->ndim - 1; d++) M *= x->shape[d];
    ed_tensor *gx, *gw, *gb = NULL;
    ED_TRY(ed__grad_of(n, 0, &gx));
    ED_TRY(ed__grad_of(n, 1, &gw));
    if (n->n_in > 2) ED_TRY(ed__grad_of(n, 2, &gb));
    /* gx (M x in) += gy (M x out) @ w (out x in) */
    if (gx) gemm(x->dtype, 1, M, in, outf, gy->data, 0, outf, 1, w->data, 0, gx->data, 0);
    /* gw (out x in) += gy^T (out x M) @ x (M x in) */
    if (gw) gemm(x->dtype, 1, outf, in, M, gy->data, 0, 1, outf, x->data, 0, gw->data, 0);
    if (gb) ED_DISPATCH_FLOAT(x->dtype, bias_grad, M, outf, gy->data, gb->data);
    return ED_OK;
}

ed_status ed_linear(const ed_tensor *x, const ed_tensor *weight, const ed_tensor *bias, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "linear: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_float(x, "linear", "input"));
    ED_TRY(ed__check_float(weight, "linear", "weight"));
    ED_TRY(ed__check_same_dtype(x, weight, "linear"));
    char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
    if (x->ndim < 1) return ed__err(ED_E_SHAPE, "linear: input must have at least 1 dim (..., in_features), got a 0-d tensor");
    ED_TRY(ed__check_ndim(weight, 2, "linear", "weight", "(out_features, in_features)"));
    const int64_t in = weight->shape[1], outf = weight->shape[0];
    if (x->shape[x->ndim - 1] != in)
        return ed__err(ED_E_SHAPE, "linear: input %s and weight %s cannot be multiplied (in_features %lld vs %lld)",
                       ed__shape_str(x, s1), ed__shape_str(weight, s2), (long long)x->shape[x->ndim - 1], (long long)in);
    if (bias) {
        ED_TRY(ed__check_float(bias, "linear", "bias"));
        ED_TRY(ed__check_same_dtype(x, bias, "linear"));
        if (bias->ndim != 1 || bias->shape[0] != outf)
            return ed__err(ED_E_SHAPE, "linear: bias must have shape (%lld,) for weight %s, got %s", (long long)outf,
                           ed__shape_str(weight, s1), ed__shape_str(bias, s2));
    }
    int64_t shape[ED_MAX_DIMS], M = 1;
    for (int d = 0; d < x->ndim - 1; d++) { shape[d] = x->shape[d]; M *= x->shape[d]; }
    shape[x->ndim - 1] = outf;
    ed_tensor *y;
    ED_TRY(bias ? ed__alloc(x->dtype, x->ndim, shape, &y) : ed__alloc_zeros(x->dtype, x->ndim, shape, &y));
    if (bias) ED_DISPATCH_FLOAT(x->dtype, fill_rows, M, outf, bias->data, y->data);
    if (M > 0 && outf > 0 && in > 0) {
        void *wt = transposed(weight, 1, outf, in);   /* (in x out) */
        if (!wt) { ed_tensor_free(y); return ed__err(ED_E_NOMEM, "linear: cannot allocate the transposed weight"); }
        gemm(x->dtype, 1, M, outf, in, x->data, 0, in, 1, wt, 0, y->data, 0);
        ed__scratch_free(wt);
    }
    const ed_tensor *ins[3] = { x, weight, bias };
    ed_node *node;
    ed_status st = ed__record(y, "linear", linear_backward, bias ? 3 : 2, ins, NULL, 0, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

/* ---- matmul ----------------------------------------------------------------- */

/* batch, n, k, m of a matmul whose shapes were checked */
static void mm_dims(const ed_tensor *a, const ed_tensor *b, int64_t *batch, int64_t *n, int64_t *k, int64_t *m)
{
    *batch = 1;
    for (int d = 0; d < a->ndim - 2; d++) *batch *= a->shape[d];
    *n = a->shape[a->ndim - 2];
    *k = a->shape[a->ndim - 1];
    *m = b->shape[b->ndim - 1];
}

static ed_status matmul_backward(ed_node *n)
{
    const ed_tensor *a = n->in[0], *b = n->in[1], *gc = n->out->grad;
    int64_t batch, rn, k, m;
    mm_dims(a, b, &batch, &rn, &k, &m);
    ed_tensor *ga, *gb;
    ED_TRY(ed__grad_of(n, 0, &ga));
    ED_TRY(ed__grad_of(n, 1, &gb));
    if (ga && rn * k > 0 && m > 0) {
        /* ga (n x k) += gc (n x m) @ b^T (m x k) */
        void *bt = transposed(b, batch, k, m);
        if (!bt) return ed__err(ED_E_NOMEM, "matmul: cannot allocate a transposed operand");
        gemm(a->dtype, batch, rn, k, m, gc->data, rn * m, m, 1, bt, m * k, ga->data, rn * k);
        ed__scratch_free(bt);
    }
    /* gb (k x m) += a^T (k x n) @ gc (n x m) */
    if (gb) gemm(a->dtype, batch, k, m, rn, a->data, rn * k, 1, k, gc->data, rn * m, gb->data, k * m);
    return ED_OK;
}

ed_status ed_matmul(const ed_tensor *a, const ed_tensor *b, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "matmul: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_float(a, "matmul", "input"));
    ED_TRY(ed__check_float(b, "matmul", "other"));
    ED_TRY(ed__check_same_dtype(a, b, "matmul"));
    char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
    if (a->ndim < 2 || a->ndim != b->ndim)
        return ed__err(ED_E_SHAPE, "matmul: shapes %s and %s: need two 2-D matrices or two batches (..., n, k) and "
                       "(..., k, m) with the same number of dims", ed__shape_str(a, s1), ed__shape_str(b, s2));
    for (int d = 0; d < a->ndim - 2; d++)
        if (a->shape[d] != b->shape[d])
            return ed__err(ED_E_SHAPE, "matmul: shapes %s and %s have different batch dims (dimension %d: %lld vs %lld; "
                           "no broadcasting)", ed__shape_str(a, s1), ed__shape_str(b, s2), d, (long long)a->shape[d],
                           (long long)b->shape[d]);
    if (a->shape[a->ndim - 1] != b->shape[b->ndim - 2])
        return ed__err(ED_E_SHAPE, "matmul: shapes %s and %s cannot be multiplied (%lld vs %lld)", ed__shape_str(a, s1),
                       ed__shape_str(b, s2), (long long)a->shape[a->ndim - 1], (long long)b->shape[b->ndim - 2]);
    int64_t batch, rn, k, m;
    mm_dims(a, b, &batch, &rn, &k, &m);
    int64_t shape[ED_MAX_DIMS];
    memcpy(shape, a->shape, sizeof shape);
    shape[a->ndim - 1] = m;
    ed_tensor *y;
    ED_TRY(ed__alloc_zeros(a->dtype, a->ndim, shape, &y));
    gemm(a->dtype, batch, rn, m, k, a->data, rn * k, k, 1, b->data, k * m, y->data, rn * m);
    const ed_tensor *ins[2] = { a, b };
    ed_node *node;
    ed_status st = ed__record(y, "matmul", matmul_backward, 2, ins, NULL, 0, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
