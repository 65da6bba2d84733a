/* Degradations for restoration and super-resolution data.
 *
 *   noise (in place on float32 tensors of any shape; element i draws from
 *     the rng's counter start + i, so threads do not change the result):
 *     gaussian: x += (sigma / 255) N(0, 1), clamped to [0, 1] only with clip;
 *     salt and pepper: replaced by 1 or 0 with probability amount;
 *     poisson: Poisson(x * peak) / peak.
 *   imresize_bicubic: MATLAB's imresize(..., 'bicubic') on (..., H, W).
 *   sr_pair: top-left crop to a multiple of scale, then a bicubic 1/scale.
 *   rgb <-> ycbcr: BT.601 with MATLAB's 16..235 ranges, on [0, 1] images.
 * See include/encdec/augment.h for the exact formulas. */
#include "data/augment_internal.h"

#include <math.h>
#include <stdlib.h>

ed_status ed__check_image(const ed_tensor *x, const char *op, const char *what, int64_t *c, int64_t *h, int64_t *w)
{
    ED_TRY(ed__check_tensor(x, op, what));
    char b[ED_SHAPE_BUF];
    if (x->dtype != ED_F32)
        return ed__err(ED_E_DTYPE, "%s: %s must be float32, got %s", op, what, ed_dtype_name(x->dtype));
    if (x->ndim != 3 && !(x->ndim == 4 && x->shape[0] == 1))
        return ed__err(ED_E_SHAPE, "%s: %s must be (C, H, W) or (1, C, H, W), got shape %s", op, what,
                       ed__shape_str(x, b));
    if (x->numel == 0)
        return ed__err(ED_E_SHAPE, "%s: %s is empty, got shape %s", op, what, ed__shape_str(x, b));
    if (c) *c = x->shape[x->ndim - 3];
    if (h) *h = x->shape[x->ndim - 2];
    if (w) *w = x->shape[x->ndim - 1];
    return ED_OK;
}

static ed_status check_f32(const ed_tensor *t, const char *op)
{
    ED_TRY(ed__check_tensor(t, op, "tensor"));
    if (t->dtype != ED_F32) return ed__err(ED_E_DTYPE, "%s: tensor must be float32, got %s", op, ed_dtype_name(t->dtype));
    return ED_OK;
}

/* ---- noise ----------------------------------------------------------------- */

/* 53 random bits -> [0, 1), as core/rng.c. */
static double unit(uint32_t a, uint32_t b)
{
    uint64_t v = ((uint64_t)a << 21) ^ (uint64_t)(b >> 11);
    return (double)(v & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

ed_status ed_add_gaussian_noise(ed_tensor *t, double sigma, int clip, ed_rng *rng)
{
    ED_TRY(check_f32(t, "add_gaussian_noise"));
    if (!rng) return ed__err(ED_E_ARG, "add_gaussian_noise: rng is NULL");
    if (!(sigma >= 0) || isinf(sigma))
        return ed__err(ED_E_ARG, "add_gaussian_noise: sigma must be finite and >= 0, got %g", sigma);
    double std = sigma / 255.0;
    uint64_t seed = rng->seed, base = rng->counter;
    float *x = ed__f32(t);
    int64_t n = t->numel;
    ED_PARALLEL_FOR_IF(n > 65536)
    for (int64_t i = 0; i < n; i++) {
        double v = x[i] + std * ed__rng_normal_at(seed, base, (uint64_t)i);
        if (clip) v = v < 0 ? 0 : v > 1 ? 1 : v;
        x[i] = (float)v;
    }
    rng->counter += (uint64_t)n;
    return ED_OK;
}

ed_status ed_add_salt_pepper_noise(ed_tensor *t, double amount, double salt_vs_pepper, ed_rng *rng)
{
    ED_TRY(check_f32(t, "add_salt_pepper_noise"));
    if (!rng) return ed__err(ED_E_ARG, "add_salt_pepper_noise: rng is NULL");
    if (!(amount >= 0 && amount <= 1))
        return ed__err(ED_E_ARG, "add_salt_pepper_noise: amount must be in [0, 1], got %g", amount);
    if (!(salt_vs_pepper >= 0 && salt_vs_pepper <= 1))
        return ed__err(ED_E_ARG, "add_salt_pepper_noise: salt_vs_pepper must be in [0, 1], got %g", salt_vs_pepper);
    uint64_t seed = rng->seed, base = rng->counter;
    float *x = ed__f32(t);
    int64_t n = t->numel;
    ED_PARALLEL_FOR_IF(n > 65536)
    for (int64_t i = 0; i < n; i++) {
        uint32_t o[4];
        ed__philox(seed, base + (uint64_t)i, o);
        if (unit(o[0], o[1]) < amount) x[i] = unit(o[2], o[3]) < salt_vs_pepper ? 1.0f : 0.0f;
    }
    rng->counter += (uint64_t)n;
    return ED_OK;
}

/* Draw j of element ctr's private stream: Philox block (key seed + j/2 *
 * golden ratio, counter ctr), so an element may take as many draws as its
 * rejection loop needs without touching another element's numbers. */
static double draw(uint64_t seed, uint64_t ctr, int j)
{
    uint32_t o[4];
    ed__philox(seed + (uint64_t)(j >> 1) * UINT64_C(0x9E3779B97F4A7C15), ctr, o);
    return (j & 1) ? unit(o[2], o[3]) : unit(o[0], o[1]);
}

/* log(k!) by summation for small k, Stirling's series (error < 1e-12) above:
 * thread-safe, unlike lgamma's signgam. */
static double log_factorial(double k)
{
    if (k < 16) {
        double s = 0;
        for (int i = 2; i <= (int)k; i++) s += log((double)i);
        return s;
    }
    double x = k + 1, x2 = x * x;
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 + 1.0 / (12 * x) - 1.0 / (360 * x * x2) +
           1.0 / (1260 * x * x2 * x2);
}

/* Poisson(lam): inversion from 0 for small lam; for lam >= 10 Hoermann's
 * transformed rejection PTRS ("The transformed rejection method for
 * generating Poisson random variables", 1993), as numpy. */
static double poisson(uint64_t seed, uint64_t ctr, double lam)
{
    if (lam < 10) {
        double u = draw(seed, ctr, 0), p = exp(-lam), f = p;
        int k = 0;
        while (u > f && k < 200) {
            k++;
            p *= lam / k;
            f += p;
        }
        return k;
    }
    double slam = sqrt(lam), loglam = log(lam), b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (int j = 0;; j += 2) {
        double u = draw(seed, ctr, j) - 0.5, v = draw(seed, ctr, j + 1), us = 0.5 - fabs(u);
        double k = floor((2 * a / us + b) * u + lam + 0.43);
        if (us >= 0.07 && v <= vr) return k;
        if (k < 0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lam + k * loglam - log_factorial(k)) return k;
    }
}

ed_status ed_add_poisson_noise(ed_tensor *t, double peak, ed_rng *rng)
{
    ED_TRY(check_f32(t, "add_poisson_noise"));
    if (!rng) return ed__err(ED_E_ARG, "add_poisson_noise: rng is NULL");
    if (!(peak > 0) || isinf(peak))
        return ed__err(ED_E_ARG, "add_poisson_noise: peak must be finite and > 0, got %g", peak);
    uint64_t seed = rng->seed, base = rng->counter;
    float *x = ed__f32(t);
    int64_t n = t->numel;
    ED_PARALLEL_FOR_IF(n > 16384)
    for (int64_t i = 0; i < n; i++) {
        double lam = x[i] > 0 ? (double)x[i] * peak : 0;
        if (isnan(x[i]) || isinf(lam)) continue;   /* NaN and +inf stay */
        x[i] = (float)(poisson(seed, base + (uint64_t)i, lam) / peak);
    }
    rng->counter += (uint64_t)n;
    return ED_OK;
}

/* ---- MATLAB bicubic imresize ------------------------------------------------ */

static double cubic(double x)
{
    double a = fabs(x), a2 = a * a, a3 = a2 * a;
    if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
    if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
    return 0;
}

/* MATLAB's contributions(): for output i (0-based here), taps idx[i*P + j]
 * (0-based input indices, mirrored) with weights w[i*P + j]. */
typedef struct { int64_t P; double *w; int64_t *idx; } contrib;

static ed_status contributions(int64_t in, int64_t out, double s, int antialias, contrib *c)
{
    int shrink = s < 1 && antialias;
    double width = shrink ? 4.0 / s : 4.0;
    int64_t P = (int64_t)ceil(width) + 2;
    c->P = P;
    c->w = malloc((size_t)(out * P) * sizeof(double));
    c->idx = malloc((size_t)(out * P) * sizeof(int64_t));
    if (!c->w || !c->idx) {
        free(c->w); free(c->idx);
        return ed__err(ED_E_NOMEM, "imresize_bicubic: out of memory for %lld x %lld weights", (long long)out,
                       (long long)P);
    }
    for (int64_t i = 0; i < out; i++) {
        double u = (double)(i + 1) / s + 0.5 * (1 - 1 / s);   /* 1-based, as MATLAB */
        double left = floor(u - width / 2), sum = 0;
        double *w = c->w + i * P;
        int64_t *ix = c->idx + i * P;
        for (int64_t j = 0; j < P; j++) {
            double ind = left + (double)j, d = u - ind;
            w[j] = shrink ? s * cubic(s * d) : cubic(d);
            sum += w[j];
            int64_t m = ((int64_t)ind - 1) % (2 * in);
            if (m < 0) m += 2 * in;
            ix[j] = m < in ? m : 2 * in - 1 - m;
        }
        for (int64_t j = 0; j < P; j++) w[j] /= sum;
    }
    return ED_OK;
}

/* Along H: (planes, H, W) -> (planes, OH, W). */
static void resize_h(const double *in, double *out, int64_t planes, int64_t H, int64_t W, int64_t OH, const contrib *c)
{
    ED_PARALLEL_FOR_IF(planes * OH * W > 16384)
    for (int64_t r = 0; r < planes * OH; r++) {
        int64_t p = r / OH, i = r % OH;
        const double *w = c->w + i * c->P;
        const int64_t *ix = c->idx + i * c->P;
        double *o = out + r * W;
        for (int64_t x = 0; x < W; x++) o[x] = 0;
        for (int64_t j = 0; j < c->P; j++) {
            const double *row = in + (p * H + ix[j]) * W;
            for (int64_t x = 0; x < W; x++) o[x] += w[j] * row[x];
        }
    }
}

/* Along W: (rows, W) -> (rows, OW). */
static void resize_w(const double *in, double *out, int64_t rows, int64_t W, int64_t OW, const contrib *c)
{
    ED_PARALLEL_FOR_IF(rows * OW > 16384)
    for (int64_t r = 0; r < rows; r++) {
        const double *row = in + r * W;
        for (int64_t i = 0; i < OW; i++) {
            const double *w = c->w + i * c->P;
            const int64_t *ix = c->idx + i * c->P;
            double s = 0;
            for (int64_t j = 0; j < c->P; j++) s += w[j] * row[ix[j]];
            out[r * OW + i] = s;
        }
    }
}

ed_status ed_imresize_bicubic_f32(const float *in, int64_t planes, int64_t h, int64_t w, float *out, int64_t out_h,
                                  int64_t out_w, double scale_h, double scale_w, int antialias)
{
    if (!in || !out) return ed__err(ED_E_ARG, "imresize_bicubic: %s is NULL", in ? "out" : "in");
    if (planes < 1 || h < 1 || w < 1 || out_h < 1 || out_w < 1)
        return ed__err(ED_E_ARG, "imresize_bicubic: sizes must be >= 1, got planes %lld, %lld x %lld -> %lld x %lld",
                       (long long)planes, (long long)h, (long long)w, (long long)out_h, (long long)out_w);
    if (scale_h == 0) scale_h = (double)out_h / (double)h;
    if (scale_w == 0) scale_w = (double)out_w / (double)w;
    if (!(scale_h > 0) || !(scale_w > 0) || isinf(scale_h) || isinf(scale_w))
        return ed__err(ED_E_ARG, "imresize_bicubic: scales must be finite and > 0, got %g, %g", scale_h, scale_w);
    contrib ch = { 0 }, cw = { 0 };
    ED_TRY(contributions(h, out_h, scale_h, antialias, &ch));
    ed_status st = contributions(w, out_w, scale_w, antialias, &cw);
    if (st != ED_OK) { free(ch.w); free(ch.idx); return st; }
    int64_t n_in = planes * h * w, mid_h = scale_h <= scale_w ? out_h : h, mid_w = scale_h <= scale_w ? w : out_w;
    double *a = malloc((size_t)n_in * sizeof(double));
    double *b = malloc((size_t)(planes * mid_h * mid_w) * sizeof(double));
    double *c = malloc((size_t)(planes * out_h * out_w) * sizeof(double));
    if (!a || !b || !c) {
        st = ed__err(ED_E_NOMEM, "imresize_bicubic: out of memory");
    } else {
        for (int64_t i = 0; i < n_in; i++) a[i] = in[i];
        /* MATLAB resizes the dim with the smaller scale first. */
        if (scale_h <= scale_w) {
            resize_h(a, b, planes, h, w, out_h, &ch);
            resize_w(b, c, planes * out_h, w, out_w, &cw);
        } else {
            resize_w(a, b, planes * h, w, out_w, &cw);
            resize_h(b, c, planes, h, out_w, out_h, &ch);
        }
        int64_t n_out = planes * out_h * out_w;
        for (int64_t i = 0; i < n_out; i++) out[i] = (float)c[i];
    }
    free(a); free(b); free(c);
    free(ch.w); free(ch.idx); free(cw.w); free(cw.idx);
    return st;
}

ed_status ed_imresize_bicubic(const ed_tensor *x, int64_t out_h, int64_t out_w, double scale, int antialias,
                              ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "imresize_bicubic: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_tensor(x, "imresize_bicubic", "x"));
    char b[ED_SHAPE_BUF];
    if (x->dtype != ED_F32)
        return ed__err(ED_E_DTYPE, "imresize_bicubic: x must be float32, got %s", ed_dtype_name(x->dtype));
    if (x->ndim < 2 || x->numel == 0)
        return ed__err(ED_E_SHAPE, "imresize_bicubic: x must be (..., H, W) with no zero dims, got shape %s",
                       ed__shape_str(x, b));
    int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
    double sh = 0, sw = 0;
    if (out_h == 0 && out_w == 0) {
        if (!(scale > 0) || isinf(scale))
            return ed__err(ED_E_ARG, "imresize_bicubic: give out_h, out_w > 0 or a scale > 0, got %lld, %lld and %g",
                           (long long)out_h, (long long)out_w, scale);
        double oh = ceil(scale * (double)H), ow = ceil(scale * (double)W);
        if (oh > ED_IMAGE_MAX_SIDE || ow > ED_IMAGE_MAX_SIDE)
            return ed__err(ED_E_ARG, "imresize_bicubic: scale %g makes %.0f x %.0f, more than %d per side", scale, oh,
                           ow, ED_IMAGE_MAX_SIDE);
        out_h = (int64_t)oh;
        out_w = (int64_t)ow;
        sh = sw = scale;
    } else if (scale != 0) {
        return ed__err(ED_E_ARG, "imresize_bicubic: give either an output size or a scale, not both (got %lld x %lld "
                       "and %g)", (long long)out_h, (long long)out_w, scale);
    } else if (out_h < 1 || out_w < 1) {
        return ed__err(ED_E_ARG, "imresize_bicubic: output size must be >= 1, got %lld x %lld", (long long)out_h,
                       (long long)out_w);
    }
    int64_t shape[ED_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    shape[x->ndim - 2] = out_h;
    shape[x->ndim - 1] = out_w;
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(ED_F32, x->ndim, shape, &y));
    ed_status st = ed_imresize_bicubic_f32(ed__cf32(x), x->numel / (H * W), H, W, ed__f32(y), out_h, out_w, sh, sw,
                                           antialias);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_sr_pair(const ed_tensor *hr, int scale, ed_tensor **lr, ed_tensor **hr_cropped)
{
    if (!lr) return ed__err(ED_E_ARG, "sr_pair: lr is NULL");
    *lr = NULL;
    if (hr_cropped) *hr_cropped = NULL;
    int64_t C = 0, H = 0, W = 0;
    ED_TRY(ed__check_image(hr, "sr_pair", "hr", &C, &H, &W));
    if (scale < 1) return ed__err(ED_E_ARG, "sr_pair: scale must be >= 1, got %d", scale);
    if (H < scale || W < scale)
        return ed__err(ED_E_SHAPE, "sr_pair: hr (%lld x %lld) is smaller than the scale %d", (long long)H,
                       (long long)W, scale);
    int64_t h = H - H % scale, w = W - W % scale;
    ed_tensor *crop = NULL, *low = NULL;
    ED_TRY(ed_aug_crop(hr, 0, 0, h, w, &crop));
    int64_t shape[4];
    for (int i = 0; i < hr->ndim; i++) shape[i] = hr->shape[i];
    shape[hr->ndim - 2] = h / scale;
    shape[hr->ndim - 1] = w / scale;
    ed_status st = ed__alloc(ED_F32, hr->ndim, shape, &low);
    if (st == ED_OK)
        st = ed_imresize_bicubic_f32(ed__cf32(crop), C, h, w, ed__f32(low), h / scale, w / scale, 1.0 / scale,
                                     1.0 / scale, 1);
    if (st != ED_OK) {
        ed_tensor_free(crop);
        ed_tensor_free(low);
        return st;
    }
    *lr = low;
    if (hr_cropped) *hr_cropped = crop;
    else ed_tensor_free(crop);
    return ED_OK;
}

/* ---- YCbCr (BT.601, MATLAB's rgb2ycbcr / ycbcr2rgb) ------------------------ */

static const double YCC_M[3][3] = {
    { 65.481, 128.553, 24.966 }, { -37.797, -74.203, 112.0 }, { 112.0, -93.786, -18.214 } };
static const double YCC_OFF[3] = { 16, 128, 128 };

static ed_status color_check(const ed_tensor *x, const char *op, const char *what, int64_t *n, int64_t *hw)
{
    ED_TRY(ed__check_tensor(x, op, what));
    char b[ED_SHAPE_BUF];
    if (x->dtype != ED_F32) return ed__err(ED_E_DTYPE, "%s: %s must be float32, got %s", op, what, ed_dtype_name(x->dtype));
    if ((x->ndim != 3 && x->ndim != 4) || x->shape[x->ndim - 3] != 3)
        return ed__err(ED_E_SHAPE, "%s: %s must be (3, H, W) or (N, 3, H, W), got shape %s", op, what,
                       ed__shape_str(x, b));
    *hw = x->shape[x->ndim - 2] * x->shape[x->ndim - 1];
    *n = x->ndim == 4 ? x->shape[0] : 1;
    return ED_OK;
}

/* rows of m applied to (r, g, b) planes: out[c] = (off[c] + m[c] . v) * k
 * (forward, k = 1/255) or m . (v * 255 - off) (inverse). */
static ed_status color_convert(const ed_tensor *x, const char *op, const char *what, int inverse, int y_only,
                               ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", op);
    *out = NULL;
    int64_t n = 0, hw = 0;
    ED_TRY(color_check(x, op, what, &n, &hw));
    double m[3][3];
    if (!inverse) {
        memcpy(m, YCC_M, sizeof m);
    } else {
        const double (*a)[3] = YCC_M;
        double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                     a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) {
                /* inverse = adjugate / det: cofactor of a[j][i] */
                int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
                m[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
            }
    }
    int64_t shape[4];
    for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[i];
    int oc = y_only ? 1 : 3;
    shape[x->ndim - 3] = oc;
    ed_tensor *y = NULL;
    ED_TRY(ed__alloc(ED_F32, x->ndim, shape, &y));
    const float *src = ed__cf32(x);
    float *dst = ed__f32(y);
    ED_PARALLEL_FOR_IF(n * hw > 65536)
    for (int64_t p = 0; p < n * hw; p++) {
        int64_t b = p / hw, i = p % hw;
        const float *s = src + b * 3 * hw + i;
        double v[3] = { s[0], s[hw], s[2 * hw] };
        if (inverse)
            for (int c = 0; c < 3; c++) v[c] = v[c] * 255.0 - YCC_OFF[c];
        for (int c = 0; c < oc; c++) {
            double r = m[c][0] * v[0] + m[c][1] * v[1] + m[c][2] * v[2];
            dst[(b * oc + c) * hw + i] = (float)(inverse ? r : (r + YCC_OFF[c]) / 255.0);
        }
    }
    *out = y;
    return ED_OK;
}

ed_status ed_rgb_to_ycbcr(const ed_tensor *rgb, ed_tensor **out)
{ return color_convert(rgb, "rgb_to_ycbcr", "rgb", 0, 0, out); }
ed_status ed_ycbcr_to_rgb(const ed_tensor *ycbcr, ed_tensor **out)
{ return color_convert(ycbcr, "ycbcr_to_rgb", "ycbcr", 1, 0, out); }
ed_status ed_rgb_to_y(const ed_tensor *rgb, ed_tensor **out)
{ return color_convert(rgb, "rgb_to_y", "rgb", 0, 1, out); }
