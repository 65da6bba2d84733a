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
 * sums are float32 over runs of 16 pixels and double beyond (the
 * statistics in one pass, merging the runs' means and deviations, below):
 * one chain per channel in pixel order within a chunk of CHUNK pixels of
 * one image, then the chunks in order, fixed whatever the thread count. The AVX-512 loops
 * (16 channels a vector) and the plain ones give the same bits (the build
 * does not contract to FMA). */
#include "backend/onednn/bn_nhwc.h"

#include "core/tile16.h"

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

/* One pass over y: each run of 16 pixels gives its float32 sum, mean (sum /
 * 16, exact) and sum of squared deviations from that mean; the runs (and a
 * chunk's last pixels, one at a time) are merged in double in pixel order
 * by Chan's formula (n, mean, M2) + (nb, mb, qb): d = mb - mean, n' = n +
 * nb, mean' = mean + d * nb / n', M2' = M2 + qb + d * d * n * nb / n'. The
 * deviations are taken about the run's own mean, so a large mean does not
 * cancel the spread, as in two passes, without reading y twice.
 * part[2 * item * C + c] = the item's mean, part[(2 * item + 1) * C + c]
 * its M2. */
static inline void chan_merge(double *n, double *mean, double *m2, double nb, double mb, double qb)
{
    const double d = mb - *mean, nn = *n + nb;
    *m2 = *m2 + qb + d * d * (*n * nb / nn);
    *mean = *mean + d * (nb / nn);
    *n = nn;
}

#if defined(__AVX512F__)
/* chan_merge on 8 channels at once (the same operations, lane by lane). */
static inline void chan_merge8(double n, __m512d *mean, __m512d *m2, double nb, __m512d mb, __m512d qb)
{
    const double nn = n + nb;
    const __m512d d = _mm512_sub_pd(mb, *mean);
    *m2 = _mm512_add_pd(_mm512_add_pd(*m2, qb), _mm512_mul_pd(_mm512_mul_pd(d, d), _mm512_set1_pd(n * nb / nn)));
    *mean = _mm512_add_pd(*mean, _mm512_mul_pd(d, _mm512_set1_pd(nb / nn)));
}

static inline __m512d lo8(__m512 v) { return _mm512_cvtps_pd(_mm512_castps512_ps256(v)); }
static inline __m512d hi8(__m512 v)
{
    return _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}
#endif

static void moments(const float *y, bool blk, int64_t N, int64_t HW, int64_t C, double *part)
{
    const int64_t nch = chunks_of(HW), items = N * nch, ps = pix_step(blk, C);
    ED_PARALLEL_FOR_IF(N * HW * C > 32768)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / nch, p0 = it % nch * CHUNK, p1 = p0 + CHUNK < HW ? p0 + CHUNK : HW;
        const int64_t p_full = p0 + (p1 - p0) / 16 * 16;
        double *om = part + 2 * it * C, *oq = om + C;
#if defined(__AVX512F__)
        for (int64_t c0 = 0; c0 < C; c0 += 16) {
            __m512d m0 = _mm512_setzero_pd(), m1 = m0, q0 = m0, q1 = m0;
            double cnt = 0;
            for (int64_t q = p0; q < p_full; q += 16) {
                const float *yq = y + at(blk, HW, C, n, c0, q);
                __m512 v[16], acc = _mm512_setzero_ps(), dev = _mm512_setzero_ps();
                for (int i = 0; i < 16; i++) {
                    v[i] = _mm512_loadu_ps(yq + i * ps);
                    acc = _mm512_add_ps(acc, v[i]);
                }
                const __m512 mr = _mm512_mul_ps(acc, _mm512_set1_ps(1.0f / 16));
                for (int i = 0; i < 16; i++) {
                    const __m512 d = _mm512_sub_ps(v[i], mr);
                    dev = _mm512_add_ps(dev, _mm512_mul_ps(d, d));
                }
                chan_merge8(cnt, &m0, &q0, 16, lo8(mr), lo8(dev));
                chan_merge8(cnt, &m1, &q1, 16, hi8(mr), hi8(dev));
                cnt += 16;
            }
            _mm512_storeu_pd(om + c0, m0);
            _mm512_storeu_pd(om + c0 + 8, m1);
            _mm512_storeu_pd(oq + c0, q0);
            _mm512_storeu_pd(oq + c0 + 8, q1);
        }
#else
        (void)ps;
        for (int64_t c = 0; c < C; c++) {
            double cnt = 0, mean = 0, m2 = 0;
            for (int64_t q = p0; q < p_full; q += 16) {
                float v[16], acc = 0, dev = 0;
                for (int i = 0; i < 16; i++) {
                    v[i] = y[at(blk, HW, C, n, c, q + i)];
                    acc += v[i];
                }
                const float mr = acc * (1.0f / 16);
                for (int i = 0; i < 16; i++) {
                    const float d = v[i] - mr;
                    dev += d * d;
                }
                chan_merge(&cnt, &mean, &m2, 16, (double)mr, (double)dev);
            }
            om[c] = mean;
            oq[c] = m2;
        }
#endif
        /* The chunk's last pixels, one run each. */
        for (int64_t c = 0; c < C; c++) {
            double cnt = (double)(p_full - p0), mean = om[c], m2 = oq[c];
            for (int64_t p = p_full; p < p1; p++) chan_merge(&cnt, &mean, &m2, 1, (double)y[at(blk, HW, C, n, c, p)], 0);
            om[c] = mean;
            oq[c] = m2;
        }
    }
}

/* The chunks' partials (two a channel), then room for six per-channel
 * float constants. */
int64_t odnn_bn_nhwc_part_size(int64_t N, int64_t HW, int64_t C) { return (2 * N * chunks_of(HW) + 3) * C; }

void odnn_bn_nhwc_stats(const float *y, bool blk, int64_t N, int64_t HW, int64_t C, double *part, double *mean,
                        double *var)
{
    const int64_t nch = chunks_of(HW), items = N * nch;
    moments(y, blk, N, HW, C, part);
    /* The items in order (their pixel counts follow from the chunking),
     * all channels at once: chan_merge's arithmetic, channel by channel,
     * reading the partials in memory order. */
    for (int64_t c = 0; c < C; c++) mean[c] = var[c] = 0;
    double cnt = 0;
    for (int64_t it = 0; it < items; it++) {
        const int64_t p0 = it % nch * CHUNK, len = (p0 + CHUNK < HW ? p0 + CHUNK : HW) - p0;
        const double nb = (double)len, nn = cnt + nb, kq = cnt * nb / nn, km = nb / nn;
        const double *pm = part + 2 * it * C, *pq = pm + C;
        for (int64_t c = 0; c < C; c++) {
            const double d = pm[c] - mean[c];
            var[c] = var[c] + pq[c] + d * d * kq;
            mean[c] = mean[c] + d * km;
        }
        cnt = nn;
    }
    for (int64_t c = 0; c < C; c++) var[c] = var[c] / cnt;
}

/* ---- forward: z (NCHW) = relu(bn(y)) -------------------------------------- */

void odnn_bn_nhwc_apply_relu(const float *y, bool blk, const float *alpha, const float *beta, int64_t N, int64_t HW,
                             int64_t C, float *z, void *zc, bool zc_bf16)
{
    const int64_t nch = chunks_of(HW), items = N * nch, ps = pix_step(blk, C);
    ED_PARALLEL_FOR_IF(N * HW * C > 32768)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / nch, p0 = it % nch * CHUNK, p1 = p0 + CHUNK < HW ? p0 + CHUNK : HW;
        float *zn = z ? z + n * C * HW : NULL;
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
                        for (int j = 0; j < 16; j++) zb[o + i * ps + j] = ed__bf16_rne(tmp[j]);
#endif
                    }
                }
                if (!zn) continue;
                ed__tr16(r);
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
                if (zn) zn[c * HW + p] = r;
                if (zf) zf[o] = r;
                if (zb) zb[o] = ed__bf16_rne(r);
            }
    }
}

/* ---- backward ------------------------------------------------------------- */

#if defined(__AVX512F__)
/* The 16 rows (pixels q..q+15) of gz's channels c0..c0+15, pixel-major;
 * gz is NCHW (gzn: image n), or in y's layout (own: rows as they are;
 * with b16, NHWC bfloat16). */
static inline void load_gz_tile(const float *gz, const float *gzn, bool own, bool b16, bool blk, int64_t HW, int64_t C,
                                int64_t n, int64_t c0, int64_t q, __m512 g[16])
{
    if (own && b16) {
        const uint16_t *r = (const uint16_t *)gz + at(blk, HW, C, n, c0, q);
        for (int i = 0; i < 16; i++) g[i] = ed__load_bf16x16(r + i * C);
        return;
    }
    if (own) {
        const float *r = gz + at(blk, HW, C, n, c0, q);
        for (int i = 0; i < 16; i++) g[i] = _mm512_loadu_ps(r + i * pix_step(blk, C));
        return;
    }
    for (int i = 0; i < 16; i++) g[i] = _mm512_loadu_ps(gzn + (c0 + i) * HW + q);
    ed__tr16(g);
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
                           int64_t C, bool gz_own, bool gz_bf16, double *part, double *sg, double *sgx, void *gy,
                           bool gy_bf16)
{
#define GZ(c, p)                                                                                       \
    (gz_own ? (gz_bf16 ? ed__bf16_f(((const uint16_t *)gz)[at(blk, HW, C, n, (c), (p))]) : gz[at(blk, HW, C, n, (c), (p))]) \
            : gzn[(c) * HW + (p)])
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
                load_gz_tile(gz, gzn, gz_own, gz_bf16, blk, HW, C, n, c0, q, g);
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
    for (int64_t c = 0; c < C; c++) sg[c] = sgx[c] = 0;
    for (int64_t it = 0; it < items; it++)   /* items in order, channels side by side */
        for (int64_t c = 0; c < C; c++) {
            sg[c] += part[2 * it * C + c];
            sgx[c] += part[2 * it * C + C + c];
        }
    for (int64_t c = 0; c < C; c++) {
        const double a = sg[c], b = sgx[c];
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
                load_gz_tile(gz, gzn, gz_own, gz_bf16, blk, HW, C, n, c0, q, g);
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
                        for (int j = 0; j < 16; j++) gb[o + j] = ed__bf16_rne(tmp[j]);
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
                if (gb) gb[o] = ed__bf16_rne(v);
                else gf[o] = v;
            }
    }
}
#undef GZ
