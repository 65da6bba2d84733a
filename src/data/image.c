/* Images: allocation, loading by signature, and conversion to and from
 * tensors.
 *   ed_image_to_tensor:  H x W x C samples -> float32 (1, C, H, W), each
 *     sample / 255 (or / 65535) in float32, as torchvision's to_tensor.
 *   ed_image_to_labels:  one-channel image -> int64 (H, W), samples as is.
 *   ed_tensor_to_image:  (C, H, W) or (1, C, H, W) float -> 8-bit image,
 *     floor(clamp(v, 0, 1) * 255 + 0.5) in double (round half up).
 * The decoders live in image_png.c and image_jpeg.c; whole files are read
 * into memory first so a truncated file is found the same way in both. */
#include "data/image_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

ed_status ed__image_check_dims(int64_t w, int64_t h, const char *name)
{
    if (w <= 0 || h <= 0)
        return ed__err(ED_E_FORMAT, "image_load: %s: zero image dimensions %lld x %lld", name, (long long)w,
                       (long long)h);
    if (w > ED_IMAGE_MAX_SIDE || h > ED_IMAGE_MAX_SIDE || w * h > ED_IMAGE_MAX_PIXELS)
        return ed__err(ED_E_FORMAT,
                       "image_load: %s: image of %lld x %lld pixels is past the limit (%d per side, %lld pixels)",
                       name, (long long)w, (long long)h, ED_IMAGE_MAX_SIDE, (long long)ED_IMAGE_MAX_PIXELS);
    return ED_OK;
}

ed_status ed__image_alloc(int w, int h, int c, int depth, int zero, ed_image **out)
{
    ed_image *img = calloc(1, sizeof *img);
    size_t bytes = (size_t)w * (size_t)h * (size_t)c * (size_t)(depth / 8);
    if (img) img->data = zero ? calloc(bytes, 1) : malloc(bytes);
    if (!img || !img->data) {
        free(img);
        return ed__err(ED_E_NOMEM, "image: cannot allocate %d x %d x %d (%zu bytes)", w, h, c, bytes);
    }
    img->width = w;
    img->height = h;
    img->channels = c;
    img->bit_depth = depth;
    *out = img;
    return ED_OK;
}

ed_status ed_image_new(int width, int height, int channels, int bit_depth, ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "image_new: out is NULL");
    *out = NULL;
    if (channels < 1 || channels > 4)
        return ed__err(ED_E_ARG, "image_new: channels must be 1..4, got %d", channels);
    if (bit_depth != 8 && bit_depth != 16)
        return ed__err(ED_E_ARG, "image_new: bit_depth must be 8 or 16, got %d", bit_depth);
    if (width <= 0 || height <= 0 || width > ED_IMAGE_MAX_SIDE || height > ED_IMAGE_MAX_SIDE ||
        (int64_t)width * height > ED_IMAGE_MAX_PIXELS)
        return ed__err(ED_E_ARG, "image_new: size %d x %d must be positive and within %d per side, %lld pixels",
                       width, height, ED_IMAGE_MAX_SIDE, (long long)ED_IMAGE_MAX_PIXELS);
    return ed__image_alloc(width, height, channels, bit_depth, 1, out);
}

void ed_image_free(ed_image *img)
{
    if (!img) return;
    free(img->data);
    free(img);
}

static const uint8_t png_sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };

static ed_status decode(const uint8_t *buf, size_t len, int flags, const char *name, ed_image **out)
{
    if (len >= 8 && !memcmp(buf, png_sig, 8)) return ed__png_decode(buf, len, flags, name, out);
    if (len >= 3 && buf[0] == 0xff && buf[1] == 0xd8 && buf[2] == 0xff) return ed__jpeg_decode(buf, len, name, out);
    if (len == 0) return ed__err(ED_E_FORMAT, "image_load: %s: the file is empty", name);
    char sig[3 * 8 + 1] = "";
    for (size_t i = 0; i < len && i < 8; i++) snprintf(sig + 3 * i, 4, "%02x ", buf[i]);
    sig[strlen(sig) - 1] = '\0';
    return ed__err(ED_E_FORMAT, "image_load: %s: not a PNG or JPEG file (starts with %s)", name, sig);
}

ed_status ed_image_load_memory(const void *buf, size_t len, int flags, ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "image_load: out is NULL");
    *out = NULL;
    if (!buf && len) return ed__err(ED_E_ARG, "image_load: buffer is NULL");
    return decode(buf, len, flags, "<memory>", out);
}

ed_status ed_image_load(const char *path, int flags, ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "image_load: out is NULL");
    *out = NULL;
    if (!path) return ed__err(ED_E_ARG, "image_load: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return ed__err(ED_E_IO, "image_load: %s: cannot open: %s", path, strerror(errno));
    /* Grow the buffer while reading: works for pipes and needs no seek. */
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    ed_status s = ED_OK;
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (ferror(f)) { s = ed__err(ED_E_IO, "image_load: %s: read failed: %s", path, strerror(errno)); break; }
        if (len < cap) break;
        uint8_t *nb = cap < ((size_t)1 << 40) ? realloc(buf, cap * 2) : NULL;
        if (!nb) { free(buf); buf = NULL; break; }
        buf = nb;
        cap *= 2;
    }
    fclose(f);
    if (!buf) return ed__err(ED_E_NOMEM, "image_load: %s: cannot allocate a buffer for the file", path);
    if (s == ED_OK) s = decode(buf, len, flags, path, out);
    free(buf);
    return s;
}

static ed_status check_image(const ed_image *img, const char *op)
{
    if (!img || !img->data) return ed__err(ED_E_ARG, "%s: image or its data is NULL", op);
    if (img->width <= 0 || img->height <= 0 || img->channels < 1 || img->channels > 4 ||
        (img->bit_depth != 8 && img->bit_depth != 16))
        return ed__err(ED_E_ARG, "%s: invalid image %d x %d, %d channels, %d-bit", op, img->width, img->height,
                       img->channels, img->bit_depth);
    return ED_OK;
}

ed_status ed_image_to_tensor(const ed_image *img, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "image_to_tensor: out is NULL");
    *out = NULL;
    ED_TRY(check_image(img, "image_to_tensor"));
    if (img->indexed)
        return ed__err(ED_E_ARG, "image_to_tensor: the image holds palette indices; use ed_image_to_labels "
                                 "or load it without ED_IMAGE_KEEP_PALETTE");
    const int64_t C = img->channels, H = img->height, W = img->width, HW = H * W;
    ed_tensor *t = NULL;
    ED_TRY(ed_tensor_new(ED_F32, 4, (int64_t[]){ 1, C, H, W }, &t));
    float *o = ed__f32(t);
    if (img->bit_depth == 8) {
        const uint8_t *p = img->data;
        for (int64_t i = 0; i < HW; i++)
            for (int64_t c = 0; c < C; c++) o[c * HW + i] = (float)p[i * C + c] / 255.0f;
    } else {
        const uint16_t *p = img->data;
        for (int64_t i = 0; i < HW; i++)
            for (int64_t c = 0; c < C; c++) o[c * HW + i] = (float)p[i * C + c] / 65535.0f;
    }
    *out = t;
    return ED_OK;
}

ed_status ed_image_to_labels(const ed_image *img, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "image_to_labels: out is NULL");
    *out = NULL;
    ED_TRY(check_image(img, "image_to_labels"));
    if (img->channels != 1)
        return ed__err(ED_E_ARG, "image_to_labels: a label image has 1 channel, got %d", img->channels);
    const int64_t H = img->height, W = img->width;
    ed_tensor *t = NULL;
    ED_TRY(ed_tensor_new(ED_I64, 2, (int64_t[]){ H, W }, &t));
    int64_t *o = ed__i64(t);
    for (int64_t i = 0; i < H * W; i++)
        o[i] = img->bit_depth == 8 ? ((const uint8_t *)img->data)[i] : ((const uint16_t *)img->data)[i];
    *out = t;
    return ED_OK;
}

ed_status ed_tensor_to_image(const ed_tensor *t, ed_image **out)
{
    if (!out) return ed__err(ED_E_ARG, "tensor_to_image: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_float(t, "tensor_to_image", "t"));
    char sb[ED_SHAPE_BUF];
    int off = t->ndim == 4 ? 1 : 0;
    if ((t->ndim != 3 && t->ndim != 4) || (t->ndim == 4 && t->shape[0] != 1))
        return ed__err(ED_E_SHAPE, "tensor_to_image: t must be (C, H, W) or (1, C, H, W), got %s",
                       ed__shape_str(t, sb));
    const int64_t C = t->shape[off], H = t->shape[off + 1], W = t->shape[off + 2];
    if (C < 1 || C > 4)
        return ed__err(ED_E_SHAPE, "tensor_to_image: 1..4 channels, got %lld in %s", (long long)C,
                       ed__shape_str(t, sb));
    if (H <= 0 || W <= 0 || H > ED_IMAGE_MAX_SIDE || W > ED_IMAGE_MAX_SIDE || H * W > ED_IMAGE_MAX_PIXELS)
        return ed__err(ED_E_SHAPE, "tensor_to_image: image size %lld x %lld is empty or past the limits",
                       (long long)W, (long long)H);
    const int64_t HW = H * W;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = ed__get(t, i);
        if (isnan(v))
            return ed__err(ED_E_NAN, "tensor_to_image: NaN at channel %lld, y %lld, x %lld", (long long)(i / HW),
                           (long long)(i % HW / W), (long long)(i % W));
    }
    ed_image *img = NULL;
    ED_TRY(ed__image_alloc((int)W, (int)H, (int)C, 8, 0, &img));
    uint8_t *p = img->data;
    for (int64_t c = 0; c < C; c++)
        for (int64_t i = 0; i < HW; i++) {
            double v = ed__get(t, c * HW + i);
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            p[i * C + c] = (uint8_t)floor(v * 255.0 + 0.5);
        }
    *out = img;
    return ED_OK;
}
