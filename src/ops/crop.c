/* center_crop: x (..., H, W) -> (..., h, w), the window around the centre.
 *   Offsets as torchvision.transforms.functional.center_crop:
 *   top = int(round((H - h) / 2.0)), left likewise, with Python's round
 *   (half to even), so an odd difference of 1 gives 0, 3 gives 2, 5 gives 2.
 *   Needs ndim >= 2 and 1 <= h <= H, 1 <= w <= W (torchvision pads a crop
 *   larger than the input; encdec refuses it). Any dtype is copied;
 *   gradients flow for float32/float64.
 *   Backward: gx += gy inside the window, 0 elsewhere. */
#include "core/ed_internal.h"

typedef struct { int64_t h, w, top, left; } crop_ctx;

/* round(d / 2.0) with ties to even, in integers: d = 2q + 1 rounds to the
 * even one of q and q + 1. */
static int64_t half_round_even(int64_t d)
{
    int64_t q = d / 2;
    return (d % 2 && q % 2) ? q + 1 : q;
}

static ed_status crop_backward(ed_node *n)
{
    const crop_ctx *c = n->ctx;
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *x = n->in[0], *gy = n->out->grad;
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    const int64_t rows = gy->numel / c->w;     /* planes * h */
    ED_PARALLEL_FOR_IF(gy->numel > 32768)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / c->h, i = r % c->h;
        const int64_t xo = (p * H + c->top + i) * W + c->left, yo = r * c->w;
        if (gx->dtype == ED_F64) {
            double *d = ed__f64(gx) + xo;
            const double *s = ed__cf64(gy) + yo;
            for (int64_t j = 0; j < c->w; j++) d[j] += s[j];
        } else {
            float *d = ed__f32(gx) + xo;
            const float *s = ed__cf32(gy) + yo;
            for (int64_t j = 0; j < c->w; j++) d[j] += s[j];
        }
    }
    return ED_OK;
}

ed_status ed_center_crop(const ed_tensor *x, int64_t h, int64_t w, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "center_crop: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_tensor(x, "center_crop", "input"));
    char b[ED_SHAPE_BUF];
    if (x->ndim < 2)
        return ed__err(ED_E_SHAPE, "center_crop: input must have at least 2 dims (..., H, W), got shape %s",
                       ed__shape_str(x, b));
    if (h < 1 || w < 1)
        return ed__err(ED_E_ARG, "center_crop: crop size must be positive, got (%lld, %lld)", (long long)h, (long long)w);
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    if (h > H || w > W)
        return ed__err(ED_E_SHAPE, "center_crop: crop size (%lld, %lld) is larger than the input's (H, W) = (%lld, %lld) "
                       "(input %s)", (long long)h, (long long)w, (long long)H, (long long)W, ed__shape_str(x, b));
    crop_ctx c = { h, w, half_round_even(H - h), half_round_even(W - w) };
    int64_t shape[ED_MAX_DIMS];
    memcpy(shape, x->shape, sizeof shape);
    shape[x->ndim - 2] = h;
    shape[x->ndim - 1] = w;
    ed_tensor *y;
    ED_TRY(ed__alloc(x->dtype, x->ndim, shape, &y));
    const size_t es = ed_dtype_size(x->dtype);
    const int64_t rows = y->numel / w;
    ED_PARALLEL_FOR_IF(y->numel > 65536)
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / h, i = r % h;
        memcpy((char *)y->data + (size_t)(r * w) * es,
               (const char *)x->data + (size_t)((p * H + c.top + i) * W + c.left) * es, (size_t)w * es);
    }
    ed_node *node;
    ed_status st = ed__record(y, "center_crop", crop_backward, 1, &x, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
