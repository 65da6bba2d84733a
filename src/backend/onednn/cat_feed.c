/* ed__cat_feed's kernel (ops/cat.c documents the op and its tensors[]): a
 * concatenation along channels written straight into the layout in which
 * the fused conv_bn_relu block that reads it convolves (conv_bn_relu.c's
 * blocked(): nChw16c float32, or NHWC bfloat16 under --precision bf16),
 * as a kept copy (conv_internal.h) that block takes as its source. The
 * library's NCHW result is not written (the op defers it): in the U-Net
 * decoder this replaces a copy into NCHW and a layout pass out of it with
 * one layout pass from the inputs.
 *
 * Supported: float32 4-D inputs whose channel counts are multiples of 16
 * (so no 16-channel group straddles two inputs), and a holder large enough.
 * The values are those of layout.c's conversions of the NCHW result, bit
 * for bit (each input's channels are converted on their own). */
#include "backend/onednn/conv_internal.h"
#include "encdec/precision.h"

static bool supports(const void *params, ed_tensor *const *t)
{
    const ed__cat_feed_params *p = params;
    if (p->n < 1 || p->n > ED_CAT_FEED_MAX) return false;
    const ed_tensor *y = t[p->n], *copy = t[p->n + 1];
    if (!y || y->dtype != ED_F32 || y->ndim != 4 || !copy || copy->dtype != ED_U8) return false;
    const bool bf16 = ed_get_conv_precision() == ED_PRECISION_BF16;
    if (copy->numel < ed__conv_keep_bytes(y, bf16)) return false;
    int64_t C = 0;
    for (int k = 0; k < p->n; k++) {
        const ed_tensor *x = t[k];
        if (!x || x->dtype != ED_F32 || x->ndim != 4 || x->shape[1] % 16 || x->shape[0] != y->shape[0] ||
            x->shape[2] != y->shape[2] || x->shape[3] != y->shape[3])
            return false;
        C += x->shape[1];
    }
    return C == y->shape[1];
}

static ed_status run(const void *params, ed_tensor *const *t)
{
    const ed__cat_feed_params *p = params;
    ed_tensor *y = t[p->n], *copy = t[p->n + 1];
    const bool bf16 = ed_get_conv_precision() == ED_PRECISION_BF16;
    const int64_t N = y->shape[0], C = y->shape[1], HW = y->shape[2] * y->shape[3];
    memset(copy->data, 0, 8);   /* no description until written */
    void *dst = odnn_conv_keep_data(copy);
    for (int k = 0, off = 0; k < p->n; off += (int)t[k]->shape[1], k++) {
        const float *x = ed__cf32(t[k]);
        const int64_t Ck = t[k]->shape[1];
        if (bf16) {
            odnn_to_nhwc_ld(x, (uint16_t *)dst + off, N, Ck, C, HW, true);   /* (N, HW, C) rows, channels off.. */
        } else {
            /* nChw16c is, per image, NHWC of (C / 16) images of 16 channels. */
            for (int64_t n = 0; n < N; n++)
                odnn_to_nhwc(x + n * Ck * HW, (float *)dst + (n * C + off) * HW, Ck / 16, 16, HW, false);
        }
    }
    dnnl_memory_desc_t md;
    odnn_md_dt(&md, 4, y->shape, bf16 ? dnnl_bf16 : dnnl_f32, bf16 ? dnnl_acdb : dnnl_nChw16c);
    odnn_conv_keep_set(copy, &md);
    return ED_OK;
}

static const ed_kernel kernels[] = {
    { ED_OP_CAT_FEED, ED_FORWARD, "onednn", supports, run },
};

void ed__onednn_register_cat_feed(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
