/* Activation reorders between the library's NCHW float32 tensors and the
 * NHWC (oneDNN "acdb") buffers that the AMX/bf16 convolutions work in.
 *
 * oneDNN's own reorder for these (jit:uni) ran at about 3 GB/s here and took
 * over half of the oneDNN time of a bf16 training step (ONEDNN_VERBOSE on an
 * EDSR step: 3.9 s of reorders against 2.8 s of convolutions). These loops
 * transpose 16x16 tiles in AVX-512 registers, convert to bf16 on the way
 * (vcvtneps2bf16: round to nearest even, as oneDNN's reorder), and are
 * memory-bound. Without AVX-512 they are plain loops. Results are bit-equal
 * to oneDNN's reorders (tests/test_onednn.c compares them; float32
 * denormals become zero in bf16, as vcvtneps2bf16 does).
 *
 *   odnn_to_nhwc:   dst[n][p][c] = src[n][c][p]           (f32 or bf16 dst;
 *                   odnn_to_nhwc_ld: dst's rows ld channels long, as one
 *                   input's slice of a concatenation)
 *   odnn_from_nhwc: dst[n][c][p] (=|+=) src[n][p][c]       (f32; also nChw16c
 *                   as NHWC of (N * C / 16, 16, H, W))
 * with p over H*W. Parallel over images and chunks of 64 positions (each
 * source row read 256 bytes at a time). */
#include "backend/onednn/onednn_common.h"
#include "core/tile16.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif



/* One image, positions [p0, p1): the tiled part, then the edges by scalars;
 * dst's positions are ld channels apart (C, or a concatenation's total). */
static void to_nhwc_range(const float *s, void *dst, int64_t C, int64_t ld, int64_t HW, int64_t p0, int64_t p1, bool bf16)
{
    float *df = dst;
    uint16_t *db = dst;
    int64_t c_full = 0, p_full = p0;
#if defined(__AVX512F__)
    c_full = C / 16 * 16;
    p_full = p0 + (p1 - p0) / 16 * 16;
    for (int64_t c0 = 0; c0 < c_full; c0 += 16)
        for (int64_t q = p0; q < p_full; q += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(s + (c0 + i) * HW + q);
            ed__tr16(r);
            for (int j = 0; j < 16; j++) {
#if defined(__AVX512BF16__)
                if (bf16) {
                    _mm256_storeu_si256((__m256i *)(db + (q + j) * ld + c0), (__m256i)_mm512_cvtneps_pbh(r[j]));
                    continue;
                }
#else
                if (bf16) {
                    float tmp[16];
                    _mm512_storeu_ps(tmp, r[j]);
                    for (int i = 0; i < 16; i++) db[(q + j) * ld + c0 + i] = ed__bf16_rne(tmp[i]);
                    continue;
                }
#endif
                _mm512_storeu_ps(df + (q + j) * ld + c0, r[j]);
            }
        }
#endif
    for (int64_t p = p0; p < p1; p++)
        for (int64_t c = (p < p_full ? c_full : 0); c < C; c++) {
            float v = s[c * HW + p];
            if (bf16) db[p * ld + c] = ed__bf16_rne(v);
            else df[p * ld + c] = v;
        }
}

static void from_nhwc_range(const float *s, float *d, int64_t C, int64_t HW, int64_t p0, int64_t p1, bool acc)
{
    int64_t c_full = 0, p_full = p0;
#if defined(__AVX512F__)
    c_full = C / 16 * 16;
    p_full = p0 + (p1 - p0) / 16 * 16;
    for (int64_t c0 = 0; c0 < c_full; c0 += 16)
        for (int64_t q = p0; q < p_full; q += 16) {
            __m512 r[16];
            for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(s + (q + i) * C + c0);
            ed__tr16(r);
            for (int j = 0; j < 16; j++) {
                float *o = d + (c0 + j) * HW + q;
                _mm512_storeu_ps(o, acc ? _mm512_add_ps(_mm512_loadu_ps(o), r[j]) : r[j]);
            }
        }
#endif
    for (int64_t c = 0; c < C; c++)
        for (int64_t p = (c < c_full ? p_full : p0); p < p1; p++) {
            float v = s[p * C + c];
            d[c * HW + p] = acc ? d[c * HW + p] + v : v;
        }
}

/* Positions per parallel chunk: 4 tiles, so each source row is read 256
 * bytes at a time (16-position chunks ran slower than oneDNN's reorder on
 * 128x128 planes). */
#define LAYOUT_CHUNK 64

void odnn_to_nhwc(const float *src, void *dst, int64_t N, int64_t C, int64_t HW, bool bf16)
{
    odnn_to_nhwc_ld(src, dst, N, C, C, HW, bf16);
}

void odnn_to_nhwc_ld(const float *src, void *dst, int64_t N, int64_t C, int64_t ld, int64_t HW, bool bf16)
{
    int64_t tiles = (HW + LAYOUT_CHUNK - 1) / LAYOUT_CHUNK, esz = bf16 ? 2 : 4;
    ED_PARALLEL_FOR_IF(N * C * HW > 32768)
    for (int64_t k = 0; k < N * tiles; k++) {
        int64_t n = k / tiles, p0 = k % tiles * LAYOUT_CHUNK, p1 = p0 + LAYOUT_CHUNK < HW ? p0 + LAYOUT_CHUNK : HW;
        to_nhwc_range(src + n * C * HW, (char *)dst + n * ld * HW * esz, C, ld, HW, p0, p1, bf16);
    }
}

void odnn_from_nhwc(const float *src, float *dst, int64_t N, int64_t C, int64_t HW, bool accumulate)
{
    int64_t tiles = (HW + LAYOUT_CHUNK - 1) / LAYOUT_CHUNK;
    ED_PARALLEL_FOR_IF(N * C * HW > 32768)
    for (int64_t k = 0; k < N * tiles; k++) {
        int64_t n = k / tiles, p0 = k % tiles * LAYOUT_CHUNK, p1 = p0 + LAYOUT_CHUNK < HW ? p0 + LAYOUT_CHUNK : HW;
        from_nhwc_range(src + n * C * HW, dst + n * C * HW, C, HW, p0, p1, accumulate);
    }
}

void odnn_add(const float *src, float *dst, int64_t n)
{
    int64_t chunks = (n + 4095) / 4096;
    ED_PARALLEL_FOR_IF(n > 32768)
    for (int64_t k = 0; k < chunks; k++) {
        int64_t i0 = k * 4096, i1 = i0 + 4096 < n ? i0 + 4096 : n;
        for (int64_t i = i0; i < i1; i++) dst[i] += src[i];
    }
}
