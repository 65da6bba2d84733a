/* Typed loops for batch_norm.c (see typed.h). x is viewed as (N, C, S):
 * plane (n, c) holds S contiguous elements. Reductions over a channel sum
 * each plane into its own partial (parallel over planes), then the partials
 * in n order: fixed chunks, so results do not depend on threads. Within a
 * plane, element i goes to lane i % BN_LANES and the lanes are added in
 * order at the end: BN_LANES independent double chains the compiler keeps
 * in vector registers (one chain is bound by the add latency, about 4x
 * slower), in an order that is still fixed. */

#ifndef BN_LANES
#define BN_LANES 8
/* The 8 lanes as one GCC/Clang vector: the same per-lane double arithmetic
 * (the build does not contract to FMA), so the same bits as 8 scalar
 * chains, but loaded, converted and added 8 at a time. */
typedef double bn_v8d __attribute__((vector_size(8 * sizeof(double))));
static inline double bn_lanes_total(const double *a)
{
    double s = 0;
    for (int l = 0; l < BN_LANES; l++) s += a[l];
    return s;
}
#endif

typedef T K(bn_v8t) __attribute__((vector_size(8 * sizeof(T))));
/* Through pointers: a 64-byte vector passed or returned by value would
 * change the ABI on builds without AVX-512 (-Wpsabi). */
static inline void K(bn_ld8)(const T *p, bn_v8d *out)
{
    K(bn_v8t) v;
    memcpy(&v, p, sizeof v);
    *out = __builtin_convertvector(v, bn_v8d);
}

/* The sum of p[i] over a plane, or with sq of (p[i] - m)^2. */
static inline double K(bn_plane_sum)(const T *p, int64_t S, int sq, double m)
{
    bn_v8d acc = { 0 };
    double tail[BN_LANES] = { 0 };
    int64_t i = 0;
    if (sq) {
        for (; i + BN_LANES <= S; i += BN_LANES) {
            bn_v8d d;
            K(bn_ld8)(p + i, &d);
            d -= m;
            acc += d * d;
        }
        memcpy(tail, &acc, sizeof tail);
        for (; i < S; i++) tail[i % BN_LANES] += ((double)p[i] - m) * ((double)p[i] - m);
    } else {
        for (; i + BN_LANES <= S; i += BN_LANES) {
            bn_v8d v;
            K(bn_ld8)(p + i, &v);
            acc += v;
        }
        memcpy(tail, &acc, sizeof tail);
        for (; i < S; i++) tail[i % BN_LANES] += (double)p[i];
    }
    return bn_lanes_total(tail);
}

/* Per-channel batch mean and biased variance, in double, two passes (a
 * one-pass sum of squares loses digits when |mean| >> std). part: N*C. */
static void K(bn_batch_stats)(const T *x, int64_t N, int64_t C, int64_t S, double *part, double *mean, double *var)
{
    const int64_t P = N * C;
    const double M = (double)(N * S);
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        part[p] = K(bn_plane_sum)(x + p * S, S, 0, 0.0);
    }
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += part[n * C + c];
        mean[c] = s / M;
    }
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        part[p] = K(bn_plane_sum)(x + p * S, S, 1, mean[p % C]);
    }
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += part[n * C + c];
        var[c] = s / M;
    }
}

/* y = x * alpha + beta with alpha = invstd * w, beta = b - mean * alpha, as
 * PyTorch's CPU kernel folds it. w, b may be NULL (1 and 0). */
static void K(bn_apply)(const T *x, const T *w, const T *b, const double *mean, const double *invstd,
                        int64_t N, int64_t C, int64_t S, int relu, T *y)
{
    const int64_t P = N * C;
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        const int64_t c = p % C;
        const double alpha = invstd[c] * (w ? (double)w[c] : 1.0);
        const double beta = (b ? (double)b[c] : 0.0) - mean[c] * alpha;
        const T *xp = x + p * S;
        T *yp = y + p * S;
        if (relu) {
            for (int64_t i = 0; i < S; i++) {
                const T v = (T)((double)xp[i] * alpha + beta);
                yp[i] = v > 0 ? v : (T)0;
            }
        } else {
            for (int64_t i = 0; i < S; i++) yp[i] = (T)((double)xp[i] * alpha + beta);
        }
    }
}

/* Running statistics in place: r = (1 - m) r + m s, with the unbiased
 * variance var * M / (M - 1), as PyTorch. */
static void K(bn_update_running)(T *rm, T *rv, const double *mean, const double *var, int64_t C, double M,
                                 double momentum)
{
    for (int64_t c = 0; c < C; c++) {
        rm[c] = (T)((1 - momentum) * (double)rm[c] + momentum * mean[c]);
        rv[c] = (T)((1 - momentum) * (double)rv[c] + momentum * var[c] * M / (M - 1));
    }
}

/* Fused BN + ReLU backward, first step: relu_mask on gy. */
#include "ops/relu_kern.h"

/* Backward. Per channel: sg = sum(gy), sgx = sum(gy * (x - mean)).
 *   gb += sg; gw += sgx * invstd;
 *   training: gx += w invstd (gy - sg / M - (x - mean) invstd^2 sgx / M)
 *     (mean and variance depend on x);
 *   eval:     gx += w invstd gy.
 * gx_set: gx is stored (=) instead (a fresh, unfilled buffer). gx, gw, gb
 * may be NULL. part: 2*N*C doubles. */
static void K(bn_backward)(const T *x, const T *w, const T *gy, const double *mean, const double *invstd,
                           int64_t N, int64_t C, int64_t S, int training, double *part, double *sg, double *sgx,
                           T *gx, int gx_set, T *gw, T *gb)
{
    const int64_t P = N * C;
    const double M = (double)(N * S);
    const bool need_sums = gw || gb || (gx && training);
    if (need_sums) {
        ED_PARALLEL_FOR_IF(P * S > 32768)
        for (int64_t p = 0; p < P; p++) {
            const T *xp = x + p * S, *gp = gy + p * S;
            const double m = mean[p % C];
            double a[BN_LANES], b[BN_LANES];
            bn_v8d va = { 0 }, vb = { 0 };
            int64_t i = 0;
            for (; i + BN_LANES <= S; i += BN_LANES) {
                bn_v8d g, xv;
                K(bn_ld8)(gp + i, &g);
                K(bn_ld8)(xp + i, &xv);
                va += g;
                vb += g * (xv - m);
            }
            memcpy(a, &va, sizeof a);
            memcpy(b, &vb, sizeof b);
            for (; i < S; i++) {
                a[i % BN_LANES] += (double)gp[i];
                b[i % BN_LANES] += (double)gp[i] * ((double)xp[i] - m);
            }
            part[2 * p] = bn_lanes_total(a);
            part[2 * p + 1] = bn_lanes_total(b);
        }
        for (int64_t c = 0; c < C; c++) {
            double a = 0, b = 0;
            for (int64_t n = 0; n < N; n++) {
                a += part[2 * (n * C + c)];
                b += part[2 * (n * C + c) + 1];
            }
            sg[c] = a;
            sgx[c] = b;
            if (gb) gb[c] += (T)a;
            if (gw) gw[c] += (T)(b * invstd[c]);
        }
    }
    if (!gx) return;
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        const int64_t c = p % C;
        const double is = invstd[c], k = is * (w ? (double)w[c] : 1.0), m = mean[c];
        const T *xp = x + p * S, *gp = gy + p * S;
        T *gxp = gx + p * S;
        const double mg = training ? sg[c] / M : 0.0, cx = training ? is * is * sgx[c] / M : 0.0;
        if (training && gx_set) {
            for (int64_t i = 0; i < S; i++) gxp[i] = (T)(k * ((double)gp[i] - mg - ((double)xp[i] - m) * cx));
        } else if (training) {
            for (int64_t i = 0; i < S; i++) gxp[i] += (T)(k * ((double)gp[i] - mg - ((double)xp[i] - m) * cx));
        } else if (gx_set) {
            for (int64_t i = 0; i < S; i++) gxp[i] = (T)(k * (double)gp[i]);
        } else {
            for (int64_t i = 0; i < S; i++) gxp[i] += (T)(k * (double)gp[i]);
        }
    }
}
