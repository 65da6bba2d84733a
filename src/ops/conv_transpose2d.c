/* 2-D transposed convolution, as torch.nn.functional.conv_transpose2d: the
 * adjoint (input gradient) of conv2d with the same stride, padding,
 * dilation and groups.
 *
 *   x (N, Cin, H, W) or unbatched (Cin, H, W); weight (Cin, Cout/groups, kH, kW);
 *   bias (Cout) or NULL  ->  y (N, Cout, Hout, Wout)
 *   Hout = (H-1)*stride - 2*padding + dilation*(kH-1) + output_padding + 1
 *   y[n, g*Cout/groups + o, h*sh - ph + i*dh, w*sw - pw + j*dw] +=
 *       x[n, g*Cin/groups + c, h, w] * weight[g*Cin/groups + c, o, i, j]
 *   (targets outside y are dropped), plus bias[o]. output_padding only adds
 *   rows/columns at the bottom/right (reached by nothing but the bias); it
 *   must be smaller than the stride or the dilation in each dimension, as
 *   PyTorch requires. Cin must be divisible by groups. N = 0 is allowed.
 *   Float32 and float64, all three tensors of one dtype.
 *
 * Backward: gx (a conv2d of gy), gweight and gbias, accumulated.
 *
 * Backends (ed_backend_find) get params = ed__conv_params (conv_common.h,
 * pad_lo = pad_hi = padding) and tensors[]:
 *   ED_OP_CONV_TRANSPOSE2D forward  {x, weight, bias, y, xcopy}   bias may be NULL
 *   ED_OP_CONV_TRANSPOSE2D backward {x, weight, gy, gx, gweight, gbias, xcopy}
 *                                       NULL where not needed; adds (+=), except
 *                                       gx when params.gx_overwrite (stored)
 * xcopy: NULL, or x's producer's copy in a convolution's layout
 * (ed__producer_copy) when x is deferred (ed_tensor.deferred); a kernel
 * must decline a deferred x unless it reads the copy instead.
 * always 4-D (an unbatched call is reshaped first).
 *
 * The reference runs conv2d's kernels with the roles swapped: y is the
 * image that col2im writes and x the positions (see conv_common.h). */
#include "core/ed_internal.h"
#include "ops/conv_common.h"

void ed_conv_transpose2d_args_default(ed_conv_transpose2d_args *a)
{
    if (!a) return;
    memset(a, 0, sizeof *a);
    a->stride[0] = a->stride[1] = 1;
    a->dilation[0] = a->dilation[1] = 1;
    a->groups = 1;
}

typedef struct {
    ed__conv_params p;
    ed__conv_geom g;
    int64_t cout;
} convt_ctx;

static ed_status convt_setup(const ed_tensor *x, const ed_tensor *w, const ed_tensor *b,
                             const ed_conv_transpose2d_args *a, convt_ctx *c)
{
    const char *op = "conv_transpose2d";
    char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
    ED_TRY(ed__check_ndim(x, 4, op, "input", "(N, C, H, W)"));
    ED_TRY(ed__check_float(w, op, "weight"));
    ED_TRY(ed__check_ndim(w, 4, op, "weight", "(Cin, Cout/groups, kH, kW)"));
    if (w->dtype != x->dtype)
        return ed__err(ED_E_DTYPE, "%s: input is %s but weight is %s; they must match", op, ed_dtype_name(x->dtype),
                       ed_dtype_name(w->dtype));
    for (int d = 0; d < 2; d++) {
        if (a->stride[d] <= 0) return ed__err(ED_E_ARG, "%s: stride must be positive, got (%d, %d)", op, a->stride[0], a->stride[1]);
        if (a->dilation[d] <= 0)
            return ed__err(ED_E_ARG, "%s: dilation must be positive, got (%d, %d)", op, a->dilation[0], a->dilation[1]);
        if (a->padding[d] < 0)
            return ed__err(ED_E_ARG, "%s: padding must be non-negative, got (%d, %d)", op, a->padding[0], a->padding[1]);
        if (a->output_padding[d] < 0)
            return ed__err(ED_E_ARG, "%s: output_padding must be non-negative, got (%d, %d)", op, a->output_padding[0],
                           a->output_padding[1]);
        if (a->output_padding[d] >= a->stride[d] && a->output_padding[d] >= a->dilation[d])
            return ed__err(ED_E_ARG,
                           "%s: output_padding (%d, %d) must be smaller than either stride (%d, %d) or dilation (%d, %d)",
                           op, a->output_padding[0], a->output_padding[1], a->stride[0], a->stride[1], a->dilation[0],
                           a->dilation[1]);
    }
    if (a->groups <= 0) return ed__err(ED_E_ARG, "%s: groups must be positive, got %d", op, a->groups);
    const int64_t G = a->groups, cin = w->shape[0], kh = w->shape[2], kw = w->shape[3];
    if (w->shape[1] == 0) return ed__err(ED_E_SHAPE, "%s: weight %s has no output channels", op, ed__shape_str(w, s1));
    if (kh == 0 || kw == 0) return ed__err(ED_E_SHAPE, "%s: weight %s has an empty kernel", op, ed__shape_str(w, s1));
    if (cin % G)
        return ed__err(ED_E_SHAPE, "%s: in channels %lld (weight %s) are not divisible by groups=%lld", op, (long long)cin,
                       ed__shape_str(w, s1), (long long)G);
    if (x->shape[1] != cin)
        return ed__err(ED_E_SHAPE, "%s: weight %s expects input with %lld channels, got input %s", op, ed__shape_str(w, s1),
                       (long long)cin, ed__shape_str(x, s2));
    const int64_t cout = w->shape[1] * G;
    if (b) {
        ED_TRY(ed__check_float(b, op, "bias"));
        if (b->dtype != x->dtype)
            return ed__err(ED_E_DTYPE, "%s: input is %s but bias is %s; they must match", op, ed_dtype_name(x->dtype),
                           ed_dtype_name(b->dtype));
        if (b->ndim != 1 || b->shape[0] != cout)
            return ed__err(ED_E_SHAPE, "%s: bias must be 1-D with %lld elements (weight %s, groups=%lld), got shape %s", op,
                           (long long)cout, ed__shape_str(w, s1), (long long)G, ed__shape_str(b, s2));
    }
    if (x->shape[0] > 0 && cin > 0 && (x->shape[2] == 0 || x->shape[3] == 0))
        return ed__err(ED_E_SHAPE, "%s: input %s has an empty spatial size", op, ed__shape_str(x, s1));

    ed__conv_params *p = &c->p;
    memset(p, 0, sizeof *p);
    int64_t in[2] = { x->shape[2], x->shape[3] }, k[2] = { kh, kw }, out[2];
    for (int d = 0; d < 2; d++) {
        p->stride[d] = a->stride[d];
        p->dilation[d] = a->dilation[d];
        p->pad_lo[d] = p->pad_hi[d] = a->padding[d];
        p->output_padding[d] = a->output_padding[d];
        out[d] = (in[d] - 1) * a->stride[d] - 2 * (int64_t)a->padding[d] + (int64_t)a->dilation[d] * (k[d] - 1) +
                 a->output_padding[d] + 1;
    }
    if (out[0] <= 0 || out[1] <= 0)
        return ed__err(ED_E_SHAPE,
                       "%s: output size (%lld x %lld) is empty: (H-1)*stride - 2*padding + dilation*(k-1) + "
                       "output_padding + 1 for input %s, weight %s, stride (%d, %d), padding (%d, %d)",
                       op, (long long)out[0], (long long)out[1], ed__shape_str(x, s1), ed__shape_str(w, s2), a->stride[0],
                       a->stride[1], a->padding[0], a->padding[1]);
    p->groups = a->groups;

    /* The image is y (Cout/groups channels per group), the positions x. */
    c->g = (ed__conv_geom){ .N = x->shape[0], .G = G, .C = w->shape[1], .H = out[0], .W = out[1],
                            .M = cin / G, .Ho = in[0], .Wo = in[1], .kh = kh, .kw = kw,
                            .sh = a->stride[0], .sw = a->stride[1], .ph = a->padding[0], .pw = a->padding[1],
                            .dh = a->dilation[0], .dw = a->dilation[1] };
    c->cout = cout;
    return ED_OK;
}

static ed_status convt_backward(ed_node *n)
{
    const convt_ctx *c = n->ctx;
    ed_tensor *x = n->in[0], *w = n->in[1], *gy = n->out->grad, *gx, *gw, *gb;
    int ow = 0;
    ED_TRY(ed__grad_of_overwrite(n, 0, &gx, &ow));
    ED_TRY(ed__grad_of(n, 1, &gw));
    ED_TRY(ed__grad_of(n, 2, &gb));
    ed__conv_params p = c->p;
    p.gx_overwrite = ow;
    ed_tensor *t[7] = { x, w, gy, gx, gw, gb, x->deferred ? ed__producer_copy(x) : NULL };
    const ed_kernel *k = ed_backend_find(ED_OP_CONV_TRANSPOSE2D, ED_BACKWARD, &p, t);
    if (!k && x->deferred) {   /* only a kernel that reads the producer's copy takes a deferred x */
        ED_TRY(ed__materialise(x));
        t[6] = NULL;
        k = ed_backend_find(ED_OP_CONV_TRANSPOSE2D, ED_BACKWARD, &p, t);
    }
    if (k) return k->run(&p, t);
    if (ow) memset(gx->data, 0, (size_t)gx->numel * ed_dtype_size(gx->dtype));
    if (gx) ED_TRY(ed__conv_fwd(x->dtype, &c->g, gy->data, w->data, gx->data));
    if (gw) ED_TRY(ed__conv_bwd_weight(x->dtype, &c->g, gy->data, x->data, gw->data));
    if (gb) ed__conv_bias_grad(x->dtype, c->g.N, c->cout, c->g.H * c->g.W, gy->data, gb->data);
    return ED_OK;
}

ed_status ed_conv_transpose2d(const ed_tensor *x, const ed_tensor *weight, const ed_tensor *bias,
                              const ed_conv_transpose2d_args *args, ed_tensor **out)
{
    const char *op = "conv_transpose2d";
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", op);
    *out = NULL;
    /* A deferred x whose producer wrote a copy (the 2x up-sampler's input
     * from a fused block) is checked without being written: the checks
     * read its shape and dtype only, and a kernel that takes the copy
     * never reads its data (the others decline it, below). */
    ed_tensor *xc = x && x->deferred ? ed__producer_copy(x) : NULL;
    if (xc) ((ed_tensor *)x)->deferred = 0;
    ed_status cs = ed__check_float(x, op, "input");
    if (xc) ((ed_tensor *)x)->deferred = 1;
    ED_TRY(cs);
    if (x->ndim == 3) {
        /* Unbatched: run as a batch of one, then drop the batch dimension. */
        ed_tensor *x4 = NULL, *y4 = NULL;
        ED_TRY(ed_reshape(x, 4, (int64_t[]){ 1, x->shape[0], x->shape[1], x->shape[2] }, &x4));
        ed_status st = ed_conv_transpose2d(x4, weight, bias, args, &y4);
        ed_tensor_free(x4);
        if (st != ED_OK) return st;
        st = ed_reshape(y4, 3, y4->shape + 1, out);
        ed_tensor_free(y4);
        return st;
    }
    if (x->ndim != 4) {
        char s[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "%s: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape %s", op, ed__shape_str(x, s));
    }
    ed_conv_transpose2d_args def;
    if (!args) {
        ed_conv_transpose2d_args_default(&def);
        args = &def;
    }
    convt_ctx c;
    if (xc) ((ed_tensor *)x)->deferred = 0;
    cs = convt_setup(x, weight, bias, args, &c);
    if (xc) ((ed_tensor *)x)->deferred = 1;
    ED_TRY(cs);

    ed_tensor *y;
    ED_TRY(ed__alloc(x->dtype, 4, (int64_t[]){ c.g.N, c.cout, c.g.H, c.g.W }, &y));
    ed_tensor *t[5] = { (ed_tensor *)x, (ed_tensor *)weight, (ed_tensor *)bias, y, xc };
    const ed_kernel *k = ed_backend_find(ED_OP_CONV_TRANSPOSE2D, ED_FORWARD, &c.p, t);
    ed_status st = ED_OK;
    if (!k && x->deferred) {   /* no kernel takes the copy: x's data after all */
        st = ed__materialise(x);
        t[4] = NULL;
        if (st == ED_OK) k = ed_backend_find(ED_OP_CONV_TRANSPOSE2D, ED_FORWARD, &c.p, t);
    }
    if (st != ED_OK) {
        ed_tensor_free(y);
        return st;
    }
    if (k) {
        st = k->run(&c.p, t);
    } else {
        ed__conv_fill_bias(x->dtype, c.g.N, c.cout, c.g.H * c.g.W, bias ? bias->data : NULL, y->data);
        st = ed__conv_bwd_data(x->dtype, &c.g, weight->data, x->data, y->data);
    }
    ed_node *node;
    if (st == ED_OK)
        st = ed__record(y, op, convt_backward, 3, (const ed_tensor *const[]){ x, weight, bias }, &c, sizeof c, &node);
    if (st != ED_OK) {
        ed_tensor_free(y);
        return st;
    }
    *out = y;
    return ED_OK;
}
