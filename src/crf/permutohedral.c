/* The permutohedral lattice (Adams, Baek, Davis 2010; see permutohedral.h).
 *
 * Building it (ed__lattice_init), for each point p with features f (d):
 *  1. elevate f onto the plane x . 1 = 0 in R^(d+1) (E f, with E scaled so
 *     that the blur below has the standard deviation of a unit Gaussian,
 *     p. 5-6 of the paper);
 *  2. find the nearest remainder-0 lattice point by rounding, rank the
 *     differences to find the simplex, and the barycentric weights (p. 10);
 *  3. the simplex's d + 1 corners are keys (d integers; the last coordinate
 *     is minus their sum) looked up in a hash table, giving vertex ids.
 * Chunks of points (one per thread) do all three in parallel, each with its
 * own table, in point order; the tables are then merged in chunk order. A
 * corner that the point before shares (the usual case on an image) takes
 * that point's id without hashing.
 *
 * Filtering is splat, blur along each of the d + 1 axes (v += (left +
 * right) / 2, ping-ponging two buffers) and slice, scaled by alpha =
 * 1 / (1 + 2^-d) as Krähenbühl's code. Vertex ids never enter
 * the arithmetic: the splat adds each vertex's points in point order (per
 * part, parts in order), blur and slice work per vertex and per point. So
 * results depend only on the number of splat parts. */
#include "crf/permutohedral.h"

#include <math.h>
#include <stdlib.h>

#define CHUNK 512   /* points or vertices per parallel work item */

/* ---- hash table of keys ------------------------------------------------------
 * Keys hash linearly, h = sum_i k_i P_i (mod 2^64), so the d + 1 corners of
 * a simplex hash incrementally from its remainder-0 point (hash_chunk);
 * mix() spreads h over the table. A slot holds the vertex id + 1 (0 when
 * empty) and 32 more bits of the mixed hash, so probing past other keys
 * rarely reads their coordinates. */

static const uint64_t HP[ED_LATTICE_MAX_DIMS] = {
    0xc0e16b163a85a4ddull, 0x890acd8dd443c47dull, 0xb3889d8a6dc47761ull, 0x6a0398e528f0ae6bull,
    0x048344ece48a855full, 0xf175cfea21871331ull, 0x391ceef02702c2fdull, 0x4baf8cac4784cb13ull,
    0x3547744583a3f88full, 0xd9cf2b15c6b6c90full, 0x961facc76d5fe21dull, 0x0094ab49d50f11f9ull,
    0xe3211e37bdbeb6ddull, 0x62fe6c274ff3511bull, 0x5ac30b329fdf0575ull, 0x1450582c6b65b407ull,
    0x7a30fcc7888eb791ull, 0x5540f5ba6a15576full, 0x16cef0559096d3e9ull, 0x2cf8f14b06874899ull,
    0xc9c9263b6e2ce103ull, 0xd6ff920b0a9faa6dull, 0x53192697db998dc1ull, 0x73ea9b9bc7cd18d7ull,
    0x102713f872c33fcfull, 0xf4183a0e5d2a033full, 0x71b63e307eebb517ull, 0xda61f5713d036001ull,
    0x46eb7409ae691b21ull, 0xb23ad691d6707699ull, 0x67c8fe11d22fc4b9ull, 0x7eb4661419481339ull,
};

ED__ALWAYS_INLINE uint64_t lin_hash(const int32_t *k, const int d)
{
    uint64_t h = 0;
    for (int i = 0; i < d; i++) h += (uint64_t)(int64_t)k[i] * HP[i];
    return h;
}

static inline uint64_t mix(uint64_t h)
{
    h ^= h >> 32;
    h *= 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

typedef struct {
    int d;
    int32_t *keys;      /* filled x d */
    uint64_t *slots;    /* (mixed hash >> 32) << 32 | (id + 1); 0 = empty */
    uint64_t cap;       /* power of two */
    int32_t filled;
} htab;

ED__ALWAYS_INLINE int key_eq(const int32_t *a, const int32_t *b, const int d)
{
    for (int i = 0; i < d; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static int ht_init(htab *t, int d, int64_t expect)
{
    t->d = d;
    t->cap = 1024;
    while (t->cap < (uint64_t)expect * 2) t->cap <<= 1;
    t->filled = 0;
    t->slots = calloc(t->cap, sizeof *t->slots);
    t->keys = malloc((size_t)(t->cap / 2) * (size_t)d * sizeof *t->keys);
    return t->slots && t->keys ? 0 : -1;
}

static void ht_free(htab *t)
{
    free(t->slots);
    free(t->keys);
    t->slots = NULL;
    t->keys = NULL;
}

/* The slot of key k (mixed hash h): its entry, or the empty slot to fill.
 * d is t->d, passed so that callers can make it a constant. */
ED__ALWAYS_INLINE uint64_t ht_probe(const htab *t, const int32_t *k, uint64_t h, const int d)
{
    const uint64_t mask = t->cap - 1, tag = h & 0xffffffff00000000ull;
    for (uint64_t i = h & mask;; i = (i + 1) & mask) {
        uint64_t e = t->slots[i];
        if (!e) return i;
        if ((e & 0xffffffff00000000ull) == tag && key_eq(t->keys + ((e & 0xffffffffu) - 1) * d, k, d)) return i;
    }
}

static int32_t ht_find(const htab *t, const int32_t *k)
{
    uint64_t e = t->slots[ht_probe(t, k, mix(lin_hash(k, t->d)), t->d)];
    return e ? (int32_t)((e & 0xffffffffu) - 1) : -1;
}

static int ht_grow(htab *t)
{
    uint64_t cap = t->cap * 2, mask = cap - 1;
    uint64_t *slots = calloc(cap, sizeof *slots);
    int32_t *keys = realloc(t->keys, (size_t)(cap / 2) * (size_t)t->d * sizeof *keys);
    if (keys) t->keys = keys;
    if (!slots || !keys) {
        free(slots);
        return -1;
    }
    for (uint64_t j = 0; j < t->cap; j++) {
        uint64_t e = t->slots[j];
        if (!e) continue;
        uint64_t i = mix(lin_hash(keys + ((e & 0xffffffffu) - 1) * t->d, t->d)) & mask;
        while (slots[i]) i = (i + 1) & mask;
        slots[i] = e;
    }
    free(t->slots);
    t->slots = slots;
    t->cap = cap;
    return 0;
}

/* The id of key k with linear hash lh, inserting it if new; -1 when out of
 * memory. d is t->d. */
ED__ALWAYS_INLINE int32_t ht_insert(htab *t, const int32_t *k, uint64_t lh, const int d)
{
    if ((uint64_t)(t->filled + 1) * 2 > t->cap && ht_grow(t)) return -1;
    const uint64_t h = mix(lh), i = ht_probe(t, k, h, d);
    uint64_t e = t->slots[i];
    if (e) return (int32_t)((e & 0xffffffffu) - 1);
    int32_t id = t->filled++;
    memcpy(t->keys + (int64_t)id * d, k, (size_t)d * sizeof *k);
    t->slots[i] = (h & 0xffffffff00000000ull) | (uint64_t)(id + 1);
    return id;
}

/* ---- embedding a point ----------------------------------------------------- */

/* Steps 1-2 for EMBED_W points at once (SoA, one vector lane a point),
 * float for float as densecrf's SSE init: its rounding is round-half-even
 * (here the 1.5 * 2^23 trick, exact below 2^22), its ranks small integers.
 * The barycentric weights are gathered rather than scattered: as the ranks
 * are a permutation, weight p is v[rank = d - p] - v[rank = d - p + 1],
 * the same single rounding as densecrf's += / -=. Writes, for points
 * i0 .. i0 + cnt - 1, the remainder-0 point rem0 (d+1), the rank of each
 * coordinate (d+1) and the barycentric weights (d+1). Returns 0, or -1 when
 * an elevated point is not finite or too large for the rounding. */
#define EMBED_W 8
typedef float vf __attribute__((vector_size(EMBED_W * 4)));
typedef int32_t vi __attribute__((vector_size(EMBED_W * 4)));
#define EMBED_LIMIT 4.0e6f

static int embed_points(const float *f, int64_t n, int d, const float *scale, int64_t i0, int cnt,
                        int32_t *rem0_out, uint8_t *rank_out, float *bary_out)
/* (outputs for point i0 + k at k * (d + 1)) */
{
    vf el[ED_LATTICE_MAX_DIMS + 1], rem0[ED_LATTICE_MAX_DIMS + 1], diff[ED_LATTICE_MAX_DIMS + 1];
    vi rank[ED_LATTICE_MAX_DIMS + 1];
    const float invdp1 = 1.0f / (float)(d + 1), dp1 = (float)(d + 1);
    const vf magic = (vf){ 0 } + 12582912.0f;   /* 1.5 * 2^23 */
    vf sm = (vf){ 0 };
    for (int j = d; j > 0; j--) {
        vf x = (vf){ 0 };
        if (cnt == EMBED_W) memcpy(&x, f + (int64_t)(j - 1) * n + i0, sizeof x);
        else
            for (int k = 0; k < cnt; k++) x[k] = f[(int64_t)(j - 1) * n + i0 + k];
        vf cf = x * scale[j - 1];
        el[j] = sm - (float)j * cf;
        sm += cf;
    }
    el[0] = sm;
    vf sum = (vf){ 0 };
    vi ok = (vi){ 0 } - 1;
    for (int i = 0; i <= d; i++) {
        vf a = el[i];
        ok &= (a < EMBED_LIMIT) & (a > -EMBED_LIMIT);
        vf v = (invdp1 * a + magic) - magic;
        rem0[i] = v * dp1;
        sum += v;
        diff[i] = a - rem0[i];
        rank[i] = (vi){ 0 };
    }
    for (int k = 0; k < cnt; k++)
        if (!ok[k]) return -1;
    for (int i = 0; i < d; i++)
        for (int j = i + 1; j <= d; j++) {
            vi c = diff[i] < diff[j];   /* -1 or 0 */
            rank[i] -= c;
            rank[j] += 1 + c;
        }
    /* If the rounded point is off the plane (sum != 0), bring it back. */
    const vi isum = __builtin_convertvector(sum, vi);
    for (int i = 0; i <= d; i++) {
        vi r = rank[i] + isum;
        vi wrap = (r > d) - (r < 0);   /* +1 below 0, -1 above d */
        rank[i] = r + wrap * (d + 1);
        rem0[i] += __builtin_convertvector(wrap, vf) * dp1;
    }
    vf v[ED_LATTICE_MAX_DIMS + 1], by_rank[ED_LATTICE_MAX_DIMS + 2];
    for (int i = 0; i <= d; i++) v[i] = (el[i] - rem0[i]) * invdp1;
    for (int q = 0; q <= d + 1; q++) {   /* by_rank[q]: v of the coordinate of rank q */
        vi acc = (vi){ 0 };
        for (int i = 0; i <= d; i++) acc |= (vi)v[i] & (rank[i] == q);
        by_rank[q] = (vf)acc;
    }
    for (int k = 0; k < cnt; k++) {
        const int64_t o = (int64_t)k * (d + 1);
        float b0 = by_rank[d][k], last = -by_rank[0][k];
        for (int p = 1; p <= d; p++) bary_out[o + p] = by_rank[d - p][k] - by_rank[d - p + 1][k];
        bary_out[o] = b0 + (1.0f + last);
        for (int i = 0; i <= d; i++) {
            rem0_out[o + i] = (int32_t)rem0[i][k];
            rank_out[o + i] = (uint8_t)rank[i][k];
        }
    }
    return 0;
}

/* Corner r of the simplex: rem0 plus the canonical simplex's row r. */
ED__ALWAYS_INLINE void corner_key(const int32_t *rem0, const uint8_t *rank, const int d, int r, int32_t *key)
{
    for (int i = 0; i < d; i++) key[i] = rem0[i] + (rank[i] <= d - r ? r : r - (d + 1));
}

void ed__lattice_free(ed__lattice *lat)
{
    if (!lat) return;
    free(lat->offset);
    free(lat->slice_w);
    free(lat->nbr);
    free(lat->splat_w);
    memset(lat, 0, sizeof *lat);
}

/* Scratch of ed__lattice_init, freed on every path. */
typedef struct {
    int64_t *bad;      /* nc: a block of points with a bad feature */
    int nc;            /* chunks of points hashed in parallel */
    htab *tabs;        /* nc tables; tabs[0] becomes the lattice's */
    int32_t **rename;  /* nc: chunk-local id -> lattice id (chunks > 0) */
} init_scratch;

static void scratch_free(init_scratch *s)
{
    free(s->bad);
    for (int c = 0; c < s->nc; c++) {
        if (s->tabs) ht_free(&s->tabs[c]);
        if (s->rename) free(s->rename[c]);
    }
    free(s->tabs);
    free(s->rename);
}

static ed_status fail(ed__lattice *lat, init_scratch *s, ed_status st)
{
    scratch_free(s);
    ed__lattice_free(lat);
    return st;
}

static ed_status nomem(ed__lattice *lat, init_scratch *s, const char *op)
{
    return fail(lat, s, ed__err(ED_E_NOMEM, "%s: out of memory building the lattice", op));
}

/* Points [c * n / nc, (c + 1) * n / nc) form chunk c. */
static inline int64_t chunk_lo(int64_t n, int nc, int c) { return n * c / nc; }

/* Steps 1-3 for points i0 .. i1 - 1: embed EMBED_W points at a time, then
 * give their corners ids in table t. Corner r of a simplex is rem0 + r -
 * (d + 1) [coordinate among the r highest ranked], so when a point shares
 * rem0 with the point before it, a corner whose set of r highest-ranked
 * coordinates is unchanged is the same vertex: on an image most corners are
 * found that way, without hashing. Returns 0, -1 when out of memory, or -2
 * with *bad the first point of a block holding a bad feature. */
ED__ALWAYS_INLINE int hash_range(ed__lattice *lat, const float *f, const float *scale, htab *t, const int d,
                                 int64_t i0, int64_t i1, int64_t *bad)
{
    const int dp1 = d + 1;
    const int64_t n = lat->n;
    int32_t key[ED_LATTICE_MAX_DIMS], rem0[EMBED_W * (ED_LATTICE_MAX_DIMS + 1)], prev_r0[ED_LATTICE_MAX_DIMS + 1];
    uint8_t rank[EMBED_W * (ED_LATTICE_MAX_DIMS + 1)];
    uint64_t prev_mask[ED_LATTICE_MAX_DIMS + 1];
    int pos[ED_LATTICE_MAX_DIMS + 1];
    uint64_t hsum = 0;
    for (int k = 0; k < d; k++) hsum += HP[k];
    for (int k = 0; k < dp1; k++) prev_r0[k] = 0, prev_mask[k] = 0;
    for (int64_t ib = i0; ib < i1; ib += EMBED_W) {
        const int cnt = i1 - ib < EMBED_W ? (int)(i1 - ib) : EMBED_W;
        if (embed_points(f, n, d, scale, ib, cnt, rem0, rank, lat->slice_w + ib * dp1)) {
            *bad = ib;
            return -2;
        }
        for (int q = 0; q < cnt; q++) {
            const int64_t i = ib + q;
            const int32_t *r0 = rem0 + q * dp1;
            const uint8_t *rk = rank + q * dp1;
            int32_t *off = lat->offset + i * dp1;
            int same = i > i0;
            for (int k = 0; k < dp1; k++) same &= r0[k] == prev_r0[k];
            for (int k = 0; k < dp1; k++) {
                pos[rk[k]] = k;
                prev_r0[k] = r0[k];
            }
            uint64_t mask = 0, h = lin_hash(r0, d);
            for (int r = 0; r <= d; r++) {
                if (r > 0) {
                    /* The coordinate ranked d - r + 1 joins the top r: -(d+1) there. */
                    int p = pos[d - r + 1];
                    mask |= (uint64_t)1 << p;
                    h += hsum - (p < d ? (uint64_t)dp1 * HP[p] : 0);
                }
                if (same && mask == prev_mask[r]) {
                    off[r] = off[r - dp1];
                } else {
                    corner_key(r0, rk, d, r, key);
                    if ((off[r] = ht_insert(t, key, h, d)) < 0) return -1;
                }
                prev_mask[r] = mask;
            }
        }
    }
    return 0;
}

static int hash_chunk(ed__lattice *lat, init_scratch *s, const float *f, const float *scale, int c)
{
    const int64_t n = lat->n, i0 = chunk_lo(n, s->nc, c), i1 = chunk_lo(n, s->nc, c + 1);
    htab *t = &s->tabs[c];
    int64_t *bad = &s->bad[c];
    if (ht_init(t, lat->d, (i1 - i0) / 8)) return -1;
    switch (lat->d) {   /* constant d for the usual features: 2-D Gaussian, RGB bilateral */
    case 2: return hash_range(lat, f, scale, t, 2, i0, i1, bad);
    case 3: return hash_range(lat, f, scale, t, 3, i0, i1, bad);
    case 5: return hash_range(lat, f, scale, t, 5, i0, i1, bad);
    default: return hash_range(lat, f, scale, t, lat->d, i0, i1, bad);
    }
}

ed_status ed__lattice_init(ed__lattice *lat, const float *f, int d, int64_t n, const char *op)
{
    memset(lat, 0, sizeof *lat);
    if (d < 1 || d > ED_LATTICE_MAX_DIMS)
        return ed__err(ED_E_ARG, "%s: features need 1 to %d dimensions, got %d", op, ED_LATTICE_MAX_DIMS, d);
    if (n < 1 || n * (d + 1) > INT32_MAX)
        return ed__err(ED_E_ARG, "%s: %lld points with %d feature dimensions is out of range (1 to %lld points)",
                       op, (long long)n, d, (long long)(INT32_MAX / (d + 1)));
    const int dp1 = d + 1;
    const int64_t ne = n * dp1;
    init_scratch s;
    memset(&s, 0, sizeof s);
    lat->d = d;
    lat->n = (int32_t)n;
    lat->offset = malloc((size_t)ne * sizeof *lat->offset);
    lat->slice_w = malloc((size_t)ne * sizeof *lat->slice_w);   /* the barycentric weights, for now */
    lat->splat_w = malloc((size_t)ne * sizeof *lat->splat_w);
    const int64_t nch = (n + CHUNK - 1) / CHUNK;
    if (!lat->offset || !lat->slice_w || !lat->splat_w) return nomem(lat, &s, op);

    /* Diagonal of E scaled for the blur's standard deviation (p. 5-6). */
    float scale[ED_LATTICE_MAX_DIMS];
    float inv_std_dev = (float)(sqrt(2.0 / 3.0) * dp1);
    for (int i = 0; i < d; i++) scale[i] = (float)(1.0 / sqrt((double)((i + 2) * (i + 1))) * inv_std_dev);

    /* 1-3: chunks of points embed their points and give the corners ids
     * in their own tables, in parallel; the tables are then merged in chunk
     * order and the chunks' ids renamed. Ids thus depend on the thread
     * count, but no arithmetic depends on ids. */
    int nc = ed_get_num_threads();
    if (nc > n / 4096) nc = n / 4096 > 1 ? (int)(n / 4096) : 1;
    s.nc = nc;
    s.tabs = calloc((size_t)nc, sizeof *s.tabs);
    s.rename = calloc((size_t)nc, sizeof *s.rename);
    s.bad = malloc((size_t)nc * sizeof *s.bad);
    int *hres = calloc((size_t)nc, sizeof *hres);
    if (!s.tabs || !s.rename || !s.bad || !hres) {
        free(hres);
        return nomem(lat, &s, op);
    }
    ED_PARALLEL_FOR
    for (int c = 0; c < nc; c++) hres[c] = hash_chunk(lat, &s, f, scale, c);
    for (int c = 0; c < nc; c++) {
        if (hres[c] == -1) {
            free(hres);
            return nomem(lat, &s, op);
        }
        if (hres[c] == -2) {
            /* Name the point: the first non-finite one of the block, else
             * the one with the largest feature. */
            int64_t i0 = s.bad[c], worst = i0, i1 = i0 + EMBED_W < n ? i0 + EMBED_W : n;
            float big = -1.0f;
            free(hres);
            for (int64_t i = i0; i < i1; i++)
                for (int j = 0; j < d; j++) {
                    float a = fabsf(f[j * n + i]);
                    if (!isfinite(a))
                        return fail(lat, &s, ed__err(ED_E_NAN, "%s: feature %d of point %lld is not finite", op, j,
                                                     (long long)i));
                    if (a > big) {
                        big = a;
                        worst = i;
                    }
                }
            return fail(lat, &s, ed__err(ED_E_RANGE, "%s: feature of point %lld is too large for the lattice (%g; "
                                         "features must stay below about 1e6 / (d + 1))", op, (long long)worst, big));
        }
    }
    free(hres);
    htab *t = &s.tabs[0];
    for (int c = 1; c < nc; c++) {
        htab *tc = &s.tabs[c];
        if (!(s.rename[c] = malloc((size_t)(tc->filled ? tc->filled : 1) * sizeof *s.rename[c]))) return nomem(lat, &s, op);
        for (int32_t e = 0; e < tc->filled; e++)
            if ((s.rename[c][e] = ht_insert(t, tc->keys + (int64_t)e * d, lin_hash(tc->keys + (int64_t)e * d, d), d)) < 0)
                return nomem(lat, &s, op);
        ht_free(tc);
    }
    if (nc > 1) {
        ED_PARALLEL_FOR
        for (int c = 1; c < nc; c++) {
            const int32_t *rn = s.rename[c];
            for (int64_t e = chunk_lo(n, nc, c) * dp1; e < chunk_lo(n, nc, c + 1) * dp1; e++)
                lat->offset[e] = rn[lat->offset[e]];
        }
    }
    const int32_t m = t->filled;
    lat->m = m;

    /* Blur neighbours: along axis j, key -/+ 1 on every coordinate but j,
     * which moves -/+ d (for j = d only the stored d coordinates move). */
    lat->nbr = malloc((size_t)dp1 * (size_t)m * 2 * sizeof *lat->nbr);
    if (!lat->nbr) return nomem(lat, &s, op);
    const int64_t mch = ((int64_t)m + CHUNK - 1) / CHUNK;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < mch; c++) {
        int32_t k1[ED_LATTICE_MAX_DIMS], k2[ED_LATTICE_MAX_DIMS];
        int64_t v1 = (c + 1) * CHUNK < m ? (c + 1) * CHUNK : m;
        for (int64_t v = c * CHUNK; v < v1; v++) {
            const int32_t *k = t->keys + v * d;
            for (int j = 0; j <= d; j++) {
                for (int i = 0; i < d; i++) {
                    k1[i] = k[i] - 1;
                    k2[i] = k[i] + 1;
                }
                if (j < d) {
                    k1[j] = k[j] + d;
                    k2[j] = k[j] - d;
                }
                int32_t a = ht_find(t, k1), b = ht_find(t, k2);
                int32_t *nb = lat->nbr + ((int64_t)j * m + v) * 2;
                nb[0] = a < 0 ? m : a;
                nb[1] = b < 0 ? m : b;
            }
        }
    }
    ht_free(t);

    /* Both weights start as the barycentric ones; Krähenbühl's "magic
     * scaling constant" of the blur is folded into the slice's. */
    const float alpha = 1.0f / (1.0f + powf(2.0f, (float)-d));
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t e1 = ((c + 1) * CHUNK < n ? (c + 1) * CHUNK : n) * dp1;
        for (int64_t e = c * CHUNK * dp1; e < e1; e++) {
            lat->splat_w[e] = lat->slice_w[e];
            lat->slice_w[e] *= alpha;
        }
    }
    scratch_free(&s);
    return ED_OK;
}

void ed__lattice_scale(ed__lattice *lat, const float *pre, const float *post)
{
    const int dp1 = lat->d + 1;
    const int64_t n = lat->n, nch = (n + CHUNK - 1) / CHUNK;
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        for (int64_t i = c * CHUNK; i < i1; i++)
            for (int r = 0; r < dp1; r++) {
                if (pre) lat->splat_w[i * dp1 + r] *= pre[i];
                if (post) lat->slice_w[i * dp1 + r] *= post[i];
            }
    }
}

int ed__lattice_max_parts(const ed__lattice *lat)
{
    /* Parts' buffers no bigger than 4 point sets (a lattice can have about
     * as many vertices as points), and at most 8. */
    int64_t cap = 4 * (int64_t)lat->n / ((int64_t)lat->m + 1);
    return cap < 1 ? 1 : cap > 8 ? 8 : (int)cap;
}

size_t ed__lattice_work_floats(const ed__lattice *lat, int lp, int parts)
{
    return (size_t)(parts + 2) * ((size_t)lat->m + 1) * (size_t)lp;
}

/* ---- filtering --------------------------------------------------------------
 * Values move as vectors of ED__VW floats, G = lp / ED__VW of them a row.
 * work holds the splat's parts (parts x (m + 1) rows), then the blur's two
 * buffers.
 *
 * The splat scatters each point's row, times its corners' weights, onto
 * the corners' vertex rows: points are read in order, and the vertex rows
 * that neighbouring points share stay in cache. Parts of the points scatter
 * in parallel into parts of the buffer, which are then added in part order,
 * so each vertex sums its points in point order within a part; the result
 * depends on the number of parts, not on scheduling. */

static void scatter_range(const ed__lattice *lat, const ed__vf *in, ed__vf *part, int G, int64_t i0, int64_t i1)
{
#define CALL(g)                                                                                      \
    for (int64_t i = i0; i < i1; i++) ed__lattice_scatter_point(lat, in + i * (g), g, i, part)
    ED__DISPATCH_G(G, CALL)
#undef CALL
}

/* Blur along one axis of the parts' sum: dst[v] = S(v) + (S(minus) + S(plus)) / 2,
 * S(x) = part 0 [x] + part 1 [x] + ... (in part order), so the first pass
 * adds the parts as it goes. */
ED__ALWAYS_INLINE void blur_parts_g(const int32_t *nbr, const ed__vf *parts, int64_t stride, int n_parts,
                                    ed__vf *restrict dst, const int G, int64_t v0, int64_t v1)
{
    for (int64_t v = v0; v < v1; v++) {
        const int64_t x[3] = { v * G, (int64_t)nbr[2 * v] * G, (int64_t)nbr[2 * v + 1] * G };
        for (int g = 0; g < G; g++) {
            ed__vf s[3];
            for (int j = 0; j < 3; j++) {
                s[j] = parts[x[j] + g];
                for (int p = 1; p < n_parts; p++) s[j] += parts[p * stride + x[j] + g];
            }
            dst[v * G + g] = s[0] + 0.5f * (s[1] + s[2]);
        }
    }
}

ED__ALWAYS_INLINE void blur_g(const int32_t *nbr, const ed__vf *restrict src, ed__vf *restrict dst, const int G,
                              int64_t v0, int64_t v1)
{
    for (int64_t v = v0; v < v1; v++) {
        const ed__vf *a = src + (int64_t)nbr[2 * v] * G, *b = src + (int64_t)nbr[2 * v + 1] * G, *s = src + v * G;
        ed__vf *o = dst + v * G;
        for (int g = 0; g < G; g++) o[g] = s[g] + 0.5f * (a[g] + b[g]);
    }
}

static void blur_parts_range(const int32_t *nbr, const ed__vf *parts, int64_t stride, int n_parts, ed__vf *dst, int G,
                             int64_t v0, int64_t v1)
{
#define CALL(g) blur_parts_g(nbr, parts, stride, n_parts, dst, g, v0, v1)
    ED__DISPATCH_G(G, CALL)
#undef CALL
}

static void blur_range(const int32_t *nbr, const ed__vf *src, ed__vf *dst, int G, int64_t v0, int64_t v1)
{
#define CALL(g) blur_g(nbr, src, dst, g, v0, v1)
    ED__DISPATCH_G(G, CALL)
#undef CALL
}

void ed__lattice_splat(const ed__lattice *lat, const float *in, int lp, int parts, float *work)
{
    const int64_t n = lat->n;
    ED_PARALLEL_FOR
    for (int p = 0; p < parts; p++) {
        ed__vf *part = ed__lattice_part_zero(lat, lp, work, p);
        scatter_range(lat, (const ed__vf *)in, part, lp / ED__VW, n * p / parts, n * (p + 1) / parts);
    }
}

/* Pass j writes buffer B for even j, A for odd j (A, B after the parts in
 * work); pass 0 reads the parts, pass j > 0 what pass j - 1 wrote. */
static ed__vf *blur_buffer(const ed__lattice *lat, int lp, int parts, float *work, int j)
{
    const int64_t stride = ((int64_t)lat->m + 1) * (lp / ED__VW);
    return (ed__vf *)work + (int64_t)(parts + (j % 2 == 0)) * stride;
}

void ed__lattice_blur_zero_rows(const ed__lattice *lat, int lp, int parts, float *work)
{
    for (int j = 0; j < 2; j++)
        memset(blur_buffer(lat, lp, parts, work, j) + (int64_t)lat->m * (lp / ED__VW), 0, (size_t)lp * sizeof(float));
}

void ed__lattice_blur_pass(const ed__lattice *lat, int lp, int parts, float *work, int j, int64_t v0, int64_t v1)
{
    const int64_t m = lat->m, stride = (m + 1) * (lp / ED__VW);
    const int32_t *nbr = lat->nbr + (int64_t)j * m * 2;
    ed__vf *dst = blur_buffer(lat, lp, parts, work, j);
    if (j == 0) blur_parts_range(nbr, (const ed__vf *)work, stride, parts, dst, lp / ED__VW, v0, v1);
    else blur_range(nbr, blur_buffer(lat, lp, parts, work, j - 1), dst, lp / ED__VW, v0, v1);
}

const float *ed__lattice_blurred(const ed__lattice *lat, int lp, int parts, float *work)
{
    return (const float *)blur_buffer(lat, lp, parts, work, lat->d);
}

int ed__lattice_filter_ones(const ed__lattice *lat, int parts, float *out)
{
    /* The filter of one float a point, as filter does (parts and all):
     * splat_w and slice_w hold any scalings, so call this before scaling. */
    const int64_t m = lat->m, n = lat->n, mch = (m + CHUNK - 1) / CHUNK, nch = (n + CHUNK - 1) / CHUNK;
    const int dp1 = lat->d + 1;
    float *buf = calloc((size_t)(parts + 1) * ((size_t)m + 1), sizeof *buf);
    if (!buf) return -1;
    float *a = buf, *b = buf + (int64_t)parts * (m + 1);
    ED_PARALLEL_FOR
    for (int p = 0; p < parts; p++) {
        float *o = buf + (int64_t)p * (m + 1);
        for (int64_t e = n * p / parts * dp1; e < n * (p + 1) / parts * dp1; e++) o[lat->offset[e]] += lat->splat_w[e];
    }
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < mch; c++) {
        int64_t v1 = (c + 1) * CHUNK < m ? (c + 1) * CHUNK : m;
        for (int64_t v = c * CHUNK; v < v1; v++)
            for (int p = 1; p < parts; p++) a[v] += buf[(int64_t)p * (m + 1) + v];
    }
    a[m] = b[m] = 0.0f;
    for (int j = 0; j <= lat->d; j++) {
        const int32_t *nbr = lat->nbr + (int64_t)j * m * 2;
        ED_PARALLEL_FOR
        for (int64_t c = 0; c < mch; c++) {
            int64_t v1 = (c + 1) * CHUNK < m ? (c + 1) * CHUNK : m;
            for (int64_t v = c * CHUNK; v < v1; v++) b[v] = a[v] + 0.5f * (a[nbr[2 * v]] + a[nbr[2 * v + 1]]);
        }
        float *t = a;
        a = b;
        b = t;
    }
    ED_PARALLEL_FOR
    for (int64_t c = 0; c < nch; c++) {
        int64_t i1 = (c + 1) * CHUNK < n ? (c + 1) * CHUNK : n;
        for (int64_t i = c * CHUNK; i < i1; i++) {
            float s = 0.0f;
            for (int r = 0; r < dp1; r++) s += lat->slice_w[i * dp1 + r] * a[lat->offset[i * dp1 + r]];
            out[i] = s;
        }
    }
    free(buf);
    return 0;
}
