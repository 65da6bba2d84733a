/* Side-by-side grids: input | ground truth | prediction, or a set of
 * samples. n images of any size in rows of `cols`, white around and between
 * them. Column j is as wide as the widest image or caption in it, row r as
 * tall as its tallest image, plus (when any image in the row has a caption)
 * a gap of 2 * scale and its tallest caption, so captions in a row share one
 * top line. Each image is centred in its column at the top of its row. */
#include "eval/picture_internal.h"

#include <stdlib.h>
#include <string.h>

ed_status ed_grid(const ed_image *const *images, const char *const *captions, int n, int cols, int pad, int scale,
                  ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "grid: out is NULL");
    *out = NULL;
    if (!images || n < 1) return ed__err(ED_E_ARG, "grid: needs at least one image, got %d", n);
    if (pad < 0 || pad > 4096) return ed__err(ED_E_ARG, "grid: pad must be in 0..4096, got %d", pad);
    if (scale < 1 || scale > 64) return ed__err(ED_E_ARG, "grid: scale must be in 1..64, got %d", scale);
    for (int i = 0; i < n; i++)
        if (!images[i] || !images[i]->data || images[i]->width < 1 || images[i]->height < 1)
            return ed__err(ED_E_ARG, "grid: image %d is NULL or empty", i);
    int nc = cols <= 0 || cols > n ? n : cols, nr = (n + nc - 1) / nc;
    int64_t *colw = calloc((size_t)nc, sizeof *colw), *rowh = calloc((size_t)nr, sizeof *rowh);
    int64_t *rowimg = calloc((size_t)nr, sizeof *rowimg);
    ed_image **rgb = calloc((size_t)n, sizeof *rgb);
    ed_status s = ED_OK;
    if (!colw || !rowh || !rowimg || !rgb) {
        s = ed__err(ED_E_NOMEM, "grid: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++) {
        int r = i / nc, c = i % nc, tw = 0, th = 0;
        if (captions && captions[i]) ed_text_size(captions[i], scale, &tw, &th);
        int64_t w = images[i]->width > tw ? images[i]->width : tw;
        if (w > colw[c]) colw[c] = w;
        if (images[i]->height > rowimg[r]) rowimg[r] = images[i]->height;
        if (th > 0 && th + 2 * scale > rowh[r]) rowh[r] = th + 2 * scale;   /* caption part for now */
    }
    int64_t W = pad, H = pad;
    for (int c = 0; c < nc; c++) W += colw[c] + pad;
    for (int r = 0; r < nr; r++) H += rowimg[r] + rowh[r] + pad;
    if (W > ED_IMAGE_MAX_SIDE || H > ED_IMAGE_MAX_SIDE || W * H > ED_IMAGE_MAX_PIXELS) {
        s = ed__err(ED_E_ARG, "grid: the grid would be %lld x %lld pixels, past the image limits", (long long)W,
                    (long long)H);
        goto done;
    }
    for (int i = 0; i < n && s == ED_OK; i++) s = ed_picture_rgb(images[i], &rgb[i]);
    if (s != ED_OK) goto done;
    ed_image *g;
    if ((s = ed_image_new((int)W, (int)H, 3, 8, &g)) != ED_OK) goto done;
    memset(g->data, 255, (size_t)W * (size_t)H * 3);
    static const uint8_t black[3] = {0, 0, 0};
    int64_t y = pad;
    for (int r = 0; r < nr; r++) {
        int64_t x = pad;
        for (int c = 0; c < nc && r * nc + c < n; c++) {
            int i = r * nc + c;
            const ed_image *im = rgb[i];
            int64_t ox = x + (colw[c] - im->width) / 2;
            for (int yy = 0; yy < im->height; yy++)
                memcpy((uint8_t *)g->data + ((y + yy) * W + ox) * 3, (const uint8_t *)im->data + (int64_t)yy * im->width * 3,
                       (size_t)im->width * 3);
            if (captions && captions[i]) {
                int tw;
                ed_text_size(captions[i], scale, &tw, NULL);
                ed_draw_text(g, (int)(x + (colw[c] - tw) / 2), (int)(y + rowimg[r] + 2 * scale), captions[i], scale,
                             black);
            }
            x += colw[c] + pad;
        }
        y += rowimg[r] + rowh[r] + pad;
    }
    *out = g;
done:
    if (rgb)
        for (int i = 0; i < n; i++) ed_image_free(rgb[i]);
    free(rgb);
    free(colw);
    free(rowh);
    free(rowimg);
    return s;
}
