/* The confusion matrix as a picture: C x C square cells, row t column p
 * holding the pixels of true class t predicted as p. Shading is by the
 * cell's share of its row (so the diagonal reads as each class's recall and
 * rare classes are as visible as common ones), from white to dark blue
 * through matplotlib's "Blues" stops; each cell prints that share in
 * percent and its count in 3 significant digits with k/M/G (an empty cell
 * just a grey 0, so the errors stand out). Row names sit on the left,
 * column names turned upright above; with a palette, a swatch of each
 * class's colour sits beside its name. */
#include "eval/picture_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void shade(double f, uint8_t rgb[3])
{
    static const double stop[5][3] = {{247, 251, 255}, {198, 219, 239}, {107, 174, 214}, {33, 113, 181}, {8, 48, 107}};
    double t = f * 4;
    int i = t >= 4 ? 3 : (int)t;
    double u = t - i;
    for (int c = 0; c < 3; c++) rgb[c] = (uint8_t)(stop[i][c] + u * (stop[i + 1][c] - stop[i][c]) + 0.5);
}

static void format_count(int64_t v, char *buf, size_t n)
{
    static const char suffix[] = "kMGTPE";
    if (v < 1000) {
        snprintf(buf, n, "%lld", (long long)v);
        return;
    }
    double d = (double)v;
    int k = -1;
    while (d >= 999.5 && k < 5) d /= 1000, k++;
    snprintf(buf, n, "%.3g%c", d, suffix[k]);
}

ed_status ed_confusion_heatmap(const int64_t *conf, int C, const char *const *names, const ed_palette *pal, int scale,
                               ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "confusion_heatmap: out is NULL");
    *out = NULL;
    if (!conf) return ed__err(ED_E_ARG, "confusion_heatmap: conf is NULL");
    if (C < 1 || C > 256) return ed__err(ED_E_ARG, "confusion_heatmap: num_classes must be in 1..256, got %d", C);
    if (scale < 1 || scale > 16) return ed__err(ED_E_ARG, "confusion_heatmap: scale must be in 1..16, got %d", scale);
    if (pal && pal->size < C)
        return ed__err(ED_E_ARG, "confusion_heatmap: the palette has %d entries for %d classes", pal->size, C);
    for (int64_t i = 0; i < (int64_t)C * C; i++)
        if (conf[i] < 0)
            return ed__err(ED_E_RANGE, "confusion_heatmap: count %lld at (true %lld, predicted %lld) is negative",
                           (long long)conf[i], (long long)(i / C), (long long)(i % C));
    char(*label)[48] = calloc((size_t)C, sizeof *label);
    if (!label) return ed__err(ED_E_NOMEM, "confusion_heatmap: out of memory");
    int s = scale, cw = 6 * s, ch = 8 * s, gap = 4 * s, ts = s + 1, name_w = 0;
    for (int i = 0; i < C; i++) {
        const char *nm = names ? names[i] : pal ? pal->names[i] : NULL;
        if (nm) snprintf(label[i], sizeof label[i], "%.40s", nm);
        else snprintf(label[i], sizeof label[i], "%d", i);
        int w;
        ed_text_size(label[i], s, &w, NULL);
        if (w > name_w) name_w = w;
    }
    const char *title = "Confusion matrix", *xt = "predicted class", *yt = "true class",
               *note = "cells: % of the true class's pixels, and the count";
    int title_w, xt_w, yt_w, note_w;
    ed_text_size(title, ts, &title_w, NULL);
    ed_text_size(xt, s, &xt_w, NULL);
    ed_text_size(yt, s, &yt_w, NULL);
    ed_text_size(note, s, &note_w, NULL);
    int cell = 7 * cw, sw = pal ? ch + gap : 0;   /* swatch and its gap */
    int mx = gap + ch + gap + sw + name_w + gap, my = gap + 8 * ts + gap + ch + gap + name_w + gap + sw;
    int W = mx + C * cell + 2 * gap, H = my + C * cell + 2 * gap + ch + 2 * gap;
    if (W < title_w + 2 * gap) W = title_w + 2 * gap;
    if (W < note_w + 2 * gap) W = note_w + 2 * gap;
    if ((int64_t)W * H > ED_IMAGE_MAX_PIXELS) {
        free(label);
        return ed__err(ED_E_ARG, "confusion_heatmap: %d classes at scale %d make too large a picture", C, s);
    }
    ed_image *img;
    ed_status st = ed_image_new(W, H, 3, 8, &img);
    if (st != ED_OK) {
        free(label);
        return st;
    }
    memset(img->data, 255, (size_t)W * H * 3);
    static const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255}, empty[3] = {232, 232, 232},
                         frame[3] = {150, 150, 150}, grey[3] = {90, 90, 90},
                         zero[3] = {170, 170, 170};
    ed_draw_text(img, (W - title_w) / 2, gap, title, ts, black);
    ed_draw_text(img, mx + (C * cell - xt_w) / 2, gap + 8 * ts + gap, xt, s, black);
    ed__draw_text_up(img, gap, my + (C * cell - yt_w) / 2, yt, s, black);
    ed_draw_text(img, gap, my + C * cell + 2 * gap, note, s, grey);
    for (int i = 0; i < C; i++) {
        int w;
        ed_text_size(label[i], s, &w, NULL);
        int cy = my + i * cell + (cell - ch) / 2, cx = mx + i * cell + (cell - ch) / 2;
        ed_draw_text(img, mx - gap - w, cy, label[i], s, black);                       /* row name */
        ed__draw_text_up(img, cx, my - sw - gap - w, label[i], s, black);              /* column name */
        if (pal) {
            int sx = mx - gap - w - sw;   /* just left of its name */
            ed_draw_fill_rect(img, sx, cy, sx + ch - 1, cy + ch - 1, pal->rgb[i]);
            ed_draw_rect(img, sx, cy, sx + ch - 1, cy + ch - 1, frame, 1);
            ed_draw_fill_rect(img, cx, my - sw, cx + ch - 1, my - gap - 1, pal->rgb[i]);
            ed_draw_rect(img, cx, my - sw, cx + ch - 1, my - gap - 1, frame, 1);
        }
    }
    for (int t = 0; t < C; t++) {
        int64_t row = 0;
        for (int p = 0; p < C; p++) row += conf[(int64_t)t * C + p];
        for (int p = 0; p < C; p++) {
            int64_t v = conf[(int64_t)t * C + p];
            int x0 = mx + p * cell, y0 = my + t * cell;
            uint8_t bg[3];
            char l1[32], l2[32];
            double f = row ? (double)v / (double)row : 0;
            if (row) shade(f, bg);
            else memcpy(bg, empty, 3);
            ed_draw_fill_rect(img, x0, y0, x0 + cell - 1, y0 + cell - 1, bg);
            if (!row) snprintf(l1, sizeof l1, "-"), l2[0] = 0;
            else if (v == 0) snprintf(l1, sizeof l1, "0"), l2[0] = 0;   /* quiet, so the errors stand out */
            else {
                if (v > 0 && f < 0.0005) snprintf(l1, sizeof l1, "<0.1%%");
                else snprintf(l1, sizeof l1, "%.1f%%", 100 * f);
                format_count(v, l2, sizeof l2);
            }
            const uint8_t *fg = row && f > 0.45 ? white : v == 0 ? zero : black;
            int w1, w2;
            ed_text_size(l1, s, &w1, NULL);
            ed_text_size(l2, s, &w2, NULL);
            int ty = y0 + (cell - (l2[0] ? 2 * ch + 2 * s : ch)) / 2;
            ed_draw_text(img, x0 + (cell - w1) / 2, ty, l1, s, fg);
            if (l2[0]) ed_draw_text(img, x0 + (cell - w2) / 2, ty + ch + 2 * s, l2, s, fg);
        }
    }
    for (int k = 1; k < C; k++) {   /* white seams between cells */
        ed_draw_fill_rect(img, mx + k * cell, my, mx + k * cell, my + C * cell - 1, white);
        ed_draw_fill_rect(img, mx, my + k * cell, mx + C * cell - 1, my + k * cell, white);
    }
    ed_draw_rect(img, mx - 1, my - 1, mx + C * cell, my + C * cell, frame, 1);
    free(label);
    *out = img;
    return ED_OK;
}
