/* PSNR, and the preparation shared with SSIM: border crop and BT.601 luma.
 *   psnr = 10 log10(range^2 / mse), mse = mean over all pixels and channels
 *   of (a - b)^2, as skimage.metrics.peak_signal_noise_ratio; +inf when the
 *   images are equal.
 *   Y = 16 + 65.481 R + 128.553 G + 24.966 B with R, G, B = v / data_range:
 *   the luma of MATLAB's rgb2ycbcr on the 0..255 scale, unrounded, as
 *   BasicSR's to_y_channel, which super-resolution papers report. */
#include "eval/eval_internal.h"

#include <math.h>
#include <stdlib.h>

ed_status ed__iq_prepare(const char *op, const float *a, const float *b, int h, int w, int c, double data_range,
                         int y_channel, int crop_border, double **pa, double **pb, int *oh, int *ow, int *oc,
                         double *range)
{
    if (!a || !b) return ed__err(ED_E_ARG, "%s: image pointer is NULL", op);
    if (h <= 0 || w <= 0 || c <= 0)
        return ed__err(ED_E_ARG, "%s: sizes must be positive, got h %d, w %d, c %d", op, h, w, c);
    if (!(data_range > 0) || !isfinite(data_range))
        return ed__err(ED_E_ARG, "%s: data_range must be positive and finite, got %g", op, data_range);
    if (y_channel && c != 3)
        return ed__err(ED_E_ARG, "%s: y_channel needs 3 (RGB) channels, got %d", op, c);
    if (crop_border < 0 || 2 * (int64_t)crop_border >= h || 2 * (int64_t)crop_border >= w)
        return ed__err(ED_E_ARG, "%s: crop_border %d leaves nothing of a %d x %d image", op, crop_border, h, w);
    const int64_t n = (int64_t)h * w * c;
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(a[i]) || !isfinite(b[i]))
            return ed__err(ED_E_NAN, "%s: non-finite value in %s at (y %lld, x %lld, c %lld)", op,
                           isfinite(a[i]) ? "b" : "a", (long long)(i / c / w), (long long)(i / c % w),
                           (long long)(i % c));
    const int H = h - 2 * crop_border, W = w - 2 * crop_border, C = y_channel ? 1 : c;
    const size_t plane = (size_t)H * W;
    double *da = malloc(sizeof(double) * plane * C), *db = malloc(sizeof(double) * plane * C);
    if (!da || !db) {
        free(da);
        free(db);
        return ed__err(ED_E_NOMEM, "%s: cannot allocate %d x %d x %d doubles", op, H, W, C);
    }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            size_t src = ((size_t)(y + crop_border) * w + (size_t)(x + crop_border)) * c, dst = (size_t)y * W + x;
            if (y_channel) {
                const float *p[2] = { a + src, b + src };
                double *q[2] = { da, db };
                for (int k = 0; k < 2; k++)
                    q[k][dst] = 16.0 + 65.481 * (p[k][0] / data_range) + 128.553 * (p[k][1] / data_range) +
                                24.966 * (p[k][2] / data_range);
            } else {
                for (int ch = 0; ch < c; ch++) {
                    da[ch * plane + dst] = a[src + ch];
                    db[ch * plane + dst] = b[src + ch];
                }
            }
        }
    *pa = da;
    *pb = db;
    *oh = H;
    *ow = W;
    *oc = C;
    *range = y_channel ? 255.0 : data_range;
    return ED_OK;
}

ed_status ed_psnr(const float *a, const float *b, int h, int w, int c, double data_range, int y_channel,
                  int crop_border, double *out)
{
    if (!out) return ed__err(ED_E_ARG, "psnr: out is NULL");
    double *da = NULL, *db = NULL, range = 0;
    int H = 0, W = 0, C = 0;
    ED_TRY(ed__iq_prepare("psnr", a, b, h, w, c, data_range, y_channel, crop_border, &da, &db, &H, &W, &C, &range));
    const size_t n = (size_t)H * W * C;
    double sse = 0;
    for (size_t i = 0; i < n; i++) {
        double d = da[i] - db[i];
        sse += d * d;
    }
    free(da);
    free(db);
    double mse = sse / (double)n;
    *out = mse == 0 ? INFINITY : 10.0 * log10(range * range / mse);
    return ED_OK;
}
