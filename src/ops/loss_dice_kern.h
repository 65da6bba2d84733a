/* Typed loops for loss_dice.c (see typed.h). The input is viewed as
 * (N, C, S) and the target as (N, S); positions are taken in blocks of
 * DICE_BLOCK so the loops over one class run over contiguous memory. */

/* lse[j] = log sum_c exp x[c*S + j] for j < len (C > 1 only). */
static void K(dice_lse)(const T *x, int64_t C, int64_t S, int64_t len, double *lse)
{
    double mx[DICE_BLOCK], se[DICE_BLOCK];
    for (int64_t j = 0; j < len; j++) { mx[j] = -INFINITY; se[j] = 0; }
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < len; j++)
            if (x[c * S + j] > mx[j]) mx[j] = x[c * S + j];
    for (int64_t c = 0; c < C; c++)
        for (int64_t j = 0; j < len; j++) se[j] += exp((double)x[c * S + j] - mx[j]);
    for (int64_t j = 0; j < len; j++) lse[j] = mx[j] + log(se[j]);
}

/* Probability of class c at position j of a block: softmax, or sigmoid for
 * a single channel. */
static inline double K(dice_prob)(const T *x, int64_t C, int64_t S, int64_t c, int64_t j, const double *lse)
{
    double v = x[c * S + j];
    return C == 1 ? 1 / (1 + exp(-v)) : exp(v - lse[j]);
}

/* part[((n * nch + k) * C + c) * 3 + {0,1,2}] = sums of p t, p and t over the
 * valid positions of chunk k of sample n. */
static void K(dice_sums)(const T *x, const int64_t *t, int64_t N, int64_t C, int64_t S, int64_t ignore, double *part)
{
    int64_t nch = (S + DICE_CHUNK - 1) / DICE_CHUNK;
    ED_PARALLEL_FOR_IF(N * nch > 1 && N * C * S > 4096)
    for (int64_t b = 0; b < N * nch; b++) {
        int64_t n = b / nch, k = b % nch;
        double *ps = part + b * C * 3;
        for (int64_t i = 0; i < C * 3; i++) ps[i] = 0;
        int64_t e = (k + 1) * DICE_CHUNK < S ? (k + 1) * DICE_CHUNK : S;
        for (int64_t s0 = k * DICE_CHUNK; s0 < e; s0 += DICE_BLOCK) {
            int64_t len = e - s0 < DICE_BLOCK ? e - s0 : DICE_BLOCK;
            const T *xb = x + n * C * S + s0;
            const int64_t *yb = t + n * S + s0;
            double lse[DICE_BLOCK];
            if (C > 1) K(dice_lse)(xb, C, S, len, lse);
            for (int64_t c = 0; c < C; c++) {
                double si = 0, sp = 0, st = 0;
                for (int64_t j = 0; j < len; j++) {
                    if (yb[j] == ignore) continue;
                    double p = K(dice_prob)(xb, C, S, c, j, lse);
                    double tc = C == 1 ? (double)yb[j] : (double)(yb[j] == c);
                    si += p * tc;
                    sp += p;
                    st += tc;
                }
                ps[c * 3] += si;
                ps[c * 3 + 1] += sp;
                ps[c * 3 + 2] += st;
            }
        }
    }
}

/* With a = g D / Sd^2 and b = 2 g / Sd per (n, c) (coef), the loss's
 * gradient by p_c is a_c - b_c t_c; back through softmax
 * dx_c = p_c (dp_c - sum_k p_k dp_k), through sigmoid dx = dp p (1 - p). */
static void K(dice_bwd)(const T *x, const int64_t *t, int64_t N, int64_t C, int64_t S, int64_t ignore,
                        const double *ab, T *gx)
{
    int64_t nb = (S + DICE_BLOCK - 1) / DICE_BLOCK;
    ED_PARALLEL_FOR_IF(N * nb > 1 && N * C * S > 4096)
    for (int64_t b = 0; b < N * nb; b++) {
        int64_t n = b / nb, s0 = (b % nb) * DICE_BLOCK;
        int64_t len = S - s0 < DICE_BLOCK ? S - s0 : DICE_BLOCK;
        const T *xb = x + n * C * S + s0;
        const int64_t *yb = t + n * S + s0;
        const double *abn = ab + n * C * 2;
        T *gb = gx + n * C * S + s0;
        double lse[DICE_BLOCK], dot[DICE_BLOCK];
        if (C == 1) {
            for (int64_t j = 0; j < len; j++) {
                if (yb[j] == ignore) continue;
                double p = K(dice_prob)(xb, C, S, 0, j, lse);
                double dp = abn[0] - abn[1] * (double)yb[j];
                gb[j] += (T)(dp * p * (1 - p));
            }
            continue;
        }
        K(dice_lse)(xb, C, S, len, lse);
        for (int64_t j = 0; j < len; j++) dot[j] = 0;
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < len; j++) {
                if (yb[j] == ignore) continue;
                double p = K(dice_prob)(xb, C, S, c, j, lse);
                dot[j] += p * (abn[c * 2] - (yb[j] == c ? abn[c * 2 + 1] : 0.0));
            }
        for (int64_t c = 0; c < C; c++)
            for (int64_t j = 0; j < len; j++) {
                if (yb[j] == ignore) continue;
                double p = K(dice_prob)(xb, C, S, c, j, lse);
                double dp = abn[c * 2] - (yb[j] == c ? abn[c * 2 + 1] : 0.0);
                gb[c * S + j] += (T)(p * (dp - dot[j]));
            }
    }
}
