/* Drawing on 8-bit RGB images (H x W x 3, interleaved): conversion of any
 * decoded image to that form, rectangles, and instance masks with their
 * boxes and labels. Everything clips to the image; argument errors are
 * found before the first pixel changes. */
#include "eval/picture_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

ed_status ed__check_rgb8(const char *op, const ed_image *img)
{
    if (!img || !img->data) return ed__err(ED_E_ARG, "%s: image is NULL", op);
    if (img->channels != 3 || img->bit_depth != 8 || img->indexed)
        return ed__err(ED_E_ARG, "%s: image must be 8-bit RGB (ed_picture_rgb makes one), got %d channel(s), %d-bit%s",
                       op, img->channels, img->bit_depth, img->indexed ? ", indexed" : "");
    if (img->width < 1 || img->height < 1)
        return ed__err(ED_E_ARG, "%s: image has no pixels (%d x %d)", op, img->width, img->height);
    return ED_OK;
}

void ed__blend_px(ed_image *img, int x, int y, const uint8_t rgb[3], double a)
{
    if (x < 0 || y < 0 || x >= img->width || y >= img->height || !(a > 0)) return;
    if (a > 1) a = 1;
    uint8_t *p = (uint8_t *)img->data + ((int64_t)y * img->width + x) * 3;
    for (int c = 0; c < 3; c++) p[c] = (uint8_t)floor((1 - a) * p[c] + a * rgb[c] + 0.5);
}

ed_status ed_picture_rgb(const ed_image *src, ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "picture_rgb: out is NULL");
    *out = NULL;
    if (!src || !src->data) return ed__err(ED_E_ARG, "picture_rgb: image is NULL");
    int ch = src->channels;
    if (ch < 1 || ch > 4 || (src->bit_depth != 8 && src->bit_depth != 16) || (src->indexed && (ch != 1 || src->bit_depth != 8)))
        return ed__err(ED_E_ARG, "picture_rgb: unsupported image: %d channel(s), %d-bit%s", ch, src->bit_depth,
                       src->indexed ? ", indexed" : "");
    ed_image *img;
    ED_TRY(ed_image_new(src->width, src->height, 3, 8, &img));
    uint8_t *d = img->data;
    int64_t n = (int64_t)src->width * src->height;
    for (int64_t i = 0; i < n; i++) {
        double v[4];   /* samples on 0..255 */
        for (int c = 0; c < ch; c++)
            v[c] = src->bit_depth == 8 ? ((const uint8_t *)src->data)[i * ch + c]
                                       : ((const uint16_t *)src->data)[i * ch + c] * 255.0 / 65535.0;
        double rgb[3], a = 255;
        if (src->indexed) {
            const uint8_t *e = src->palette[(int)v[0]];
            rgb[0] = e[0], rgb[1] = e[1], rgb[2] = e[2], a = e[3];
        } else if (ch <= 2) {
            rgb[0] = rgb[1] = rgb[2] = v[0];
            if (ch == 2) a = v[1];
        } else {
            rgb[0] = v[0], rgb[1] = v[1], rgb[2] = v[2];
            if (ch == 4) a = v[3];
        }
        for (int c = 0; c < 3; c++) {
            double o = rgb[c] * (a / 255) + 255 * (1 - a / 255);   /* over white */
            d[i * 3 + c] = (uint8_t)floor(o + 0.5);
        }
    }
    *out = img;
    return ED_OK;
}

/* Clip [x0, x1] x [y0, y1] (inclusive, any order) to img; 0 when empty. */
static int clip(const ed_image *img, int64_t *x0, int64_t *y0, int64_t *x1, int64_t *y1)
{
    if (*x0 > *x1) { int64_t t = *x0; *x0 = *x1; *x1 = t; }
    if (*y0 > *y1) { int64_t t = *y0; *y0 = *y1; *y1 = t; }
    if (*x0 < 0) *x0 = 0;
    if (*y0 < 0) *y0 = 0;
    if (*x1 > img->width - 1) *x1 = img->width - 1;
    if (*y1 > img->height - 1) *y1 = img->height - 1;
    return *x0 <= *x1 && *y0 <= *y1;
}

static void fill(ed_image *img, int64_t x0, int64_t y0, int64_t x1, int64_t y1, const uint8_t rgb[3])
{
    if (!clip(img, &x0, &y0, &x1, &y1)) return;
    uint8_t *d = img->data;
    for (int64_t y = y0; y <= y1; y++)
        for (int64_t x = x0; x <= x1; x++) memcpy(d + (y * img->width + x) * 3, rgb, 3);
}

ed_status ed_draw_fill_rect(ed_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3])
{
    ED_TRY(ed__check_rgb8("draw_fill_rect", img));
    if (!rgb) return ed__err(ED_E_ARG, "draw_fill_rect: rgb is NULL");
    fill(img, x0, y0, x1, y1, rgb);
    return ED_OK;
}

ed_status ed_draw_rect(ed_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3], int thickness)
{
    ED_TRY(ed__check_rgb8("draw_rect", img));
    if (!rgb) return ed__err(ED_E_ARG, "draw_rect: rgb is NULL");
    if (thickness < 1) return ed__err(ED_E_ARG, "draw_rect: thickness must be >= 1, got %d", thickness);
    int64_t a = x0 < x1 ? x0 : x1, b = x0 < x1 ? x1 : x0, c = y0 < y1 ? y0 : y1, e = y0 < y1 ? y1 : y0;
    int64_t t = thickness - 1;
    fill(img, a, c, b, c + t, rgb);   /* top */
    fill(img, a, e - t, b, e, rgb);   /* bottom */
    fill(img, a, c, a + t, e, rgb);   /* left */
    fill(img, b - t, c, b, e, rgb);   /* right */
    return ED_OK;
}

/* ---- instances ------------------------------------------------------------ */

static int inside(const ed_tensor *masks, int64_t k)
{
    if (ed_tensor_dtype(masks) == ED_U8) return ((const uint8_t *)ed_tensor_cdata(masks))[k] != 0;
    return ((const float *)ed_tensor_cdata(masks))[k] > 0.5f;
}

static ed_status check_instances(const ed_image *img, const ed_instances *in, int scale)
{
    if (!in) return ed__err(ED_E_ARG, "draw_instances: inst is NULL");
    if (in->n < 0) return ed__err(ED_E_ARG, "draw_instances: n must be >= 0, got %d", in->n);
    if (scale < 1 || scale > 64) return ed__err(ED_E_ARG, "draw_instances: scale must be in 1..64, got %d", scale);
    if (in->n == 0) return ED_OK;
    if (!in->masks && !in->boxes) return ed__err(ED_E_ARG, "draw_instances: give masks, boxes or both");
    if (in->masks) {
        const ed_tensor *m = in->masks;
        char buf[ED_SHAPE_BUF];
        if (ed_tensor_dtype(m) != ED_U8 && ed_tensor_dtype(m) != ED_F32)
            return ed__err(ED_E_DTYPE, "draw_instances: masks must be u8 or f32, got %s",
                           ed_dtype_name(ed_tensor_dtype(m)));
        const int64_t *sh = ed_tensor_shape(m);
        if (ed_tensor_ndim(m) != 3 || sh[0] != in->n || sh[1] != img->height || sh[2] != img->width)
            return ed__err(ED_E_SHAPE, "draw_instances: masks must be (n, H, W) = (%d, %d, %d), got %s", in->n,
                           img->height, img->width, ed__shape_str(m, buf));
    }
    for (int i = 0; i < in->n; i++) {
        if (in->boxes)
            for (int k = 0; k < 4; k++)
                if (!isfinite(in->boxes[4 * i + k]) || fabsf(in->boxes[4 * i + k]) > 1e9f)
                    return ed__err(ED_E_ARG, "draw_instances: box %d has a non-finite or huge coordinate (%g)", i,
                                   (double)in->boxes[4 * i + k]);
        if (in->labels && (in->labels[i] < 0 || (in->names && in->labels[i] >= in->num_names)))
            return ed__err(ED_E_RANGE, "draw_instances: label %lld of instance %d is outside 0..%d",
                           (long long)in->labels[i], i, in->names ? in->num_names - 1 : INT32_MAX);
        if (in->labels && in->names && !in->names[in->labels[i]])
            return ed__err(ED_E_ARG, "draw_instances: names[%lld] is NULL", (long long)in->labels[i]);
    }
    return ED_OK;
}

/* Instance i's box as inclusive pixel corners; 0 when it has none (an
 * empty mask and no box). */
static int instance_box(const ed_image *img, const ed_instances *in, int i, int64_t box[4])
{
    if (in->boxes) {
        const float *b = in->boxes + 4 * i;
        box[0] = (int64_t)floorf(b[0]), box[1] = (int64_t)floorf(b[1]);
        box[2] = (int64_t)ceilf(b[2]) - 1, box[3] = (int64_t)ceilf(b[3]) - 1;
        if (box[2] < box[0]) box[2] = box[0];
        if (box[3] < box[1]) box[3] = box[1];
        return 1;
    }
    int64_t plane = (int64_t)img->width * img->height;
    box[0] = img->width, box[1] = img->height, box[2] = -1, box[3] = -1;
    for (int64_t k = 0; k < plane; k++)
        if (inside(in->masks, i * plane + k)) {
            int64_t x = k % img->width, y = k / img->width;
            if (x < box[0]) box[0] = x;
            if (x > box[2]) box[2] = x;
            if (y < box[1]) box[1] = y;
            if (y > box[3]) box[3] = y;
        }
    return box[2] >= 0;
}

ed_status ed_draw_instances(ed_image *img, const ed_instances *in, double alpha, int scale)
{
    ED_TRY(ed__check_rgb8("draw_instances", img));
    ED_TRY(check_instances(img, in, scale));
    if (!(alpha >= 0 && alpha <= 1)) return ed__err(ED_E_ARG, "draw_instances: alpha must be in [0, 1], got %g", alpha);
    if (in->n == 0) return ED_OK;
    ed_palette pal;
    ED_TRY(ed_palette_distinct(in->n < ED_PALETTE_MAX ? in->n : ED_PALETTE_MAX, &pal));
    int64_t plane = (int64_t)img->width * img->height;
    uint8_t *d = img->data;
    /* Masks first, then every box, then every label, so no label is painted
     * over by a later instance's mask. */
    if (in->masks)
        for (int i = 0; i < in->n; i++) {
            const uint8_t *col = pal.rgb[i % ED_PALETTE_MAX];
            for (int64_t k = 0; k < plane; k++)
                if (inside(in->masks, i * plane + k))
                    for (int c = 0; c < 3; c++)
                        d[3 * k + c] = (uint8_t)floor((1 - alpha) * d[3 * k + c] + alpha * col[c] + 0.5);
        }
    for (int i = 0; i < in->n; i++) {
        int64_t b[4];
        if (!instance_box(img, in, i, b)) continue;
        int t = scale;
        fill(img, b[0], b[1], b[2], b[1] + t - 1, pal.rgb[i % ED_PALETTE_MAX]);
        fill(img, b[0], b[3] - t + 1, b[2], b[3], pal.rgb[i % ED_PALETTE_MAX]);
        fill(img, b[0], b[1], b[0] + t - 1, b[3], pal.rgb[i % ED_PALETTE_MAX]);
        fill(img, b[2] - t + 1, b[1], b[2], b[3], pal.rgb[i % ED_PALETTE_MAX]);
    }
    if (!in->labels && !in->scores) return ED_OK;
    for (int i = 0; i < in->n; i++) {
        int64_t b[4];
        if (!instance_box(img, in, i, b)) continue;
        char text[160] = "";
        int len = 0;
        if (in->labels) {
            if (in->names) len = snprintf(text, sizeof text, "%.120s", in->names[in->labels[i]]);
            else len = snprintf(text, sizeof text, "class %lld", (long long)in->labels[i]);
        }
        if (in->scores)
            snprintf(text + len, sizeof text - (size_t)len, "%s%.2f", len ? " " : "", (double)in->scores[i]);
        int w, h;
        ed_text_size(text, scale, &w, &h);
        w += 2 * scale, h += 2 * scale;
        int64_t x = b[0], y = b[1] - h;
        if (y < 0) y = b[1] < 0 ? 0 : b[1];    /* no room above: inside the top */
        if (x + w > img->width) x = img->width - w;
        if (x < 0) x = 0;
        if (y + h > img->height) y = img->height - h;
        if (y < 0) y = 0;
        const uint8_t *bg = pal.rgb[i % ED_PALETTE_MAX];
        static const uint8_t white[3] = {255, 255, 255}, black[3] = {0, 0, 0};
        const uint8_t *fg = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2] > 150 ? black : white;
        ED_TRY(ed_draw_label(img, (int)x, (int)y, text, scale, fg, bg));
    }
    return ED_OK;
}
