/* Fast float32 kernels for max_pool2d (dilation 1) and max_unpool2d,
 * forward and backward. Tensors and params as documented in ops/pool.c and
 * ops/unpool.c; the reference kernels (ops/pool_kern.h, ops/unpool_kern.h)
 * stay the oracle and results are bit-identical to them:
 *
 *   - max_pool2d forward: the reference's update `v > mv || isnan(v)` from
 *     mv = -inf, mi = first tap, written as selects, so a window's result
 *     is the same (first maximum wins; the last NaN wins). With dilation 1
 *     and padding <= kernel/2 no window is empty, so mv = -inf, mi = first
 *     tap always collapses to mv = first tap. 2x2 stride 2 (the
 *     encoder-decoder case) takes two input rows at a time with one
 *     branch-free loop over the output columns, which gcc vectorises;
 *     other shapes and the ceil-mode edges use a scalar window loop.
 *     Work is split over (plane, output row), each output written once.
 *   - max_pool2d backward: gx[plane][ind] += gy in index order, one plane
 *     per thread as the reference (overlapping windows add in the same
 *     order); an index outside the plane is skipped as there. A dense
 *     2x2 update (select per input) measured 3x slower than this scatter.
 *   - max_unpool2d: y arrives zero-filled and indices range-checked by the
 *     op (ED_E_RANGE there, before any backend runs); forward scatters in
 *     scan order (a repeated index keeps the last value), backward gathers.
 * float64, and dilated pooling forward, decline (the reference runs).
 *
 * Registration: src/backend/registry.c calls ed__fast_pool_register()
 * once, on the first backend lookup. */
#include "core/ed_internal.h"

/* ---- max_pool2d forward ---------------------------------------------------- */

static bool is_f32(const ed_tensor *t) { return t && t->dtype == ED_F32; }

static bool pool_fwd_supports(const void *params, ed_tensor *const *t)
{
    const ed_pool2d_args *a = params;
    return is_f32(t[0]) && is_f32(t[1]) && (t[0]->ndim == 3 || t[0]->ndim == 4) && a->dilation[0] == 1 &&
           a->dilation[1] == 1 && a->stride[0] > 0 && a->stride[1] > 0;
}

/* One output of a non-dilated window [h0, h1) x [w0, w1), already clipped
 * to the input (never empty). */
static inline void window_max(const float *xp, int64_t W, int64_t h0, int64_t h1, int64_t w0, int64_t w1,
                              float *y, int64_t *ind)
{
    float mv = xp[h0 * W + w0];
    int64_t mi = h0 * W + w0;
    for (int64_t ih = h0; ih < h1; ih++)
        for (int64_t iw = w0; iw < w1; iw++) {
            float v = xp[ih * W + iw];
            if (v > mv || v != v) { mv = v; mi = ih * W + iw; }
        }
    *y = mv;
    if (ind) *ind = mi;
}

/* Output columns [0, n) of a 2x2 stride 2 row pair r0, r1 = r0 + W (r0 at
 * input row h). Taps in scan order a b / c d. */
static void row_2x2(const float *restrict r0, const float *restrict r1, float *restrict y,
                    int64_t *restrict ind, int64_t n, int64_t h, int64_t W)
{
    if (!ind) {
        for (int64_t j = 0; j < n; j++) {
            float m = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
            m = (b > m || b != b) ? b : m;
            m = (c > m || c != c) ? c : m;
            m = (d > m || d != d) ? d : m;
            y[j] = m;
        }
        return;
    }
    const int64_t base = h * W;
    for (int64_t j = 0; j < n; j++) {
        float m = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];
        int64_t off = 0;
        bool sb = b > m || b != b;
        m = sb ? b : m;
        off = sb ? 1 : off;
        bool sc = c > m || c != c;
        m = sc ? c : m;
        off = sc ? W : off;
        bool sd = d > m || d != d;
        m = sd ? d : m;
        off = sd ? W + 1 : off;
        y[j] = m;
        ind[j] = base + 2 * j + off;
    }
}

static ed_status pool_fwd_run(const void *params, ed_tensor *const *t)
{
    const ed_pool2d_args *a = params;
    const ed_tensor *x = t[0];
    ed_tensor *yt = t[1], *it = t[2];
    const int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    const int64_t OH = yt->shape[yt->ndim - 2], OW = yt->shape[yt->ndim - 1];
    const int64_t planes = x->numel / (H * W), rows = planes * OH;
    const int kh = a->kernel_size[0], kw = a->kernel_size[1], sh = a->stride[0], sw = a->stride[1];
    const int ph = a->padding[0], pw = a->padding[1];
    const bool k22 = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0;
    /* Output columns whose 2x2 window lies fully inside (ceil mode may add
     * one hanging past the right edge). */
    const int64_t full_ow = k22 ? (W / 2 < OW ? W / 2 : OW) : 0;
    const float *xd = ed__cf32(x);
    float *yd = ed__f32(yt);
    int64_t *id = it ? ed__i64(it) : NULL;
    ED_PARALLEL_FOR
    for (int64_t r = 0; r < rows; r++) {
        const int64_t p = r / OH, oh = r % OH;
        const float *xp = xd + p * H * W;
        float *y = yd + r * OW;
        int64_t *ind = id ? id + r * OW : NULL;
        int64_t h0 = oh * sh - ph, h1 = h0 + kh;
        if (h1 > H) h1 = H;
        if (h0 < 0) h0 = 0;
        int64_t ow = 0;
        if (k22 && h1 - h0 == 2) {
            row_2x2(xp + h0 * W, xp + (h0 + 1) * W, y, ind, full_ow, h0, W);
            ow = full_ow;
        }
        for (; ow < OW; ow++) {
            int64_t w0 = ow * sw - pw, w1 = w0 + kw;
            if (w1 > W) w1 = W;
            if (w0 < 0) w0 = 0;
            window_max(xp, W, h0, h1, w0, w1, y + ow, ind ? ind + ow : NULL);
        }
    }
    return ED_OK;
}

/* ---- max_pool2d backward ------------------------------------------------------ */

/* Any configuration: the scatter does not depend on the window. */
static bool pool_bwd_supports(const void *params, ed_tensor *const *t)
{
    (void)params;
    return is_f32(t[0]) && t[1] && t[1]->dtype == ED_I64 && is_f32(t[2]) && t[0]->ndim >= 2 &&
           t[0]->ndim == t[2]->ndim && t[1]->numel == t[0]->numel;
}

static ed_status pool_bwd_run(const void *params, ed_tensor *const *t)
{
    (void)params;
    const ed_tensor *gyt = t[0];
    ed_tensor *gxt = t[2];
    const int64_t HW = gxt->shape[gxt->ndim - 2] * gxt->shape[gxt->ndim - 1];
    const int64_t OHW = gyt->shape[gyt->ndim - 2] * gyt->shape[gyt->ndim - 1];
    const int64_t planes = OHW ? gyt->numel / OHW : 0;
    const float *gy = ed__cf32(gyt);
    const int64_t *ind = ed__ci64(t[1]);
    float *gx = ed__f32(gxt);
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        const float *gp = gy + p * OHW;
        const int64_t *ip = ind + p * OHW;
        float *xp = gx + p * HW;
        for (int64_t i = 0; i < OHW; i++) {
            int64_t j = ip[i];
            if ((uint64_t)j < (uint64_t)HW) xp[j] += gp[i];
        }
    }
    return ED_OK;
}

/* ---- max_unpool2d ----------------------------------------------------------- */

/* small: the pooled side (x forward, gx backward), the indices' shape. */
static bool unpool_ok(const ed_tensor *small, const ed_tensor *ind, const ed_tensor *big)
{
    return is_f32(small) && ind && ind->dtype == ED_I64 && is_f32(big) && small->ndim >= 2 &&
           small->ndim == big->ndim && ind->numel == small->numel;
}
static bool unpool_fwd_supports(const void *params, ed_tensor *const *t)
{
    (void)params;
    return unpool_ok(t[0], t[1], t[2]);
}
static bool unpool_bwd_supports(const void *params, ed_tensor *const *t)
{
    (void)params;
    return unpool_ok(t[2], t[1], t[0]);
}

/* Plane sizes of the pooled side (x / gx: tensors[0] forward, [2]
 * backward) and of the unpooled side. */
static void unpool_geom(const ed_tensor *small, const ed_tensor *big, int64_t *HW, int64_t *OHW, int64_t *planes)
{
    *HW = small->shape[small->ndim - 2] * small->shape[small->ndim - 1];
    *OHW = big->shape[big->ndim - 2] * big->shape[big->ndim - 1];
    *planes = *HW ? small->numel / *HW : 0;
}

/* y[ind] = x in scan order, one plane (gcc 12 does not vectorise
 * scatters; AVX-512's would keep the last of equal lanes, were it used). */
static void scatter(const float *restrict xp, const int64_t *restrict ip, float *restrict yp, int64_t HW, int64_t OHW)
{
    for (int64_t i = 0; i < HW; i++) {
        int64_t j = ip[i];
        if ((uint64_t)j < (uint64_t)OHW) yp[j] = xp[i];
    }
}

static ed_status unpool_fwd_run(const void *params, ed_tensor *const *t)
{
    (void)params;
    int64_t HW, OHW, planes;
    unpool_geom(t[0], t[2], &HW, &OHW, &planes);
    const float *x = ed__cf32(t[0]);
    const int64_t *ind = ed__ci64(t[1]);
    float *y = ed__f32(t[2]);
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) scatter(x + p * HW, ind + p * HW, y + p * OHW, HW, OHW);
    return ED_OK;
}

/* gx += gy gathered, one plane. Unconditional (a stray index reads
 * element 0 and adds nothing) so that gcc can vectorise the gather. */
static void gather_add(const float *restrict gp, const int64_t *restrict ip, float *restrict xp, int64_t HW,
                       int64_t OHW)
{
    for (int64_t i = 0; i < HW; i++) {
        int64_t j = ip[i];
        bool ok = (uint64_t)j < (uint64_t)OHW;
        float v = gp[j & -(int64_t)ok];
        xp[i] = ok ? xp[i] + v : xp[i];
    }
}

static ed_status unpool_bwd_run(const void *params, ed_tensor *const *t)
{
    (void)params;
    int64_t HW, OHW, planes;
    unpool_geom(t[2], t[0], &HW, &OHW, &planes);
    const float *gy = ed__cf32(t[0]);
    const int64_t *ind = ed__ci64(t[1]);
    float *gx = ed__f32(t[2]);
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) gather_add(gy + p * OHW, ind + p * HW, gx + p * HW, HW, OHW);
    return ED_OK;
}

/* ---- registration ------------------------------------------------------------ */

static const ed_kernel kernels[] = {
    { ED_OP_MAX_POOL2D, ED_FORWARD, "fast", pool_fwd_supports, pool_fwd_run },
    { ED_OP_MAX_POOL2D, ED_BACKWARD, "fast", pool_bwd_supports, pool_bwd_run },
    { ED_OP_MAX_UNPOOL2D, ED_FORWARD, "fast", unpool_fwd_supports, unpool_fwd_run },
    { ED_OP_MAX_UNPOOL2D, ED_BACKWARD, "fast", unpool_bwd_supports, unpool_bwd_run },
};

void ed__fast_pool_register(void);
void ed__fast_pool_register(void)
{
    static bool done;
    if (done) return;
    done = true;
    for (size_t i = 0; i < sizeof kernels / sizeof kernels[0]; i++) (void)ed_backend_register(&kernels[i]);
}
