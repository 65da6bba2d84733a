/* BatchNorm + ReLU on a convolution's float32 output in its own layout,
 * for the fused training block (conv_bn_relu.c): the statistics, the output
 * written in the library's NCHW layout, and the backward written in the
 * convolution's layout for its backward, without separate layout passes.
 *
 *   y: the convolution's output, C a multiple of 16, NHWC (N, HW, C) or,
 *      with blk, oneDNN's nChw16c (N, C / 16, HW, 16): element (n, c, p)
 *      at at(); gy and the next block's copy of z use the same layout
 *   z = relu(v), v = y * alpha[c] + beta[c] in float (alpha = invstd * w,
 *       beta = b - mean * alpha); the backward recomputes v for the ReLU's
 *       mask with the same expression, so the mask is z > 0 exactly.
 *
 * Elementwise work is float32 (the double arithmetic of ops/
 * batch_norm_kern.h made these loops compute-bound, 2x a layout pass);
 * sums are float32 over runs of 16 pixels and double beyond: one chain per
 * channel in pixel order within a chunk of CHUNK pixels of one image, then
 * the chunks in order, fixed whatever the thread count. The AVX-512 loops
 * (16 channels a vector) and the plain ones give the same bits (the build
 * does not contract to FMA). */
#include "backend/onednn/bn_nhwc.h"

#include "backend/onednn/tile16.h"

#include <string.h>

#define CHUNK 64

static inline int64_t chunks_of(int64_t HW) { return (HW + CHUNK - 1) / CHUNK; }

/* Element (n, c, p) of the layout; consecutive pixels of one 16-channel
 * group are pix_step(blk, C) apart. */
static inline int64_t at(bool blk, int64_t HW, int64_t C, int64_t n, int64_t c, int64_t p)
{
    return blk ? ((n * (C / 16) + c / 16) * HW + p) * 16 + c % 16 : (n * HW + p) * C + c;
}
static inline int64_t pix_step(bool blk, int64_t C) { return blk ? 16 : C; }


/* The BatchNorm output before the ReLU, in float: the forward's z and the
 * backward's mask both come from this one expression. */
static inline float bn_v(float y, float a, float b) { return y * a + b; }

#if defined(__AVX512F__)
/* The float32 sum of 16 rows, as a double vector pair added to s0, s1. */
static inline void add_rows(__m512 acc, __m512d *s0, __m512d *s1)
{
    *s0 = _mm512_add_pd(*s0, _mm512_cvtps_pd(_mm512_castps512_ps256(acc)));
    *s1 = _mm512_add_pd(*s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1))));
}
#endif

/* ---- statistics ----------------------------------------------------------- */

/* part[item * C + c] = sum over the item's pixels of f(y), f = y or
 * (y - mean)^2: float32 over each run of 16 pixels, those partials in
 * double, in pixel order. */
static void sums(const float *y, bool blk, int64_t N, int64_t HW, int64_t C, const float *meanf, double *part)
{
    const int64_t nch = chunks_of(HW), items = N * nch, ps = pix_step(blk, C);
    ED_PARALLEL_FOR_IF(N * HW * C > 32768)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / nch, p0 = it % nch * CHUNK, p1 = p0 + CHUNK < HW ? p0 + CHUNK : HW;
        double *out = part + it * C;
        int64_t p_full = p0;
#if defined(__AVX512F__)
        p_full = p0 + (p1 - p0) / 16 * 16;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
            const __m512 m = meanf ? _mm512_loadu_ps(meanf + c0) : _mm512_setzero_ps();
            for (int64_t q = p0; q < p_full; q += 16) {
                const float *yq = y + at(blk, HW, C, n, c0, q);
                __m512 acc = _mm512_setzero_ps();
                for (int i = 0; i < 16; i++) {
                    __m512 v = _mm512_loadu_ps(yq + i * ps);
                    if (meanf) {
                        v = _mm512_sub_ps(v, m);
                        v = _mm512_mul_ps(v, v);
                    }
                    acc = _mm512_add_ps(acc, v);
                }
                add_rows(acc, &s0, &s1);
            }
            _mm512_storeu_pd(out + c0, s0);
            _mm512_storeu_pd(out + c0 + 8, s1);
        }
#else
        (void)ps;
        for (int64_t c = 0; c < C; c++) out[c] = 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t q = p0; q + 16 <= p1; q += 16) {
                float acc = 0;
                for (int i = 0; i < 16; i++) {
                    float v = y[at(blk, HW, C, n, c, q + i)];
                    if (meanf) {
                        v = v - meanf[c];
                        v = v * v;
                    }
                    acc += v;
                }
                out[c] += (double)acc;
            }
        p_full = p0 + (p1 - p0) / 16 * 16;
#endif
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = p_full; p < p1; p++) {
                float v = y[at(blk, HW, C, n, c, p)];
                if (meanf) {
                    v = v - meanf[c];
                    v = v * v;
                }
                out[c] += (double)v;
            }
    }
}

static void reduce(const double *part, int64_t items, int64_t C, double M, double *out)
{
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t it = 0; it < items; it++) s += part[it * C + c];
        out[c] = s / M;
    }
}

/* The chunks' partial sums (two a channel), then room for six per-channel
 * float constants. */
int64_t odnn_bn_nhwc_part_size(int64_t N, int64_t HW, int64_t C) { return (2 * N * chunks_of(HW) + 3) * C; }

void odnn_bn_nhwc_stats(const float *y, bool blk, int64_t N, int64_t HW, int64_t C, double *part, double *mean,
                        double *var)
{
    const int64_t items = N * chunks_of(HW);
    const double M = (double)(N * HW);
    float *meanf = (float *)(part + 2 * items * C);
    sums(y, blk, N, HW, C, NULL, part);
    reduce(part, items, C, M, mean);
    for (int64_t c = 0; c < C; c++) meanf[c] = (float)mean[c];
    sums(y, blk, N, HW, C, meanf, part);
    reduce(part, items, C, M, var);
}

/* ---- forward: z (NCHW) = relu(bn(y)) -------------------------------------- */

void odnn_bn_nhwc_apply_relu(const float *y, bool blk, const float *alpha, const float *beta, int64_t N, int64_t HW,
                             int64_t C, float *z, void *zc, bool zc_bf16)
{
    const int64_t nch = chunks_of(HW), items = N * nch, ps = pix_step(blk, C);
    ED_PARALLEL_FOR_IF(N * HW * C > 32768)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / nch, p0 = it % nch * CHUNK, p1 = p0 + CHUNK < HW ? p0 + CHUNK : HW;
        float *zn = z + n * C * HW;
        float *zf = zc && !zc_bf16 ? (float *)zc : NULL;
        uint16_t *zb = zc && zc_bf16 ? (uint16_t *)zc : NULL;
        int64_t p_full = p0;
#if defined(__AVX512F__)
        p_full = p0 + (p1 - p0) / 16 * 16;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const __m512 a = _mm512_loadu_ps(alpha + c0), b = _mm512_loadu_ps(beta + c0);
            for (int64_t q = p0; q < p_full; q += 16) {
                const int64_t o = at(blk, HW, C, n, c0, q);
                __m512 r[16];
                for (int i = 0; i < 16; i++) {
                    const __m512 v = _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(y + o + i * ps), a), b);
                    r[i] = _mm512_max_ps(v, _mm512_setzero_ps());   /* v > 0 ? v : 0, NaN -> 0 */
                    if (zf) _mm512_storeu_ps(zf + o + i * ps, r[i]);
                    if (zb) {
#if defined(__AVX512BF16__)
                        _mm256_storeu_si256((__m256i *)(zb + o + i * ps), (__m256i)_mm512_cvtneps_pbh(r[i]));
#else
                        float tmp[16];
                        _mm512_storeu_ps(tmp, r[i]);
                        for (int j = 0; j < 16; j++) zb[o + i * ps + j] = odnn_bf16_rne(tmp[j]);
#endif
                    }
                }
                odnn_tr16(r);
                for (int j = 0; j < 16; j++) _mm512_storeu_ps(zn + (c0 + j) * HW + q, r[j]);
            }
        }
#else
        (void)ps;
#endif
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = p_full; p < p1; p++) {
                const int64_t o = at(blk, HW, C, n, c, p);
                const float v = bn_v(y[o], alpha[c], beta[c]), r = v > 0 ? v : 0.0f;
                zn[c * HW + p] = r;
                if (zf) zf[o] = r;
                if (zb) zb[o] = odnn_bf16_rne(r);
            }
    }
}

/* ---- backward ------------------------------------------------------------- */

#if defined(__AVX512F__)
/* The 16 rows (pixels q..q+15) of gz's channels c0..c0+15, pixel-major;
 * gz is NCHW (gzn: image n), or in y's layout (own: rows as they are). */
static inline void load_gz_tile(const float *gz, const float *gzn, bool own, bool blk, int64_t HW, int64_t C, int64_t n,
                                int64_t c0, int64_t q, __m512 g[16])
{
    if (own) {
        const float *r = gz + at(blk, HW, C, n, c0, q);
        for (int i = 0; i < 16; i++) g[i] = _mm512_loadu_ps(r + i * pix_step(blk, C));
        return;
    }
    for (int i = 0; i < 16; i++) g[i] = _mm512_loadu_ps(gzn + (c0 + i) * HW + q);
    odnn_tr16(g);
}

/* g where the forward's v > 0, else 0. */
static inline __m512 masked(__m512 yv, __m512 g, __m512 a, __m512 b)
{
    const __m512 v = _mm512_add_ps(_mm512_mul_ps(yv, a), b);
    return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ), g);
}
#endif

void odnn_bn_nhwc_backward(const float *y, bool blk, const float *gz, const float *alpha, const float *beta,
                           const double *mean, const double *invstd, const float *w, int64_t N, int64_t HW,
                           int64_t C, bool gz_own, double *part, double *sg, double *sgx, void *gy, bool gy_bf16)
{
#define GZ(c, p) (gz_own ? gz[at(blk, HW, C, n, (c), (p))] : gzn[(c) * HW + (p)])
    const int64_t nch = chunks_of(HW), items = N * nch, ps = pix_step(blk, C);
    const double M = (double)(N * HW);
    float *meanf = (float *)(part + 2 * items * C), *kk = meanf + C, *mgv = kk + C, *cxv = mgv + C;
    for (int64_t c = 0; c < C; c++) meanf[c] = (float)mean[c];
    /* Pass 1: per chunk, sg = sum g', sgx = sum g' (y - mean), g' = gz masked;
     * float over 16 pixels, then double. */
    ED_PARALLEL_FOR_IF(N * HW * C > 32768)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / nch, p0 = it % nch * CHUNK, p1 = p0 + CHUNK < HW ? p0 + CHUNK : HW;
        const float *gzn = gz + n * C * HW;
        double *og = part + 2 * it * C, *ox = og + C;
        int64_t p_full = p0 + (p1 - p0) / 16 * 16;
#if defined(__AVX512F__)
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const __m512 a = _mm512_loadu_ps(alpha + c0), b = _mm512_loadu_ps(beta + c0), m = _mm512_loadu_ps(meanf + c0);
            __m512d g0 = _mm512_setzero_pd(), g1 = g0, x0 = g0, x1 = g0;
            for (int64_t q = p0; q < p_full; q += 16) {
                __m512 g[16];
                load_gz_tile(gz, gzn, gz_own, blk, HW, C, n, c0, q, g);
                const float *yq = y + at(blk, HW, C, n, c0, q);
                __m512 ag = _mm512_setzero_ps(), ax = ag;
                for (int i = 0; i < 16; i++) {
                    const __m512 yv = _mm512_loadu_ps(yq + i * ps), gm = masked(yv, g[i], a, b);
                    ag = _mm512_add_ps(ag, gm);
                    ax = _mm512_add_ps(ax, _mm512_mul_ps(gm, _mm512_sub_ps(yv, m)));
                }
                add_rows(ag, &g0, &g1);
                add_rows(ax, &x0, &x1);
            }
            _mm512_storeu_pd(og + c0, g0);
            _mm512_storeu_pd(og + c0 + 8, g1);
            _mm512_storeu_pd(ox + c0, x0);
            _mm512_storeu_pd(ox + c0 + 8, x1);
        }
#else
        (void)ps;
        for (int64_t c = 0; c < C; c++) {
            og[c] = ox[c] = 0;
            for (int64_t q = p0; q < p_full; q += 16) {
                float ag = 0, ax = 0;
                for (int64_t p = q; p < q + 16; p++) {
                    const float yv = y[at(blk, HW, C, n, c, p)], gm = bn_v(yv, alpha[c], beta[c]) > 0 ? GZ(c, p) : 0.0f;
                    ag += gm;
                    ax += gm * (yv - meanf[c]);
                }
                og[c] += (double)ag;
                ox[c] += (double)ax;
            }
        }
#endif
        /* The chunk's last pixels, in order. */
        for (int64_t c = 0; c < C; c++)
            for (int64_t p = p_full; p < p1; p++) {
                const float yv = y[at(blk, HW, C, n, c, p)], gm = bn_v(yv, alpha[c], beta[c]) > 0 ? GZ(c, p) : 0.0f;
                og[c] += (double)gm;
                ox[c] += (double)(gm * (yv - meanf[c]));
            }
    }
    for (int64_t c = 0; c < C; c++) {
        double a = 0, b = 0;
        for (int64_t it = 0; it < items; it++) {
            a += part[2 * it * C + c];
            b += part[2 * it * C + C + c];
        }
        sg[c] = a;
        sgx[c] = b;
        kk[c] = (float)(invstd[c] * (w ? (double)w[c] : 1.0));
        mgv[c] = (float)(a / M);
        cxv[c] = (float)(invstd[c] * invstd[c] * b / M);
    }
    /* Pass 2: gy = k (g' - sg / M - (y - mean) invstd^2 sgx / M), in y's layout. */
    ED_PARALLEL_FOR_IF(N * HW * C > 32768)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / nch, p0 = it % nch * CHUNK, p1 = p0 + CHUNK < HW ? p0 + CHUNK : HW;
        const float *gzn = gz + n * C * HW;
        float *gf = gy_bf16 ? NULL : (float *)gy;
        uint16_t *gb = gy_bf16 ? (uint16_t *)gy : NULL;
        int64_t p_full = p0;
#if defined(__AVX512F__)
        p_full = p0 + (p1 - p0) / 16 * 16;
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            const __m512 a = _mm512_loadu_ps(alpha + c0), b = _mm512_loadu_ps(beta + c0), m = _mm512_loadu_ps(meanf + c0);
            const __m512 k = _mm512_loadu_ps(kk + c0), mg = _mm512_loadu_ps(mgv + c0), cx = _mm512_loadu_ps(cxv + c0);
            for (int64_t q = p0; q < p_full; q += 16) {
                __m512 g[16];
                load_gz_tile(gz, gzn, gz_own, blk, HW, C, n, c0, q, g);
                const int64_t o0 = at(blk, HW, C, n, c0, q);
                for (int i = 0; i < 16; i++) {
                    const int64_t o = o0 + i * ps;
                    const __m512 yv = _mm512_loadu_ps(y + o), gm = masked(yv, g[i], a, b);
                    const __m512 r = _mm512_mul_ps(_mm512_sub_ps(yv, m), cx);
                    const __m512 v = _mm512_mul_ps(k, _mm512_sub_ps(_mm512_sub_ps(gm, mg), r));
                    if (gb) {
#if defined(__AVX512BF16__)
                        _mm256_storeu_si256((__m256i *)(gb + o), (__m256i)_mm512_cvtneps_pbh(v));
#else
                        float tmp[16];
                        _mm512_storeu_ps(tmp, v);
                        for (int j = 0; j < 16; j++) gb[o + j] = odnn_bf16_rne(tmp[j]);
#endif
                    } else {
                        _mm512_storeu_ps(gf + o, v);
                    }
                }
            }
        }
#endif
        for (int64_t p = p_full; p < p1; p++)
            for (int64_t c = 0; c < C; c++) {
                const int64_t o = at(blk, HW, C, n, c, p);
                const float yv = y[o];
                const float gm = bn_v(yv, alpha[c], beta[c]) > 0 ? GZ(c, p) : 0.0f;
                const float v = kk[c] * ((gm - mgv[c]) - (yv - meanf[c]) * cxv[c]);
                if (gb) gb[o] = odnn_bf16_rne(v);
                else gf[o] = v;
            }
    }
}
#undef GZ
