/* BatchNorm + ReLU loops on a convolution's float32 output in its own
 * layout (bn_nhwc.c says how they sum and why the mask is exact): y is
 * NHWC (N, HW, C) or, with blk, nChw16c (N, C / 16, HW, 16), C a multiple
 * of 16; z and gz are the library's NCHW (N, C, HW). */
#ifndef ED_BACKEND_ONEDNN_BN_NHWC_H
#define ED_BACKEND_ONEDNN_BN_NHWC_H

#include "core/ed_internal.h"

/* Doubles of scratch the loops below need in part. */
int64_t odnn_bn_nhwc_part_size(int64_t N, int64_t HW, int64_t C);
/* Per-channel mean and biased variance (one pass over y). */
void odnn_bn_nhwc_stats(const float *y, bool blk, int64_t N, int64_t HW, int64_t C, double *part, double *mean,
                        double *var);
/* z = max(0, y * alpha[c] + beta[c]) (float), written NCHW (unless z is
 * NULL), and when zc is not NULL also in y's layout there, float32 or
 * (zc_bf16) bfloat16 rounded as layout.c's odnn_to_nhwc does. */
void odnn_bn_nhwc_apply_relu(const float *y, bool blk, const float *alpha, const float *beta, int64_t N, int64_t HW,
                             int64_t C, float *z, void *zc, bool zc_bf16);
/* Backward of z = relu(bn(y)) in training, gz the gradient of z: sg[c] =
 * sum of g', sgx[c] = sum of g' (y - mean), g' = gz where z > 0 else 0,
 * and gy = w invstd (g' - sg / M - (y - mean) invstd^2 sgx / M) (w may be
 * NULL: 1) written in y's layout, float32 or (gy_bf16) bfloat16. gz is
 * NCHW, or in y's layout with gz_own (NHWC bfloat16 with gz_bf16). */
void odnn_bn_nhwc_backward(const float *y, bool blk, const float *gz, const float *alpha, const float *beta,
                           const double *mean, const double *invstd, const float *w, int64_t N, int64_t HW,
                           int64_t C, bool gz_own, bool gz_bf16, double *part, double *sg, double *sgx, void *gy,
                           bool gy_bf16);

#endif
