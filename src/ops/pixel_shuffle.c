/* pixel_shuffle, as torch.nn.functional.pixel_shuffle.
 *
 *   x (*, C*r*r, H, W) float32/float64, at least 3-D -> y (*, C, H*r, W*r)
 *   y[..., c, h*r + i, w*r + j] = x[..., c*r*r + i*r + j, h, w]
 *   (sub-pixel convolution's rearrangement, Shi et al. 2016). r >= 1 and
 *   the channel count must divide by r*r.
 * Backward is the inverse rearrangement, added into gx. */
#include "core/ed_internal.h"
#include "ops/typed.h"

#define T float
#define K(n) n##_f32
#include "pixel_shuffle_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "pixel_shuffle_kern.h"
#undef T
#undef K

typedef struct { int64_t r; } shuffle_ctx;

static ed_status shuffle_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const shuffle_ctx *c = n->ctx;
    int64_t H = gx->shape[gx->ndim - 2], W = gx->shape[gx->ndim - 1];
    int64_t planes = (H > 0 && W > 0) ? gx->numel / (c->r * c->r * H * W) : 0;
    ED_DISPATCH_FLOAT(gx->dtype, pixel_shuffle, 1, gx->data, n->out->grad->data, planes, H, W, c->r);
    return ED_OK;
}

ed_status ed_pixel_shuffle(const ed_tensor *x, int upscale_factor, ed_tensor **out)
{
    const char *op = "pixel_shuffle";
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", op);
    *out = NULL;
    ED_TRY(ed__check_float(x, op, "input"));
    char b[ED_SHAPE_BUF];
    if (x->ndim < 3)
        return ed__err(ED_E_SHAPE, "%s: input must be at least 3-D (*, C*r*r, H, W), got shape %s", op, ed__shape_str(x, b));
    if (upscale_factor <= 0)
        return ed__err(ED_E_ARG, "%s: upscale_factor must be positive, got %d", op, upscale_factor);
    int64_t r = upscale_factor, C = x->shape[x->ndim - 3];
    if (C % (r * r))
        return ed__err(ED_E_SHAPE, "%s: channels (dim %d) must divide by upscale_factor^2 = %lld, got shape %s", op,
                       x->ndim - 3, (long long)(r * r), ed__shape_str(x, b));
    int64_t shape[ED_MAX_DIMS], H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    for (int d = 0; d < x->ndim; d++) shape[d] = x->shape[d];
    shape[x->ndim - 3] = C / (r * r);
    shape[x->ndim - 2] = H * r;
    shape[x->ndim - 1] = W * r;
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(x->dtype, x->ndim, shape, &y));
    int64_t planes = (H > 0 && W > 0) ? x->numel / (r * r * H * W) : 0;
    ED_DISPATCH_FLOAT(x->dtype, pixel_shuffle, 0, (void *)x->data, y->data, planes, H, W, r);
    shuffle_ctx c = { r };
    ed_node *node = NULL;
    ed_status st = ed__record(y, op, shuffle_backward, 1, &x, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
