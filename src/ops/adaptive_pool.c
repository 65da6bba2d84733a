/* adaptive_avg_pool2d, as torch.nn.functional.
 *
 *   x (N, C, H, W) or (C, H, W), float32/float64 -> y (N, C, out_h, out_w)
 *   / (C, out_h, out_w). Output (i, j) averages rows
 *   [floor(i*H/out_h), ceil((i+1)*H/out_h)) and the columns likewise, so
 *   windows overlap when the sizes do not divide (5 -> 3: rows 0-1, 1-3,
 *   3-4). out_h, out_w must be positive; they may exceed H, W (windows of
 *   one pixel, repeated).
 * Backward spreads each gy evenly over its window (+=). */
#include "core/ed_internal.h"
#include "ops/typed.h"

#define T float
#define K(n) n##_f32
#include "adaptive_pool_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "adaptive_pool_kern.h"
#undef T
#undef K

static ed_status adaptive_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *y = n->out;
    int64_t H = gx->shape[gx->ndim - 2], W = gx->shape[gx->ndim - 1];
    int64_t OH = y->shape[y->ndim - 2], OW = y->shape[y->ndim - 1];
    ED_DISPATCH_FLOAT(gx->dtype, adaptive_avg_bwd, y->grad->data, gx->data, gx->numel / (H * W), H, W, OH, OW);
    return ED_OK;
}

ed_status ed_adaptive_avg_pool2d(const ed_tensor *x, int64_t out_h, int64_t out_w, ed_tensor **out)
{
    const char *op = "adaptive_avg_pool2d";
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", op);
    *out = NULL;
    ED_TRY(ed__check_float(x, op, "input"));
    char b[ED_SHAPE_BUF];
    if (x->ndim != 3 && x->ndim != 4)
        return ed__err(ED_E_SHAPE, "%s: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape %s", op,
                       ed__shape_str(x, b));
    for (int d = x->ndim == 4 ? 1 : 0; d < x->ndim; d++)
        if (x->shape[d] == 0)
            return ed__err(ED_E_SHAPE, "%s: input has an empty dimension %d, got shape %s", op, d, ed__shape_str(x, b));
    if (out_h <= 0 || out_w <= 0)
        return ed__err(ED_E_ARG, "%s: output_size must be positive, got (%lld, %lld)", op, (long long)out_h, (long long)out_w);
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1], shape[4];
    for (int d = 0; d < x->ndim - 2; d++) shape[d] = x->shape[d];
    shape[x->ndim - 2] = out_h;
    shape[x->ndim - 1] = out_w;
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(x->dtype, x->ndim, shape, &y));
    ED_DISPATCH_FLOAT(x->dtype, adaptive_avg_fwd, x->data, y->data, x->numel / (H * W), H, W, out_h, out_w);
    ed_node *node = NULL;
    ed_status st = ed__record(y, op, adaptive_backward, 1, &x, NULL, 0, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
