/* Typed loops for loss_ce.c (see typed.h).
 *
 * The input is viewed as (N, C, S). A block of up to CE_BLOCK consecutive
 * positions s of one sample shares each pass over the classes, so the inner
 * loops run over contiguous memory even though a class row has stride S.
 * Everything is computed in double; T is only loaded and stored. */

/* lse[j] = log sum_c exp x[c*S + j] for j < len (max-shifted). */
static void K(ce_lse)(const T *x, int64_t C, int64_t S, int64_t len, double *lse)
{
    double mx[CE_BLOCK], se[CE_BLOCK];
    for (int64_t j = 0; j < len; j++) { mx[j] = -INFINITY; se[j] = 0; }
    for (int64_t c = 0; c < C; c++) {
        const T *xc = x + c * S;
        for (int64_t j = 0; j < len; j++)
            if (xc[j] > mx[j]) mx[j] = xc[j];
    }
    for (int64_t c = 0; c < C; c++) {
        const T *xc = x + c * S;
        for (int64_t j = 0; j < len; j++) se[j] += exp((double)xc[j] - mx[j]);
    }
    /* a NaN anywhere in the row, or an infinite max, makes lse NaN: the
     * loss then reports it */
    for (int64_t j = 0; j < len; j++) lse[j] = mx[j] + log(se[j]);
}

static double K(ce_wsum)(const T *w, int64_t C)
{
    double s = 0;
    for (int64_t c = 0; c < C; c++) s += w ? (double)w[c] : 1.0;
    return s;
}

/* loss[m] = (1-eps) w_y (lse - x_y) + eps/C sum_c w_c (lse - x_c) and
 * wy[m] = w_y for each position m = n*S + s; both 0 where ignored. */
static void K(ce_fwd)(const T *x, const int64_t *t, const T *w, int64_t N, int64_t C, int64_t S,
                      int64_t ignore, double eps, double *loss, double *wy)
{
    int64_t nb = (S + CE_BLOCK - 1) / CE_BLOCK;
    ED_PARALLEL_FOR_IF(N * nb > 1 && N * C * S > 4096)
    for (int64_t b = 0; b < N * nb; b++) {
        int64_t n = b / nb, s0 = (b % nb) * CE_BLOCK;
        int64_t len = S - s0 < CE_BLOCK ? S - s0 : CE_BLOCK;
        const T *xb = x + n * C * S + s0;
        double lse[CE_BLOCK], sm[CE_BLOCK];
        K(ce_lse)(xb, C, S, len, lse);
        for (int64_t j = 0; j < len; j++) sm[j] = 0;
        if (eps > 0)
            for (int64_t c = 0; c < C; c++) {
                const T *xc = xb + c * S;
                double wc = w ? (double)w[c] : 1.0;
                for (int64_t j = 0; j < len; j++) sm[j] += wc * (lse[j] - (double)xc[j]);
            }
        for (int64_t j = 0; j < len; j++) {
            int64_t m = n * S + s0 + j, y = t[m];
            if (y == ignore) { loss[m] = 0; wy[m] = 0; continue; }
            double wt = w ? (double)w[y] : 1.0;
            double l = (1 - eps) * wt * (lse[j] - (double)xb[y * S + j]);
            if (eps > 0) l += eps / (double)C * sm[j];
            loss[m] = l;
            wy[m] = wt;
        }
    }
}

/* gx += g_m * ((1-eps) w_y (p_c - [c == y]) + eps/C (W p_c - w_c)), with
 * p = softmax(x) over c, W = sum_c w_c and g_m = gy[m] (reduction none) or
 * gs; nothing where ignored. */
static void K(ce_bwd)(const T *x, const int64_t *t, const T *w, int64_t N, int64_t C, int64_t S,
                      int64_t ignore, double eps, const T *gy, double gs, T *gx)
{
    double W = K(ce_wsum)(w, C);
    int64_t nb = (S + CE_BLOCK - 1) / CE_BLOCK;
    ED_PARALLEL_FOR_IF(N * nb > 1 && N * C * S > 4096)
    for (int64_t b = 0; b < N * nb; b++) {
        int64_t n = b / nb, s0 = (b % nb) * CE_BLOCK;
        int64_t len = S - s0 < CE_BLOCK ? S - s0 : CE_BLOCK;
        const T *xb = x + n * C * S + s0;
        T *gb = gx + n * C * S + s0;
        double lse[CE_BLOCK], sc[CE_BLOCK], wt[CE_BLOCK];
        int64_t y[CE_BLOCK];
        K(ce_lse)(xb, C, S, len, lse);
        for (int64_t j = 0; j < len; j++) {
            int64_t m = n * S + s0 + j;
            y[j] = t[m];
            bool ign = y[j] == ignore;
            sc[j] = ign ? 0.0 : gy ? (double)gy[m] : gs;
            wt[j] = ign ? 0.0 : w ? (double)w[y[j]] : 1.0;
        }
        for (int64_t c = 0; c < C; c++) {
            const T *xc = xb + c * S;
            T *gc = gb + c * S;
            double wc = w ? (double)w[c] : 1.0;
            for (int64_t j = 0; j < len; j++) {
                if (sc[j] == 0) continue;
                double p = exp((double)xc[j] - lse[j]);
                double g = (1 - eps) * wt[j] * (p - (c == y[j] ? 1.0 : 0.0));
                if (eps > 0) g += eps / (double)C * (W * p - wc);
                gc[j] += (T)(sc[j] * g);
            }
        }
    }
}
