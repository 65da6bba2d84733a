/* Gradients held in a convolution's layout (ed_tensor.nhwc): NHWC
 * (N, HW, C) in float32 or bfloat16, or oneDNN's nChw16c (N, C / 16, HW,
 * 16), written by the fused
 * conv_bn_relu backward for a producer that reads them so
 * (ed_node.takes_nhwc_grad), brought back to the library's NCHW.
 *
 *   ed__grad_channels: channels [c0, c0 + cn) of such a gradient into an
 *                      NCHW (N, cn, HW) buffer, stored or added (cat's
 *                      backward splits its gradient so, one input at a time)
 *   ed__grad_plain:    the whole gradient back to NCHW, in place
 *
 * 16x16 tiles go through AVX-512 registers (core/tile16.h) where the
 * channels allow (C and c0 multiples of 16, cn whole 16s); the rest are
 * plain loops. Either way each element is moved or added once, so the
 * results are the same bits. */
#include "core/ed_internal.h"
#include "core/tile16.h"

#include <string.h>

/* Element (n, c, p) of g's layout. */
static inline int64_t at(bool blk, int64_t C, int64_t HW, int64_t n, int64_t c, int64_t p)
{
    return blk ? ((n * (C / 16) + c / 16) * HW + p) * 16 + c % 16 : (n * HW + p) * C + c;
}

#define RUN 64   /* pixels per work item: each source row read 256 bytes at a time */

void ed__grad_channels(const ed_tensor *g, int64_t c0, int64_t cn, float *dst, bool add)
{
    const int64_t N = g->shape[0], C = g->shape[1], HW = g->numel / (N * C > 0 ? N * C : 1);
    const bool blk = g->nhwc == ED_GRAD_NCHW16C, b16 = g->nhwc == ED_GRAD_NHWC_BF16;
    const float *s = g->data;
    const uint16_t *sb = g->data;
    const int64_t runs = (HW + RUN - 1) / RUN, items = N * runs;
    ED_PARALLEL_FOR_IF(N * HW * cn > 65536)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / runs, p0 = it % runs * RUN, p1 = p0 + RUN < HW ? p0 + RUN : HW;
        float *dn = dst + n * cn * HW;
        int64_t c_full = 0, p_full = p0;
#if defined(__AVX512F__)
        if (C % 16 == 0 && c0 % 16 == 0) {
            c_full = cn / 16 * 16;
            p_full = p0 + (p1 - p0) / 16 * 16;
            const int64_t step = blk ? 16 : C;   /* between consecutive pixels of one 16-channel group */
            for (int64_t c = 0; c < c_full; c += 16)
                for (int64_t q = p0; q < p_full; q += 16) {
                    __m512 r[16];
                    const int64_t o = at(blk, C, HW, n, c0 + c, q);
                    for (int i = 0; i < 16; i++)
                        r[i] = b16 ? ed__load_bf16x16(sb + o + i * step) : _mm512_loadu_ps(s + o + i * step);
                    ed__tr16(r);   /* r[j]: channel c0 + c + j over pixels q..q+15 */
                    for (int j = 0; j < 16; j++) {
                        float *d = dn + (c + j) * HW + q;
                        _mm512_storeu_ps(d, add ? _mm512_add_ps(_mm512_loadu_ps(d), r[j]) : r[j]);
                    }
                }
        }
#endif
        for (int64_t c = 0; c < cn; c++)
            for (int64_t p = (c < c_full ? p_full : p0); p < p1; p++) {
                const int64_t o = at(blk, C, HW, n, c0 + c, p);
                const float v = b16 ? ed__bf16_f(sb[o]) : s[o];
                float *d = dn + c * HW + p;
                *d = add ? *d + v : v;
            }
    }
}

ed_status ed__grad_plain(ed_tensor *g)
{
    if (!g || !g->nhwc) return ED_OK;
    float *tmp = ed__scratch(sizeof(float) * (size_t)g->numel);
    if (!tmp) return ed__err(ED_E_NOMEM, "backward: out of memory for a gradient's layout");
    ed__grad_channels(g, 0, g->shape[1], tmp, false);
    memcpy(g->data, tmp, sizeof(float) * (size_t)g->numel);
    ed__scratch_free(tmp);
    g->nhwc = 0;
    return ED_OK;
}
