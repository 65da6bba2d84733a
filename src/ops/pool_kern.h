/* Typed loops for pool.c (see typed.h). One (n, c) plane per iteration of
 * the parallel loop, so each plane is written by one thread and the
 * backward scatters stay deterministic. */

/* y and ind are (planes, OH, OW); ind may be NULL. The window of output
 * (oh, ow) starts at oh*stride - pad; rows before 0 are skipped in steps of
 * the dilation, as PyTorch's kernel does, so the first tap taken is the
 * first one inside the input. maxval starts at -inf and maxindex at that
 * first tap: an all -inf window (or, with dilation, an empty one) keeps
 * them. Strict > makes the first maximum win; NaN always replaces, so the
 * last NaN in scan order wins, as in PyTorch. */
static void K(max_pool_fwd)(const T *x, T *y, int64_t *ind, int64_t planes, int64_t H, int64_t W,
                            int64_t OH, int64_t OW, const ed_pool2d_args *a)
{
    const int kh = a->kernel_size[0], kw = a->kernel_size[1], sh = a->stride[0], sw = a->stride[1];
    const int ph = a->padding[0], pw = a->padding[1], dh = a->dilation[0], dw = a->dilation[1];
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        const T *xp = x + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * sh - ph, h1 = h0 + (int64_t)(kh - 1) * dh + 1;
            if (h1 > H) h1 = H;
            while (h0 < 0) h0 += dh;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * sw - pw, w1 = w0 + (int64_t)(kw - 1) * dw + 1;
                if (w1 > W) w1 = W;
                while (w0 < 0) w0 += dw;
                int64_t mi = h0 * W + w0;
                T mv = (T)-INFINITY;
                for (int64_t ih = h0; ih < h1; ih += dh)
                    for (int64_t iw = w0; iw < w1; iw += dw) {
                        T v = xp[ih * W + iw];
                        if (v > mv || isnan(v)) { mv = v; mi = ih * W + iw; }
                    }
                int64_t o = (p * OH + oh) * OW + ow;
                y[o] = mv;
                if (ind) ind[o] = mi;
            }
        }
    }
}

/* gx[plane][ind] += gy. An index outside the plane (only an empty dilated
 * window makes one) receives nothing instead of being written. */
static void K(max_pool_bwd)(const T *gy, const int64_t *ind, T *gx, int64_t planes, int64_t HW, int64_t OHW)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        T *gp = gx + p * HW;
        for (int64_t i = 0; i < OHW; i++) {
            int64_t j = ind[p * OHW + i];
            if (j >= 0 && j < HW) gp[j] += gy[p * OHW + i];
        }
    }
}

/* The window of (oh, ow) clipped to the input, and its divisor, as
 * PyTorch's CPU kernel: the padded size is counted against H + pad (so a
 * ceil-mode window hanging past the right padding counts only what lies
 * within it), then the window is clipped to the input. Returns 0 for a
 * window with no input inside (its output is 0). */
static inline int K(avg_window)(int64_t oh, int64_t ow, int64_t H, int64_t W, const ed_pool2d_args *a,
                                int64_t *h0, int64_t *h1, int64_t *w0, int64_t *w1, T *div)
{
    const int64_t ph = a->padding[0], pw = a->padding[1];
    int64_t hs = oh * a->stride[0] - ph, ws = ow * a->stride[1] - pw;
    int64_t he = hs + a->kernel_size[0], we = ws + a->kernel_size[1];
    if (he > H + ph) he = H + ph;
    if (we > W + pw) we = W + pw;
    int64_t pool = (he - hs) * (we - ws);
    if (hs < 0) hs = 0;
    if (ws < 0) ws = 0;
    if (he > H) he = H;
    if (we > W) we = W;
    *h0 = hs; *h1 = he; *w0 = ws; *w1 = we;
    if (hs >= he || ws >= we) return 0;
    if (a->divisor_override) *div = (T)a->divisor_override;
    else if (a->count_include_pad) *div = (T)pool;
    else *div = (T)((he - hs) * (we - ws));
    return 1;
}

static void K(avg_pool_fwd)(const T *x, T *y, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const ed_pool2d_args *a)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        const T *xp = x + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                T div = 1, s = 0;
                int64_t o = (p * OH + oh) * OW + ow;
                if (!K(avg_window)(oh, ow, H, W, a, &h0, &h1, &w0, &w1, &div)) { y[o] = 0; continue; }
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) s += xp[ih * W + iw];
                y[o] = s / div;
            }
    }
}

static void K(avg_pool_bwd)(const T *gy, T *gx, int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                            const ed_pool2d_args *a)
{
    ED_PARALLEL_FOR
    for (int64_t p = 0; p < planes; p++) {
        T *gp = gx + p * H * W;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t h0, h1, w0, w1;
                T div = 1;
                if (!K(avg_window)(oh, ow, H, W, a, &h0, &h1, &w0, &w1, &div)) continue;
                T g = gy[(p * OH + oh) * OW + ow] / div;
                for (int64_t ih = h0; ih < h1; ih++)
                    for (int64_t iw = w0; iw < w1; iw++) gp[ih * W + iw] += g;
            }
    }
}
