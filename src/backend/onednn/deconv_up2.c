/* conv_transpose2d as the encoder-decoder's 2x up-sampler (kernel 2x2,
 * stride 2, no padding, output_padding or dilation, one group) under
 * --precision bf16: a 1x1 convolution to 4 Cout channels,
 *
 *   z[n, i, j, co*4 + 2a + b] = sum_c x[n, c, i, j] * weight[c, co, a, b]
 *   y[n, co, 2i + a, 2j + b]  = z[n, i, j, co*4 + 2a + b] + bias[co]
 *
 * whose weight is the (Cin, Cout, 2, 2) tensor's own memory read as
 * (4 Cout, Cin, 1, 1) in iohw (ed__conv_params.w_io; no copy), so oneDNN's
 * AMX 1x1 kernels do all three passes: forward, backward-data on the
 * packed gz, backward-weights into the weight gradient through the same
 * view. oneDNN's bf16 deconvolution took 12 ms for the benchmark's
 * 8x128x64x64 -> 64 forward; the 1x1 convolution computing the same
 * products is about 1 ms. z is float32 NHWC (the convolution's output,
 * summed in float32, the bias added before anything is rounded, as the
 * deconvolution does); the unpacking into y and the packing of gy into
 * the bf16 NHWC gz are one pass each, 16 pixels x 16 channels through
 * register transposes, as layout.c's conversions they replace.
 *
 * Backend tensors (ops/conv_transpose2d.c): forward {x, weight, bias, y,
 * xcopy}; backward {x, weight, gy, gx, gweight, gbias, xcopy}, NULL where
 * not wanted, added (+=) but gx stored under params.gx_overwrite; the bias
 * gradient is summed from gy by the library. With xcopy (x's producer's
 * copy, bf16 NHWC: a fused block whose z is deferred) x's data is never
 * read; a stored gx whose producer takes it so is left bfloat16 NHWC
 * (ED_GRAD_NHWC_BF16), as the fused blocks hand theirs over.
 * Supported: float32 tensors, bf16 precision, Cout a multiple of 16, and
 * the layouts above as oneDNN builds them (checked). */
#include "backend/onednn/conv_internal.h"
#include "core/tile16.h"
#include "encdec/precision.h"

enum { FWD, BWD_DATA, BWD_W };

/* The 1x1 convolution's entry of one kind for x (N, Cin, H, W) and the
 * weight (Cin, Cout, 2, 2). Call with the lock held. */
static odnn_prim *entry_ow(int kind, const ed_tensor *x, const ed_tensor *w, int gx_overwrite, int gx_lo)
{
    const int64_t co4 = 4 * w->shape[1];
    ed_tensor wz = { .dtype = ED_F32, .ndim = 4, .shape = { co4, x->shape[1], 1, 1 } };
    const int64_t z[4] = { x->shape[0], co4, x->shape[2], x->shape[3] };
    ed__conv_params c;
    memset(&c, 0, sizeof c);
    c.stride[0] = c.stride[1] = c.dilation[0] = c.dilation[1] = c.groups = 1;
    c.w_io = 1;
    c.nhwc = 1;
    c.gx_overwrite = gx_overwrite;
    c.gx_lo = gx_lo;
    static const int kinds[] = { CONV_FWD, CONV_BWD_DATA, CONV_BWD_W };
    return odnn_conv_entry(kinds[kind], &c, x, &wz, z, false);
}

static odnn_prim *entry(int kind, const ed_tensor *x, const ed_tensor *w) { return entry_ow(kind, x, w, 0, 0); }

/* Whether backward-data hands gx to x's producer in its layout (bfloat16
 * NHWC, ED_GRAD_NHWC_BF16): a stored gradient, a producer that reads it so
 * (a fused block), whole 16-channel groups. */
static bool hands_gx(const ed__conv_params *p, const ed_tensor *x)
{
    return p->gx_overwrite && x->node && x->node->takes_nhwc_grad && x->shape[1] % 16 == 0;
}

static bool x_nhwc_bf16(const dnnl_memory_desc_t *md, const ed_tensor *x)
{
    dnnl_memory_desc_t want;
    odnn_md_dt(&want, 4, x->shape, dnnl_bf16, dnnl_acdb);
    return dnnl_memory_desc_equal(md, &want);
}

static bool is_nhwc(const dnnl_memory_desc_t *md, const ed_tensor *x, const ed_tensor *w, dnnl_data_type_t dt)
{
    dnnl_memory_desc_t want;
    const int64_t z[4] = { x->shape[0], 4 * w->shape[1], x->shape[2], x->shape[3] };
    odnn_md_dt(&want, 4, z, dt, dnnl_acdb);
    return dnnl_memory_desc_equal(md, &want);
}

static bool geometry(const ed__conv_params *p, const ed_tensor *x, const ed_tensor *w)
{
    if (ed_get_conv_precision() != ED_PRECISION_BF16) return false;
    if (!x || !w || x->dtype != ED_F32 || w->dtype != ED_F32 || x->ndim != 4 || w->ndim != 4) return false;
    if (p->groups != 1 || w->shape[2] != 2 || w->shape[3] != 2 || w->shape[1] % 16 || w->shape[0] != x->shape[1])
        return false;
    for (int d = 0; d < 2; d++)
        if (p->stride[d] != 2 || p->pad_lo[d] || p->pad_hi[d] || p->output_padding[d] || p->dilation[d] != 1) return false;
    return x->shape[0] > 0 && x->shape[1] > 0 && x->shape[2] > 0 && x->shape[3] > 0;
}

static bool f32_or_null(const ed_tensor *t) { return !t || t->dtype == ED_F32; }

static bool fwd_supports(const void *params, ed_tensor *const *t)
{
    if (!geometry(params, t[0], t[1]) || !f32_or_null(t[2]) || !t[3] || t[3]->dtype != ED_F32) return false;
    odnn_lock();
    odnn_prim *e = entry(FWD, t[0], t[1]);
    bool ok = e && is_nhwc(&e->args[e->n_args - 1].prim_md, t[0], t[1], dnnl_f32);
    /* A deferred x: only through its producer's copy, in the layout taken. */
    if (ok && t[0]->deferred) ok = t[4] && odnn_conv_kept_src(t[4], e);
    odnn_unlock();
    return ok;
}

static bool bwd_supports(const void *params, ed_tensor *const *t)
{
    if (!geometry(params, t[0], t[1]) || !t[2] || t[2]->dtype != ED_F32) return false;
    if (!f32_or_null(t[3]) || !f32_or_null(t[4]) || !f32_or_null(t[5])) return false;
    const ed__conv_params *p = params;
    odnn_lock();
    odnn_prim *d = entry_ow(BWD_DATA, t[0], t[1], p->gx_overwrite, hands_gx(p, t[0])), *w = entry(BWD_W, t[0], t[1]);
    bool ok = d && w && is_nhwc(&d->args[0].prim_md, t[0], t[1], dnnl_bf16) &&
              is_nhwc(&w->args[1].prim_md, t[0], t[1], dnnl_bf16);
    if (ok && t[0]->deferred && t[4]) ok = t[6] && odnn_conv_kept_src(t[6], w);   /* weight gradient from the copy */
    odnn_unlock();
    return ok;
}

/* ---- z (N, H, W, 4 Cout) <-> y (N, Cout, 2H, 2W) ------------------------------ */

#if defined(__AVX512F__)
/* Output rows of a 16-pixel run: even positions from a, odd from b. */
static inline void interleave(__m512 a, __m512 b, float *dst)
{
    const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
    _mm512_storeu_ps(dst, _mm512_permutex2var_ps(a, lo, b));
    _mm512_storeu_ps(dst + 16, _mm512_permutex2var_ps(a, hi, b));
}

/* The inverse: a gets the even positions of 32 floats, b the odd ones. */
static inline void deinterleave(const float *src, __m512 *a, __m512 *b)
{
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    const __m512 u = _mm512_loadu_ps(src), v = _mm512_loadu_ps(src + 16);
    *a = _mm512_permutex2var_ps(u, ev, v);
    *b = _mm512_permutex2var_ps(u, od, v);
}
#endif

/* y = unpack(z) + bias; one image row i of z (all its pixels) per item. */
static void unpack(const float *z, const float *bias, int64_t N, int64_t Co, int64_t H, int64_t W, float *y)
{
    const int64_t Z = 4 * Co, OW = 2 * W, OHW = 4 * H * W;
    ED_PARALLEL_FOR
    for (int64_t ni = 0; ni < N * H; ni++) {
        const int64_t n = ni / H, i = ni % H;
        const float *zr = z + ni * W * Z;
        float *yn = y + n * Co * OHW;
        int64_t j0 = 0;
#if defined(__AVX512F__)
        for (; j0 + 16 <= W; j0 += 16)
            for (int64_t g = 0; g < Z; g += 16) {   /* z channels g..g+15: co g/4..g/4+3, all (a, b) */
                __m512 r[16];
                for (int q = 0; q < 16; q++) r[q] = _mm512_loadu_ps(zr + (j0 + q) * Z + g);
                ed__tr16(r);   /* r[k]: z channel g + k over the 16 pixels */
                for (int k = 0; k < 16; k += 2) {
                    const int64_t co = (g + k) / 4, a = (k / 2) % 2;
                    const __m512 bv = _mm512_set1_ps(bias ? bias[co] : 0.0f);
                    interleave(_mm512_add_ps(r[k], bv), _mm512_add_ps(r[k + 1], bv),
                               yn + co * OHW + (2 * i + a) * OW + 2 * j0);
                }
            }
#endif
        for (int64_t j = j0; j < W; j++)
            for (int64_t k = 0; k < Z; k++) {
                const int64_t co = k / 4, a = (k / 2) % 2, b = k % 2;
                yn[co * OHW + (2 * i + a) * OW + 2 * j + b] = zr[j * Z + k] + (bias ? bias[co] : 0.0f);
            }
    }
}

/* gz (bf16) = pack(gy): the inverse of unpack, rounded as layout.c rounds. */
static void pack(const float *gy, int64_t N, int64_t Co, int64_t H, int64_t W, uint16_t *gz)
{
    const int64_t Z = 4 * Co, OW = 2 * W, OHW = 4 * H * W;
    ED_PARALLEL_FOR
    for (int64_t ni = 0; ni < N * H; ni++) {
        const int64_t n = ni / H, i = ni % H;
        const float *gn = gy + n * Co * OHW;
        uint16_t *zr = gz + ni * W * Z;
        int64_t j0 = 0;
#if defined(__AVX512F__)
        for (; j0 + 16 <= W; j0 += 16)
            for (int64_t g = 0; g < Z; g += 16) {
                __m512 r[16];
                for (int k = 0; k < 16; k += 2) {
                    const int64_t co = (g + k) / 4, a = (k / 2) % 2;
                    deinterleave(gn + co * OHW + (2 * i + a) * OW + 2 * j0, &r[k], &r[k + 1]);
                }
                ed__tr16(r);   /* r[q]: pixel j0 + q's 16 z channels */
                for (int q = 0; q < 16; q++) {
#if defined(__AVX512BF16__)
                    _mm256_storeu_si256((__m256i *)(zr + (j0 + q) * Z + g), (__m256i)_mm512_cvtneps_pbh(r[q]));
#else
                    float tmp[16];
                    _mm512_storeu_ps(tmp, r[q]);
                    for (int c = 0; c < 16; c++) zr[(j0 + q) * Z + g + c] = ed__bf16_rne(tmp[c]);
#endif
                }
            }
#endif
        for (int64_t j = j0; j < W; j++)
            for (int64_t k = 0; k < Z; k++) {
                const int64_t co = k / 4, a = (k / 2) % 2, b = k % 2;
                zr[j * Z + k] = ed__bf16_rne(gn[co * OHW + (2 * i + a) * OW + 2 * j + b]);
            }
    }
}

/* ---- the kernels ----------------------------------------------------------------- */

static ed_status fwd_run(const void *params, ed_tensor *const *t)
{
    (void)params;
    const ed_tensor *x = t[0], *w = t[1], *b = t[2];
    const int64_t N = x->shape[0], H = x->shape[2], W = x->shape[3], Co = w->shape[1];
    float *z = ed__scratch((size_t)(N * H * W * 4 * Co) * sizeof(float));
    if (!z) return ed__err(ED_E_NOMEM, "conv_transpose2d: out of memory for the up-sampler's products");
    odnn_lock();
    odnn_prim *e = entry(FWD, x, w);
    void *xs = e && t[4] ? odnn_conv_kept_src(t[4], e) : NULL;   /* x as its producer wrote it */
    odnn_weight_tensor(w);
    ed_status st = e ? odnn_run_pre(e, (void *[]){ x->data, w->data, z }, (void *[]){ xs, NULL, z }, "conv_transpose2d")
                     : ed__err(ED_E_UNSUPPORTED, "conv_transpose2d: oneDNN kernel unavailable for these arguments");
    odnn_weight_tensor(NULL);
    odnn_unlock();
    if (st == ED_OK) unpack(z, b ? ed__cf32(b) : NULL, N, Co, H, W, ed__f32(t[3]));
    ed__scratch_free(z);
    return st;
}

static ed_status bwd_run(const void *params, ed_tensor *const *t)
{
    const ed__conv_params *p = params;
    const ed_tensor *x = t[0], *w = t[1], *gy = t[2];
    ed_tensor *gx = t[3], *gw = t[4], *gb = t[5];
    const int64_t N = x->shape[0], H = x->shape[2], W = x->shape[3], Co = w->shape[1];
    ed_status st = ED_OK;
    if (gx || gw) {
        uint16_t *gz = ed__scratch((size_t)(N * H * W * 4 * Co) * sizeof(uint16_t));
        if (!gz) return ed__err(ED_E_NOMEM, "conv_transpose2d backward: out of memory for the packed gradient");
        pack(ed__cf32(gy), N, Co, H, W, gz);
        odnn_lock();
        if (gx) {
            const int hand = hands_gx(p, x);
            odnn_prim *e = entry_ow(BWD_DATA, x, w, p->gx_overwrite, hand);
            /* Handed over: left in the primitive's bf16 NHWC for the block. */
            const bool keep = e && hand && x_nhwc_bf16(&e->args[2].prim_md, x);
            odnn_weight_tensor(w);
            st = e ? odnn_run_pre(e, (void *[]){ gz, w->data, gx->data }, (void *[]){ gz, NULL, keep ? gx->data : NULL },
                                  "conv_transpose2d")
                   : ed__err(ED_E_UNSUPPORTED, "conv_transpose2d: oneDNN kernel unavailable for these arguments");
            odnn_weight_tensor(NULL);
            if (st == ED_OK && keep) gx->nhwc = ED_GRAD_NHWC_BF16;
        }
        if (gw && st == ED_OK) {
            odnn_prim *e = entry(BWD_W, x, w);
            void *xs = e && t[6] ? odnn_conv_kept_src(t[6], e) : NULL;   /* x as its producer wrote it */
            st = e ? odnn_run_pre(e, (void *[]){ x->data, gz, gw->data }, (void *[]){ xs, gz, NULL }, "conv_transpose2d")
                   : ed__err(ED_E_UNSUPPORTED, "conv_transpose2d: oneDNN kernel unavailable for these arguments");
        }
        odnn_unlock();
        ed__scratch_free(gz);
    }
    if (st == ED_OK && gb) ed__conv_bias_grad(ED_F32, N, Co, 4 * H * W, gy->data, gb->data);
    return st;
}

static const ed_kernel kernels[] = {
    { ED_OP_CONV_TRANSPOSE2D, ED_FORWARD, "onednn", fwd_supports, fwd_run },
    { ED_OP_CONV_TRANSPOSE2D, ED_BACKWARD, "onednn", bwd_supports, bwd_run },
};

void ed__onednn_register_up2(void)
{
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) ed_backend_register(&kernels[i]);
}
