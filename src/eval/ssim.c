/* SSIM (Wang, Bovik, Sheikh, Simoncelli 2004, "Image quality assessment:
 * from error visibility to structural similarity", eq. 13) as
 * skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
 * use_sample_covariance=False, data_range=R):
 *   mu_x = G * x, s_xx = G * (x x) - mu_x^2, s_xy = G * (x y) - mu_x mu_y
 *   S = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_xx + s_yy + C2))
 *   C1 = (0.01 R)^2, C2 = (0.03 R)^2, G the separable Gaussian of sigma 1.5
 *   truncated at 3.5 sigma (radius 5, 11 taps, weights normalised to sum 1).
 * skimage filters with reflect padding and then averages S only over the
 * pixels at least 5 from each border, where the padding never reaches, so
 * here the filter runs "valid" over those pixels alone. Channels are
 * averaged. */
#include "eval/eval_internal.h"

#include <math.h>
#include <stdlib.h>

enum { RADIUS = 5, TAPS = 2 * RADIUS + 1 };

/* out (H - 10) x (W - 10) = valid Gaussian filter of in (H x W); tmp holds
 * H x (W - 10). */
static void gauss_valid(const double *in, int H, int W, const double *g, double *tmp, double *out)
{
    const int Wv = W - 2 * RADIUS, Hv = H - 2 * RADIUS;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < Wv; x++) {
            double s = 0;
            for (int k = 0; k < TAPS; k++) s += g[k] * in[(size_t)y * W + x + k];
            tmp[(size_t)y * Wv + x] = s;
        }
    for (int y = 0; y < Hv; y++)
        for (int x = 0; x < Wv; x++) {
            double s = 0;
            for (int k = 0; k < TAPS; k++) s += g[k] * tmp[(size_t)(y + k) * Wv + x];
            out[(size_t)y * Wv + x] = s;
        }
}

static double ssim_plane(const double *x, const double *y, int H, int W, double R, const double *g, double *work)
{
    const size_t n = (size_t)H * W, nv = (size_t)(H - 2 * RADIUS) * (W - 2 * RADIUS);
    double *prod = work, *tmp = prod + n, *m[5];
    for (int k = 0; k < 5; k++) m[k] = tmp + (size_t)H * (W - 2 * RADIUS) + k * nv;
    gauss_valid(x, H, W, g, tmp, m[0]);
    gauss_valid(y, H, W, g, tmp, m[1]);
    for (size_t i = 0; i < n; i++) prod[i] = x[i] * x[i];
    gauss_valid(prod, H, W, g, tmp, m[2]);
    for (size_t i = 0; i < n; i++) prod[i] = y[i] * y[i];
    gauss_valid(prod, H, W, g, tmp, m[3]);
    for (size_t i = 0; i < n; i++) prod[i] = x[i] * y[i];
    gauss_valid(prod, H, W, g, tmp, m[4]);
    const double C1 = (0.01 * R) * (0.01 * R), C2 = (0.03 * R) * (0.03 * R);
    double sum = 0;
    for (size_t i = 0; i < nv; i++) {
        double ux = m[0][i], uy = m[1][i];
        double vx = m[2][i] - ux * ux, vy = m[3][i] - uy * uy, vxy = m[4][i] - ux * uy;
        sum += ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
    }
    return sum / (double)nv;
}

ed_status ed_ssim(const float *a, const float *b, int h, int w, int c, double data_range, int y_channel,
                  int crop_border, double *out)
{
    if (!out) return ed__err(ED_E_ARG, "ssim: out is NULL");
    double *da = NULL, *db = NULL, range = 0;
    int H = 0, W = 0, C = 0;
    ED_TRY(ed__iq_prepare("ssim", a, b, h, w, c, data_range, y_channel, crop_border, &da, &db, &H, &W, &C, &range));
    if (H < TAPS || W < TAPS) {
        free(da);
        free(db);
        return ed__err(ED_E_ARG, "ssim: the 11 x 11 window exceeds the %d x %d image (after crop_border %d)", H, W,
                       crop_border);
    }
    /* scipy.ndimage's _gaussian_kernel1d: exp(-x^2 / (2 sigma^2)), normalised. */
    double g[TAPS], gs = 0;
    for (int k = 0; k < TAPS; k++) gs += g[k] = exp(-0.5 / (1.5 * 1.5) * (double)((k - RADIUS) * (k - RADIUS)));
    for (int k = 0; k < TAPS; k++) g[k] /= gs;
    const size_t n = (size_t)H * W, nv = (size_t)(H - 2 * RADIUS) * (W - 2 * RADIUS);
    double *work = malloc(sizeof(double) * (n + (size_t)H * (W - 2 * RADIUS) + 5 * nv));
    if (!work) {
        free(da);
        free(db);
        return ed__err(ED_E_NOMEM, "ssim: cannot allocate work space for a %d x %d image", H, W);
    }
    double total = 0;
    for (int ch = 0; ch < C; ch++) total += ssim_plane(da + ch * n, db + ch * n, H, W, range, g, work);
    free(work);
    free(da);
    free(db);
    *out = total / C;
    return ED_OK;
}
