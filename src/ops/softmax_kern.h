/* Typed loops for softmax.c (see typed.h). x is viewed as (O, D, I): the
 * softmax runs along D, whose elements lie I apart. Each (o, i) line is
 * independent; its sums run in order in double. */

static void K(softmax_fwd)(const T *x, T *y, int64_t O, int64_t D, int64_t I, int is_log)
{
    ED_PARALLEL_FOR_IF(O * D * I > 32768)
    for (int64_t line = 0; line < O * I; line++) {
        const int64_t o = line / I, i = line % I;
        const T *xl = x + o * D * I + i;
        T *yl = y + o * D * I + i;
        /* Subtracting the max keeps exp() from overflowing on large logits.
         * An infinite max gives NaN (inf - inf), as in PyTorch. */
        double m = -INFINITY;
        for (int64_t d = 0; d < D; d++) if ((double)xl[d * I] > m) m = xl[d * I];
        double s = 0;
        for (int64_t d = 0; d < D; d++) s += exp((double)xl[d * I] - m);
        if (is_log) {
            /* (x - m) - log(s), not x - (m + log(s)): with |m| >> log(s)
             * the latter rounds log(s) away. */
            const double ls = log(s);
            for (int64_t d = 0; d < D; d++) yl[d * I] = (T)(((double)xl[d * I] - m) - ls);
        } else {
            for (int64_t d = 0; d < D; d++) yl[d * I] = (T)(exp((double)xl[d * I] - m) / s);
        }
    }
}

/* log_softmax: gx += gy - exp(y) sum(gy), from the output.
 * softmax:     gx += p (gy - sum(gy p)), with p recomputed in double from x:
 *   p rounded to float loses the small 1 - p of a saturated softmax, and
 *   the gradient with it (PyTorch's float32 gradient is off by up to 10%
 *   there). */
static void K(softmax_bwd)(const T *x, const T *y, const T *gy, T *gx, int64_t O, int64_t D, int64_t I, int is_log)
{
    ED_PARALLEL_FOR_IF(O * D * I > 32768)
    for (int64_t line = 0; line < O * I; line++) {
        const int64_t off = (line / I) * D * I + line % I;
        const T *xl = x + off, *yl = y + off, *gl = gy + off;
        T *gxl = gx + off;
        double s = 0;
        if (is_log) {
            for (int64_t d = 0; d < D; d++) s += gl[d * I];
            for (int64_t d = 0; d < D; d++) gxl[d * I] += (T)((double)gl[d * I] - exp((double)yl[d * I]) * s);
        } else {
            double m = -INFINITY, z = 0;
            for (int64_t d = 0; d < D; d++) if ((double)xl[d * I] > m) m = xl[d * I];
            for (int64_t d = 0; d < D; d++) z += exp((double)xl[d * I] - m);
            for (int64_t d = 0; d < D; d++) s += (double)gl[d * I] * (exp((double)xl[d * I] - m) / z);
            for (int64_t d = 0; d < D; d++) {
                const double p = exp((double)xl[d * I] - m) / z;
                gxl[d * I] += (T)(p * ((double)gl[d * I] - s));
            }
        }
    }
}
