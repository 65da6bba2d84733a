/* Shared by the picture files (palette, font, draw, grid, plot, heatmap,
 * report): argument checks, pixel blending, rotated text, file writing. */
#ifndef ED_PICTURE_INTERNAL_H
#define ED_PICTURE_INTERNAL_H

#include "core/ed_internal.h"

#include <stdint.h>

/* ED_OK when img is a non-NULL 8-bit 3-channel non-indexed image, else an
 * ED_E_ARG naming op. */
ed_status ed__check_rgb8(const char *op, const ed_image *img);

/* Pixel (x, y) = (1 - a) * pixel + a * rgb, rounded; a in [0, 1]; outside
 * the image nothing happens. For anti-aliased lines and dots. */
void ed__blend_px(ed_image *img, int x, int y, const uint8_t rgb[3], double a);

/* The 8 rows of 5 '#'/'.' cells of character c ('?' for a byte outside
 * 32..126). */
const char (*ed__glyph(unsigned char c))[6];

/* Text turned a quarter left (reading bottom to top, for a y axis title):
 * its ink block is ed_text_size's height wide and width tall, with its
 * top-left at (x, y). Single line. */
void ed__draw_text_up(ed_image *img, int x, int y, const char *text, int scale, const uint8_t fg[3]);

/* Writes len bytes to path + ".tmp" and renames it over path. */
ed_status ed__write_file_atomic(const char *op, const char *path, const void *data, size_t len);

/* A growing string for SVG and HTML. Appends fail softly: a failed
 * allocation sets oom, which the writer turns into ED_E_NOMEM. */
typedef struct ed__buf {
    char *s;
    size_t len, cap;
    int oom;
} ed__buf;
void ed__buf_printf(ed__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ed__buf_put(ed__buf *b, const char *s, size_t n);
/* s with & < > " ' written as entities (HTML and SVG text). */
void ed__buf_escape(ed__buf *b, const char *s);
void ed__buf_free(ed__buf *b);

#endif
