/* Typed loops for reduce.c (see typed.h). */

/* One work item of the forward: outputs [o0, o0 + cnt) over the reduced
 * elements [j0, j1) of the flattened reduced index. cnt > 1 only when the
 * last coalesced dim is kept (stride 1), so the outputs of a block read
 * adjacent elements of each input row. Each output's partial is a plain
 * double sum of its elements in index order; res[i] receives it. */
static void K(reduce_item)(const red_plan *p, const T *x, int64_t o0, int64_t cnt,
                           int64_t j0, int64_t j1, double *res)
{
    int64_t base = 0, o = o0;
    for (int d = p->nk - 1; d >= 0; d--) {
        base += (o % p->ksize[d]) * p->kstride[d];
        o /= p->ksize[d];
    }
    int64_t idx[ED_MAX_DIMS], roff = 0, j = j0;
    for (int d = p->nr - 1; d >= 0; d--) {
        idx[d] = j % p->rsize[d];
        roff += idx[d] * p->rstride[d];
        j /= p->rsize[d];
    }
    const int last = p->nr - 1;
    const int64_t rs = p->rstride[last];
    for (int64_t i = 0; i < cnt; i++) res[i] = 0;
    j = j0;
    while (j < j1) {
        int64_t len = p->rsize[last] - idx[last];
        if (len > j1 - j) len = j1 - j;
        const T *row = x + base + roff;
        if (cnt == 1 && rs == 1) {
            /* eight interleaved partials keep the adds independent; runs
             * end where the shape and the chunk say, so the order of the
             * additions is still fixed */
            double acc[8] = { 0 }, s;
            int64_t t = 0;
            for (; t + 8 <= len; t += 8)
                for (int l = 0; l < 8; l++) acc[l] += (double)row[t + l];
            s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
            for (; t < len; t++) s += (double)row[t];
            res[0] += s;
        } else if (cnt == 1) {
            double s = res[0];
            for (int64_t t = 0; t < len; t++) s += (double)row[t * rs];
            res[0] = s;
        } else {
            for (int64_t t = 0; t < len; t++)
                for (int64_t i = 0; i < cnt; i++) res[i] += (double)row[t * rs + i];
        }
        j += len;
        /* advance the odometer of the reduced dims by len */
        idx[last] += len;
        roff += len * rs;
        for (int d = last; d > 0 && idx[d] == p->rsize[d]; d--) {
            roff -= idx[d] * p->rstride[d];
            idx[d] = 0;
            idx[d - 1]++;
            roff += p->rstride[d - 1];
        }
    }
}

/* Writes (T) of the finished double sums (divided by n_red for mean). */
static void K(reduce_store)(const double *s, int64_t cnt, bool mean, int64_t n_red, T *y)
{
    for (int64_t i = 0; i < cnt; i++) y[i] = (T)(mean ? s[i] / (double)n_red : s[i]);
}

/* gx[i] += gy[out(i)] (sum) or gy[out(i)] / n_red (mean, divided in T as
 * torch's backward does), one row of the last coalesced dim at a time. */
static void K(reduce_bwd)(const red_plan *p, const T *gy, T *gx, bool mean)
{
    const int n = p->n;
    const int64_t L = p->size[n - 1], rows = p->numel / L;
    const T div = (T)p->n_red;
    ED_PARALLEL_FOR_IF(p->numel > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t goff = 0, q = r;
        for (int d = n - 2; d >= 0; d--) {
            if (!p->red[d]) goff += (q % p->size[d]) * p->ostride[d];
            q /= p->size[d];
        }
        T *g = gx + r * L;
        if (p->red[n - 1]) {
            T v = mean ? gy[goff] / div : gy[goff];
            for (int64_t t = 0; t < L; t++) g[t] += v;
        } else if (mean) {
            for (int64_t t = 0; t < L; t++) g[t] += gy[goff + t] / div;
        } else {
            for (int64_t t = 0; t < L; t++) g[t] += gy[goff + t];
        }
    }
}
