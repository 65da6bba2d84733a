/* conv2d 1x1 with few output channels: a segmentation or regression head
 * (U-Net's 1x1 convolution to the classes), in NCHW float32 directly.
 *
 *   x (N, Cin, H, W), weight (Cout, Cin, 1, 1), bias (Cout) or NULL, Cout <= 32
 *   (16 under --precision bf16)
 *   y[n, o, p]  = bias[o] + sum_c w[o, c] x[n, c, p]
 *   gx[n, c, p] (+)= sum_o w[o, c] gy[n, o, p]
 *   gw[o, c]   += sum_n,p gy[n, o, p] x[n, c, p];   gb[o] += sum_n,p gy[n, o, p]
 *
 * Each pass is one read of x or one write of gx: at most 16 flops a byte,
 * about memory's pace here, not the multiply's (PASCAL VOC's 21 classes
 * and Cityscapes' 19 fit). oneDNN converts x to its blocked layout and y
 * back for such a call (and runs its bf16 kernels at a fraction of their
 * peak on it); here there is no conversion.
 * Under --precision bf16 the products are those of oneDNN's bf16
 * convolutions: x, the weight and gy rounded to bfloat16, the sums in
 * float32 (so the inference graph, which keeps this convolution in
 * oneDNN, and this kernel agree).
 *
 * Threads: forward and input-gradient items are (image, run of PB pixels),
 * disjoint outputs. The weight gradient's items are (image, run of WRUN
 * pixels): every (o, c) sum over the run in float lanes, the items' sums
 * then added in double in item order: the same bits for any thread count.
 *
 * Registration: src/backend/registry.c calls ed__conv_head_register()
 * after oneDNN's registration (the newest registered kernel is tried
 * first). */
#include "backend/fast/conv_head.h"

#include "core/ed_internal.h"
#include "core/tile16.h"
#include "encdec/precision.h"
#include "ops/conv_common.h"

#include <math.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define MAX_COUT 32
#define MAX_COUT_BF16 16
#define OB 4            /* output channels a register block (forward, input gradient) */
#define PB 64           /* pixels an item (4 vectors of 16) */
#define WB 4            /* the weight gradient's register block: WB output x WC input channels */
#define WC 4
#define WRUN 256        /* pixels a weight-gradient item: its x and gy stay in L1 */
#define PAR_MIN (INT64_C(1) << 16)   /* elements below which a fork costs more than it saves */

static int64_t n_calls[2];

int64_t ed__conv_head_calls(int pass) { return __atomic_load_n(&n_calls[pass ? 1 : 0], __ATOMIC_RELAXED); }

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* An input of the products: as is, or (bf) rounded to bfloat16. */
static inline float in_s(float v, bool bf) { return bf ? ed__bf16_f(ed__bf16_rne(v)) : v; }
#if defined(__AVX512F__)
static inline __m512 in_v(const float *p, bool bf)
{
    const __m512 v = _mm512_loadu_ps(p);
    return bf ? ed__round_bf16x16(v) : v;
}
#endif

/* d[0..n) = s[0..n) rounded to bfloat16. */
static void round_row(const float *s, int64_t n, float *d)
{
    int64_t q = 0;
#if defined(__AVX512F__)
    for (; q + 16 <= n; q += 16) _mm512_storeu_ps(d + q, in_v(s + q, true));
#endif
    for (; q < n; q++) d[q] = in_s(s[q], true);
}

/* The weight as the products take it: w itself, or its bfloat16 values in
 * buf. */
static const float *weight_in(const ed_tensor *w, bool bf, float *buf)
{
    if (!bf) return ed__cf32(w);
    for (int64_t i = 0; i < w->numel; i++) buf[i] = in_s(ed__cf32(w)[i], true);
    return buf;
}

/* ---- supports ------------------------------------------------------------- */

static bool is_f32(const ed_tensor *t) { return !t || t->dtype == ED_F32; }

static bool supports_common(const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w)
{
    if (!x || !w || x->dtype != ED_F32 || w->dtype != ED_F32 || x->ndim != 4 || w->ndim != 4) return false;
    if (x->deferred) return false;   /* it reads x's data, not a producer's copy */
    if (p->groups != 1 || p->relu || p->wscale) return false;
    for (int d = 0; d < 2; d++)
        if (p->stride[d] != 1 || p->pad_lo[d] || p->pad_hi[d] || p->dilation[d] != 1 || w->shape[2 + d] != 1)
            return false;
    /* Under bf16 up to 16 outputs: past that oneDNN's AMX kernels were as
     * fast (8x32x128x128 to 21 classes: 7-10 ms forward + backward either
     * way; to 32: 9-14 vs 14 ms here). */
    const int64_t most = ed_get_conv_precision() == ED_PRECISION_BF16 ? MAX_COUT_BF16 : MAX_COUT;
    return w->shape[0] >= 1 && w->shape[0] <= most && x->shape[1] == w->shape[1] && x->shape[1] > 0 &&
           x->shape[0] > 0 && x->shape[2] * x->shape[3] > 0;
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

/* ---- forward --------------------------------------------------------------- */

/* y[o0..o0+ob, p0..p0+pn] of one image: xn (Cin, HW), yn (Cout, HW). */
static void fwd_block(const float *xn, const float *w, const float *b, int64_t Cin, int64_t HW, int64_t o0, int64_t ob,
                      int64_t p0, int64_t pn, bool bf, float *yn)
{
#if defined(__AVX512F__)
    if (pn == PB) {
        __m512 acc[OB][PB / 16];
        for (int o = 0; o < OB; o++)
            for (int v = 0; v < PB / 16; v++) acc[o][v] = _mm512_set1_ps(o < ob && b ? b[o0 + o] : 0.0f);
        for (int64_t c = 0; c < Cin; c++) {
            const float *xc = xn + c * HW + p0;
            __m512 xv[PB / 16];
            for (int v = 0; v < PB / 16; v++) xv[v] = in_v(xc + 16 * v, bf);
            for (int o = 0; o < OB; o++) {
                if (o >= ob) break;
                const __m512 wv = _mm512_set1_ps(w[(o0 + o) * Cin + c]);
                for (int v = 0; v < PB / 16; v++) acc[o][v] = _mm512_fmadd_ps(wv, xv[v], acc[o][v]);
            }
        }
        for (int o = 0; o < ob; o++)
            for (int v = 0; v < PB / 16; v++) _mm512_storeu_ps(yn + (o0 + o) * HW + p0 + 16 * v, acc[o][v]);
        return;
    }
#endif
    for (int64_t o = o0; o < o0 + ob; o++) {
        float acc[PB];
        for (int64_t q = 0; q < pn; q++) acc[q] = b ? b[o] : 0.0f;
        for (int64_t c = 0; c < Cin; c++) {
            const float wv = w[o * Cin + c], *xc = xn + c * HW + p0;
            for (int64_t q = 0; q < pn; q++) acc[q] = fmaf(wv, in_s(xc[q], bf), acc[q]);
        }
        for (int64_t q = 0; q < pn; q++) yn[o * HW + p0 + q] = acc[q];
    }
}

static ed_status fwd_run(const void *params, ed_tensor *const *t)
{
    (void)params;
    const ed_tensor *x = t[0], *w = t[1], *b = t[2];
    ed_tensor *y = t[3];
    __atomic_fetch_add(&n_calls[0], 1, __ATOMIC_RELAXED);
    const int64_t N = x->shape[0], Cin = x->shape[1], HW = x->shape[2] * x->shape[3], Cout = w->shape[0];
    const int64_t nb = (HW + PB - 1) / PB, items = N * nb;
    const bool bf = ed_get_conv_precision() == ED_PRECISION_BF16;
    float *wbuf = bf ? ed__scratch(sizeof(float) * (size_t)w->numel) : NULL;
    if (bf && !wbuf) return ed__err(ED_E_NOMEM, "conv2d: out of memory for the bfloat16 weight");
    const float *xd = ed__cf32(x), *wd = weight_in(w, bf, wbuf), *bd = b ? ed__cf32(b) : NULL;
    float *yd = ed__f32(y);
    ED_PARALLEL_FOR_IF(N * Cin * HW > PAR_MIN)
    for (int64_t it = 0; it < items; it++) {
        const int64_t n = it / nb, p0 = it % nb * PB, pn = min64(PB, HW - p0);
        for (int64_t o0 = 0; o0 < Cout; o0 += OB)
            fwd_block(xd + n * Cin * HW, wd, bd, Cin, HW, o0, min64(OB, Cout - o0), p0, pn, bf, yd + n * Cout * HW);
    }
    ed__scratch_free(wbuf);
    return ED_OK;
}

/* ---- backward -------------------------------------------------------------- */

/* gx[:, p0..p0+pn] of one image, (+)= W^T gy (add: accumulate, else store). */
static void bwd_data_block(const float *gyn, const float *w, int64_t Cin, int64_t Cout, int64_t HW, int64_t p0,
                           int64_t pn, bool add, bool bf, float *gxn)
{
#if defined(__AVX512F__)
    if (pn == PB) {
        for (int64_t o0 = 0; o0 < Cout; o0 += OB) {
            const int64_t ob = min64(OB, Cout - o0);
            const bool first = o0 == 0 && !add;
            __m512 g[OB][PB / 16];
            for (int o = 0; o < ob; o++)
                for (int v = 0; v < PB / 16; v++) g[o][v] = in_v(gyn + (o0 + o) * HW + p0 + 16 * v, bf);
            for (int64_t c = 0; c < Cin; c++) {
                float *gc = gxn + c * HW + p0;
                __m512 acc[PB / 16];
                for (int v = 0; v < PB / 16; v++) acc[v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(gc + 16 * v);
                for (int o = 0; o < ob; o++) {
                    const __m512 wv = _mm512_set1_ps(w[(o0 + o) * Cin + c]);
                    for (int v = 0; v < PB / 16; v++) acc[v] = _mm512_fmadd_ps(wv, g[o][v], acc[v]);
                }
                for (int v = 0; v < PB / 16; v++) _mm512_storeu_ps(gc + 16 * v, acc[v]);
            }
        }
        return;
    }
#endif
    for (int64_t c = 0; c < Cin; c++) {
        float *gc = gxn + c * HW + p0;
        for (int64_t q = 0; q < pn; q++) {
            float acc = add ? gc[q] : 0.0f;
            for (int64_t o = 0; o < Cout; o++) acc = fmaf(w[o * Cin + c], in_s(gyn[o * HW + p0 + q], bf), acc);
            gc[q] = acc;
        }
    }
}

/* The weight gradient's share of one image's pixels p0..p0+pn (gyn, xn
 * that image's gy and x): part[o * Cin + c] = the sum over those pixels of
 * gy[o, p] x[c, p], in float lanes (registers: 4 input x 4 output
 * channels, x and gy of the run staying in L1), then in double. */
static void wgrad_item(const float *gyn, const float *xn, int64_t Cin, int64_t Cout, int64_t HW, int64_t p0, int64_t pn,
                       bool bf, double *part)
{
    int64_t q = 0;
#if defined(__AVX512F__)
    const int64_t qv = pn / 16 * 16;
    for (int64_t c0 = 0; c0 < Cin; c0 += WC) {
        const int64_t cb = min64(WC, Cin - c0);
        for (int64_t o0 = 0; o0 < Cout; o0 += WB) {
            const int64_t ob = min64(WB, Cout - o0);
            __m512 acc[WC][WB];
            for (int i = 0; i < WC; i++)
                for (int o = 0; o < WB; o++) acc[i][o] = _mm512_setzero_ps();
            for (int64_t r = 0; r < qv; r += 16) {
                __m512 g[WB];
                for (int o = 0; o < WB; o++)
                    g[o] = o < ob ? in_v(gyn + (o0 + o) * HW + p0 + r, bf) : _mm512_setzero_ps();
                for (int i = 0; i < WC; i++) {
                    if (i >= cb) break;
                    const __m512 xv = in_v(xn + (c0 + i) * HW + p0 + r, bf);
                    for (int o = 0; o < WB; o++) acc[i][o] = _mm512_fmadd_ps(g[o], xv, acc[i][o]);
                }
            }
            for (int i = 0; i < cb; i++)
                for (int o = 0; o < ob; o++) part[(o0 + o) * Cin + c0 + i] = (double)_mm512_reduce_add_ps(acc[i][o]);
        }
    }
    q = qv;
#else
    for (int64_t k = 0; k < Cin * Cout; k++) part[k] = 0;
#endif
    for (int64_t o = 0; o < Cout && q < pn; o++)
        for (int64_t c = 0; c < Cin; c++) {
            float s = 0;
            for (int64_t r = q; r < pn; r++) s = fmaf(in_s(gyn[o * HW + p0 + r], bf), in_s(xn[c * HW + p0 + r], bf), s);
            part[o * Cin + c] += (double)s;
        }
}

static ed_status bwd_run(const void *params, ed_tensor *const *t)
{
    const ed__conv_params *p = params;
    const ed_tensor *x = t[0], *w = t[1], *gy = t[2];
    ed_tensor *gx = t[3], *gw = t[4], *gb = t[5];
    __atomic_fetch_add(&n_calls[1], 1, __ATOMIC_RELAXED);
    const int64_t N = x->shape[0], Cin = x->shape[1], HW = x->shape[2] * x->shape[3], Cout = w->shape[0];
    const bool bf = ed_get_conv_precision() == ED_PRECISION_BF16;
    float *wbuf = bf && gx ? ed__scratch(sizeof(float) * (size_t)w->numel) : NULL;
    if (bf && gx && !wbuf) return ed__err(ED_E_NOMEM, "conv2d backward: out of memory for the bfloat16 weight");
    const float *xd = ed__cf32(x), *gyd = ed__cf32(gy);
    if (gx) {
        const float *wd = weight_in(w, bf, wbuf);
        float *gxd = ed__f32(gx);
        const bool add = !p->gx_overwrite;
        const int64_t nb = (HW + PB - 1) / PB, items = N * nb;
        ED_PARALLEL_FOR_IF(N * Cin * HW > PAR_MIN)
        for (int64_t it = 0; it < items; it++) {
            const int64_t n = it / nb, p0 = it % nb * PB;
            bwd_data_block(gyd + n * Cout * HW, wd, Cin, Cout, HW, p0, min64(PB, HW - p0), add, bf, gxd + n * Cin * HW);
        }
    }
    ed__scratch_free(wbuf);
    if (gw) {
        /* Items (image, run of WRUN pixels), each one's partial sums kept
         * and added up in item order: the same bits for any thread count. */
        const int64_t nr = (HW + WRUN - 1) / WRUN, items = N * nr, K = Cin * Cout;
        /* Under bf16 each item's x and gy are rounded once into a thread's
         * buffer (the register blocks read each value several times). */
        const int nt = ed_get_num_threads();
        const int64_t rb = bf ? (Cin + Cout) * WRUN : 0;
        double *part = ed__scratch(sizeof(double) * (size_t)(items * K) + sizeof(float) * (size_t)(nt * rb));
        if (!part) return ed__err(ED_E_NOMEM, "conv2d backward: out of memory for the weight gradient's sums");
        float *rbuf = (float *)(part + items * K);
        ED_PARALLEL_FOR_IF(N * Cin * HW > PAR_MIN)
        for (int64_t it = 0; it < items; it++) {
            const int64_t n = it / nr, p0 = it % nr * WRUN, pn = min64(WRUN, HW - p0);
            const float *gyn = gyd + n * Cout * HW, *xn = xd + n * Cin * HW;
            if (!bf) {
                wgrad_item(gyn, xn, Cin, Cout, HW, p0, pn, false, part + it * K);
                continue;
            }
            float *xr = rbuf + ed__thread_id() * rb, *gr = xr + Cin * WRUN;
            for (int64_t c = 0; c < Cin; c++) round_row(xn + c * HW + p0, pn, xr + c * WRUN);
            for (int64_t o = 0; o < Cout; o++) round_row(gyn + o * HW + p0, pn, gr + o * WRUN);
            wgrad_item(gr, xr, Cin, Cout, WRUN, 0, pn, false, part + it * K);
        }
        float *gwd = ed__f32(gw);
        ED_PARALLEL_FOR_IF(K * items > PAR_MIN)
        for (int64_t k = 0; k < K; k++) {
            double sum = 0;
            for (int64_t it = 0; it < items; it++) sum += part[it * K + k];
            gwd[k] += (float)sum;
        }
        ed__scratch_free(part);
    }
    if (gb) ed__conv_bias_grad(ED_F32, N, Cout, HW, gy->data, gb->data);
    return ED_OK;
}

/* ---- registration ------------------------------------------------------------ */

static const ed_kernel kernels[] = {
    { ED_OP_CONV2D, ED_FORWARD, "fast", fwd_supports, fwd_run },
    { ED_OP_CONV2D, ED_BACKWARD, "fast", bwd_supports, bwd_run },
};

void ed__conv_head_register(void)
{
    static bool done;
    if (done) return;
    done = true;
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
