/* What conv2d.c and conv_transpose2d.c share: the resolved parameters that
 * backends receive, the geometry of one im2col, and the three GEMM-based
 * reference kernels (written once in conv_kern.h, instantiated in conv2d.c).
 *
 * Both ops are the same linear map seen from its two sides. Call the side
 * that is unfolded by im2col the "image" (C channels per group, H x W) and
 * the side with one column per kernel position the "positions" (M channels
 * per group, Ho x Wo). Position (oh, ow) reads image pixels
 *     ih = oh * sh - ph + i * dh,  iw = ow * sw - pw + j * dw   (i < kh, j < kw)
 * through the weight A_g, a row-major (M, K) matrix per group, K = C*kh*kw.
 *   conv2d:           image = x, positions = y,  A = weight (Cout, Cin/g, kh, kw)
 *   conv_transpose2d: image = y, positions = x,  A = weight (Cin, Cout/g, kh, kw)
 * and the kernels compute, for each n and group g,
 *   ed__conv_fwd:        pos[n,g]  += A_g . im2col(img[n,g])
 *   ed__conv_bwd_data:   img[n,g]  += col2im(A_g^T . pos[n,g])
 *   ed__conv_bwd_weight: A_g       += sum_n pos[n,g] . im2col(img[n,g])^T
 * so conv2d forward is fwd, its input gradient bwd_data; the transposed
 * convolution uses them the other way round; both take bwd_weight.
 * Everything accumulates (+=), as backward must. */
#ifndef ED_OPS_CONV_COMMON_H
#define ED_OPS_CONV_COMMON_H

#include "core/ed_internal.h"

/* Parameters after defaults and 'same'/'valid' are resolved: what a backend
 * kernel gets as params for ED_OP_CONV2D and ED_OP_CONV_TRANSPOSE2D.
 * pad_lo is top/left, pad_hi bottom/right: they differ only for conv2d's
 * padding='same' with an even dilated kernel (the extra row and column go
 * to the bottom/right, as PyTorch). For the transposed convolution pad_lo ==
 * pad_hi == padding. */
typedef struct ed__conv_params {
    int stride[2];
    int pad_lo[2];
    int pad_hi[2];
    int dilation[2];
    int output_padding[2];   /* conv_transpose2d only; 0 for conv2d */
    int groups;
    int relu;                /* conv2d only: 1 = forward kernels return relu(conv + bias);
                                backward kernels get gy already masked by y > 0 */
    int gx_overwrite;        /* backward only: 1 = gx holds garbage and is to be stored (=), not
                                added to (ed__grad_of_overwrite); a kernel that cannot, declines */
    int wscale;              /* conv2d forward only: 1 = tensors[] has a 5th entry, s (Cout, float64),
                                and the weight to use is ed__conv_scale_weight(w, s) (a BatchNorm
                                folded for inference, ed__conv2d_scaled); a kernel that cannot,
                                declines */
    int nhwc;                /* oneDNN kernels only, never set by the ops: activations and their
                                gradients in NHWC (acdb) at the primitive, for the fused
                                conv + BatchNorm + ReLU (backend/onednn/conv_bn_relu.c) */
    int dst_lo;              /* oneDNN kernels only, never set by the ops: the forward's dst in the
                                convolution's type (bf16 under bf16), for chained inference
                                (backend/onednn/conv_chain.c) */
    int w_io;                /* oneDNN kernels only, never set by the ops: a conv2d weight stored
                                (Cin, Cout, kh, kw), as a transposed convolution's (the inference
                                graph's 2x2 up-sampling as a 1x1 convolution to 4 Cout channels,
                                backend/onednn/infer_graph.c) */
    int gx_lo;               /* oneDNN kernels only, never set by the ops: backward-data's diff_src
                                in the convolution's type (bf16 under bf16), for a fused block
                                handing its input gradient to a producer that reads it so
                                (backend/onednn/conv_bn_relu.c, ED_GRAD_NHWC_BF16) */
    int gw_overwrite;        /* oneDNN kernels only, never set by the ops: backward-weights stores
                                (=) the weight and bias gradients instead of adding to them (fresh
                                buffers, ed__grad_of_overwrite; backend/onednn/conv_bn_relu.c) */
    int keep_src;            /* conv2d, training: the kernel may keep its converted input for the
                                weight gradient (ED_CONV_KEEP below). Forward: tensors[5] is a
                                uint8 holder to fill, or left with a zero first word; backward:
                                tensors[6] is that holder (or NULL) */
} ed__conv_params;

/* The holder of a kept input: ED_CONV_KEEP_HEADER bytes for the kernel's
 * description of the copy (its first 8 bytes the copy's size, 0 when
 * nothing was kept), then the copy. ed__conv_keep_bytes: the holder's
 * size for x, enough for the layouts a kernel may pick (channels padded
 * to 16; 2 bytes an element when the convolutions run in bfloat16). */
#define ED_CONV_KEEP_HEADER 4096
static inline int64_t ed__conv_keep_bytes(const ed_tensor *x, int bf16)
{
    return ED_CONV_KEEP_HEADER + x->shape[0] * ((x->shape[1] + 15) / 16 * 16) * x->shape[2] * x->shape[3] * (bf16 ? 2 : 4);
}

/* One im2col geometry; see the top of this file. */
typedef struct ed__conv_geom {
    int64_t N, G;
    int64_t C, H, W;         /* image: channels per group, height, width */
    int64_t M, Ho, Wo;       /* positions: channels per group, height, width */
    int64_t kh, kw, sh, sw, ph, pw, dh, dw;
} ed__conv_geom;

/* Reference kernels. img, pos and A are the tensors' data (the element type
 * given by dtype); they return ED_E_NOMEM when scratch memory runs out. */
ed_status ed__conv_fwd(ed_dtype dt, const ed__conv_geom *g, const void *img, const void *A, void *pos);
ed_status ed__conv_bwd_data(ed_dtype dt, const ed__conv_geom *g, const void *A, const void *pos, void *img);
ed_status ed__conv_bwd_weight(ed_dtype dt, const ed__conv_geom *g, const void *img, const void *pos, void *A);
/* out[o, i] = (float)(w[o, i] * s[o]) for a float32 weight of O rows of per
 * elements (conv2d's (Cout, Cin/groups, kh, kw)), s in float64; the one
 * definition of a folded weight, for every kernel. */
void ed__conv_scale_weight(const float *w, const double *s, int64_t O, int64_t per, float *out);
/* t (N, C, HW) := bias[c] broadcast (0 when bias is NULL). */
void ed__conv_fill_bias(ed_dtype dt, int64_t N, int64_t C, int64_t HW, const void *bias, void *t);
/* gb[c] += sum over n and HW of g (N, C, HW). */
void ed__conv_bias_grad(ed_dtype dt, int64_t N, int64_t C, int64_t HW, const void *g, void *gb);

#endif
