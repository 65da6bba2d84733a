/* Class palettes and label maps in colour.
 *   CamVid: SegNet's 11 classes and void, coloured as camvid/legend.png.
 *   VOC: the PASCAL colour map, which spreads an index's bits over the high
 *     bits of R, G and B so that neighbouring indices differ strongly.
 *   distinct: tab10 (what matplotlib users recognise) and then golden-ratio
 *     hue steps, which never repeat and stay far apart for small n.
 * ed_label_colorize: labels (H, W) U8/I32/I64 -> 8-bit RGB (H, W, 3). */
#include "eval/picture_internal.h"

#include <math.h>
#include <string.h>

void ed_palette_camvid(ed_palette *out)
{
    static const struct { const char *name; uint8_t rgb[3]; } camvid[ED_CAMVID_CLASSES + 1] = {
        {"Sky", {128, 128, 128}},     {"Building", {128, 0, 0}},    {"Pole", {192, 192, 128}},
        {"Road", {128, 64, 128}},     {"Pavement", {60, 40, 222}},  {"Tree", {128, 128, 0}},
        {"SignSymbol", {192, 128, 128}}, {"Fence", {64, 64, 128}},  {"Car", {64, 0, 128}},
        {"Pedestrian", {64, 64, 0}},  {"Bicyclist", {0, 128, 192}}, {"void", {0, 0, 0}},
    };
    if (!out) return;
    memset(out, 0, sizeof *out);
    out->size = ED_CAMVID_CLASSES + 1;
    for (int i = 0; i < out->size; i++) {
        memcpy(out->rgb[i], camvid[i].rgb, 3);
        out->names[i] = camvid[i].name;
    }
}

ed_status ed_palette_voc(int n, ed_palette *out)
{
    static const char *voc[21] = {"background", "aeroplane", "bicycle", "bird",  "boat",        "bottle", "bus",
                                  "car",        "cat",       "chair",   "cow",   "diningtable", "dog",    "horse",
                                  "motorbike",  "person",    "pottedplant", "sheep", "sofa",   "train",  "tvmonitor"};
    if (!out) return ed__err(ED_E_ARG, "palette_voc: out is NULL");
    if (n < 1 || n > ED_PALETTE_MAX) return ed__err(ED_E_ARG, "palette_voc: n must be in 1..256, got %d", n);
    memset(out, 0, sizeof *out);
    out->size = n;
    for (int i = 0; i < n; i++) {
        int r = 0, g = 0, b = 0, c = i;
        for (int j = 0; j < 8; j++, c >>= 3) {
            r |= (c & 1) << (7 - j);
            g |= ((c >> 1) & 1) << (7 - j);
            b |= ((c >> 2) & 1) << (7 - j);
        }
        out->rgb[i][0] = (uint8_t)r, out->rgb[i][1] = (uint8_t)g, out->rgb[i][2] = (uint8_t)b;
        if (i < 21) out->names[i] = voc[i];
    }
    return ED_OK;
}

static void hsv_to_rgb(double h, double s, double v, uint8_t rgb[3])
{
    double h6 = h * 6, f = h6 - floor(h6);
    double p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
    double r, g, b;
    switch ((int)floor(h6) % 6) {
    case 0: r = v, g = t, b = p; break;
    case 1: r = q, g = v, b = p; break;
    case 2: r = p, g = v, b = t; break;
    case 3: r = p, g = q, b = v; break;
    case 4: r = t, g = p, b = v; break;
    default: r = v, g = p, b = q; break;
    }
    rgb[0] = (uint8_t)floor(r * 255 + 0.5), rgb[1] = (uint8_t)floor(g * 255 + 0.5), rgb[2] = (uint8_t)floor(b * 255 + 0.5);
}

ed_status ed_palette_distinct(int n, ed_palette *out)
{
    static const uint8_t tab10[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44},  {214, 39, 40},
                                         {148, 103, 189}, {140, 86, 75}, {227, 119, 194}, {127, 127, 127},
                                         {188, 189, 34}, {23, 190, 207}};
    if (!out) return ed__err(ED_E_ARG, "palette_distinct: out is NULL");
    if (n < 1 || n > ED_PALETTE_MAX) return ed__err(ED_E_ARG, "palette_distinct: n must be in 1..256, got %d", n);
    memset(out, 0, sizeof *out);
    out->size = n;
    for (int i = 0; i < n; i++) {
        if (i < 10) {
            memcpy(out->rgb[i], tab10[i], 3);
            continue;
        }
        double h = fmod(0.05 + (i - 10) * 0.6180339887498949, 1.0);
        hsv_to_rgb(h, (i & 1) ? 0.55 : 0.85, ((i >> 1) & 1) ? 0.72 : 0.95, out->rgb[i]);
    }
    return ED_OK;
}

/* Checks a label tensor for op: U8/I32/I64, (H, W) after dropping leading
 * 1s. Gives its height and width. */
static ed_status label_shape(const char *op, const ed_tensor *labels, int *h, int *w)
{
    if (!labels) return ed__err(ED_E_ARG, "%s: labels is NULL", op);
    ed_dtype dt = ed_tensor_dtype(labels);
    if (dt != ED_U8 && dt != ED_I32 && dt != ED_I64)
        return ed__err(ED_E_DTYPE, "%s: labels must be u8, i32 or i64, got %s", op, ed_dtype_name(dt));
    int nd = ed_tensor_ndim(labels);
    const int64_t *sh = ed_tensor_shape(labels);
    char buf[ED_SHAPE_BUF];
    if (nd < 2) return ed__err(ED_E_SHAPE, "%s: labels must be (H, W), got %s", op, ed__shape_str(labels, buf));
    for (int d = 0; d < nd - 2; d++)
        if (sh[d] != 1)
            return ed__err(ED_E_SHAPE, "%s: labels must be (H, W) (leading sizes 1), got %s", op,
                           ed__shape_str(labels, buf));
    if (sh[nd - 2] < 1 || sh[nd - 1] < 1 || sh[nd - 2] > ED_IMAGE_MAX_SIDE || sh[nd - 1] > ED_IMAGE_MAX_SIDE)
        return ed__err(ED_E_SHAPE, "%s: labels must have sides in 1..%d, got %s", op, ED_IMAGE_MAX_SIDE,
                       ed__shape_str(labels, buf));
    *h = (int)sh[nd - 2], *w = (int)sh[nd - 1];
    return ED_OK;
}

static int64_t label_at(const ed_tensor *labels, int64_t i)
{
    const void *d = ed_tensor_cdata(labels);
    switch (ed_tensor_dtype(labels)) {
    case ED_U8: return ((const uint8_t *)d)[i];
    case ED_I32: return ((const int32_t *)d)[i];
    default: return ((const int64_t *)d)[i];
    }
}

/* Every label other than skip must index pal; checked before anything is
 * written so that a bad map leaves the image as it was. */
static ed_status check_labels(const char *op, const ed_tensor *labels, int w, const ed_palette *pal, int64_t skip)
{
    int64_t n = ed_tensor_numel(labels);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = label_at(labels, i);
        if (v != skip && (v < 0 || v >= pal->size))
            return ed__err(ED_E_RANGE, "%s: label %lld at (y %lld, x %lld) is outside the palette (%d entries)", op,
                           (long long)v, (long long)(i / w), (long long)(i % w), pal->size);
    }
    return ED_OK;
}

ed_status ed_label_colorize(const ed_tensor *labels, const ed_palette *pal, ed_image **out)
{
    int h, w;
    if (!out) return ed__err(ED_E_ARG, "label_colorize: out is NULL");
    *out = NULL;
    if (!pal || pal->size < 1 || pal->size > ED_PALETTE_MAX)
        return ed__err(ED_E_ARG, "label_colorize: pal is NULL or has no entries");
    ED_TRY(label_shape("label_colorize", labels, &h, &w));
    ED_TRY(check_labels("label_colorize", labels, w, pal, INT64_MIN));
    ed_image *img;
    ED_TRY(ed_image_new(w, h, 3, 8, &img));
    uint8_t *px = img->data;
    for (int64_t i = 0; i < (int64_t)h * w; i++) memcpy(px + 3 * i, pal->rgb[label_at(labels, i)], 3);
    *out = img;
    return ED_OK;
}

ed_status ed_draw_overlay(ed_image *img, const ed_tensor *labels, const ed_palette *pal, double alpha,
                          int64_t skip_label)
{
    int h, w;
    ED_TRY(ed__check_rgb8("draw_overlay", img));
    if (!pal || pal->size < 1 || pal->size > ED_PALETTE_MAX)
        return ed__err(ED_E_ARG, "draw_overlay: pal is NULL or has no entries");
    if (!(alpha >= 0 && alpha <= 1)) return ed__err(ED_E_ARG, "draw_overlay: alpha must be in [0, 1], got %g", alpha);
    ED_TRY(label_shape("draw_overlay", labels, &h, &w));
    if (h != img->height || w != img->width)
        return ed__err(ED_E_SHAPE, "draw_overlay: labels are %d x %d (H x W) but the image is %d x %d", h, w,
                       img->height, img->width);
    ED_TRY(check_labels("draw_overlay", labels, w, pal, skip_label));
    uint8_t *px = img->data;
    for (int64_t i = 0; i < (int64_t)h * w; i++) {
        int64_t v = label_at(labels, i);
        if (v == skip_label) continue;
        for (int c = 0; c < 3; c++)
            px[3 * i + c] = (uint8_t)floor((1 - alpha) * px[3 * i + c] + alpha * pal->rgb[v][c] + 0.5);
    }
    return ED_OK;
}
