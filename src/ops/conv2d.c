/* 2-D convolution, as torch.nn.functional.conv2d.
 *
 *   x (N, Cin, H, W) or unbatched (Cin, H, W); weight (Cout, Cin/groups, kH, kW);
 *   bias (Cout) or NULL  ->  y (N, Cout, Ho, Wo) (or (Cout, Ho, Wo))
 *   y[n, o, oh, ow] = bias[o] + sum over c in o's group, i < kH, j < kW of
 *       weight[o, c, i, j] * x[n, g*Cin/groups + c, oh*sh - pt + i*dh, ow*sw - pl + j*dw]
 *   (pixels outside x count as 0), Ho = (H + pt + pb - dh*(kH-1) - 1) / sh + 1.
 *   padding: explicit (pt = pb = padding[0], pl = pr = padding[1]);
 *   'valid' = 0; 'same' (stride 1 only) pads dilation*(k-1) in total, half
 *   before and the odd one after (bottom/right), so Ho = H as in PyTorch.
 *   Cin and Cout must be divisible by groups; N = 0 and Cin/groups = 0 are
 *   allowed (y is then empty, or the bias). Float32 and float64, all three
 *   tensors of one dtype.
 *
 * args->relu = 1 fuses a ReLU: y = max(0, conv + bias), one pass on the
 * oneDNN kernels (an eltwise post-op); backward masks gy by y > 0 first, so
 * gradients equal those of conv2d followed by relu.
 *
 * Backward: gx, gweight and gbias (sum of gy over n, h, w), accumulated.
 *
 * Backends (ed_backend_find) get params = ed__conv_params (conv_common.h)
 * and tensors[]:
 *   ED_OP_CONV2D forward  {x, weight, bias, y}         bias may be NULL; y is
 *                                                      allocated, to be written
 *                                                      (relu applied if params say);
 *                        {x, weight, bias, y, s}       when params.wscale (the
 *                                                      weight is folded with s)
 *   ED_OP_CONV2D backward {x, weight, gy, gx, gweight, gbias}
 *                                                      NULL where not needed;
 *                                                      the kernel adds (+=)
 * always 4-D (an unbatched call is reshaped first).
 *
 * The reference kernels (im2col + packed GEMM) are in conv_kern.h; this
 * file also instantiates them for conv_transpose2d.c (conv_common.h). */
#include "core/ed_internal.h"
#include "ops/conv_common.h"
#include "ops/typed.h"
#include "encdec/precision.h"

#include <math.h>

#define T float
#define K(n) n##_f32
#define T_FMA fmaf
#include "conv_kern.h"
#undef T
#undef K
#undef T_FMA
#define T double
#define K(n) n##_f64
#define T_FMA fma
#include "conv_kern.h"
#undef T
#undef K
#undef T_FMA

ed_status ed__conv_fwd(ed_dtype dt, const ed__conv_geom *g, const void *img, const void *A, void *pos)
{
    if (dt == ED_F64) return conv_fwd_f64(g, img, A, pos);
    return conv_fwd_f32(g, img, A, pos);
}

ed_status ed__conv_bwd_data(ed_dtype dt, const ed__conv_geom *g, const void *A, const void *pos, void *img)
{
    if (dt == ED_F64) return conv_bwd_data_f64(g, A, pos, img);
    return conv_bwd_data_f32(g, A, pos, img);
}

ed_status ed__conv_bwd_weight(ed_dtype dt, const ed__conv_geom *g, const void *img, const void *pos, void *A)
{
    if (dt == ED_F64) return conv_bwd_weight_f64(g, img, pos, A);
    return conv_bwd_weight_f32(g, img, pos, A);
}

void ed__conv_fill_bias(ed_dtype dt, int64_t N, int64_t C, int64_t HW, const void *bias, void *t)
{
    ED_DISPATCH_FLOAT(dt, conv_fill_bias, N, C, HW, bias, t);
}

void ed__conv_bias_grad(ed_dtype dt, int64_t N, int64_t C, int64_t HW, const void *g, void *gb)
{
    ED_DISPATCH_FLOAT(dt, conv_bias_grad, N, C, HW, g, gb);
}

/* ---- the op ------------------------------------------------------------------ */

void ed_conv2d_args_default(ed_conv2d_args *a)
{
    if (!a) return;
    memset(a, 0, sizeof *a);
    a->stride[0] = a->stride[1] = 1;
    a->dilation[0] = a->dilation[1] = 1;
    a->groups = 1;
    a->padding_kind = ED_PADDING_EXPLICIT;
}

typedef struct {
    ed__conv_params p;
    ed__conv_geom g;
    int64_t cout;
} conv2d_ctx;

static ed_status conv2d_setup(const ed_tensor *x, const ed_tensor *w, const ed_tensor *b, const ed_conv2d_args *a,
                              conv2d_ctx *c)
{
    char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
    ED_TRY(ed__check_ndim(x, 4, "conv2d", "input", "(N, C, H, W)"));
    ED_TRY(ed__check_float(w, "conv2d", "weight"));
    ED_TRY(ed__check_ndim(w, 4, "conv2d", "weight", "(Cout, Cin/groups, kH, kW)"));
    if (w->dtype != x->dtype)
        return ed__err(ED_E_DTYPE, "conv2d: input is %s but weight is %s; they must match", ed_dtype_name(x->dtype),
                       ed_dtype_name(w->dtype));
    for (int d = 0; d < 2; d++) {
        if (a->stride[d] <= 0) return ed__err(ED_E_ARG, "conv2d: stride must be positive, got (%d, %d)", a->stride[0], a->stride[1]);
        if (a->dilation[d] <= 0)
            return ed__err(ED_E_ARG, "conv2d: dilation must be positive, got (%d, %d)", a->dilation[0], a->dilation[1]);
        if (a->padding_kind == ED_PADDING_EXPLICIT && a->padding[d] < 0)
            return ed__err(ED_E_ARG, "conv2d: padding must be non-negative, got (%d, %d)", a->padding[0], a->padding[1]);
    }
    if (a->groups <= 0) return ed__err(ED_E_ARG, "conv2d: groups must be positive, got %d", a->groups);
    if (a->relu != 0 && a->relu != 1) return ed__err(ED_E_ARG, "conv2d: relu must be 0 or 1, got %d", a->relu);
    if (a->padding_kind != ED_PADDING_EXPLICIT && a->padding_kind != ED_PADDING_SAME && a->padding_kind != ED_PADDING_VALID)
        return ed__err(ED_E_ARG, "conv2d: unknown padding_kind %d", (int)a->padding_kind);
    if (a->padding_kind == ED_PADDING_SAME && (a->stride[0] != 1 || a->stride[1] != 1))
        return ed__err(ED_E_ARG, "conv2d: padding='same' is not supported for strided convolutions (stride (%d, %d))",
                       a->stride[0], a->stride[1]);
    const int64_t G = a->groups, cout = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    if (cout == 0) return ed__err(ED_E_SHAPE, "conv2d: weight %s has no output channels", ed__shape_str(w, s1));
    if (kh == 0 || kw == 0) return ed__err(ED_E_SHAPE, "conv2d: weight %s has an empty kernel", ed__shape_str(w, s1));
    if (cout % G)
        return ed__err(ED_E_SHAPE, "conv2d: out channels %lld (weight %s) are not divisible by groups=%lld", (long long)cout,
                       ed__shape_str(w, s1), (long long)G);
    if (x->shape[1] != w->shape[1] * G)
        return ed__err(ED_E_SHAPE, "conv2d: groups=%lld and weight %s expect input with %lld channels, got input %s",
                       (long long)G, ed__shape_str(w, s1), (long long)(w->shape[1] * G), ed__shape_str(x, s2));
    if (b) {
        ED_TRY(ed__check_float(b, "conv2d", "bias"));
        if (b->dtype != x->dtype)
            return ed__err(ED_E_DTYPE, "conv2d: input is %s but bias is %s; they must match", ed_dtype_name(x->dtype),
                           ed_dtype_name(b->dtype));
        if (b->ndim != 1 || b->shape[0] != cout)
            return ed__err(ED_E_SHAPE, "conv2d: bias must be 1-D with %lld elements (weight %s), got shape %s",
                           (long long)cout, ed__shape_str(w, s1), ed__shape_str(b, s2));
    }

    ed__conv_params *p = &c->p;
    memset(p, 0, sizeof *p);
    int64_t in[2] = { x->shape[2], x->shape[3] }, k[2] = { kh, kw }, span[2], padded[2], out[2];
    for (int d = 0; d < 2; d++) {
        p->stride[d] = a->stride[d];
        p->dilation[d] = a->dilation[d];
        span[d] = (int64_t)a->dilation[d] * (k[d] - 1);   /* dilated kernel extent - 1 */
        if (a->padding_kind == ED_PADDING_SAME) {
            if (span[d] > INT32_MAX) return ed__err(ED_E_ARG, "conv2d: dilated kernel too large for padding='same'");
            p->pad_lo[d] = (int)(span[d] / 2);
            p->pad_hi[d] = (int)(span[d] - span[d] / 2);
        } else if (a->padding_kind == ED_PADDING_EXPLICIT) {
            p->pad_lo[d] = p->pad_hi[d] = a->padding[d];
        }
        padded[d] = in[d] + p->pad_lo[d] + p->pad_hi[d];
    }
    if (padded[0] < span[0] + 1 || padded[1] < span[1] + 1)
        return ed__err(ED_E_SHAPE,
                       "conv2d: padded input size (%lld x %lld) is smaller than the dilated kernel (%lld x %lld); "
                       "input %s, weight %s",
                       (long long)padded[0], (long long)padded[1], (long long)(span[0] + 1), (long long)(span[1] + 1),
                       ed__shape_str(x, s1), ed__shape_str(w, s2));
    for (int d = 0; d < 2; d++) out[d] = (padded[d] - span[d] - 1) / a->stride[d] + 1;
    p->groups = a->groups;
    p->relu = a->relu;

    ed__conv_geom *g = &c->g;
    *g = (ed__conv_geom){ .N = x->shape[0], .G = G, .C = w->shape[1], .H = in[0], .W = in[1],
                          .M = cout / G, .Ho = out[0], .Wo = out[1], .kh = kh, .kw = kw,
                          .sh = p->stride[0], .sw = p->stride[1], .ph = p->pad_lo[0], .pw = p->pad_lo[1],
                          .dh = p->dilation[0], .dw = p->dilation[1] };
    c->cout = cout;
    return ED_OK;
}

static ed_status conv2d_backward_with(const conv2d_ctx *c, ed_node *n, ed_tensor *gy)
{
    ed_tensor *x = n->in[0], *w = n->in[1], *gx, *gw, *gb;
    int ow = 0;
    ED_TRY(ed__grad_of_overwrite(n, 0, &gx, &ow));
    ED_TRY(ed__grad_of(n, 1, &gw));
    ED_TRY(ed__grad_of(n, 2, &gb));
    ed_tensor *keep = n->n_saved > 0 ? n->saved[0] : NULL;   /* the forward's converted x (conv_common.h) */
    ed_tensor *t[7] = { x, w, gy, gx, gw, gb, keep };
    ed__conv_params p = c->p;
    p.gx_overwrite = ow;
    p.keep_src = keep != NULL;
    const ed_kernel *k = ed_backend_find(ED_OP_CONV2D, ED_BACKWARD, &p, t);
    if (k) return k->run(&p, t);
    if (ow) memset(gx->data, 0, (size_t)gx->numel * ed_dtype_size(gx->dtype));
    if (gx) ED_TRY(ed__conv_bwd_data(x->dtype, &c->g, w->data, gy->data, gx->data));
    if (gw) ED_TRY(ed__conv_bwd_weight(x->dtype, &c->g, x->data, gy->data, gw->data));
    if (gb) ed__conv_bias_grad(x->dtype, c->g.N, c->cout, c->g.Ho * c->g.Wo, gy->data, gb->data);
    return ED_OK;
}

static ed_status conv2d_backward(ed_node *n)
{
    const conv2d_ctx *c = n->ctx;
    ed_tensor *y = n->out, *gy = y->grad;
    /* The fused ReLU: gy masked by y > 0 in place. gy is y's temporary
     * gradient (the tape drops it after this node; a root's is a copy of
     * the caller's), read by nothing else. */
    if (c->p.relu) ED_DISPATCH_FLOAT(y->dtype, relu_mask, y->data, gy->data, y->numel);
    return conv2d_backward_with(c, n, gy);
}

void ed__conv_scale_weight(const float *w, const double *s, int64_t O, int64_t per, float *out)
{
    for (int64_t o = 0; o < O; o++)
        for (int64_t i = 0; i < per; i++) out[o * per + i] = (float)(w[o * per + i] * s[o]);
}

/* ed_conv2d and ed__conv2d_scaled; s NULL for the former. */
static ed_status conv2d_impl(const ed_tensor *x, const ed_tensor *weight, const ed_tensor *s, const ed_tensor *bias,
                             const ed_conv2d_args *args, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "conv2d: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_float(x, "conv2d", "input"));
    if (x->ndim == 3) {
        /* Unbatched: run as a batch of one, then drop the batch dimension. */
        ed_tensor *x4 = NULL, *y4 = NULL;
        ED_TRY(ed_reshape(x, 4, (int64_t[]){ 1, x->shape[0], x->shape[1], x->shape[2] }, &x4));
        ed_status st = conv2d_impl(x4, weight, s, bias, args, &y4);
        ed_tensor_free(x4);
        if (st != ED_OK) return st;
        st = ed_reshape(y4, 3, y4->shape + 1, out);
        ed_tensor_free(y4);
        return st;
    }
    if (x->ndim != 4) {
        char sb[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "conv2d: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape %s", ed__shape_str(x, sb));
    }
    ed_conv2d_args def;
    if (!args) {
        ed_conv2d_args_default(&def);
        args = &def;
    }
    conv2d_ctx c;
    ED_TRY(conv2d_setup(x, weight, bias, args, &c));
    if (s) {
        if (weight->dtype != ED_F32 || s->dtype != ED_F64 || s->ndim != 1 || s->shape[0] != c.cout)
            return ed__err(ED_E_ARG, "conv2d: a folded weight needs a float32 weight and %lld float64 scales",
                           (long long)c.cout);
        if (ed__any_needs_grad(3, (const ed_tensor *const[]){ x, weight, bias }))
            return ed__err(ED_E_ARG, "conv2d: a folded weight is for inference without gradients");
        c.p.wscale = 1;
    }

    ed_tensor *y, *keep = NULL;
    ED_TRY(ed__alloc(x->dtype, 4, (int64_t[]){ c.g.N, c.cout, c.g.Ho, c.g.Wo }, &y));
    ed_tensor *t[6] = { (ed_tensor *)x, (ed_tensor *)weight, (ed_tensor *)bias, y, (ed_tensor *)s, NULL };
    const ed_kernel *k = ed_backend_find(ED_OP_CONV2D, ED_FORWARD, &c.p, t);
    ed_status st = ED_OK;
    if (k) {
        /* Training: let the kernel keep its converted x for the weight
         * gradient, so backward need not convert it again (memory: one
         * copy of x, in the convolution's precision, until backward). */
        ed__conv_params p = c.p;
        if (!s && x->dtype == ED_F32 && ed__needs_grad(weight)) {
            int64_t bytes = ed__conv_keep_bytes(x, ed_get_conv_precision() == ED_PRECISION_BF16);
            if (ed__alloc(ED_U8, 1, &bytes, &keep) == ED_OK) {
                memset(keep->data, 0, 8);
                p.keep_src = 1;
                t[5] = keep;
            } else {
                ed_clear_error();   /* not kept: the convolution runs as usual */
            }
        }
        st = k->run(&p, t);
        if (keep && !((const uint64_t *)keep->data)[0]) {
            ed_tensor_free(keep);
            keep = NULL;
        }
    } else {
        const void *wd = weight->data;
        float *folded = NULL;
        if (s) {
            folded = ed__scratch((size_t)weight->numel * sizeof(float));
            if (!folded) st = ed__err(ED_E_NOMEM, "conv2d: out of memory for the folded weight");
            else ed__conv_scale_weight(ed__cf32(weight), ed__cf64(s), c.cout, weight->numel / c.cout, folded);
            wd = folded;
        }
        if (st == ED_OK) {
            ed__conv_fill_bias(x->dtype, c.g.N, c.cout, c.g.Ho * c.g.Wo, bias ? bias->data : NULL, y->data);
            st = ed__conv_fwd(x->dtype, &c.g, x->data, wd, y->data);
            if (st == ED_OK && c.p.relu) ED_DISPATCH_FLOAT(y->dtype, relu_inplace, y->data, y->numel);
        }
        ed__scratch_free(folded);
    }
    ed_node *node = NULL;
    if (st == ED_OK && !s)
        st = ed__record(y, "conv2d", conv2d_backward, 3, (const ed_tensor *const[]){ x, weight, bias }, &c, sizeof c, &node);
    if (st == ED_OK && node && keep) st = ed__node_save(node, keep);
    ed_tensor_free(keep);   /* the node's reference remains */
    if (st != ED_OK) {
        ed_tensor_free(y);
        return st;
    }
    *out = y;
    return ED_OK;
}

ed_status ed_conv2d(const ed_tensor *x, const ed_tensor *weight, const ed_tensor *bias, const ed_conv2d_args *args,
                    ed_tensor **out)
{
    return conv2d_impl(x, weight, NULL, bias, args, out);
}

ed_status ed__conv2d_scaled(const ed_tensor *x, const ed_tensor *w, const ed_tensor *s, const ed_tensor *b,
                            const ed_conv2d_args *args, ed_tensor **out)
{
    if (!s) {
        if (out) *out = NULL;
        return ed__err(ED_E_ARG, "conv2d: the folded-weight scales are NULL");
    }
    return conv2d_impl(x, w, s, b, args, out);
}
