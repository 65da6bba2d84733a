/* interpolate (resize) of the last two dims, as torch.nn.functional.interpolate
 * with recompute_scale_factor=None.
 *
 *   x (N, C, H, W) float32/float64 -> y (N, C, OH, OW).
 *   Output size: args->size, or, when size is (0, 0), floor(H * scale_factor[0])
 *   and floor(W * scale_factor[1]). Giving both (or neither) is an error, as
 *   in PyTorch.
 *   The coordinate map uses scale = 1 / scale_factor when a scale_factor was
 *   given (not in/out: 1.7 maps with 1/1.7 although 10 -> 17 would give
 *   10/17), else in/out.
 *   nearest ('nearest', PyTorch's legacy rule): src = min(floor(dst * scale),
 *     in - 1), in float32 arithmetic whatever the dtype, with PyTorch's
 *     shortcuts out == in (copy) and out == 2*in (dst / 2) taken first.
 *   bilinear, align_corners=1: src = dst * (in-1)/(out-1) (0 when out == 1).
 *   bilinear, align_corners=0: src = scale * (dst + 0.5) - 0.5, clamped at 0
 *     below; the upper tap is clamped to in-1. out == in copies.
 *   align_corners=1 with nearest is an error, as in PyTorch.
 * Backward adds each gy into the source pixels with the same weights (+=).
 *
 * Backends (ED_OP_INTERPOLATE) get params = the ed_interpolate_args with
 * size resolved to (OH, OW) and scale_factor as given ((0, 0) when a size
 * was given, meaning in/out), and tensors[]: forward {x, y}; backward
 * {gy, gx} (accumulate into gx). */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

#define T float
#define K(n) n##_f32
#include "interpolate_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "interpolate_kern.h"
#undef T
#undef K

/* PyTorch's nearest_idx: float arithmetic, shortcuts first. */
static int64_t nearest_src(int64_t o, int64_t in, int64_t out, double scale_factor)
{
    if (out == in) return o;
    if (out == 2 * in) return o >> 1;
    float scale = scale_factor > 0 ? (float)(1.0 / scale_factor) : (float)in / (float)out;
    int64_t s = (int64_t)floorf((float)o * scale);
    return s < in - 1 ? s : in - 1;
}

/* Runs the reference kernel forward (src = x, dst = y) or backward
 * (src = gy, dst = gx) on planes of H x W <-> OH x OW. */
static ed_status interp_run(int backward, const ed_interpolate_args *r, ed_dtype dt, const void *src, void *dst,
                            int64_t planes, int64_t H, int64_t W)
{
    const int64_t OH = r->size[0], OW = r->size[1];
    if (r->mode == ED_INTERP_NEAREST) {
        int64_t *ih = ed__scratch((size_t)(OH + OW) * sizeof(int64_t));
        if (!ih) return ed__err(ED_E_NOMEM, "interpolate: out of memory for index tables");
        int64_t *iw = ih + OH;
        for (int64_t o = 0; o < OH; o++) ih[o] = nearest_src(o, H, OH, r->scale_factor[0]);
        for (int64_t o = 0; o < OW; o++) iw[o] = nearest_src(o, W, OW, r->scale_factor[1]);
        ED_DISPATCH_FLOAT(dt, nearest, backward, src, dst, planes, H, W, OH, OW, ih, iw);
        ed__scratch_free(ih);
        return ED_OK;
    }
    size_t bytes = dt == ED_F64 ? bilinear_scratch_bytes_f64(OH, OW) : bilinear_scratch_bytes_f32(OH, OW);
    void *scratch = ed__scratch(bytes);
    if (!scratch) return ed__err(ED_E_NOMEM, "interpolate: out of memory for weight tables");
    ED_DISPATCH_FLOAT(dt, bilinear, backward, src, dst, planes, H, W, OH, OW, r->align_corners, r->scale_factor, scratch);
    ed__scratch_free(scratch);
    return ED_OK;
}

static ed_status interp_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_interpolate_args *r = n->ctx;
    ed_tensor *t[2] = { n->out->grad, gx };
    const ed_kernel *k = ed_backend_find(ED_OP_INTERPOLATE, ED_BACKWARD, r, t);
    if (k) return k->run(r, t);
    int64_t H = gx->shape[2], W = gx->shape[3];
    return interp_run(1, r, gx->dtype, n->out->grad->data, gx->data, gx->shape[0] * gx->shape[1], H, W);
}

static ed_status interp_setup(const ed_tensor *x, const ed_interpolate_args *args, ed_interpolate_args *r)
{
    const char *op = "interpolate";
    ED_TRY(ed__check_float(x, op, "input"));
    char b[ED_SHAPE_BUF];
    if (x->ndim != 4)
        return ed__err(ED_E_SHAPE, "interpolate: input must be 4-D (N, C, H, W), got shape %s", ed__shape_str(x, b));
    for (int d = 1; d < 4; d++)
        if (x->shape[d] == 0)
            return ed__err(ED_E_SHAPE, "interpolate: input has an empty dimension %d, got shape %s", d, ed__shape_str(x, b));
    if (!args) return ed__err(ED_E_ARG, "interpolate: args is NULL (size or scale_factor is required)");
    *r = *args;
    if (r->mode != ED_INTERP_NEAREST && r->mode != ED_INTERP_BILINEAR)
        return ed__err(ED_E_ARG, "interpolate: unknown mode %d (nearest or bilinear)", (int)r->mode);
    if (r->mode == ED_INTERP_NEAREST && r->align_corners)
        return ed__err(ED_E_ARG, "interpolate: align_corners can only be set with the interpolating modes "
                       "(bilinear), got mode nearest");
    r->align_corners = !!r->align_corners;
    bool has_size = r->size[0] != 0 || r->size[1] != 0;
    bool has_scale = r->scale_factor[0] != 0 || r->scale_factor[1] != 0;
    if (has_size && has_scale)
        return ed__err(ED_E_ARG, "interpolate: only one of size or scale_factor should be defined, got size (%lld, %lld) "
                       "and scale_factor (%g, %g)", (long long)r->size[0], (long long)r->size[1],
                       r->scale_factor[0], r->scale_factor[1]);
    if (!has_size && !has_scale)
        return ed__err(ED_E_ARG, "interpolate: either size or scale_factor should be defined");
    if (has_size) {
        if (r->size[0] <= 0 || r->size[1] <= 0)
            return ed__err(ED_E_ARG, "interpolate: size must be positive, got (%lld, %lld)", (long long)r->size[0],
                           (long long)r->size[1]);
        r->scale_factor[0] = r->scale_factor[1] = 0;
        return ED_OK;
    }
    for (int i = 0; i < 2; i++) {
        double s = r->scale_factor[i];
        if (!(s > 0) || isinf(s))
            return ed__err(ED_E_ARG, "interpolate: scale_factor must be positive and finite, got (%g, %g)",
                           r->scale_factor[0], r->scale_factor[1]);
        double o = floor((double)x->shape[2 + i] * s);
        if (o < 1 || o > 1e15)
            return ed__err(ED_E_SHAPE, "interpolate: input %s with scale_factor (%g, %g) gives an output size of %g in "
                           "dim %d; it must be positive", ed__shape_str(x, b), r->scale_factor[0], r->scale_factor[1], o, 2 + i);
        r->size[i] = (int64_t)o;
    }
    return ED_OK;
}

ed_status ed_interpolate(const ed_tensor *x, const ed_interpolate_args *args, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "interpolate: out is NULL");
    *out = NULL;
    ed_interpolate_args r;
    ED_TRY(interp_setup(x, args, &r));
    int64_t shape[4] = { x->shape[0], x->shape[1], r.size[0], r.size[1] };
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(x->dtype, 4, shape, &y));
    ed_tensor *t[2] = { (ed_tensor *)x, y };
    ed_status st;
    const ed_kernel *k = ed_backend_find(ED_OP_INTERPOLATE, ED_FORWARD, &r, t);
    if (k) st = k->run(&r, t);
    else st = interp_run(0, &r, x->dtype, x->data, y->data, x->shape[0] * x->shape[1], x->shape[2], x->shape[3]);
    ed_node *node = NULL;
    if (st == ED_OK) st = ed__record(y, "interpolate", interp_backward, 1, &x, &r, sizeof r, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
