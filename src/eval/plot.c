/* Line plots of training curves: one or more series over x (epochs), a
 * left y axis and, for series with right_axis, a right one (loss on the
 * left, PSNR on the right: scales that would flatten each other).
 * One layout feeds two renderers:
 *   PNG: our own rasteriser. Lines are anti-aliased by coverage: a pixel
 *     centre at distance d from the segment gets min(1, w/2 + 0.5 - d) of
 *     the colour. Coverage is the maximum over a series' segments, blended
 *     once, so joints are not painted twice. Text uses the bitmap font.
 *   SVG: the same coordinates as <polyline>s, <text> in a monospace font
 *     sized like the bitmap font (a cell of 6 x 10 at font-size 10), and
 *     a <circle> with a <title> tooltip "name: (x, y)" at each point of a
 *     series of at most 200 points.
 * Axes run from and to round ticks (1, 2 or 5 times a power of ten) around
 * the data; the legend sits in rows under the title, outside the plot, so
 * it never hides a curve. */
#include "eval/picture_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TICKS 32
#define MAX_LEGEND 64
#define SVG_MARKER_LIMIT 200

typedef struct axis {
    double lo, hi, step;
    int nt;
    double tick[MAX_TICKS];
    char label[MAX_TICKS][32];
    int label_w;        /* widest tick label, pixels */
} axis;

typedef struct layout {
    int W, H, s, ts;                 /* size, text scale, title scale */
    int px0, px1, py0, py1;          /* plot area, inclusive pixels */
    axis x, y, y2;
    int has_right;
    int title_y, xlabel_y, ylabel_x, y2label_x;
    int leg_x[MAX_LEGEND], leg_y[MAX_LEGEND];
    char leg_text[MAX_LEGEND][96];
    ed_palette pal;
} layout;

static int on_right(const layout *L, const ed_series *s) { return L->has_right && s->right_axis; }

static double xval(const ed_series *s, int i) { return s->x ? s->x[i] : i + 1; }

static ed_status check_series(const char *op, const ed_series *series, int n, const ed_plot_args *a)
{
    if (!series || n < 1) return ed__err(ED_E_ARG, "%s: needs at least one series, got %d", op, n);
    if (n > MAX_LEGEND) return ed__err(ED_E_ARG, "%s: at most %d series, got %d", op, MAX_LEGEND, n);
    for (int k = 0; k < n; k++) {
        const ed_series *s = &series[k];
        const char *nm = s->name ? s->name : "(unnamed)";
        if (s->n < 1 || !s->y) return ed__err(ED_E_ARG, "%s: series %d '%s' is empty (n = %d)", op, k, nm, s->n);
        int finite = 0;
        for (int i = 0; i < s->n; i++) {
            double x = xval(s, i), y = s->y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            finite = 1;
            /* Beyond this an axis's width would overflow a double. */
            if (fabs(x) > 1e300 || fabs(y) > 1e300)
                return ed__err(ED_E_ARG, "%s: series %d '%s' has a value too large to plot (%g)", op, k, nm,
                               fabs(x) > 1e300 ? x : y);
        }
        if (!finite) return ed__err(ED_E_ARG, "%s: series %d '%s' has no finite point", op, k, nm);
    }
    if (a && (a->width < 0 || a->height < 0 || a->width > 8192 || a->height > 8192))
        return ed__err(ED_E_ARG, "%s: width and height must be in 0..8192, got %d x %d", op, a->width, a->height);
    if (a && (a->scale < 0 || a->scale > 16)) return ed__err(ED_E_ARG, "%s: scale must be in 0..16, got %d", op, a->scale);
    return ED_OK;
}

/* Round ticks over [lo, hi] about `target` of them: the step is 1, 2 or 5
 * times a power of ten (at least 1 when the data are integers, as epochs). */
static void make_axis(axis *ax, double lo, double hi, int target, int integer, int s)
{
    if (hi - lo <= fabs(hi) * 1e-12) {   /* one value: open a window around it */
        double d = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1;
        lo -= d, hi += d;
    }
    double raw = (hi - lo) / (target < 1 ? 1 : target);
    double p = pow(10, floor(log10(raw))), f = raw / p;
    double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
    if (integer && step < 1) step = 1;
    double a = floor(lo / step + 1e-9) * step, b = ceil(hi / step - 1e-9) * step;
    int nt = (int)floor((b - a) / step + 0.5) + 1;
    while (nt > MAX_TICKS) {   /* only with a tiny target; double the step */
        step *= 2;
        a = floor(lo / step + 1e-9) * step, b = ceil(hi / step - 1e-9) * step;
        nt = (int)floor((b - a) / step + 0.5) + 1;
    }
    ax->lo = a, ax->hi = b, ax->step = step, ax->nt = nt, ax->label_w = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    double mag = fmax(fabs(a), fabs(b));
    int sci = mag >= 1e6 || (mag > 0 && mag < 1e-4) || dec > 6;
    for (int i = 0; i < nt; i++) {
        double v = a + i * step;
        if (fabs(v) < step * 1e-9) v = 0;   /* no "-0" */
        ax->tick[i] = v;
        if (sci) snprintf(ax->label[i], sizeof ax->label[i], "%.3g", v);
        else snprintf(ax->label[i], sizeof ax->label[i], "%.*f", dec, v);
        int w;
        ed_text_size(ax->label[i], s, &w, NULL);
        if (w > ax->label_w) ax->label_w = w;
    }
}

static void data_range(const ed_series *series, int n, const layout *L, int which, double *lo, double *hi,
                       int *integer)
{
    *lo = DBL_MAX, *hi = -DBL_MAX;
    if (integer) *integer = 1;
    for (int k = 0; k < n; k++) {
        const ed_series *s = &series[k];
        if (which != 0 && on_right(L, s) != (which == 2)) continue;
        for (int i = 0; i < s->n; i++) {
            double x = xval(s, i), y = s->y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            double v = which == 0 ? x : y;
            if (v < *lo) *lo = v;
            if (v > *hi) *hi = v;
            if (integer && v != floor(v)) *integer = 0;
        }
    }
}

static ed_status make_layout(const ed_series *series, int n, const ed_plot_args *a, layout *L)
{
    memset(L, 0, sizeof *L);
    L->W = a && a->width ? a->width : 800;
    L->H = a && a->height ? a->height : 500;
    L->s = a && a->scale ? a->scale : 2;
    L->ts = L->s + 1;
    int s = L->s, cw = 6 * s, ch = 8 * s, gap = 2 * cw / 3;
    ED_TRY(ed_palette_distinct(n, &L->pal));
    int has_left = 0;
    for (int k = 0; k < n; k++) {
        if (series[k].right_axis) L->has_right = 1;
        else has_left = 1;
    }
    if (!has_left) L->has_right = 0;   /* everything on one axis: draw it on the left */
    const char *title = a ? a->title : NULL, *xl = a ? a->xlabel : NULL, *yl = a ? a->ylabel : NULL;
    const char *y2l = a ? a->y2label : NULL;

    /* Top: title, then legend rows. */
    int top = gap;
    if (title && *title) {
        L->title_y = top;
        top += 8 * L->ts + gap;
    }
    double lo, hi;
    int integer;
    data_range(series, n, L, 1, &lo, &hi, NULL);
    int ytarget = (L->H - 12 * ch) / (3 * ch);
    if (ytarget < 2) ytarget = 2;
    if (ytarget > 8) ytarget = 8;
    make_axis(&L->y, lo, hi, ytarget, 0, s);
    if (L->has_right) {
        data_range(series, n, L, 2, &lo, &hi, NULL);
        make_axis(&L->y2, lo, hi, ytarget, 0, s);
    }
    int left = gap + (yl && *yl ? ch + gap : 0) + L->y.label_w + s * 3 + gap;
    int right = L->has_right ? gap + (y2l && *y2l ? ch + gap : 0) + L->y2.label_w + s * 3 + gap : 3 * cw;
    L->px0 = left, L->px1 = L->W - 1 - right;
    if (L->px1 - L->px0 < 8 * cw) return ed__err(ED_E_ARG, "plot: %d x %d is too small for the text", L->W, L->H);

    int lx = L->px0, ly = top, swatch = 4 * cw, row = ch + gap;
    for (int k = 0; k < n; k++) {
        const ed_series *sr = &series[k];
        char *t = L->leg_text[k];
        if (sr->name) snprintf(t, sizeof L->leg_text[k], "%.80s", sr->name);
        else snprintf(t, sizeof L->leg_text[k], "series %d", k + 1);
        if (on_right(L, sr)) strncat(t, " (right)", sizeof L->leg_text[k] - strlen(t) - 1);
        int tw;
        ed_text_size(t, s, &tw, NULL);
        int w = swatch + cw + tw;
        if (lx > L->px0 && lx + w > L->px1) lx = L->px0, ly += row;
        L->leg_x[k] = lx, L->leg_y[k] = ly;
        lx += w + 2 * cw;
    }
    top = ly + row + gap;

    int bottom = gap + (xl && *xl ? ch + gap : 0) + ch + s * 3 + gap;
    L->py0 = top, L->py1 = L->H - 1 - bottom;
    if (L->py1 - L->py0 < 4 * ch) return ed__err(ED_E_ARG, "plot: %d x %d is too small for the text", L->W, L->H);
    L->xlabel_y = L->H - gap - ch;
    L->ylabel_x = gap;
    L->y2label_x = L->W - gap - ch;

    data_range(series, n, L, 0, &lo, &hi, &integer);
    int xtarget = (L->px1 - L->px0) / (cw * 8);
    if (xtarget < 2) xtarget = 2;
    if (xtarget > 10) xtarget = 10;
    make_axis(&L->x, lo, hi, xtarget, integer, s);
    return ED_OK;
}

/* Continuous pixel coordinates (pixel i spans [i, i + 1)). */
static double map_x(const layout *L, double v)
{
    return L->px0 + 0.5 + (v - L->x.lo) / (L->x.hi - L->x.lo) * (L->px1 - L->px0);
}
static double map_y(const layout *L, const axis *ax, double v)
{
    return L->py1 + 0.5 - (v - ax->lo) / (ax->hi - ax->lo) * (L->py1 - L->py0);
}

/* ---- PNG ------------------------------------------------------------------- */

static void cover_segment(float *cov, const layout *L, double x0, double y0, double x1, double y1, double hw)
{
    int W = L->W;
    int ax = (int)floor(fmin(x0, x1) - hw - 1), bx = (int)ceil(fmax(x0, x1) + hw + 1);
    int ay = (int)floor(fmin(y0, y1) - hw - 1), by = (int)ceil(fmax(y0, y1) + hw + 1);
    if (ax < 0) ax = 0;
    if (ay < 0) ay = 0;
    if (bx > L->W - 1) bx = L->W - 1;
    if (by > L->H - 1) by = L->H - 1;
    double dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
    for (int y = ay; y <= by; y++)
        for (int x = ax; x <= bx; x++) {
            double cx = x + 0.5, cy = y + 0.5;
            double t = len2 > 0 ? ((cx - x0) * dx + (cy - y0) * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double ex = cx - (x0 + t * dx), ey = cy - (y0 + t * dy);
            double c = hw + 0.5 - sqrt(ex * ex + ey * ey);
            if (c > 1) c = 1;
            if (c > cov[(int64_t)y * W + x]) cov[(int64_t)y * W + x] = (float)c;
        }
}

static void blend_cover(ed_image *img, float *cov, const uint8_t rgb[3])
{
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) {
            float *c = &cov[(int64_t)y * img->width + x];
            if (*c > 0) ed__blend_px(img, x, y, rgb, *c);
            *c = 0;
        }
}

static void fill(ed_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
    ed_draw_fill_rect(img, x0, y0, x1, y1, rgb);
}

ed_status ed_plot_image(const ed_series *series, int n, const ed_plot_args *a, ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "plot_image: out is NULL");
    *out = NULL;
    ED_TRY(check_series("plot_image", series, n, a));
    layout *L = malloc(sizeof *L);
    if (!L) return ed__err(ED_E_NOMEM, "plot_image: out of memory");
    ed_status st = make_layout(series, n, a, L);
    ed_image *img = NULL;
    float *cov = NULL;
    if (st == ED_OK) st = ed_image_new(L->W, L->H, 3, 8, &img);
    if (st == ED_OK && !(cov = calloc((size_t)L->W * L->H, sizeof *cov))) st = ed__err(ED_E_NOMEM, "plot_image: out of memory");
    if (st != ED_OK) {
        ed_image_free(img);
        free(L);
        return st;
    }
    static const uint8_t black[3] = {0, 0, 0}, grid[3] = {228, 228, 228}, dark[3] = {60, 60, 60};
    int s = L->s, cw = 6 * s, ch = 8 * s, tick = 3 * s;
    memset(img->data, 255, (size_t)L->W * L->H * 3);
    const axis *gy = &L->y;
    for (int i = 0; i < gy->nt; i++) {
        int y = (int)floor(map_y(L, gy, gy->tick[i]));
        fill(img, L->px0, y, L->px1, y, grid);
    }
    for (int i = 0; i < L->x.nt; i++) {
        int x = (int)floor(map_x(L, L->x.tick[i]));
        fill(img, x, L->py0, x, L->py1, grid);
    }
    /* Frame and ticks. */
    ed_draw_rect(img, L->px0 - 1, L->py0 - 1, L->px1 + 1, L->py1 + 1, dark, 1);
    for (int i = 0; i < L->x.nt; i++) {
        int x = (int)floor(map_x(L, L->x.tick[i])), w;
        fill(img, x, L->py1 + 2, x, L->py1 + 1 + tick, dark);
        ed_text_size(L->x.label[i], s, &w, NULL);
        ed_draw_text(img, x - w / 2, L->py1 + 2 + tick + s * 2, L->x.label[i], s, black);
    }
    for (int side = 0; side < 1 + L->has_right; side++) {
        const axis *ax = side ? &L->y2 : &L->y;
        for (int i = 0; i < ax->nt; i++) {
            int y = (int)floor(map_y(L, ax, ax->tick[i])), w;
            ed_text_size(ax->label[i], s, &w, NULL);
            if (side) {
                fill(img, L->px1 + 2, y, L->px1 + 1 + tick, y, dark);
                ed_draw_text(img, L->px1 + 2 + tick + s * 2, y - ch / 2, ax->label[i], s, black);
            } else {
                fill(img, L->px0 - 1 - tick, y, L->px0 - 2, y, dark);
                ed_draw_text(img, L->px0 - 2 - tick - s * 2 - w, y - ch / 2, ax->label[i], s, black);
            }
        }
    }
    /* Titles. */
    const char *title = a ? a->title : NULL, *xl = a ? a->xlabel : NULL, *yl = a ? a->ylabel : NULL;
    const char *y2l = a ? a->y2label : NULL;
    int w, h, mid_x = (L->px0 + L->px1) / 2, mid_y = (L->py0 + L->py1) / 2;
    if (title && *title) {
        ed_text_size(title, L->ts, &w, NULL);
        ed_draw_text(img, (L->W - w) / 2, L->title_y, title, L->ts, black);
    }
    if (xl && *xl) {
        ed_text_size(xl, s, &w, NULL);
        ed_draw_text(img, mid_x - w / 2, L->xlabel_y, xl, s, black);
    }
    if (yl && *yl) {
        ed_text_size(yl, s, &w, &h);
        ed__draw_text_up(img, L->ylabel_x, mid_y - w / 2, yl, s, black);
    }
    if (L->has_right && y2l && *y2l) {
        ed_text_size(y2l, s, &w, &h);
        ed__draw_text_up(img, L->y2label_x, mid_y - w / 2, y2l, s, black);
    }
    /* Curves, then markers, then the legend. */
    double hw = s <= 1 ? 0.75 : 0.5 * s + 0.25, r = hw + s;
    for (int k = 0; k < n; k++) {
        const ed_series *sr = &series[k];
        const axis *ay = on_right(L, sr) ? &L->y2 : &L->y;
        double px = 0, py = 0;
        int have = 0;
        for (int i = 0; i < sr->n; i++) {
            double xv = xval(sr, i), yv = sr->y[i];
            if (!isfinite(xv) || !isfinite(yv)) continue;
            double qx = map_x(L, xv), qy = map_y(L, ay, yv);
            if (have) cover_segment(cov, L, px, py, qx, qy, hw);
            else cover_segment(cov, L, qx, qy, qx, qy, hw);   /* a lone point still shows */
            if (sr->n <= 60) cover_segment(cov, L, qx, qy, qx, qy, r);
            px = qx, py = qy, have = 1;
        }
        blend_cover(img, cov, L->pal.rgb[k]);
    }
    for (int k = 0; k < n; k++) {
        int x = L->leg_x[k], y = L->leg_y[k] + ch / 2;
        cover_segment(cov, L, x, y + 0.5, x + 4 * cw, y + 0.5, hw);
        if (series[k].n <= 60) cover_segment(cov, L, x + 2 * cw, y + 0.5, x + 2 * cw, y + 0.5, r);
        blend_cover(img, cov, L->pal.rgb[k]);
        ed_draw_text(img, x + 5 * cw, L->leg_y[k], L->leg_text[k], s, black);
    }
    free(cov);
    free(L);
    *out = img;
    return ED_OK;
}

ed_status ed_plot_png(const char *path, const ed_series *series, int n, const ed_plot_args *a)
{
    if (!path) return ed__err(ED_E_ARG, "plot_png: path is NULL");
    ed_image *img;
    ED_TRY(ed_plot_image(series, n, a, &img));
    ed_status s = ed_image_save_png(path, img);
    ed_image_free(img);
    return s;
}

/* ---- SVG ------------------------------------------------------------------- */

static void svg_text(ed__buf *b, double x, double y, int scale, const char *anchor, const char *text, int up)
{
    /* y is the top of the bitmap font's ink; the SVG baseline sits 7 cells
     * lower, where the bitmap font's capitals end. */
    if (up) {
        ed__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\" "
                          "transform=\"rotate(-90 %.1f %.1f)\">", x + 7 * scale, y, 10 * scale, anchor, x + 7 * scale, y);
    } else {
        ed__buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\" text-anchor=\"%s\">", x, y + 7 * scale,
                       10 * scale, anchor);
    }
    ed__buf_escape(b, text);
    ed__buf_printf(b, "</text>\n");
}

static void hex(char *buf, const uint8_t rgb[3]) { snprintf(buf, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]); }

ed_status ed_plot_svg(const char *path, const ed_series *series, int n, const ed_plot_args *a)
{
    if (!path) return ed__err(ED_E_ARG, "plot_svg: path is NULL");
    ED_TRY(check_series("plot_svg", series, n, a));
    layout *L = malloc(sizeof *L);
    if (!L) return ed__err(ED_E_NOMEM, "plot_svg: out of memory");
    ed_status st = make_layout(series, n, a, L);
    if (st != ED_OK) {
        free(L);
        return st;
    }
    int s = L->s, cw = 6 * s, ch = 8 * s, tick = 3 * s;
    ed__buf b = {0};
    ed__buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                       "font-family=\"DejaVu Sans Mono, Menlo, Consolas, monospace\">\n"
                       "<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
                   L->W, L->H, L->W, L->H);
    ed__buf_printf(&b, "<g stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
    for (int i = 0; i < L->y.nt; i++) {
        double y = floor(map_y(L, &L->y, L->y.tick[i])) + 0.5;
        ed__buf_printf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", L->px0, y, L->px1 + 1, y);
    }
    for (int i = 0; i < L->x.nt; i++) {
        double x = floor(map_x(L, L->x.tick[i])) + 0.5;
        ed__buf_printf(&b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x, L->py0, x, L->py1 + 1);
    }
    ed__buf_printf(&b, "</g>\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#3c3c3c\"/>\n",
                   L->px0 - 0.5, L->py0 - 0.5, L->px1 - L->px0 + 2, L->py1 - L->py0 + 2);
    ed__buf_printf(&b, "<g stroke=\"#3c3c3c\">\n");
    for (int i = 0; i < L->x.nt; i++) {
        double x = floor(map_x(L, L->x.tick[i])) + 0.5;
        ed__buf_printf(&b, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", x, L->py1 + 2, x, L->py1 + 2 + tick);
    }
    for (int side = 0; side < 1 + L->has_right; side++) {
        const axis *ax = side ? &L->y2 : &L->y;
        for (int i = 0; i < ax->nt; i++) {
            double y = floor(map_y(L, ax, ax->tick[i])) + 0.5;
            int x0 = side ? L->px1 + 2 : L->px0 - 1 - tick;
            ed__buf_printf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>\n", x0, y, x0 + tick, y);
        }
    }
    ed__buf_printf(&b, "</g>\n<g fill=\"#000000\">\n");
    for (int i = 0; i < L->x.nt; i++)
        svg_text(&b, floor(map_x(L, L->x.tick[i])) + 0.5, L->py1 + 2 + tick + s * 2, s, "middle", L->x.label[i], 0);
    for (int side = 0; side < 1 + L->has_right; side++) {
        const axis *ax = side ? &L->y2 : &L->y;
        for (int i = 0; i < ax->nt; i++) {
            double y = floor(map_y(L, ax, ax->tick[i])) - ch / 2;
            if (side) svg_text(&b, L->px1 + 2 + tick + s * 2, y, s, "start", ax->label[i], 0);
            else svg_text(&b, L->px0 - 2 - tick - s * 2, y, s, "end", ax->label[i], 0);
        }
    }
    const char *title = a ? a->title : NULL, *xl = a ? a->xlabel : NULL, *yl = a ? a->ylabel : NULL;
    const char *y2l = a ? a->y2label : NULL;
    double mid_x = (L->px0 + L->px1 + 1) / 2.0, mid_y = (L->py0 + L->py1 + 1) / 2.0;
    if (title && *title) svg_text(&b, L->W / 2.0, L->title_y, L->ts, "middle", title, 0);
    if (xl && *xl) svg_text(&b, mid_x, L->xlabel_y, s, "middle", xl, 0);
    if (yl && *yl) svg_text(&b, L->ylabel_x, mid_y, s, "middle", yl, 1);
    if (L->has_right && y2l && *y2l) svg_text(&b, L->y2label_x, mid_y, s, "middle", y2l, 1);
    for (int k = 0; k < n; k++) svg_text(&b, L->leg_x[k] + 5 * cw, L->leg_y[k], s, "start", L->leg_text[k], 0);
    ed__buf_printf(&b, "</g>\n");

    double sw = s <= 1 ? 1.5 : s + 0.5, r = sw / 2 + s;
    for (int k = 0; k < n; k++) {
        const ed_series *sr = &series[k];
        const axis *ay = on_right(L, sr) ? &L->y2 : &L->y;
        char col[8];
        hex(col, L->pal.rgb[k]);
        ed__buf_printf(&b, "<g stroke=\"%s\" fill=\"%s\">\n", col, col);
        int open = 0;
        for (int i = 0; i < sr->n; i++) {
            double xv = xval(sr, i), yv = sr->y[i];
            if (!isfinite(xv) || !isfinite(yv)) continue;
            if (!open) ed__buf_printf(&b, "<polyline fill=\"none\" stroke-width=\"%.2g\" stroke-linejoin=\"round\" "
                                          "stroke-linecap=\"round\" points=\"", sw);
            ed__buf_printf(&b, "%s%.2f,%.2f", open ? " " : "", map_x(L, xv), map_y(L, ay, yv));
            open = 1;
        }
        if (open) ed__buf_printf(&b, "\"/>\n");
        if (sr->n <= SVG_MARKER_LIMIT)
            for (int i = 0; i < sr->n; i++) {
                double xv = xval(sr, i), yv = sr->y[i];
                if (!isfinite(xv) || !isfinite(yv)) continue;
                ed__buf_printf(&b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2g\" stroke=\"none\"%s><title>",
                               map_x(L, xv), map_y(L, ay, yv), r, sr->n <= 60 ? "" : " fill-opacity=\"0\"");
                ed__buf_escape(&b, L->leg_text[k]);
                ed__buf_printf(&b, ": (%.6g, %.6g)</title></circle>\n", xv, yv);
            }
        double ly = L->leg_y[k] + ch / 2 + 0.5;
        ed__buf_printf(&b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke-width=\"%.2g\"/>\n", L->leg_x[k], ly,
                       L->leg_x[k] + 4 * cw, ly, sw);
        if (sr->n <= 60)
            ed__buf_printf(&b, "<circle cx=\"%d\" cy=\"%.1f\" r=\"%.2g\" stroke=\"none\"/>\n", L->leg_x[k] + 2 * cw, ly, r);
        ed__buf_printf(&b, "</g>\n");
    }
    ed__buf_printf(&b, "</svg>\n");
    free(L);
    if (b.oom) st = ed__err(ED_E_NOMEM, "plot_svg: out of memory");
    else st = ed__write_file_atomic("plot_svg", path, b.s, b.len);
    ed__buf_free(&b);
    return st;
}
