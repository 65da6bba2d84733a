/* The fused conv + BatchNorm + ReLU training block (ops/conv_bn_relu.c
 * documents the op and its tensors[]): oneDNN's convolution with NHWC
 * activations at the primitive (params.conv.nhwc), and bn_nhwc.c's loops
 * in between.
 *
 * Forward: x is converted once into the kept holder (the convolution's
 * source, reused by backward-weights); the convolution writes its NHWC
 * float32 output straight into ysave; the BatchNorm statistics are taken
 * there and z = relu(bn(y)) is written NCHW. Backward: the BatchNorm + ReLU
 * backward reads gz (NCHW) and ysave and writes the convolution's diff_dst
 * in the primitive's own layout and type (NHWC, bfloat16 under
 * --precision bf16), which backward-data and backward-weights both take as
 * is; diff_src comes back to the NCHW gx through layout.c, or stays NHWC
 * when x's producer is such a block too (ed_tensor.nhwc).
 *
 * Supported: float32, stride 1, groups 1, output channels a multiple of
 * 16, and primitives that oneDNN builds with exactly those layouts (checked
 * when the forward is first asked, for all three, so backward cannot find
 * itself unsupported). */
#include "backend/onednn/bn_nhwc.h"
#include "backend/onednn/conv_internal.h"
#include "encdec/precision.h"
#include "ops/conv_bn_relu_params.h"

#include <math.h>

static bool f32(const ed_tensor *t) { return !t || t->dtype == ED_F32; }

/* The block's layout: nChw16c in float32 (oneDNN's blocked direct and
 * Winograd kernels are its fastest there), NHWC in bf16 (AMX's). */
static bool blocked(void) { return ed_get_conv_precision() != ED_PRECISION_BF16; }

static ed__conv_params conv_of(const ed__cbr_params *p, int gx_overwrite)
{
    ed__conv_params c = p->conv;
    c.nhwc = !blocked();   /* else format any: nChw16c, checked */
    c.relu = 0;
    c.keep_src = 0;
    c.wscale = 0;
    c.gx_overwrite = gx_overwrite;
    return c;
}

/* Whether md is the block's layout for dims, in type dt. */
static bool md_is(const dnnl_memory_desc_t *md, const int64_t *dims, dnnl_data_type_t dt)
{
    dnnl_memory_desc_t want;
    odnn_md_dt(&want, 4, dims, dt, blocked() ? dnnl_nChw16c : dnnl_acdb);
    return dnnl_memory_desc_equal(md, &want);
}

/* ed_tensor.nhwc's value for a gradient in the block's layout. */
static uint8_t grad_layout(void) { return blocked() ? ED_GRAD_NCHW16C : ED_GRAD_NHWC; }

static bool fwd_supports(const void *params, ed_tensor *const *t)
{
    const ed__cbr_params *p = params;
    const ed_tensor *x = t[0], *w = t[1], *z = t[7];
    if (p->materialise)   /* this kernel's own forward, done: z from ysave and stats */
        return z && z->dtype == ED_F32 && t[8] && t[8]->numel == z->numel && t[9] && t[9]->dtype == ED_F64 &&
               z->shape[1] % 16 == 0;
    for (int i = 0; i < 9; i++)
        if (!f32(t[i])) return false;
    if (!t[9] || t[9]->dtype != ED_F64 || !t[10] || t[10]->dtype != ED_U8) return false;
    if ((t[11] && t[11]->dtype != ED_U8) || (t[12] && t[12]->dtype != ED_U8)) return false;
    if (p->conv.groups != 1 || p->conv.stride[0] != 1 || p->conv.stride[1] != 1 || p->conv.dilation[0] != 1 ||
        p->conv.dilation[1] != 1)
        return false;
    const int64_t C = z->shape[1];
    if (C % 16 || x->shape[0] <= 0 || x->shape[1] <= 0 || z->shape[2] <= 0 || z->shape[3] <= 0) return false;
    const bool bf16 = ed_get_conv_precision() == ED_PRECISION_BF16;
    const dnnl_data_type_t lo = bf16 ? dnnl_bf16 : dnnl_f32;
    ed__conv_params c0 = conv_of(p, 0);
    odnn_lock();
    odnn_prim *ef = odnn_conv_entry(CONV_FWD, &c0, x, w, z->shape, t[2] != NULL);
    odnn_prim *ed = odnn_conv_entry(CONV_BWD_DATA, &c0, x, w, z->shape, false);
    odnn_prim *ew = odnn_conv_entry(CONV_BWD_W, &c0, x, w, z->shape, t[2] != NULL);
    bool ok = ef && ed && ew && md_is(&ef->args[ef->n_args - 1].prim_md, z->shape, dnnl_f32) &&
              md_is(&ed->args[0].prim_md, z->shape, lo) && md_is(&ew->args[1].prim_md, z->shape, lo);
    /* A deferred x has no data to convert: only its copy in this layout. */
    if (ok && x->deferred) ok = t[12] && odnn_conv_kept_src(t[12], ef) && odnn_conv_kept_src(t[12], ew);
    odnn_unlock();
    return ok;
}

static ed_status fwd_run(const void *params, ed_tensor *const *t)
{
    const ed__cbr_params *p = params;
    const ed_tensor *x = t[0], *w = t[1], *b = t[2], *gamma = t[3], *beta = t[4];
    ed_tensor *rm = t[5], *rv = t[6], *z = t[7], *ys = t[8], *st = t[9], *keep = t[10], *zc = t[11], *from = t[12];
    const int64_t N = z->shape[0], C = z->shape[1], HW = z->shape[2] * z->shape[3];
    if (p->materialise) {   /* a deferred z written after all, as below */
        const double *mean = st->data, *invstd = mean + C;
        const float *alpha = (const float *)(invstd + C), *shift = alpha + C;
        odnn_bn_nhwc_apply_relu(ys->data, blocked(), alpha, shift, N, HW, C, z->data, NULL, false);
        return ED_OK;
    }
    memset(keep->data, 0, 8);
    ed__conv_params c0 = conv_of(p, 0);
    odnn_lock();
    odnn_prim *e = odnn_conv_entry(CONV_FWD, &c0, x, w, z->shape, b != NULL);
    ed_status s;
    if (!e) {
        s = ed__err(ED_E_UNSUPPORTED, "conv_bn_relu: oneDNN kernel unavailable for these arguments");
    } else {
        void *xs = from ? odnn_conv_kept_src(from, e) : NULL;   /* written by x's producer */
        if (!xs && x->deferred) {
            odnn_unlock();
            return ed__err(ED_E_STATE, "conv_bn_relu: deferred input without its copy");   /* fwd_supports checked */
        }
        if (!xs) xs = odnn_conv_keep_src(keep, e, x->data);
        void *data[4], *pre[4];
        int n = 0;
        data[n] = x->data, pre[n++] = xs;
        data[n] = w->data, pre[n++] = NULL;
        if (b) data[n] = b->data, pre[n++] = NULL;
        data[n] = ys->data, pre[n++] = ys->data;
        odnn_weight_tensor(w);
        s = odnn_run_pre(e, data, pre, "conv_bn_relu");
        odnn_weight_tensor(NULL);
    }
    odnn_unlock();
    ED_TRY(s);

    double *mean = st->data, *invstd = mean + C;
    float *alpha = (float *)(invstd + C), *shift = alpha + C;   /* float32, in the last 2C doubles' room */
    double *part = ed__scratch(sizeof(double) * (size_t)(odnn_bn_nhwc_part_size(N, HW, C) + C));
    if (!part) return ed__err(ED_E_NOMEM, "conv_bn_relu: out of memory for the BatchNorm's sums");
    double *var = part + odnn_bn_nhwc_part_size(N, HW, C);
    odnn_bn_nhwc_stats(ys->data, blocked(), N, HW, C, part, mean, var);
    const double M = (double)(N * HW), m = p->momentum;
    const float *g = gamma ? ed__cf32(gamma) : NULL, *be = beta ? ed__cf32(beta) : NULL;
    for (int64_t c = 0; c < C; c++) {
        invstd[c] = 1.0 / sqrt(var[c] + p->eps);
        const double a = invstd[c] * (g ? (double)g[c] : 1.0);
        alpha[c] = (float)a;
        shift[c] = (float)((be ? (double)be[c] : 0.0) - mean[c] * a);
        if (rm) {   /* as ops/batch_norm_kern.h's bn_update_running */
            float *rmd = ed__f32(rm), *rvd = ed__f32(rv);
            rmd[c] = (float)((1 - m) * (double)rmd[c] + m * mean[c]);
            rvd[c] = (float)((1 - m) * (double)rvd[c] + m * var[c] * M / (M - 1));
        }
    }
    ed__scratch_free(part);
    /* z, and for the next block (zc) z again in its convolution's layout:
     * NHWC in the convolution's type, as that block's forward entry takes
     * it (checked there; a mismatch only means it converts z itself). */
    const bool bf16 = ed_get_conv_precision() == ED_PRECISION_BF16;
    if (zc && zc->numel < ED_CONV_KEEP_HEADER + N * HW * C * (bf16 ? 2 : 4)) zc = NULL;
    if (zc) memset(zc->data, 0, 8);
    /* With params.defer z itself is only written when there is no copy. */
    odnn_bn_nhwc_apply_relu(ys->data, blocked(), alpha, shift, N, HW, C, p->defer && zc ? NULL : z->data,
                            zc ? odnn_conv_keep_data(zc) : NULL, bf16);
    if (zc) {
        dnnl_memory_desc_t md;
        odnn_md_dt(&md, 4, z->shape, bf16 ? dnnl_bf16 : dnnl_f32, blocked() ? dnnl_nChw16c : dnnl_acdb);
        odnn_conv_keep_set(zc, &md);
    }
    return ED_OK;
}

static bool bwd_supports(const void *params, ed_tensor *const *t)
{
    (void)params;
    for (int i = 0; i < 12; i++)
        if (i != 5 && i != 6 && !f32(t[i])) return false;
    return t[4] && t[5] && t[5]->dtype == ED_F64 && t[6] && t[6]->dtype == ED_U8;
}

static ed_status bwd_run(const void *params, ed_tensor *const *t)
{
    const ed__cbr_params *p = params;
    const bool bf16 = ed_get_conv_precision() == ED_PRECISION_BF16;
    const uint8_t gl = t[2]->nhwc;
    if (gl && gl != grad_layout() && !(bf16 && gl == ED_GRAD_NHWC_BF16))
        ED_TRY(ed__grad_plain(t[2]));   /* another block's layout */
    const ed_tensor *x = t[0], *w = t[1], *gz = t[2], *gamma = t[3], *ys = t[4], *st = t[5], *keep = t[6];
    ed_tensor *gx = t[7], *gw = t[8], *gb = t[9], *gg = t[10], *gbe = t[11];
    const int64_t N = gz->shape[0], C = gz->shape[1], HW = gz->shape[2] * gz->shape[3];
    const double *mean = st->data, *invstd = mean + C;
    const float *alpha = (const float *)(invstd + C), *shift = alpha + C;
    const int64_t np = odnn_bn_nhwc_part_size(N, HW, C);
    double *part = ed__scratch(sizeof(double) * (size_t)(np + 2 * C));
    void *gy = part ? ed__scratch((size_t)(N * HW * C) * (bf16 ? 2 : 4)) : NULL;
    float *gw_tmp = NULL;
    ed_status s = ED_OK;
    if (!gy) s = ed__err(ED_E_NOMEM, "conv_bn_relu: out of memory for the backward's buffers");
    if (s == ED_OK) {
        double *sg = part + np, *sgx = sg + C;
        odnn_bn_nhwc_backward(ys->data, blocked(), gz->data, alpha, shift, mean, invstd, gamma ? ed__cf32(gamma) : NULL, N,
                              HW, C, gz->nhwc != ED_GRAD_NCHW, gz->nhwc == ED_GRAD_NHWC_BF16, part, sg, sgx, gy, bf16);
        for (int64_t c = 0; c < C; c++) {   /* as ops/batch_norm_kern.h's bn_backward */
            if (gbe) ed__f32(gbe)[c] = (p->gbe_overwrite ? 0.0f : ed__f32(gbe)[c]) + (float)sg[c];
            if (gg) ed__f32(gg)[c] = (p->gg_overwrite ? 0.0f : ed__f32(gg)[c]) + (float)(sgx[c] * invstd[c]);
        }
    }
    /* backward-weights needs somewhere for diff_weights even when only the
     * bias gradient is wanted. */
    if (s == ED_OK && gb && !gw) {
        gw_tmp = ed__scratch(sizeof(float) * (size_t)w->numel);
        if (!gw_tmp) s = ed__err(ED_E_NOMEM, "conv_bn_relu: out of memory");
        else memset(gw_tmp, 0, sizeof(float) * (size_t)w->numel);
    }
    odnn_lock();
    if (s == ED_OK && gx) {
        /* Stored for a producer that reads NHWC (a block like this one, or
         * a cat along channels): left in the primitive's layout, no layout
         * pass; under bf16 in bfloat16 (as autocast's gradients), half the
         * bytes for the reader's two passes. Whole 16-channel groups only:
         * nChw16c pads the channels past gx's size, and the readers assume
         * no padding. */
        const bool hand = p->conv.gx_overwrite && x->node && x->node->takes_nhwc_grad && x->shape[1] % 16 == 0;
        ed__conv_params c = conv_of(p, p->conv.gx_overwrite);
        c.gx_lo = hand && bf16;
        odnn_prim *e = odnn_conv_entry(CONV_BWD_DATA, &c, x, w, gz->shape, false);
        const bool keep_nhwc = e && hand && md_is(&e->args[2].prim_md, x->shape, c.gx_lo ? dnnl_bf16 : dnnl_f32);
        odnn_weight_tensor(w);
        s = e ? odnn_run_pre(e, (void *[]){ gy, w->data, gx->data }, (void *[]){ gy, NULL, keep_nhwc ? gx->data : NULL },
                             "conv_bn_relu")
              : ed__err(ED_E_UNSUPPORTED, "conv_bn_relu: oneDNN kernel unavailable for these arguments");
        odnn_weight_tensor(NULL);
        if (s == ED_OK && keep_nhwc) gx->nhwc = c.gx_lo ? ED_GRAD_NHWC_BF16 : grad_layout();
    }
    if (s == ED_OK && (gw || gb)) {
        ed__conv_params c = conv_of(p, 0);
        c.gw_overwrite = p->conv.gw_overwrite;
        odnn_prim *e = odnn_conv_entry(CONV_BWD_W, &c, x, w, gz->shape, gb != NULL);
        void *xs = e ? odnn_conv_kept_src(keep, e) : NULL;
        if (!xs && e && t[12]) xs = odnn_conv_kept_src(t[12], e);   /* x as its producer wrote it */
        if (!xs && e && x->deferred)   /* the op materialises x when its copy is gone */
            s = ed__err(ED_E_STATE, "conv_bn_relu: deferred input without its copy");
        else
            s = e ? odnn_run_pre(e, (void *[]){ x->data, gy, gw ? gw->data : gw_tmp, gb ? gb->data : NULL },
                                 (void *[]){ xs, gy, NULL, NULL }, "conv_bn_relu")
                  : ed__err(ED_E_UNSUPPORTED, "conv_bn_relu: oneDNN kernel unavailable for these arguments");
    }
    odnn_unlock();
    ed__scratch_free(gw_tmp);
    ed__scratch_free(gy);
    ed__scratch_free(part);
    return s;
}

static const ed_kernel kernels[] = {
    { ED_OP_CONV_BN_RELU, ED_FORWARD, "onednn", fwd_supports, fwd_run },
    { ED_OP_CONV_BN_RELU, ED_BACKWARD, "onednn", bwd_supports, bwd_run },
};

void ed__onednn_register_cbr(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
