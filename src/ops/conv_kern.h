/* Typed loops behind conv2d and conv_transpose2d (see conv_common.h for
 * what the three kernels compute). conv2d.c includes this file once per
 * element type with T, K(name) and T_FMA (fmaf or fma) defined, and wraps
 * the typed kernels in the ed__conv_* functions conv_transpose2d.c shares.
 *
 * The GEMM works on packed operands: A as panels of MR rows, B as panels of
 * NR columns, each stored k-major (kdim x MR, kdim x NR), so the micro-kernel
 * streams both with unit stride and keeps an MR x NR tile of C in registers;
 * its inner loop runs over NR contiguous columns, which gcc -O3 vectorises
 * (NR = 32 floats is four 256-bit vectors: with NR = 16 gcc 12 unrolls the
 * loop before vectorising and the tile no longer stays in registers). The
 * reduction is cut into KC-long blocks so a B panel's block stays in L1.
 *
 * im2col writes straight into B's panel layout, one "segment" at a time: a
 * run of positions on one output row within one panel, which for each
 * kernel tap reads a contiguous (stride 1) or strided run of one image row.
 * The part of the run that falls in the padding is found per segment and
 * tap (no division at stride 1), so padding costs neither a padded copy of
 * the image nor a test per element; col2im adds the same runs back.
 *
 * Threads: work items write disjoint outputs and each element's sum runs
 * in an order that depends on neither the thread count nor the item split
 * (K blocks of KC; for weight gradients n, then fixed chunks of CONV_NC
 * positions), so results are the same for any number of threads. */

#ifndef ED_CONV_KERN_ONCE
#define ED_CONV_KERN_ONCE
#define CONV_MR 4
#define CONV_NR 32
#define CONV_KC 256
#define CONV_NC 256     /* positions per chunk; a multiple of CONV_NR */

static inline int64_t conv_min(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t conv_max(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t conv_cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t conv_round_up(int64_t a, int64_t b) { return conv_cdiv(a, b) * b; }

/* The t in [*lo, *hi) within [0, len) for which iw0 + t*sw lies in [0, W). */
static inline void conv_range(int64_t iw0, int64_t sw, int64_t W, int64_t len, int64_t *lo, int64_t *hi)
{
    int64_t a = 0, b = len;
    if (iw0 < 0) a = sw == 1 ? -iw0 : conv_cdiv(-iw0, sw);
    if (iw0 + (len - 1) * sw >= W) b = iw0 >= W ? 0 : sw == 1 ? W - iw0 : conv_cdiv(W - iw0, sw);
    if (a > len) a = len;
    if (b < a) b = a;
    *lo = a;
    *hi = b;
}

/* A run of len positions starting at chunk position q, on output row oh
 * from column ow, within one B panel. */
typedef struct { int64_t q, len, oh, ow; } conv_seg;

static int64_t conv_segments(const ed__conv_geom *g, int64_t p0, int64_t pn, conv_seg *s)
{
    int64_t ns = 0;
    for (int64_t q = 0; q < pn;) {
        int64_t p = p0 + q, oh = p / g->Wo, ow = p % g->Wo;
        int64_t len = conv_min(conv_min(g->Wo - ow, CONV_NR - q % CONV_NR), pn - q);
        s[ns++] = (conv_seg){ q, len, oh, ow };
        q += len;
    }
    return ns;
}

static void *conv_scratch(size_t bytes)
{
    return ed__scratch(bytes < 64 ? 64 : bytes);
}

/* Work items for a fork: at least two per thread where the problem allows,
 * handed out one at a time (items differ in size: the last chunk, the last
 * block), which is ED_PARALLEL_FOR_IF with a dynamic schedule. Which thread
 * runs an item never changes what the item computes. */
static inline int64_t conv_items_wanted(void) { return 2 * (int64_t)ed_get_num_threads(); }
/* Below this many multiply-adds a fork costs more than it saves (and on a
 * busy machine a fork waits for a descheduled thread). */
#define CONV_PAR_MIN_MACS (INT64_C(1) << 19)
#ifdef _OPENMP
#define CONV_PARALLEL_FOR_IF(cond) ED_PRAGMA(omp parallel for schedule(dynamic, 1) num_threads(ed_get_num_threads()) if(cond))
#else
#define CONV_PARALLEL_FOR_IF(cond)
#endif
#endif /* ED_CONV_KERN_ONCE */

#ifdef __FMA__
#define CONV_MADD(a, b, c) T_FMA((a), (b), (c))
#else
#define CONV_MADD(a, b, c) ((a) * (b) + (c))
#endif

/* C[0:mv, 0:nv] (+)= Ap (kc x MR) . Bp (kc x NR). */
static void K(conv_micro)(int64_t kc, const T *restrict a, const T *restrict b, T *restrict c, int64_t ldc, int add,
                          int64_t mv, int64_t nv)
{
    T acc[CONV_MR][CONV_NR];
    for (int i = 0; i < CONV_MR; i++)
        for (int j = 0; j < CONV_NR; j++) acc[i][j] = 0;
    for (int64_t k = 0; k < kc; k++) {
        const T *bk = b + k * CONV_NR;
        for (int i = 0; i < CONV_MR; i++) {
            T av = a[k * CONV_MR + i];
            for (int j = 0; j < CONV_NR; j++) acc[i][j] = CONV_MADD(av, bk[j], acc[i][j]);
        }
    }
    if (mv == CONV_MR && nv == CONV_NR) {
        for (int i = 0; i < CONV_MR; i++) {
            T *ci = c + i * ldc;
            if (add) for (int j = 0; j < CONV_NR; j++) ci[j] += acc[i][j];
            else for (int j = 0; j < CONV_NR; j++) ci[j] = acc[i][j];
        }
    } else {
        for (int64_t i = 0; i < mv; i++) {
            T *ci = c + i * ldc;
            if (add) for (int64_t j = 0; j < nv; j++) ci[j] += acc[i][j];
            else for (int64_t j = 0; j < nv; j++) ci[j] = acc[i][j];
        }
    }
}

/* C (m x n, row stride ldc) (+)= A . B with A packed as ceil(m/MR) panels of
 * kdim x MR and B as ceil(n/NR) panels of kdim x NR. add = 0 overwrites C.
 * kdim must be positive. */
static void K(conv_gemm)(int64_t m, int64_t n, int64_t kdim, const T *Ap, const T *Bp, T *C, int64_t ldc, int add)
{
    for (int64_t pc = 0; pc < kdim; pc += CONV_KC) {
        int64_t kc = conv_min(CONV_KC, kdim - pc);
        int a = add || pc > 0;
        for (int64_t j = 0; j < n; j += CONV_NR)
            for (int64_t i = 0; i < m; i += CONV_MR)
                K(conv_micro)(kc, Ap + i * kdim + pc * CONV_MR, Bp + j * kdim + pc * CONV_NR, C + i * ldc + j, ldc, a,
                              conv_min(CONV_MR, m - i), conv_min(CONV_NR, n - j));
    }
}

/* Pack X (m x kdim), X[i][k] = src[i*sr + k*sc], into MR-row panels (rows
 * past m are zero). */
static void K(conv_pack_a)(int64_t m, int64_t kdim, const T *src, int64_t sr, int64_t sc, T *Ap)
{
    for (int64_t i = 0; i < m; i += CONV_MR) {
        T *d = Ap + i * kdim;
        int64_t mv = conv_min(CONV_MR, m - i);
        if (sc == 1 && mv == CONV_MR) {
            for (int64_t k = 0; k < kdim; k++)
                for (int r = 0; r < CONV_MR; r++) d[k * CONV_MR + r] = src[(i + r) * sr + k];
        } else {
            for (int64_t k = 0; k < kdim; k++)
                for (int r = 0; r < CONV_MR; r++) d[k * CONV_MR + r] = r < mv ? src[(i + r) * sr + k * sc] : (T)0;
        }
    }
}

/* Pack Y (kdim x n), Y[k][j] = src[k*sr + j], into NR-column panels
 * (columns past n are zero). */
static void K(conv_pack_b)(int64_t kdim, int64_t n, const T *src, int64_t sr, T *Bp)
{
    for (int64_t j = 0; j < n; j += CONV_NR) {
        T *d = Bp + j * kdim;
        int64_t nv = conv_min(CONV_NR, n - j);
        for (int64_t k = 0; k < kdim; k++) {
            const T *s = src + k * sr + j;
            T *dk = d + k * CONV_NR;
            for (int64_t c = 0; c < nv; c++) dk[c] = s[c];
            for (int64_t c = nv; c < CONV_NR; c++) dk[c] = 0;
        }
    }
}

/* im2col of one image (C planes of H x W at src) for the chunk's segments,
 * into B panels of kdim = C*kh*kw rows and pn columns. */
static void K(conv_im2col)(const ed__conv_geom *g, const T *src, const conv_seg *s, int64_t ns, int64_t pn, T *Bp)
{
    const int64_t kdim = g->C * g->kh * g->kw, H = g->H, W = g->W, sw = g->sw;
    if (pn % CONV_NR) {
        T *last = Bp + (pn / CONV_NR) * CONV_NR * kdim;
        for (int64_t k = 0; k < kdim; k++)
            for (int64_t c = pn % CONV_NR; c < CONV_NR; c++) last[k * CONV_NR + c] = 0;
    }
    for (int64_t si = 0; si < ns; si++) {
        const int64_t len = s[si].len;
        T *d = Bp + (s[si].q / CONV_NR) * CONV_NR * kdim + s[si].q % CONV_NR;
        for (int64_t c = 0; c < g->C; c++)
            for (int64_t i = 0; i < g->kh; i++) {
                const int64_t ih = s[si].oh * g->sh - g->ph + i * g->dh;
                const int64_t row = (c * H + ih) * W;   /* used only when ih is inside */
                for (int64_t j = 0; j < g->kw; j++, d += CONV_NR) {
                    int64_t lo = 0, hi = 0, iw0 = s[si].ow * sw - g->pw + j * g->dw;
                    if (ih >= 0 && ih < H) conv_range(iw0, sw, W, len, &lo, &hi);
                    if (sw == 1 && hi - lo == CONV_NR) {   /* a whole panel row: a fixed-length copy */
                        for (int64_t t = 0; t < CONV_NR; t++) d[t] = src[row + iw0 + t];
                        continue;
                    }
                    for (int64_t t = 0; t < lo; t++) d[t] = 0;
                    if (sw == 1) for (int64_t t = lo; t < hi; t++) d[t] = src[row + iw0 + t];
                    else for (int64_t t = lo; t < hi; t++) d[t] = src[row + iw0 + t * sw];
                    for (int64_t t = hi; t < len; t++) d[t] = 0;
                }
            }
    }
}

/* Transposed im2col for the weight gradient: rows k0..k0+kn of the im2col
 * matrix as B panels of NR of those rows each, kdim = pn positions. */
static void K(conv_im2col_t)(const ed__conv_geom *g, const T *src, const conv_seg *s, int64_t ns, int64_t pn, int64_t k0,
                             int64_t kn, T *Bp)
{
    const int64_t kk = g->kh * g->kw, H = g->H, W = g->W, sw = g->sw;
    for (int64_t jp = 0; jp < kn; jp += CONV_NR) {
        T *panel = Bp + jp * pn;
        const int64_t cn = conv_min(CONV_NR, kn - jp);
        if (cn < CONV_NR)
            for (int64_t q = 0; q < pn; q++)
                for (int64_t c = cn; c < CONV_NR; c++) panel[q * CONV_NR + c] = 0;
        for (int64_t col = 0; col < cn; col++) {
            const int64_t k = k0 + jp + col, c = k / kk, i = k % kk / g->kw, j = k % g->kw;
            for (int64_t si = 0; si < ns; si++) {
                const int64_t len = s[si].len, ih = s[si].oh * g->sh - g->ph + i * g->dh;
                const int64_t iw0 = s[si].ow * sw - g->pw + j * g->dw;
                const int64_t row = (c * H + ih) * W;   /* used only when ih is inside */
                T *d = panel + s[si].q * CONV_NR + col;
                int64_t lo = 0, hi = 0;
                if (ih >= 0 && ih < H) conv_range(iw0, sw, W, len, &lo, &hi);
                for (int64_t t = 0; t < lo; t++) d[t * CONV_NR] = 0;
                for (int64_t t = lo; t < hi; t++) d[t * CONV_NR] = src[row + iw0 + t * sw];
                for (int64_t t = hi; t < len; t++) d[t * CONV_NR] = 0;
            }
        }
    }
}

/* col2im: add the chunk's columns gcol (cn*kh*kw rows, row stride ldc)
 * into the cn planes at dst, dropping what falls in the padding. */
static void K(conv_col2im)(const ed__conv_geom *g, T *dst, const conv_seg *s, int64_t ns, const T *gcol, int64_t ldc,
                           int64_t cn)
{
    const int64_t H = g->H, W = g->W, sw = g->sw;
    for (int64_t si = 0; si < ns; si++) {
        const int64_t len = s[si].len;
        const T *sp = gcol + s[si].q;
        for (int64_t c = 0; c < cn; c++)
            for (int64_t i = 0; i < g->kh; i++) {
                const int64_t ih = s[si].oh * g->sh - g->ph + i * g->dh;
                if (ih < 0 || ih >= H) {
                    sp += g->kw * ldc;
                    continue;
                }
                const int64_t row = (c * H + ih) * W;
                for (int64_t j = 0; j < g->kw; j++, sp += ldc) {
                    int64_t lo, hi, iw0 = s[si].ow * sw - g->pw + j * g->dw;
                    conv_range(iw0, sw, W, len, &lo, &hi);
                    if (sw == 1 && hi - lo == CONV_NR) for (int64_t t = 0; t < CONV_NR; t++) dst[row + iw0 + t] += sp[t];
                    else if (sw == 1) for (int64_t t = lo; t < hi; t++) dst[row + iw0 + t] += sp[t];
                    else for (int64_t t = lo; t < hi; t++) dst[row + iw0 + t * sw] += sp[t];
                }
            }
    }
}

static ed_status K(conv_fwd)(const ed__conv_geom *g, const T *img, const T *A, T *pos)
{
    const int64_t NG = g->N * g->G, P = g->Ho * g->Wo, M = g->M, Kd = g->C * g->kh * g->kw, G = g->G;
    if (NG == 0 || P == 0 || M == 0 || Kd == 0) return ED_OK;
    const int64_t mpan = conv_round_up(M, CONV_MR), nt = ed_get_num_threads(), plane = g->C * g->H * g->W;
    /* Items are (n, g, chunk of positions, block of rows); shrink the chunks,
     * then split the rows, until every thread has some. */
    int64_t nc = conv_min(CONV_NC, conv_round_up(P, CONV_NR));
    if (NG * conv_cdiv(P, nc) < conv_items_wanted()) {
        int64_t per = conv_cdiv(conv_items_wanted(), NG);
        nc = conv_max(CONV_NR, conv_round_up(conv_cdiv(P, per), CONV_NR));
    }
    const int64_t nchunks = conv_cdiv(P, nc);
    int64_t mb = mpan;
    if (NG * nchunks < conv_items_wanted())
        mb = conv_round_up(conv_cdiv(M, conv_cdiv(conv_items_wanted(), NG * nchunks)), CONV_MR);
    const int64_t nmb = conv_cdiv(M, mb), items = NG * nchunks * nmb;
    T *Ap = conv_scratch((size_t)(G * mpan * Kd) * sizeof(T));
    T *Bp = conv_scratch((size_t)(nt * Kd * nc) * sizeof(T));
    if (!Ap || !Bp) {
        ed__scratch_free(Bp);
        ed__scratch_free(Ap);
        return ed__err(ED_E_NOMEM, "conv: cannot allocate scratch memory for %lld x %lld columns", (long long)Kd,
                       (long long)nc);
    }
    for (int64_t gi = 0; gi < G; gi++) K(conv_pack_a)(M, Kd, A + gi * M * Kd, Kd, 1, Ap + gi * mpan * Kd);

    CONV_PARALLEL_FOR_IF(items > 1 && NG * M * Kd * P >= CONV_PAR_MIN_MACS)
    for (int64_t it = 0; it < items; it++) {
        conv_seg segs[CONV_NC];
        const int64_t ng = it / (nchunks * nmb), p0 = (it / nmb % nchunks) * nc, pn = conv_min(nc, P - p0), gi = ng % G;
        const int64_t m0 = it % nmb * mb, mn = conv_min(mb, M - m0);
        T *bp = Bp + ed__thread_id() * Kd * nc;
        int64_t ns = conv_segments(g, p0, pn, segs);
        K(conv_im2col)(g, img + ng * plane, segs, ns, pn, bp);
        K(conv_gemm)(mn, pn, Kd, Ap + (gi * mpan + m0) * Kd, bp, pos + (ng * M + m0) * P + p0, P, 1);
    }
    ed__scratch_free(Bp);
    ed__scratch_free(Ap);
    return ED_OK;
}

static ed_status K(conv_bwd_data)(const ed__conv_geom *g, const T *A, const T *pos, T *img)
{
    const int64_t NG = g->N * g->G, P = g->Ho * g->Wo, M = g->M, C = g->C, kk = g->kh * g->kw, Kd = C * kk, G = g->G;
    if (NG == 0 || P == 0 || M == 0 || Kd == 0) return ED_OK;
    const int64_t nt = ed_get_num_threads(), hw = g->H * g->W;
    /* Items are (n, g, block of channels): each col2im adds into its own planes. */
    int64_t cb = C;
    if (NG < conv_items_wanted()) cb = conv_cdiv(C, conv_cdiv(conv_items_wanted(), NG));
    const int64_t nb = conv_cdiv(C, cb), kbpan = conv_round_up(cb * kk, CONV_MR), items = NG * nb;
    const int64_t nc = conv_min(CONV_NC, conv_round_up(P, CONV_NR));
    const int64_t per_thread = M * nc + cb * kk * nc;   /* B panels of pos, then gcol */
    T *Apt = conv_scratch((size_t)(G * nb * kbpan * M) * sizeof(T));
    T *work = conv_scratch((size_t)(nt * per_thread) * sizeof(T));
    if (!Apt || !work) {
        ed__scratch_free(work);
        ed__scratch_free(Apt);
        return ed__err(ED_E_NOMEM, "conv: cannot allocate scratch memory for %lld x %lld columns",
                       (long long)(cb * kk), (long long)nc);
    }
    for (int64_t gi = 0; gi < G; gi++)
        for (int64_t b = 0; b < nb; b++) {
            int64_t cn = conv_min(cb, C - b * cb);
            K(conv_pack_a)(cn * kk, M, A + gi * M * Kd + b * cb * kk, 1, Kd, Apt + (gi * nb + b) * kbpan * M);
        }

    CONV_PARALLEL_FOR_IF(items > 1 && NG * M * Kd * P >= CONV_PAR_MIN_MACS)
    for (int64_t it = 0; it < items; it++) {
        conv_seg segs[CONV_NC];
        const int64_t ng = it / nb, b = it % nb, gi = ng % G, c0 = b * cb, cn = conv_min(cb, C - c0);
        T *bp = work + ed__thread_id() * per_thread, *gcol = bp + M * nc;
        for (int64_t p0 = 0; p0 < P; p0 += nc) {
            const int64_t pn = conv_min(nc, P - p0);
            K(conv_pack_b)(M, pn, pos + ng * M * P + p0, P, bp);
            K(conv_gemm)(cn * kk, pn, M, Apt + (gi * nb + b) * kbpan * M, bp, gcol, nc, 0);
            int64_t ns = conv_segments(g, p0, pn, segs);
            K(conv_col2im)(g, img + (ng * C + c0) * hw, segs, ns, gcol, nc, cn);
        }
    }
    ed__scratch_free(work);
    ed__scratch_free(Apt);
    return ED_OK;
}

static ed_status K(conv_bwd_weight)(const ed__conv_geom *g, const T *img, const T *pos, T *A)
{
    const int64_t N = g->N, G = g->G, P = g->Ho * g->Wo, M = g->M, Kd = g->C * g->kh * g->kw;
    if (N * G == 0 || P == 0 || M == 0 || Kd == 0) return ED_OK;
    const int64_t plane = g->C * g->H * g->W;
    /* Items are (g, block of weight columns, block of rows); each sums over
     * n and then over fixed chunks of positions, whatever the split. */
    const int64_t panels = conv_cdiv(Kd, CONV_NR), nt = ed_get_num_threads();
    int64_t kb = panels * CONV_NR;   /* split the columns first: that splits im2col too */
    if (G < conv_items_wanted()) kb = conv_max(1, panels / conv_cdiv(conv_items_wanted(), G)) * CONV_NR;
    const int64_t nkb = conv_cdiv(Kd, kb);
    const int64_t nc = CONV_NC, mpan = conv_round_up(M, CONV_MR);
    int64_t mb = mpan;   /* rows only when there are fewer blocks than threads: each repeats im2col */
    if (G * nkb < nt) mb = conv_round_up(conv_cdiv(M, conv_cdiv(nt, G * nkb)), CONV_MR);
    const int64_t nmb = conv_cdiv(M, mb), items = G * nkb * nmb;
    const int64_t per_thread = mb * nc + kb * nc;   /* A panels of pos, B panels of im2col rows */
    T *work = conv_scratch((size_t)(nt * per_thread) * sizeof(T));
    if (!work)
        return ed__err(ED_E_NOMEM, "conv: cannot allocate scratch memory for %lld x %lld columns", (long long)kb, (long long)nc);

    CONV_PARALLEL_FOR_IF(items > 1 && N * G * M * Kd * P >= CONV_PAR_MIN_MACS)
    for (int64_t it = 0; it < items; it++) {
        conv_seg segs[CONV_NC];
        const int64_t gi = it / (nkb * nmb), k0 = (it / nmb % nkb) * kb, kn = conv_min(kb, Kd - k0);
        const int64_t m0 = it % nmb * mb, mn = conv_min(mb, M - m0);
        T *ap = work + ed__thread_id() * per_thread, *bp = ap + mb * nc;
        for (int64_t n = 0; n < N; n++) {
            const int64_t ng = n * G + gi;
            for (int64_t p0 = 0; p0 < P; p0 += nc) {
                const int64_t pn = conv_min(nc, P - p0);
                K(conv_pack_a)(mn, pn, pos + (ng * M + m0) * P + p0, P, 1, ap);
                int64_t ns = conv_segments(g, p0, pn, segs);
                K(conv_im2col_t)(g, img + ng * plane, segs, ns, pn, k0, kn, bp);
                K(conv_gemm)(mn, kn, pn, ap, bp, A + (gi * M + m0) * Kd + k0, Kd, 1);
            }
        }
    }
    ed__scratch_free(work);
    return ED_OK;
}

static void K(conv_fill_bias)(int64_t N, int64_t C, int64_t HW, const T *bias, T *t)
{
    ED_PARALLEL_FOR_IF(N * C * HW > 32768)
    for (int64_t pl = 0; pl < N * C; pl++) {
        T v = bias ? bias[pl % C] : (T)0;
        T *d = t + pl * HW;
        for (int64_t i = 0; i < HW; i++) d[i] = v;
    }
}

static void K(conv_bias_grad)(int64_t N, int64_t C, int64_t HW, const T *gy, T *gb)
{
    ED_PARALLEL_FOR_IF(N * C * HW > 32768)
    for (int64_t c = 0; c < C; c++) {
        /* Eight partial sums in double: vectorised, and the same order for
         * any thread count. */
        double lane[8] = { 0 }, s = 0;
        for (int64_t n = 0; n < N; n++) {
            const T *p = gy + (n * C + c) * HW;
            int64_t i = 0;
            for (; i + 8 <= HW; i += 8)
                for (int l = 0; l < 8; l++) lane[l] += (double)p[i + l];
            for (; i < HW; i++) lane[i % 8] += (double)p[i];
        }
        for (int l = 0; l < 8; l++) s += lane[l];
        gb[c] += (T)s;
    }
}

#undef CONV_MADD

/* conv2d's relu = 1: relu_inplace on the reference path, relu_mask on gy
 * in backward. */
#include "ops/relu_kern.h"
