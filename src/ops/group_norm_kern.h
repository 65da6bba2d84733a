/* Typed loops for group_norm.c (see typed.h). x is viewed as (N, G, L)
 * with L = (C / G) * S contiguous elements per group; channel c of group g
 * holds S of them. */

/* Mean and 1/sqrt(biased var + eps) of each (n, g), two passes in double,
 * one thread per group (its sums run in order). */
static void K(gn_stats)(const T *x, int64_t NG, int64_t L, double eps, double *mean, double *rstd)
{
    ED_PARALLEL_FOR_IF(NG * L > 32768)
    for (int64_t q = 0; q < NG; q++) {
        const T *xq = x + q * L;
        double s = 0, v = 0;
        for (int64_t i = 0; i < L; i++) s += xq[i];
        const double m = L > 0 ? s / (double)L : 0.0;
        for (int64_t i = 0; i < L; i++) v += ((double)xq[i] - m) * ((double)xq[i] - m);
        mean[q] = m;
        rstd[q] = 1.0 / sqrt((L > 0 ? v / (double)L : 0.0) + eps);
    }
}

static void K(gn_apply)(const T *x, const T *w, const T *b, const double *mean, const double *rstd,
                        int64_t N, int64_t C, int64_t G, int64_t S, T *y)
{
    const int64_t P = N * C, Cg = C / G;
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        const int64_t n = p / C, c = p % C, q = n * G + c / Cg;
        const double alpha = rstd[q] * (w ? (double)w[c] : 1.0);
        const double beta = (b ? (double)b[c] : 0.0) - mean[q] * alpha;
        const T *xp = x + p * S;
        T *yp = y + p * S;
        for (int64_t i = 0; i < S; i++) yp[i] = (T)((double)xp[i] * alpha + beta);
    }
}

/* gx: per (n, g) with d = gy * w (the gradient of xhat) and L elements,
 *   gx += rstd (d - sum(d) / L - xhat sum(d xhat) / L).
 * gw[c] += sum over n, s of gy xhat; gb[c] += sum of gy; one thread per
 * channel sums in n order. */
static void K(gn_backward)(const T *x, const T *w, const T *gy, const double *mean, const double *rstd,
                           int64_t N, int64_t C, int64_t G, int64_t S, T *gx, T *gw, T *gb)
{
    const int64_t Cg = C / G, L = Cg * S;
    if (gx) {
        ED_PARALLEL_FOR_IF(N * C * S > 32768)
        for (int64_t q = 0; q < N * G; q++) {
            const int64_t c0 = (q % G) * Cg;
            const T *xq = x + q * L, *gq = gy + q * L;
            const double m = mean[q], r = rstd[q];
            double sd = 0, sdx = 0;
            for (int64_t j = 0; j < Cg; j++) {
                const double wc = w ? (double)w[c0 + j] : 1.0;
                for (int64_t i = j * S; i < (j + 1) * S; i++) {
                    const double d = (double)gq[i] * wc;
                    sd += d;
                    sdx += d * ((double)xq[i] - m) * r;
                }
            }
            T *gxq = gx + q * L;
            for (int64_t j = 0; j < Cg; j++) {
                const double wc = w ? (double)w[c0 + j] : 1.0;
                for (int64_t i = j * S; i < (j + 1) * S; i++) {
                    const double xh = ((double)xq[i] - m) * r;
                    gxq[i] += (T)(r * ((double)gq[i] * wc - sd / (double)L - xh * sdx / (double)L));
                }
            }
        }
    }
    if (!gw && !gb) return;
    ED_PARALLEL_FOR_IF(N * C * S > 32768)
    for (int64_t c = 0; c < C; c++) {
        double a = 0, bsum = 0;
        for (int64_t n = 0; n < N; n++) {
            const int64_t q = n * G + c / Cg, p = n * C + c;
            const T *xp = x + p * S, *gp = gy + p * S;
            for (int64_t i = 0; i < S; i++) {
                bsum += gp[i];
                a += (double)gp[i] * ((double)xp[i] - mean[q]) * rstd[q];
            }
        }
        if (gw) gw[c] += (T)a;
        if (gb) gb[c] += (T)bsum;
    }
}
