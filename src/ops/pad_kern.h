/* Typed loops for pad.c (see typed.h). The gather only copies elements, so
 * pad.c runs it on unsigned types of each element size (any dtype); the
 * scatter-add runs on float and double. Each file instance leaves one of
 * the two unused, hence static inline (no unused-function warning). */

/* y = pad(x): every output row either reads x through the last dim's map
 * or, when the row lies in the padding of an outer padded dim, is fill. */
static inline void K(pad_gather)(const pad_geom *g, const T *x, T *y, T fill)
{
    const int64_t W = g->out[g->k - 1], rows = g->planes * g->rows_per_plane;
    const int64_t *ml = g->map[g->k - 1];
    ED_PARALLEL_FOR_IF(rows * W > 32768)
    for (int64_t r = 0; r < rows; r++) {
        int64_t off;
        T *yr = y + r * W;
        if (!pad_row(g, r, &off)) {
            for (int64_t o = 0; o < W; o++) yr[o] = fill;
            continue;
        }
        const T *xr = x + off;
        for (int64_t o = 0; o < W; o++) {
            int64_t m = ml[o];
            yr[o] = m < 0 ? fill : xr[m];
        }
    }
}

/* gx += the gradient of every output element mapped onto it. Reflect and
 * replicate map several outputs of a plane onto one input, so a group is
 * a whole plane there (rows_per_group = rows_per_plane) and one row for
 * constant padding, whose map is one-to-one. */
static inline void K(pad_scatter)(const pad_geom *g, const T *gy, T *gx, int64_t rows_per_group)
{
    const int64_t W = g->out[g->k - 1], rows = g->planes * g->rows_per_plane;
    const int64_t *ml = g->map[g->k - 1];
    const int64_t groups = rows / rows_per_group;
    ED_PARALLEL_FOR_IF(rows * W > 32768 && groups > 1)
    for (int64_t gi = 0; gi < groups; gi++) {
        for (int64_t r = gi * rows_per_group; r < (gi + 1) * rows_per_group; r++) {
            int64_t off;
            if (!pad_row(g, r, &off)) continue;
            const T *gr = gy + r * W;
            T *xr = gx + off;
            for (int64_t o = 0; o < W; o++) {
                int64_t m = ml[o];
                if (m >= 0) xr[m] += gr[o];
            }
        }
    }
}
