/* The permutohedral lattice (Adams, Baek, Davis, "Fast High-Dimensional
 * Filtering Using the Permutohedral Lattice", Eurographics 2010): Gaussian
 * filtering of values attached to n points with d-dimensional features, in
 * time linear in n * d. Each point lies in one simplex of the lattice; its
 * d + 1 corners get the value times the point's barycentric weight (splat),
 * the lattice is blurred with [1/2 1 1/2] along each of its d + 1 axes
 * (blur), and each point reads back the weighted sum of its corners (slice).
 * The arithmetic is Krähenbühl's (densecrf's permutohedral.cpp, the SSE
 * path pydensecrf runs), so the lattice, and the filtered values up to
 * float rounding, are pydensecrf's.
 *
 * Layouts: features (d, n) dimension-major as given; values n x lp floats,
 * point-major, lp a multiple of ED__VW >= the number of channels (padding lanes
 * are filtered like the others). */
#ifndef ED_CRF_PERMUTOHEDRAL_H
#define ED_CRF_PERMUTOHEDRAL_H

#include "core/ed_internal.h"

#define ED_LATTICE_MAX_DIMS 32

typedef struct ed__lattice {
    int d;               /* feature dimensions */
    int32_t n;           /* points */
    int32_t m;           /* lattice vertices; row m of a value buffer is the zero row */
    int32_t *offset;     /* n * (d+1): the vertex at each corner of a point's simplex */
    float *splat_w;      /* n * (d+1): barycentric weight of each corner x pre */
    float *slice_w;      /* n * (d+1): barycentric weight x alpha x post */
    int32_t *nbr;        /* (d+1) * m * 2: neighbours (minus, plus) along each axis, m if absent */
} ed__lattice;

/* Build the lattice of n points with features f (d, n). op names the caller
 * in messages. Errors: non-finite or too large features, no memory. */
ed_status ed__lattice_init(ed__lattice *lat, const float *f, int d, int64_t n, const char *op);
void ed__lattice_free(ed__lattice *lat);

/* Multiplies the filter by diagonal scalings: from now on splat, blur and
 * slice compute post .* K (pre .* in) (times any earlier scalings); NULL
 * means ones. */
void ed__lattice_scale(ed__lattice *lat, const float *pre, const float *post);

/* The most parts the splat may scatter in (see permutohedral.c) for its
 * buffers to stay small. Results depend on the number of parts, so callers
 * fix it once per computation (encdec: the thread count, bounded). */
int ed__lattice_max_parts(const ed__lattice *lat);

/* Scratch floats a filter of lp channels in `parts` parts needs:
 * (parts + 2) * (m + 1) * lp. */
size_t ed__lattice_work_floats(const ed__lattice *lat, int lp, int parts);

/* Values travel as vectors of ED__VW floats (GCC/Clang vector extensions;
 * compilers split them where the target's registers are narrower). */
#ifndef ED__VW
#define ED__VW 8
#endif
typedef float ed__vf __attribute__((vector_size(ED__VW * 4)));
typedef int32_t ed__vi __attribute__((vector_size(ED__VW * 4)));
/* Rows of up to ED__BLOCK vectors (32 floats) are kept in registers. */
#define ED__BLOCK (32 / ED__VW)

/* Kernels that loop over a row's G vectors are inlined into callers that
 * pass G as a constant for the common widths (lp <= 32), so the row stays
 * in registers; CALL(g) is made with g constant where possible. */
#define ED__ALWAYS_INLINE static inline __attribute__((always_inline))
#define ED__DISPATCH_G(G, CALL)                                                    \
    switch (G) {                                                                   \
    case 1: CALL(1); break;                                                        \
    case 2: CALL(2); break;                                                        \
    case 3: CALL(3); break;                                                        \
    case 4: CALL(4); break;                                                        \
    case 5: CALL(5); break;                                                        \
    case 6: CALL(6); break;                                                        \
    case 7: CALL(7); break;                                                        \
    case 8: CALL(8); break;                                                        \
    default: CALL(G); break;                                                       \
    }

/* The splat: values in (n x lp floats, lp a multiple of ED__VW, aligned to
 * a vector) times the corners' weights (with the pre scaling), added onto
 * the lattice's vertices in `parts` parts, point ranges n p / parts ..
 * n (p + 1) / parts, kept in work (ed__lattice_work_floats floats, aligned
 * to a vector). ed__lattice_splat does it all; callers that make the values
 * as they go zero each part (ed__lattice_part_zero, which returns it) and
 * scatter each of its points into it. */
void ed__lattice_splat(const ed__lattice *lat, const float *in, int lp, int parts, float *work);

static inline ed__vf *ed__lattice_part(const ed__lattice *lat, int lp, float *work, int p)
{
    return (ed__vf *)work + (int64_t)p * ((int64_t)lat->m + 1) * (lp / ED__VW);
}

static inline ed__vf *ed__lattice_part_zero(const ed__lattice *lat, int lp, float *work, int p)
{
    ed__vf *part = ed__lattice_part(lat, lp, work, p);
    memset(part, 0, ((size_t)lat->m + 1) * (size_t)lp * sizeof(float));
    return part;
}

/* Adds point i's row x (G vectors) times its corners' weights onto its
 * corners' rows of part. */
ED__ALWAYS_INLINE void ed__lattice_scatter_point(const ed__lattice *lat, const ed__vf *x, const int G, int64_t i,
                                                 ed__vf *part)
{
    const int dp1 = lat->d + 1;
    const int32_t *off = lat->offset + i * dp1;
    const float *sw = lat->splat_w + i * dp1;
    for (int r = 0; r < dp1; r++) {
        ed__vf *o = part + (int64_t)off[r] * G;
        const float w = sw[r];
        for (int g = 0; g < G; g++) o[g] += w * x[g];
    }
}

/* The blur, which adds the parts (in order) as it starts, in steps so that
 * callers can blur several lattices at once: zero the buffers' last rows
 * (once per work buffer), then passes j = 0 .. d in order, each over all
 * vertices (in any ranges v0 .. v1 - 1, in parallel) before the next; then
 * the blurred values (m + 1 rows of lp floats, the last zero) are at
 * ed__lattice_blurred, inside work. */
void ed__lattice_blur_zero_rows(const ed__lattice *lat, int lp, int parts, float *work);
void ed__lattice_blur_pass(const ed__lattice *lat, int lp, int parts, float *work, int j, int64_t v0, int64_t v1);
const float *ed__lattice_blurred(const ed__lattice *lat, int lp, int parts, float *work);

/* s[0 .. gw) = vectors g0 .. g0 + gw of the slice at point i of blurred
 * values vals (rows of G vectors), with alpha and the post scaling:
 * post[i] * K(pre .* in)[i]. */
ED__ALWAYS_INLINE void ed__lattice_slice_point(const ed__lattice *lat, const ed__vf *vals, const int G, const int g0,
                                               const int gw, int64_t i, ed__vf *s)
{
    const int dp1 = lat->d + 1;
    const int32_t *off = lat->offset + i * dp1;
    const float *sw = lat->slice_w + i * dp1;
    for (int g = 0; g < gw; g++) s[g] = (ed__vf){ 0 };
    for (int r = 0; r < dp1; r++) {
        const float w = sw[r];
        const ed__vf *x = vals + (int64_t)off[r] * G + g0;
        for (int g = 0; g < gw; g++) s[g] += w * x[g];
    }
}

/* out (n floats) = K 1, the filter of ones, for the normalisations; call it
 * before any scaling. Returns -1 when out of memory. */
int ed__lattice_filter_ones(const ed__lattice *lat, int parts, float *out);

#endif
