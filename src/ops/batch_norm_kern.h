/* Typed loops for batch_norm.c (see typed.h). x is viewed as (N, C, S):
 * plane (n, c) holds S contiguous elements. Reductions over a channel sum
 * each plane in order into its own partial (parallel over planes), then the
 * partials in n order: fixed chunks, so results do not depend on threads. */

/* Per-channel batch mean and biased variance, in double, two passes (a
 * one-pass sum of squares loses digits when |mean| >> std). part: N*C. */
static void K(bn_batch_stats)(const T *x, int64_t N, int64_t C, int64_t S, double *part, double *mean, double *var)
{
    const int64_t P = N * C;
    const double M = (double)(N * S);
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        const T *xp = x + p * S;
        double s = 0;
        for (int64_t i = 0; i < S; i++) s += xp[i];
        part[p] = s;
    }
    for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t n = 0; n < N; n++) s += part[n * C + c];
        mean[c] = s / M;
    }
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        const T *xp = x + p * S;
        const double m = mean[p % C];
        double s = 0;
        for (int64_t i = 0; i < S; i++) s += ((double)xp[i] - m) * ((double)xp[i] - m);
        part[p] = s;
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
                        int64_t N, int64_t C, int64_t S, T *y)
{
    const int64_t P = N * C;
    ED_PARALLEL_FOR_IF(P * S > 32768)
    for (int64_t p = 0; p < P; p++) {
        const int64_t c = p % C;
        const double alpha = invstd[c] * (w ? (double)w[c] : 1.0);
        const double beta = (b ? (double)b[c] : 0.0) - mean[c] * alpha;
        const T *xp = x + p * S;
        T *yp = y + p * S;
        for (int64_t i = 0; i < S; i++) yp[i] = (T)((double)xp[i] * alpha + beta);
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

/* Backward. Per channel: sg = sum(gy), sgx = sum(gy * (x - mean)).
 *   gb += sg; gw += sgx * invstd;
 *   training: gx += w invstd (gy - sg / M - (x - mean) invstd^2 sgx / M)
 *     (mean and variance depend on x);
 *   eval:     gx += w invstd gy.
 * gx, gw, gb may be NULL. part: 2*N*C doubles. */
static void K(bn_backward)(const T *x, const T *w, const T *gy, const double *mean, const double *invstd,
                           int64_t N, int64_t C, int64_t S, int training, double *part, double *sg, double *sgx,
                           T *gx, T *gw, T *gb)
{
    const int64_t P = N * C;
    const double M = (double)(N * S);
    const bool need_sums = gw || gb || (gx && training);
    if (need_sums) {
        ED_PARALLEL_FOR_IF(P * S > 32768)
        for (int64_t p = 0; p < P; p++) {
            const T *xp = x + p * S, *gp = gy + p * S;
            const double m = mean[p % C];
            double a = 0, b = 0;
            for (int64_t i = 0; i < S; i++) {
                a += gp[i];
                b += (double)gp[i] * ((double)xp[i] - m);
            }
            part[2 * p] = a;
            part[2 * p + 1] = b;
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
        if (training) {
            const double mg = sg[c] / M, cx = is * is * sgx[c] / M;
            for (int64_t i = 0; i < S; i++)
                gxp[i] += (T)(k * ((double)gp[i] - mg - ((double)xp[i] - m) * cx));
        } else {
            for (int64_t i = 0; i < S; i++) gxp[i] += (T)(k * (double)gp[i]);
        }
    }
}
