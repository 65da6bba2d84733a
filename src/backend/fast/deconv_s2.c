/* conv_transpose2d when the stride equals the kernel (the encoder-decoder
 * up-sampler, typically 2x2 stride 2): padding 0, output_padding 0,
 * dilation 1, groups 1, float32, convolution precision float32.
 *
 *   x (N, Cin, H, W), weight (Cin, Cout, kh, kw), bias (Cout) or NULL
 *   -> y (N, Cout, H*kh, W*kw),
 *   y[n, o, h*kh + i, w*kw + j] = bias[o] + sum_c x[n, c, h, w] * weight[c, o, i, j]
 *
 * Each input pixel writes its own kh x kw output block and no two blocks
 * overlap, so there is no col2im sum: with M = Cout*kh*kw, m = (o, i, j),
 * the weight is already the row-major (Cin, M) matrix Wm and, per image n
 * with X_n the (Cin, H*W) matrix x[n] is in memory,
 *   forward:      Z_n = Wm^T . X_n  (M, HW), scattered into y[n] (+ bias)
 *   input grad:   gx_n += Wm . G_n  where G_n (M, HW) gathers gy[n]'s blocks
 *   weight grad:  gW += sum_n X_n . G_n^T
 *   bias grad:    gb[o] += sum of gy[:, o]  (for the 2x2 kernel summed while
 *                 input grad gathers gy; else the reference's kernel)
 * One GEMM each instead of the reference's im2col/col2im, and no weight
 * reorder as oneDNN does it.
 *
 * Backend tensors (see ops/conv_transpose2d.c): forward {x, weight, bias, y}
 * (y overwritten); backward {x, weight, gy, gx, gweight, gbias}, NULL where
 * not wanted, all accumulated (+=).
 *
 * The GEMM packs both operands into panels (A: MR rows, B: NR columns, each
 * k-major) and keeps an MR x NR tile in registers, as the reference conv
 * GEMM (ops/conv_kern.h, whose functions are private to conv2d.c); the
 * gather from gy is done while packing B, the scatter into y from a
 * per-thread block of Z.
 *
 * Threads: forward and input-gradient work items are (image, run of PC
 * pixels) and write disjoint outputs; the weight gradient splits gW into
 * tiles (narrower while threads would idle), each summing over the
 * batch's pixels in fixed KC-pixel chunks (a chunk may span two images),
 * in order. With a 2x2 kernel and whole register panels, both gradients
 * come from one pass over the items instead (bwd_fused: gy and x read
 * once), the weight gradient summed in WG_GROUPS fixed runs of items added
 * in order. So every element's arithmetic is the same for any thread
 * count and any tiling. Each GEMM prefetches the next item's input block,
 * so the packing that follows does not wait on DRAM.
 *
 * Registration: src/backend/registry.c calls ed__deconv_s2_register()
 * once, after oneDNN's registration; the newest registered kernel wins, so
 * this one is tried before oneDNN's for the cases it supports. */
#include "backend/fast/deconv_s2.h"

#include "core/ed_internal.h"
#include "encdec/precision.h"
#include "ops/conv_common.h"

#include <math.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

/* The register tile is MR x NR: 16 accumulator vectors either way (512-bit
 * on AVX-512, where gcc is told to use them; 256-bit elsewhere). */
#if defined(__AVX512F__) && !defined(__clang__)
#define MR 8
#define ED_MICRO_ATTR __attribute__((target("prefer-vector-width=512")))
#else
#define MR 4
#define ED_MICRO_ATTR
#endif
#define NR 32
#define KC 256          /* reduction block: a B panel block stays in L1 */
#define PC 256          /* pixels per forward / input-gradient item; a multiple of NR */
#define WG_M 128        /* weight-gradient tile rows (Cin); a multiple of MR */
#define WG_N 128        /* weight-gradient tile columns (M); a multiple of NR */
#define PAR_MIN_MACS (INT64_C(1) << 19)   /* below this a fork costs more than it saves */

#ifdef __FMA__
#define MADD(a, b, c) fmaf((a), (b), (c))
#else
#define MADD(a, b, c) ((a) * (b) + (c))
#endif

static int64_t n_calls[2];

int64_t ed__deconv_s2_calls(int pass) { return __atomic_load_n(&n_calls[pass ? 1 : 0], __ATOMIC_RELAXED); }

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* C[0:mv, 0:nv] (+)= Ap (kc x MR) . Bp (kc x NR). */
ED_MICRO_ATTR static void micro(int64_t kc, const float *restrict a, const float *restrict b, float *restrict c, int64_t ldc, int add,
                  int64_t mv, int64_t nv)
{
    float acc[MR][NR];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = 0;
    /* The tile of C that is added to arrives while the products are summed
     * (an input gradient that accumulates comes from DRAM: its rows lie an
     * image plane apart). */
    if (add)
        for (int64_t i = 0; i < mv; i++)
            for (int64_t j = 0; j < nv; j += 16) __builtin_prefetch(c + i * ldc + j, 1, 3);
    for (int64_t k = 0; k < kc; k++) {
        const float *bk = b + k * NR;
        for (int i = 0; i < MR; i++) {
            float av = a[k * MR + i];
            for (int j = 0; j < NR; j++) acc[i][j] = MADD(av, bk[j], acc[i][j]);
        }
    }
    if (mv == MR && nv == NR) {
        for (int i = 0; i < MR; i++) {
            float *ci = c + i * ldc;
            if (add) for (int j = 0; j < NR; j++) ci[j] += acc[i][j];
            else for (int j = 0; j < NR; j++) ci[j] = acc[i][j];
        }
    } else {
        for (int64_t i = 0; i < mv; i++) {
            float *ci = c + i * ldc;
            if (add) for (int64_t j = 0; j < nv; j++) ci[j] += acc[i][j];
            else for (int64_t j = 0; j < nv; j++) ci[j] = acc[i][j];
        }
    }
}

/* What the next work item will read from memory: rows of row_bytes,
 * stride bytes apart (rows = 0: nothing). */
typedef struct {
    const char *base;
    int64_t rows, stride, row_bytes;
} pf_block;

/* C (m x n, row stride ldc) (+)= A . B, A packed as ceil(m/MR) panels of
 * kdim x MR, B as ceil(n/NR) panels of kdim x NR; add = 0 overwrites.
 * pf (or NULL) is fetched into L2 a few lines before each tile, spread
 * over all of them, so the next item's reads from DRAM overlap these
 * products instead of stalling its packing. */
static void gemm(int64_t m, int64_t n, int64_t kdim, const float *Ap, const float *Bp, float *C, int64_t ldc, int add,
                 const pf_block *pf)
{
    const int64_t row_lines = pf && pf->rows > 0 ? cdiv(pf->row_bytes, 64) + 1 : 0, lines = pf ? pf->rows * row_lines : 0;
    const int64_t per = cdiv(lines, cdiv(kdim, KC) * cdiv(n, NR) * cdiv(m, MR));
    int64_t done = 0, r = 0, l = 0;   /* done lines; the next one is line l of row r */
    for (int64_t pc = 0; pc < kdim; pc += KC) {
        int64_t kc = min64(KC, kdim - pc);
        int a = add || pc > 0;
        for (int64_t j = 0; j < n; j += NR)
            for (int64_t i = 0; i < m; i += MR) {
                for (int64_t q = 0; q < per && done < lines; q++, done++) {
                    __builtin_prefetch(pf->base + r * pf->stride + l * 64, 0, 2);
                    if (++l == row_lines) l = 0, r++;
                }
                micro(kc, Ap + i * kdim + pc * MR, Bp + j * kdim + pc * NR, C + i * ldc + j, ldc, a, min64(MR, m - i),
                      min64(NR, n - j));
            }
    }
}

/* Pack A (m x kdim), A[r][k] = src[r*sr + k*sc], into MR-row panels (rows
 * past m are zero). */
static void pack_a(int64_t m, int64_t kdim, const float *src, int64_t sr, int64_t sc, float *Ap)
{
    for (int64_t i = 0; i < m; i += MR) {
        float *d = Ap + i * kdim;
        int64_t mv = min64(MR, m - i);
        for (int64_t k = 0; k < kdim; k++)
            for (int r = 0; r < MR; r++) d[k * MR + r] = r < mv ? src[(i + r) * sr + k * sc] : 0.0f;
    }
}

/* Pack B (kdim x n), B[k][j] = src[k*sr + j], into NR-column panels. */
static void pack_b(int64_t kdim, int64_t n, const float *src, int64_t sr, float *Bp)
{
    for (int64_t j = 0; j < n; j += NR) {
        float *d = Bp + j * kdim;
        int64_t nv = min64(NR, n - j);
        for (int64_t k = 0; k < kdim; k++) {
            const float *s = src + k * sr + j;
            float *dk = d + k * NR;
            for (int64_t c = 0; c < nv; c++) dk[c] = s[c];
            for (int64_t c = nv; c < NR; c++) dk[c] = 0;
        }
    }
}

/* The shape of one call. */
typedef struct {
    int64_t N, Cin, H, W, Cout, kh, kw, M, HW, Ho, Wo;
} geom;

static geom geom_of(const ed_tensor *x, const ed_tensor *w)
{
    geom g = { .N = x->shape[0], .Cin = x->shape[1], .H = x->shape[2], .W = x->shape[3], .Cout = w->shape[1],
               .kh = w->shape[2], .kw = w->shape[3] };
    g.M = g.Cout * g.kh * g.kw;
    g.HW = g.H * g.W;
    g.Ho = g.H * g.kh;
    g.Wo = g.W * g.kw;
    return g;
}

/* The block of x (N, Cin, H, W) that item it (image, run of PC pixels)
 * reads; nothing past the last item. */
static pf_block x_block(const geom *g, const float *xd, int64_t it, int64_t items)
{
    if (it >= items) return (pf_block){ 0 };
    const int64_t nch = cdiv(g->HW, PC), n = it / nch, p0 = (it % nch) * PC;
    return (pf_block){ (const char *)(xd + n * g->Cin * g->HW + p0), g->Cin, g->HW * 4, min64(PC, g->HW - p0) * 4 };
}

/* The block of gy (N, Cout, Ho, Wo) that item it reads: the output rows
 * of its pixels' input rows, in every channel. */
static pf_block gy_block(const geom *g, const float *gyd, int64_t it, int64_t items)
{
    if (it >= items) return (pf_block){ 0 };
    const int64_t nch = cdiv(g->HW, PC), n = it / nch, p0 = (it % nch) * PC, pn = min64(PC, g->HW - p0);
    const int64_t h0 = p0 / g->W, h1 = (p0 + pn - 1) / g->W;
    return (pf_block){ (const char *)(gyd + n * g->Cout * g->Ho * g->Wo + h0 * g->kh * g->Wo), g->Cout,
                       g->Ho * g->Wo * 4, (h1 - h0 + 1) * g->kh * g->Wo * 4 };
}

/* off[q]: where pixel p0+q's output block starts within one output plane
 * (p0 counts pixels over the whole batch: past H*W, within the next image,
 * whose offset is included); moff[m]: where row m = (o, i, j) of G lies
 * relative to it. */
static void pixel_offsets(const geom *g, int64_t p0, int64_t pn, int64_t *off)
{
    const int64_t img = g->Cout * g->Ho * g->Wo;
    int64_t n = p0 / g->HW, h = p0 % g->HW / g->W, w = p0 % g->W;
    for (int64_t q = 0; q < pn; q++) {
        off[q] = n * img + h * g->kh * g->Wo + w * g->kw;
        if (++w == g->W) {
            w = 0;
            if (++h == g->H) h = 0, n++;
        }
    }
}

/* A panels of rows r0..r0+mr of X (the channels) over kc pixels from batch
 * pixel p0: the weight gradient's reduction runs over the whole batch. */
static void pack_x(const geom *g, const float *xd, int64_t r0, int64_t mr, int64_t p0, int64_t kc, float *Ap)
{
    for (int64_t k = 0; k < kc;) {
        const int64_t n = (p0 + k) / g->HW, p = (p0 + k) % g->HW, len = min64(kc - k, g->HW - p);
        const float *src = xd + (n * g->Cin + r0) * g->HW + p;
        for (int64_t i = 0; i < mr; i += MR) {
            float *d = Ap + i * kc + k * MR;
            const int64_t mv = min64(MR, mr - i);
            for (int64_t q = 0; q < len; q++)
                for (int r = 0; r < MR; r++) d[q * MR + r] = r < mv ? src[(i + r) * g->HW + q] : 0.0f;
        }
        k += len;
    }
}

static void row_offsets(const geom *g, int64_t *moff)
{
    int64_t m = 0;
    for (int64_t o = 0; o < g->Cout; o++)
        for (int64_t i = 0; i < g->kh; i++)
            for (int64_t j = 0; j < g->kw; j++) moff[m++] = o * g->Ho * g->Wo + i * g->Wo + j;
}

/* B panels (kdim = M rows, pn columns) of G_n for pixels p0.. (off). */
static void gather_g(const geom *g, const float *gyn, const int64_t *moff, const int64_t *off, int64_t pn, float *Bp)
{
    for (int64_t j = 0; j < pn; j += NR) {
        float *d = Bp + j * g->M;
        int64_t nv = min64(NR, pn - j);
        /* The next panel's run of gy on each row, when it is one: there are
         * M rows (more than the hardware prefetcher follows). */
        const int64_t jn = j + NR, nn = min64(NR, pn - jn);
        const int64_t span = nn > 0 ? off[jn + nn - 1] - off[jn] + g->kw : 0;
        const bool pf = span > 0 && span <= 8 * 16;
        for (int64_t m = 0; m < g->M; m++) {
            const float *s = gyn + moff[m];
            float *dm = d + m * NR;
            if (pf && m % g->kw == 0)
                for (int64_t t = 0; t < span; t += 16) __builtin_prefetch(s + off[jn] + t);
            for (int64_t c = 0; c < nv; c++) dm[c] = s[off[j + c]];
            for (int64_t c = nv; c < NR; c++) dm[c] = 0;
        }
    }
}

#if defined(__AVX512F__)
/* gather_g for kw == 2, pixels p0..p0+pn of one image: each image row's run
 * of an output row pair (columns 2w, 2w + 1) split into its even and odd
 * columns, 16 pixels at a time (the same values). With lanes (Cout x 16
 * floats), also each channel's sum of the values gathered, added to its
 * 16 lanes (the bias gradient's share of these pixels, so gy is read once
 * for both). */
static void gather_g_kw2(const geom *g, const float *gyn, int64_t p0, int64_t pn, float *Bp, float *lanes)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    for (int64_t j = 0; j < pn; j += NR) {
        float *d = Bp + j * g->M;
        const int64_t nv = min64(NR, pn - j);
        for (int64_t o = 0; o < g->Cout; o++) {
            __m512 acc = lanes ? _mm512_loadu_ps(lanes + 16 * o) : _mm512_setzero_ps();
            float tail = 0;
            for (int64_t i = 0; i < g->kh; i++) {
                float *d0 = d + ((o * g->kh + i) * 2) * NR, *d1 = d0 + NR;
                for (int64_t c = 0; c < nv;) {
                    const int64_t P = p0 + j + c, h = P / g->W, w = P % g->W;
                    const int64_t len = g->W - w < nv - c ? g->W - w : nv - c;
                    const float *src = gyn + o * g->Ho * g->Wo + (h * g->kh + i) * g->Wo + 2 * w;
                    int64_t t = 0;
                    for (; t + 16 <= len; t += 16) {
                        const __m512 a = _mm512_loadu_ps(src + 2 * t), b = _mm512_loadu_ps(src + 2 * t + 16);
                        _mm512_storeu_ps(d0 + c + t, _mm512_permutex2var_ps(a, ev, b));
                        _mm512_storeu_ps(d1 + c + t, _mm512_permutex2var_ps(a, od, b));
                        acc = _mm512_add_ps(acc, _mm512_add_ps(a, b));
                    }
                    for (; t < len; t++) {
                        d0[c + t] = src[2 * t];
                        d1[c + t] = src[2 * t + 1];
                        tail += src[2 * t] + src[2 * t + 1];
                    }
                    c += len;
                }
                for (int64_t c = nv; c < NR; c++) d0[c] = d1[c] = 0;
            }
            if (lanes) _mm512_storeu_ps(lanes + 16 * o, _mm512_add_ps(acc, _mm512_set_ps(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, tail)));
        }
    }
}

/* gather_g_kw2 for one work item; with lanes (a thread's Cout x 16
 * floats), also the item's bias-gradient share: each channel's sum, in
 * double, into bsum[0..Cout). */
static void gather_g_kw2_bias(const geom *g, const float *gyn, int64_t p0, int64_t pn, float *Bp, float *lanes,
                              double *bsum)
{
    if (lanes) memset(lanes, 0, sizeof(float) * 16 * (size_t)g->Cout);
    gather_g_kw2(g, gyn, p0, pn, Bp, lanes);
    for (int64_t o = 0; lanes && o < g->Cout; o++) {
        double sum = 0;
        for (int q = 0; q < 16; q++) sum += lanes[16 * o + q];
        bsum[o] = sum;
    }
}
#endif

/* gb += the work items' bias-gradient shares (items x Cout), in item
 * order: the same for any thread count. */
static void add_bias_shares(const double *bpart, int64_t items, int64_t cout, float *gb)
{
    for (int64_t o = 0; bpart && o < cout; o++) {
        double s = 0;
        for (int64_t it = 0; it < items; it++) s += bpart[it * cout + o];
        gb[o] += (float)s;
    }
}

/* B panels (kdim = kc pixels, columns m0..m0+nc) of G_n^T. */
static void gather_gt(const float *gyn, const int64_t *moff, const int64_t *off, int64_t kc, int64_t m0, int64_t nc,
                      float *Bp)
{
    for (int64_t j = 0; j < nc; j += NR) {
        float *d = Bp + j * kc;
        int64_t nv = min64(NR, nc - j);
        for (int64_t c = 0; c < NR; c++) {
            if (c >= nv) {
                for (int64_t k = 0; k < kc; k++) d[k * NR + c] = 0;
                continue;
            }
            const float *s = gyn + moff[m0 + j + c];
            for (int64_t k = 0; k < kc; k++) d[k * NR + c] = s[off[k]];
        }
    }
}

static int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }

#if defined(__AVX512F__) && MR == 8
/* The weight gradient's packing for the 2x2 up-sampler, 8 pixels of one
 * image row at a time: the same values as pack_x and gather_gt, moved by
 * register transposes instead of one element at a time (those two loops
 * were a third of the backward's time). */

/* d[q*8 + r] = s[r*ls + q] for r, q < 8. */
static inline void tr8x8_ps(const float *s, int64_t ls, float *d)
{
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + i * ls);
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        _mm256_storeu_ps(d + i * 8, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
        _mm256_storeu_ps(d + (i + 4) * 8, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
    }
}

/* The same for pairs of floats moved as one 64-bit element: row q of d
 * (stride ld floats) gets element q of each of the 8 rows of s. */
static inline void tr8x8_pairs(const float *s, int64_t ls, float *d, int64_t ld)
{
    __m512d r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm512_castps_pd(_mm512_loadu_ps(s + i * ls));
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);       /* elements 0, 2, 4, 6 of rows i, i+1 */
        t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);   /* 1, 3, 5, 7 */
    }
    for (int i = 0; i < 8; i += 4)
        for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = _mm512_shuffle_f64x2(t[i + h], t[i + 2 + h], 0x88);
            u[i + 2 * h + 1] = _mm512_shuffle_f64x2(t[i + h], t[i + 2 + h], 0xDD);
        }
    /* u[0]: elements 0, 4 of rows 0-3; u[1]: 2, 6; u[2]: 1, 5; u[3]: 3, 7 (u[4..7]: rows 4-7). */
    static const int col[4] = { 0, 2, 1, 3 };
    for (int i = 0; i < 4; i++) {
        _mm512_storeu_pd((double *)(d + col[i] * ld), _mm512_shuffle_f64x2(u[i], u[i + 4], 0x88));
        _mm512_storeu_pd((double *)(d + (col[i] + 4) * ld), _mm512_shuffle_f64x2(u[i], u[i + 4], 0xDD));
    }
}

/* pack_x with mr a multiple of 8. */
static void pack_x8(const geom *g, const float *xd, int64_t r0, int64_t mr, int64_t p0, int64_t kc, float *Ap)
{
    for (int64_t k = 0; k < kc;) {
        const int64_t n = (p0 + k) / g->HW, p = (p0 + k) % g->HW, len = min64(kc - k, g->HW - p);
        const float *src = xd + (n * g->Cin + r0) * g->HW + p;
        for (int64_t i = 0; i < mr; i += MR) {
            float *d = Ap + i * kc + k * MR;
            const float *si = src + i * g->HW;
            int64_t q = 0;
            for (; q + 8 <= len; q += 8) tr8x8_ps(si + q, g->HW, d + q * MR);
            for (; q < len; q++)
                for (int r = 0; r < MR; r++) d[q * MR + r] = si[r * g->HW + q];
        }
        k += len;
    }
}

/* gather_gt for a 2x2 kernel with nc a multiple of NR and m0 of 4: a panel's
 * 32 columns are 8 channels x (i, j), and (j = 0, 1) are adjacent in gy. */
static void gather_gt_k22(const geom *g, const float *gyd, int64_t p0, int64_t kc, int64_t m0, int64_t nc, float *Bp)
{
    const int64_t plane = g->Ho * g->Wo;
    for (int64_t jb = 0; jb < nc; jb += NR) {
        float *d = Bp + jb * kc;
        const int64_t o0 = (m0 + jb) / 4;
        for (int64_t k = 0; k < kc;) {
            const int64_t P = p0 + k, n = P / g->HW, h = P % g->HW / g->W, w = P % g->W;
            const float *base = gyd + (n * g->Cout + o0) * plane + 2 * h * g->Wo + 2 * w;
            if (w + 8 <= g->W && k + 8 <= kc) {
                /* rows (o, i) = 2o + i: 8 channels x 2 rows, in two halves of 4 channels */
                for (int half = 0; half < 2; half++) {
                    const float *s = base + 4 * half * plane;
                    float rows[8][16];
                    const float *rp[8];
                    for (int oi = 0; oi < 8; oi++) rp[oi] = s + (oi / 2) * plane + (oi % 2) * g->Wo;
                    /* the rows are not equally spaced (channel vs row step): copy to a stride */
                    for (int oi = 0; oi < 8; oi++) _mm512_storeu_ps(rows[oi], _mm512_loadu_ps(rp[oi]));
                    tr8x8_pairs(&rows[0][0], 16, d + k * NR + 16 * half, NR);
                }
                k += 8;
            } else {
                for (int64_t c = 0; c < NR; c++) {
                    const int64_t o = c / 4, i = c / 2 % 2, j = c % 2;
                    d[k * NR + c] = base[o * plane + i * g->Wo + j];
                }
                k++;
            }
        }
    }
}
#endif


/* ---- supports -------------------------------------------------------------- */

static bool is_f32(const ed_tensor *t) { return !t || t->dtype == ED_F32; }

static bool supports_common(const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w)
{
    if (ed_get_conv_precision() != ED_PRECISION_F32) return false;   /* bf16 is oneDNN's */
    if (!x || !w || x->dtype != ED_F32 || w->dtype != ED_F32 || x->ndim != 4 || w->ndim != 4) return false;
    if (x->deferred) return false;   /* it reads x's data, not a producer's copy */
    if (p->groups != 1) return false;
    for (int d = 0; d < 2; d++)
        if (p->stride[d] != w->shape[2 + d] || p->pad_lo[d] || p->pad_hi[d] || p->output_padding[d] ||
            p->dilation[d] != 1)
            return false;
    /* Empty batches and channel-less inputs: nothing to multiply. */
    return x->shape[0] > 0 && x->shape[1] > 0 && x->shape[1] == w->shape[0] && x->shape[2] > 0 && x->shape[3] > 0;
}

static bool fwd_supports(const void *params, ed_tensor *const *t)
{
    return supports_common(params, t[0], t[1]) && is_f32(t[2]) && t[3] && t[3]->dtype == ED_F32;
}

static bool bwd_supports(const void *params, ed_tensor *const *t)
{
    return supports_common(params, t[0], t[1]) && t[2] && t[2]->dtype == ED_F32 && is_f32(t[3]) && is_f32(t[4]) &&
           is_f32(t[5]);
}

/* ---- forward ----------------------------------------------------------------- */

#if defined(__AVX512F__)
/* The forward's scatter for kw == 2: pixels p0..p0+pn of one image, Z rows
 * (o, i, 0) and (o, i, 1) interleaved along output row h * kh + i, each
 * image row's run of pixels at once (the same values as the scalar
 * scatter: Z + bias, stored). */
static void scatter_kw2(const geom *g, const float *Z, int64_t p0, int64_t pn, const float *bd, float *yn)
{
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    for (int64_t o = 0; o < g->Cout; o++) {
        const float bo = bd ? bd[o] : 0.0f;
        const __m512 bv = _mm512_set1_ps(bo);
        for (int64_t i = 0; i < g->kh; i++) {
            const float *z0 = Z + ((o * g->kh + i) * 2) * PC, *z1 = z0 + PC;
            for (int64_t q = 0; q < pn;) {
                const int64_t P = p0 + q, h = P / g->W, w = P % g->W;
                const int64_t len = g->W - w < pn - q ? g->W - w : pn - q;
                float *dst = yn + o * g->Ho * g->Wo + (h * g->kh + i) * g->Wo + 2 * w;
                int64_t t = 0;
                for (; t + 16 <= len; t += 16) {
                    const __m512 a = _mm512_add_ps(_mm512_loadu_ps(z0 + q + t), bv);
                    const __m512 b = _mm512_add_ps(_mm512_loadu_ps(z1 + q + t), bv);
                    _mm512_storeu_ps(dst + 2 * t, _mm512_permutex2var_ps(a, lo, b));
                    _mm512_storeu_ps(dst + 2 * t + 16, _mm512_permutex2var_ps(a, hi, b));
                }
                for (; t < len; t++) {
                    dst[2 * t] = z0[q + t] + bo;
                    dst[2 * t + 1] = z1[q + t] + bo;
                }
                q += len;
            }
        }
    }
}
#endif

static ed_status fwd_run(const void *params, ed_tensor *const *t)
{
    (void)params;
    const ed_tensor *x = t[0], *wt = t[1], *b = t[2];
    ed_tensor *y = t[3];
    const geom g = geom_of(x, wt);
    __atomic_fetch_add(&n_calls[0], 1, __ATOMIC_RELAXED);
    const int nt = ed_get_num_threads();
    const int64_t a_sz = round_up(g.M, MR) * g.Cin, t_sz = g.Cin * PC + g.M * PC + 2 * PC;   /* + PC int64 offsets */
    float *Ap = ed__scratch((size_t)(a_sz + nt * t_sz) * sizeof(float));
    if (!Ap) return ed__err(ED_E_NOMEM, "conv_transpose2d: out of memory for the stride-%lld kernel's buffers",
                            (long long)g.kh);
    pack_a(g.M, g.Cin, ed__cf32(wt), 1, g.M, Ap);   /* Wm^T: A[m][c] = w[c*M + m] */

    const float *xd = ed__cf32(x), *bd = b ? ed__cf32(b) : NULL;
    float *yd = ed__f32(y);
    const int64_t nch = cdiv(g.HW, PC), items = g.N * nch;
    ED_PARALLEL_FOR_IF(g.N * g.HW * g.Cin * g.M > PAR_MIN_MACS)
    for (int64_t it = 0; it < items; it++) {
        float *Bp = Ap + a_sz + ed__thread_id() * t_sz, *Z = Bp + g.Cin * PC;
        int64_t *off = (int64_t *)(Z + g.M * PC);
        const int64_t n = it / nch, p0 = (it % nch) * PC, pn = min64(PC, g.HW - p0);
        pack_b(g.Cin, pn, xd + n * g.Cin * g.HW + p0, g.HW, Bp);
        const pf_block pf = x_block(&g, xd, it + 1, items);
        gemm(g.M, pn, g.Cin, Ap, Bp, Z, PC, 0, &pf);
        float *yn = yd + n * g.Cout * g.Ho * g.Wo;
#if defined(__AVX512F__)
        if (g.kw == 2) {   /* the 2x up-sampler: interleave row pairs of Z, 16 pixels at a time */
            scatter_kw2(&g, Z, p0, pn, bd, yn);
            continue;
        }
#endif
        pixel_offsets(&g, p0, pn, off);
        for (int64_t o = 0, m = 0; o < g.Cout; o++) {
            const float bo = bd ? bd[o] : 0.0f;
            for (int64_t i = 0; i < g.kh; i++)
                for (int64_t j = 0; j < g.kw; j++, m++) {
                    float *dst = yn + o * g.Ho * g.Wo + i * g.Wo + j;
                    const float *src = Z + m * PC;
                    for (int64_t q = 0; q < pn; q++) dst[off[q]] = src[q] + bo;
                }
        }
    }
    ed__scratch_free(Ap);
    return ED_OK;
}

/* ---- backward ---------------------------------------------------------------- */

/* The input gradient, gx (+)= Wm . G_n per image; with gb (kw == 2 only,
 * see bwd_run) also the bias gradient from the same reads of gy: each
 * work item's channel sums (gather_g_kw2's bsum), added up in item order
 * after the loop, so the same for any thread count. */
static ed_status bwd_data(const geom *g, const float *wd, const float *gyd, const int64_t *moff, float *gxd, int add,
                          float *gb)
{
    const int nt = ed_get_num_threads();
    const int64_t a_sz = round_up(g->Cin, MR) * g->M, t_sz = g->M * PC + PC;
    const int64_t nch = cdiv(g->HW, PC), items = g->N * nch, b_sz = gb ? items * g->Cout : 0;
    const int64_t l_sz = gb ? 16 * g->Cout : 0;   /* a thread's lanes */
    float *Ap = ed__scratch((size_t)(a_sz + nt * (t_sz + l_sz)) * sizeof(float) + (size_t)(nt * PC + b_sz) * sizeof(int64_t));
    if (!Ap) return ed__err(ED_E_NOMEM, "conv_transpose2d backward: out of memory for the input-gradient buffers");
    pack_a(g->Cin, g->M, wd, g->M, 1, Ap);   /* Wm as is */
    int64_t *offs = (int64_t *)(Ap + a_sz + nt * t_sz);
    double *bpart = gb ? (double *)(offs + nt * PC) : NULL;
#if defined(__AVX512F__)
    float *lanes_all = gb ? (float *)(bpart + b_sz) : NULL;   /* gb is only asked for with AVX-512 (bwd_run) */
#endif
    ED_PARALLEL_FOR_IF(g->N * g->HW * g->Cin * g->M > PAR_MIN_MACS)
    for (int64_t it = 0; it < items; it++) {
        const int tid = ed__thread_id();
        float *Bp = Ap + a_sz + tid * t_sz;
        int64_t *off = offs + tid * PC;
        const int64_t n = it / nch, p0 = (it % nch) * PC, pn = min64(PC, g->HW - p0);
#if defined(__AVX512F__)
        if (g->kw == 2) {
            float *lanes = lanes_all ? lanes_all + tid * l_sz : NULL;
            gather_g_kw2_bias(g, gyd + n * g->Cout * g->Ho * g->Wo, p0, pn, Bp, lanes, bpart ? bpart + it * g->Cout : NULL);
        } else
#endif
        {
            pixel_offsets(g, p0, pn, off);
            gather_g(g, gyd + n * g->Cout * g->Ho * g->Wo, moff, off, pn, Bp);
        }
        const pf_block pf = gy_block(g, gyd, it + 1, items);
        gemm(g->Cin, pn, g->M, Ap, Bp, gxd + n * g->Cin * g->HW + p0, g->HW, add, &pf);
    }
    add_bias_shares(bpart, items, g->Cout, gb);
    ed__scratch_free(Ap);
    return ED_OK;
}

static ed_status bwd_weight(const geom *g, const float *xd, const float *gyd, const int64_t *moff, float *gwd)
{
    const int nt = ed_get_num_threads();
    /* Tiles of gW: narrower ones until every thread has two, where the
     * shape allows. Each element's sum is the same whatever the tiling. */
    int64_t tm = WG_M, tn = WG_N;
    while (cdiv(g->Cin, tm) * cdiv(g->M, tn) < 2 * nt && tn > NR) tn /= 2;
    while (cdiv(g->Cin, tm) * cdiv(g->M, tn) < 2 * nt && tm > 4 * MR) tm /= 2;
    const int64_t t_sz = WG_M * KC + KC * WG_N, P = g->N * g->HW;
    float *buf = ed__scratch((size_t)nt * t_sz * sizeof(float) + (size_t)nt * KC * sizeof(int64_t));
    if (!buf) return ed__err(ED_E_NOMEM, "conv_transpose2d backward: out of memory for the weight-gradient buffers");
    int64_t *offs = (int64_t *)(buf + nt * t_sz);
    const int64_t rb = cdiv(g->Cin, tm), cb = cdiv(g->M, tn), items = rb * cb;
    ED_PARALLEL_FOR_IF(P * g->Cin * g->M > PAR_MIN_MACS)
    for (int64_t it = 0; it < items; it++) {
        const int tid = ed__thread_id();
        float *Ap = buf + tid * t_sz, *Bp = Ap + WG_M * KC;
        int64_t *off = offs + tid * KC;
        const int64_t r0 = (it / cb) * tm, mr = min64(tm, g->Cin - r0);
        const int64_t c0 = (it % cb) * tn, nc = min64(tn, g->M - c0);
        /* KC-pixel chunks of the whole batch, in order. */
        for (int64_t p0 = 0; p0 < P; p0 += KC) {
            const int64_t kc = min64(KC, P - p0);
#if defined(__AVX512F__) && MR == 8
            if (mr % MR == 0) pack_x8(g, xd, r0, mr, p0, kc, Ap);
            else
#endif
                pack_x(g, xd, r0, mr, p0, kc, Ap);
#if defined(__AVX512F__) && MR == 8
            if (g->kh == 2 && g->kw == 2 && nc % NR == 0 && c0 % 4 == 0) {
                gather_gt_k22(g, gyd, p0, kc, c0, nc, Bp);
            } else
#endif
            {
                pixel_offsets(g, p0, kc, off);
                gather_gt(gyd, moff, off, kc, c0, nc, Bp);
            }
            gemm(mr, nc, kc, Ap, Bp, gwd + r0 * g->M + c0, g->M, 1, NULL);
        }
    }
    ed__scratch_free(buf);
    return ED_OK;
}

#if defined(__AVX512F__) && MR == 8
#define WG_GROUPS 8   /* fixed, so the sums' order does not depend on the thread count */

/* The fused path below: a 2x2 kernel, channel counts that fill whole
 * register panels, and partial weight gradients of at most 8 MiB. */
static bool fused_ok(const geom *g)
{
    return g->kh == 2 && g->kw == 2 && g->Cin % MR == 0 && g->M % NR == 0 &&
           (int64_t)WG_GROUPS * g->Cin * g->M <= (INT64_C(1) << 21);
}

/* Both gradients of the 2x2 up-sampler (and the bias's, gb) from one pass
 * over gy and x: each item (image, run of PC pixels) gathers its block of gy
 * while it is in cache into G (for gx = Wm . G, as bwd_data) and G^T (for
 * X . G^T), instead of bwd_data and bwd_weight each reading all of gy, and
 * bwd_weight's tiles reading x once each. The items are cut into WG_GROUPS
 * runs; a run's weight-gradient products are summed in item order into
 * its own partial, and the partials are added to gw in run order after the
 * loop, so the result does not depend on the thread count either. */
static ed_status bwd_fused(const geom *g, const float *xd, const float *wd, const float *gyd, float *gxd, int add_gx,
                           float *gwd, float *gb)
{
    const int nt = ed_get_num_threads();
    const int64_t nch = cdiv(g->HW, PC), items = g->N * nch, ng = min64(WG_GROUPS, items);
    const int64_t a_sz = g->Cin * g->M, wgm = g->Cin * g->M;
    const int64_t t_sz = g->M * PC + PC * g->M + g->Cin * PC + 16 * g->Cout;   /* G, G^T, X panels, bias lanes */
    const int64_t b_sz = gb ? items * g->Cout : 0;
    float *Ap = ed__scratch((size_t)(a_sz + nt * t_sz + ng * wgm) * sizeof(float) + (size_t)b_sz * sizeof(double));
    if (!Ap) return ed__err(ED_E_NOMEM, "conv_transpose2d backward: out of memory for the gradient buffers");
    pack_a(g->Cin, g->M, wd, g->M, 1, Ap);   /* Wm as is */
    float *part = Ap + a_sz + nt * t_sz;
    double *bpart = gb ? (double *)(part + ng * wgm) : NULL;
    ED_PARALLEL_FOR_IF(g->N * g->HW * g->Cin * g->M > PAR_MIN_MACS)
    for (int64_t gr = 0; gr < ng; gr++) {
        const int tid = ed__thread_id();
        float *Bg = Ap + a_sz + tid * t_sz, *Bt = Bg + g->M * PC, *Ax = Bt + PC * g->M, *lanes = Ax + g->Cin * PC;
        float *pw = part + gr * wgm;
        const int64_t i0 = gr * items / ng, i1 = (gr + 1) * items / ng;
        for (int64_t it = i0; it < i1; it++) {
            const int64_t n = it / nch, p0 = (it % nch) * PC, pn = min64(PC, g->HW - p0), P0 = n * g->HW + p0;
            gather_g_kw2_bias(g, gyd + n * g->Cout * g->Ho * g->Wo, p0, pn, Bg, gb ? lanes : NULL,
                              gb ? bpart + it * g->Cout : NULL);
            const pf_block pg = gy_block(g, gyd, it + 1, items), px = x_block(g, xd, it + 1, items);
            gemm(g->Cin, pn, g->M, Ap, Bg, gxd + n * g->Cin * g->HW + p0, g->HW, add_gx, &pg);
            pack_x8(g, xd, 0, g->Cin, P0, pn, Ax);
            gather_gt_k22(g, gyd, P0, pn, 0, g->M, Bt);
            gemm(g->Cin, g->M, pn, Ax, Bt, pw, g->M, it > i0, &px);
        }
    }
    ED_PARALLEL_FOR_IF(ng * wgm > 65536)
    for (int64_t e = 0; e < wgm; e++) {
        float s = gwd[e];
        for (int64_t gr = 0; gr < ng; gr++) s += part[gr * wgm + e];
        gwd[e] = s;
    }
    add_bias_shares(bpart, items, g->Cout, gb);
    ed__scratch_free(Ap);
    return ED_OK;
}
#endif

static ed_status bwd_run(const void *params, ed_tensor *const *t)
{
    (void)params;
    const ed_tensor *x = t[0], *wt = t[1], *gy = t[2];
    ed_tensor *gx = t[3], *gw = t[4], *gb = t[5];
    const geom g = geom_of(x, wt);
    __atomic_fetch_add(&n_calls[1], 1, __ATOMIC_RELAXED);
    if (gx || gw) {
        int64_t *moff = ed__scratch((size_t)g.M * sizeof(int64_t));
        if (!moff) return ed__err(ED_E_NOMEM, "conv_transpose2d backward: out of memory");
        row_offsets(&g, moff);
        ed_status st = ED_OK;
#if defined(__AVX512F__)
        float *gbd = gb && g.kw == 2 ? ed__f32(gb) : NULL;   /* summed while gathering gy for gx */
#else
        float *gbd = NULL;
#endif
        const int add_gx = !((const ed__conv_params *)params)->gx_overwrite;
#if defined(__AVX512F__) && MR == 8
        if (gx && gw && fused_ok(&g)) {
            st = bwd_fused(&g, ed__cf32(x), ed__cf32(wt), ed__cf32(gy), ed__f32(gx), add_gx, ed__f32(gw), gbd);
            gx = gw = NULL;   /* done */
            if (gbd) gb = NULL;
        }
#endif
        if (gx) st = bwd_data(&g, ed__cf32(wt), ed__cf32(gy), moff, ed__f32(gx), add_gx, gbd);
        if (gx && gbd) gb = NULL;   /* done */
        if (gw && st == ED_OK) st = bwd_weight(&g, ed__cf32(x), ed__cf32(gy), moff, ed__f32(gw));
        ed__scratch_free(moff);
        ED_TRY(st);
    }
    if (gb) ed__conv_bias_grad(ED_F32, g.N, g.Cout, g.Ho * g.Wo, gy->data, gb->data);
    return ED_OK;
}

/* ---- registration ------------------------------------------------------------ */

static const ed_kernel kernels[] = {
    { ED_OP_CONV_TRANSPOSE2D, ED_FORWARD, "fast", fwd_supports, fwd_run },
    { ED_OP_CONV_TRANSPOSE2D, ED_BACKWARD, "fast", bwd_supports, bwd_run },
};

void ed__deconv_s2_register(void)
{
    static bool done;
    if (done) return;
    done = true;
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
