/* PNG through libpng: decoding from memory and saving.
 *
 * libpng reports errors by calling an error function that must not return;
 * ours copies the message and longjmps back to the setjmp in the entry
 * function, which frees what was made and returns ED_E_FORMAT (ED_E_IO on
 * save). The work itself runs in a separate function called after setjmp,
 * so none of its locals can be clobbered by the longjmp. Warnings are
 * dropped: the library never prints.
 *
 * Decoding transforms (see image.h for the table): palette -> RGB(A) unless
 * ED_IMAGE_KEEP_PALETTE, 1/2/4-bit gray -> 8-bit scaled, tRNS -> alpha,
 * 16-bit big-endian -> native, Adam7 interlace -> whole rows. */
#include "data/image_internal.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct png_ctx {
    const uint8_t *buf;
    size_t len, pos;
    char msg[256];
    ed_image *img;       /* freed on error */
    uint8_t **rows;      /* freed always */
} png_ctx;

static void on_error(png_structp png, png_const_charp msg)
{
    png_ctx *c = png_get_error_ptr(png);
    snprintf(c->msg, sizeof c->msg, "%s", msg);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void on_read(png_structp png, png_bytep out, size_t n)
{
    png_ctx *c = png_get_io_ptr(png);
    if (n > c->len - c->pos) png_error(png, "file is truncated");
    memcpy(out, c->buf + c->pos, n);
    c->pos += n;
}

static ed_status read_png(png_ctx *c, png_structp png, png_infop info, int flags, const char *name)
{
    png_read_info(png, info);
    png_uint_32 w = 0, h = 0;
    int depth = 0, type = 0, interlace = 0;
    png_get_IHDR(png, info, &w, &h, &depth, &type, &interlace, NULL, NULL);
    ED_TRY(ed__image_check_dims(w, h, name));

    int keep_palette = type == PNG_COLOR_TYPE_PALETTE && (flags & ED_IMAGE_KEEP_PALETTE);
    if (keep_palette) {
        png_set_packing(png);      /* 1/2/4-bit indices -> one byte each, unscaled */
    } else {
        if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
        if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
        if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    }
    if (depth == 16 && ed__little_endian()) png_set_swap(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info), od = png_get_bit_depth(png, info);
    if (ch < 1 || ch > 4 || (od != 8 && od != 16) || png_get_rowbytes(png, info) != (size_t)w * ch * (od / 8))
        return ed__err(ED_E_FORMAT, "image_load: %s: unexpected PNG layout (%d channels, %d-bit)", name, ch, od);
    ED_TRY(ed__image_alloc((int)w, (int)h, ch, od, 0, &c->img));
    if (keep_palette) {
        png_colorp pal = NULL;
        int npal = 0;
        if (png_get_PLTE(png, info, &pal, &npal) && npal > 0) {
            png_bytep trans = NULL;
            int ntrans = 0;
            png_get_tRNS(png, info, &trans, &ntrans, NULL);
            c->img->palette_size = npal > 256 ? 256 : npal;
            for (int i = 0; i < c->img->palette_size; i++) {
                c->img->palette[i][0] = pal[i].red;
                c->img->palette[i][1] = pal[i].green;
                c->img->palette[i][2] = pal[i].blue;
                c->img->palette[i][3] = trans && i < ntrans ? trans[i] : 255;
            }
        }
        c->img->indexed = 1;
    }
    c->rows = malloc(sizeof *c->rows * h);
    if (!c->rows) return ed__err(ED_E_NOMEM, "image_load: %s: cannot allocate row pointers", name);
    size_t stride = (size_t)w * ch * (od / 8);
    for (png_uint_32 y = 0; y < h; y++) c->rows[y] = (uint8_t *)c->img->data + y * stride;
    png_read_image(png, c->rows);
    png_read_end(png, NULL);
    return ED_OK;
}

ed_status ed__png_decode(const uint8_t *buf, size_t len, int flags, const char *name, ed_image **out)
{
    png_ctx c = { .buf = buf, .len = len };
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ed__err(ED_E_NOMEM, "image_load: %s: cannot create a PNG reader", name);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(c.rows);
        ed_image_free(c.img);
        return ed__err(ED_E_FORMAT, "image_load: %s: bad PNG: %s", name, c.msg);
    }
    png_set_read_fn(png, &c, on_read);
    ed_status s = read_png(&c, png, info, flags, name);
    png_destroy_read_struct(&png, &info, NULL);
    free(c.rows);
    if (s != ED_OK) {
        ed_image_free(c.img);
        return s;
    }
    *out = c.img;
    return ED_OK;
}

/* ---- saving ----------------------------------------------------------------- */

static ed_status check_for_save(const char *path, const ed_image *img)
{
    if (!path) return ed__err(ED_E_ARG, "image_save_png: path is NULL");
    if (!img || !img->data) return ed__err(ED_E_ARG, "image_save_png: %s: image or its data is NULL", path);
    if (img->width <= 0 || img->height <= 0 || img->width > ED_IMAGE_MAX_SIDE || img->height > ED_IMAGE_MAX_SIDE)
        return ed__err(ED_E_ARG, "image_save_png: %s: bad size %d x %d", path, img->width, img->height);
    if (img->channels < 1 || img->channels > 4)
        return ed__err(ED_E_ARG, "image_save_png: %s: channels must be 1..4, got %d", path, img->channels);
    if (img->bit_depth != 8 && img->bit_depth != 16)
        return ed__err(ED_E_ARG, "image_save_png: %s: bit_depth must be 8 or 16, got %d", path, img->bit_depth);
    if (!img->indexed) return ED_OK;
    if (img->channels != 1 || img->bit_depth != 8)
        return ed__err(ED_E_ARG, "image_save_png: %s: an indexed image is 1 channel, 8-bit; got %d, %d-bit", path,
                       img->channels, img->bit_depth);
    if (img->palette_size < 1 || img->palette_size > 256)
        return ed__err(ED_E_ARG, "image_save_png: %s: palette_size must be 1..256, got %d", path,
                       img->palette_size);
    const uint8_t *p = img->data;
    for (int64_t i = 0; i < (int64_t)img->width * img->height; i++)
        if (p[i] >= img->palette_size)
            return ed__err(ED_E_RANGE, "image_save_png: %s: index %d at (y %lld, x %lld) is past the palette of %d",
                           path, p[i], (long long)(i / img->width), (long long)(i % img->width), img->palette_size);
    return ED_OK;
}

static void write_png(png_structp png, png_infop info, FILE *f, const ed_image *img)
{
    static const int types[5] = { 0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                  PNG_COLOR_TYPE_RGB_ALPHA };
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, img->bit_depth,
                 img->indexed ? PNG_COLOR_TYPE_PALETTE : types[img->channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (img->indexed) {
        png_color pal[256];
        png_byte trans[256];
        int ntrans = 0;
        for (int i = 0; i < img->palette_size; i++) {
            pal[i].red = img->palette[i][0];
            pal[i].green = img->palette[i][1];
            pal[i].blue = img->palette[i][2];
            trans[i] = img->palette[i][3];
            if (trans[i] != 255) ntrans = i + 1;
        }
        png_set_PLTE(png, info, pal, img->palette_size);
        if (ntrans) png_set_tRNS(png, info, trans, ntrans, NULL);
    }
    png_write_info(png, info);
    if (img->bit_depth == 16 && ed__little_endian()) png_set_swap(png);
    size_t stride = (size_t)img->width * img->channels * (img->bit_depth / 8);
    for (int y = 0; y < img->height; y++) png_write_row(png, (png_const_bytep)img->data + (size_t)y * stride);
    png_write_end(png, NULL);
}

ed_status ed_image_save_png(const char *path, const ed_image *img)
{
    ED_TRY(check_for_save(path, img));
    size_t n = strlen(path);
    char *tmp = malloc(n + 5);
    if (!tmp) return ed__err(ED_E_NOMEM, "image_save_png: out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        ed_status s = ed__err(ED_E_IO, "image_save_png: %s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return s;
    }
    png_ctx c = { 0 };
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &c, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        remove(tmp);
        free(tmp);
        return ed__err(ED_E_NOMEM, "image_save_png: %s: cannot create a PNG writer", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        remove(tmp);
        free(tmp);
        return ed__err(ED_E_IO, "image_save_png: %s: %s", path, c.msg);
    }
    write_png(png, info, f, img);
    png_destroy_write_struct(&png, &info);
    ed_status s = ED_OK;
    int failed = ferror(f);
    if (fclose(f) != 0 || failed)
        s = ed__err(ED_E_IO, "image_save_png: %s: write failed: %s", tmp, strerror(errno));
    else if (rename(tmp, path) != 0)
        s = ed__err(ED_E_IO, "image_save_png: cannot rename %s to %s: %s", tmp, path, strerror(errno));
    if (s != ED_OK) remove(tmp);
    free(tmp);
    return s;
}
