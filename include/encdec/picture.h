/* encdec: pictures of results. Included by encdec.h.
 *
 * Class palettes, label maps in colour, mask overlays, instance masks with
 * boxes and labels, text in a small built-in bitmap font, side-by-side grids,
 * line plots (PNG and SVG), a confusion-matrix heat map and an HTML report
 * that gathers them.
 *
 * Drawing happens in place on 8-bit RGB ed_images (channels 3, bit_depth 8,
 * not indexed); ed_picture_rgb makes one from any decoded image. Coordinates
 * are pixels, x to the right and y down, (0, 0) the top-left pixel; shapes
 * that run off the image are clipped, never an error. Colours are uint8_t
 * rgb[3]. Every file is written to path + ".tmp" and renamed over path. */
#ifndef ENCDEC_PICTURE_H
#define ENCDEC_PICTURE_H

#ifdef __cplusplus
extern "C" {
#endif

/* ---- palettes --------------------------------------------------------------
 * size entries of colour and (optional) name. names point at static strings
 * or strings the caller keeps alive; NULL where a class has no name. */
#define ED_PALETTE_MAX 256
typedef struct ed_palette {
    int size;
    uint8_t rgb[ED_PALETTE_MAX][3];
    const char *names[ED_PALETTE_MAX];
} ed_palette;

/* CamVid as prepared for SegNet: 12 entries, the 11 classes in index order
 * Sky (128,128,128), Building (128,0,0), Pole (192,192,128), Road
 * (128,64,128), Pavement (60,40,222), Tree (128,128,0), SignSymbol
 * (192,128,128), Fence (64,64,128), Car (64,0,128), Pedestrian (64,64,0),
 * Bicyclist (0,128,192), then 11 = void (0,0,0); the colours of
 * camvid/legend.png. */
#define ED_CAMVID_CLASSES 11
#define ED_CAMVID_VOID 11
void ed_palette_camvid(ed_palette *out);
/* PASCAL VOC's colour map for n entries (1..256): index bits 0, 1, 2 go to
 * the top bit of R, G, B, bits 3, 4, 5 to the next, and so on (so 1 is
 * (128,0,0), 15 (person) is (192,128,128) and 255, VOC's boundary label,
 * is (224,224,192)); the first 21 entries get VOC's class names
 * (background, aeroplane, ... tvmonitor). */
ed_status ed_palette_voc(int n, ed_palette *out);
/* n (1..256) colours that are easy to tell apart, for classes, instances and
 * plot lines: Tableau's ten (tab10) first, then hues stepped by the golden
 * ratio with alternating saturation and value. No names. */
ed_status ed_palette_distinct(int n, ed_palette *out);

/* ---- images ------------------------------------------------------------------ */

/* A new 8-bit RGB copy of any ed_image: gray is repeated, 16-bit samples
 * become round(v * 255 / 65535), palette indices are looked up, and alpha
 * is composited over white. */
ed_status ed_picture_rgb(const ed_image *src, ed_image **out);

/* Label map in colour: labels is a U8, I32 or I64 tensor of shape (H, W)
 * (leading dimensions of size 1 are allowed); each pixel becomes
 * pal->rgb[label]. A label outside 0..pal->size-1 is ED_E_RANGE. */
ed_status ed_label_colorize(const ed_tensor *labels, const ed_palette *pal, ed_image **out);

/* Blend a label map into img: for every pixel whose label is not skip_label
 * (INT64_MIN skips none; ED_CAMVID_VOID or 0 for background are typical),
 *   out = floor((1 - alpha) * img + alpha * pal->rgb[label] + 0.5)
 * per channel, computed in double. alpha in [0, 1]. The label map must be
 * img's size (ED_E_SHAPE) and its labels inside the palette (ED_E_RANGE);
 * img is changed only when everything is valid. */
ed_status ed_draw_overlay(ed_image *img, const ed_tensor *labels, const ed_palette *pal, double alpha,
                          int64_t skip_label);

/* A rectangle from (x0, y0) to (x1, y1), both corners inclusive. The outline
 * is thickness (>= 1) pixels wide and grows inwards from the given edges. */
ed_status ed_draw_rect(ed_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3], int thickness);
ed_status ed_draw_fill_rect(ed_image *img, int x0, int y0, int x1, int y1, const uint8_t rgb[3]);

/* ---- text: a built-in 5x8 bitmap font ------------------------------------------
 * Printable ASCII (32..126); any other byte draws as '?', and '\n' starts a
 * new line. Each glyph is 5 x 8 cells (row 7 holds descenders), scaled by
 * scale (1..64) to scale x scale pixel blocks; characters advance 6 *
 * scale pixels and lines 10 * scale. ed_text_size gives the block of ink a
 * text takes: width (6 * longest line - 1) * scale, height (10 * lines - 2)
 * * scale (0 x 0 for ""; a scale below 1 counts as 1). */
void ed_text_size(const char *text, int scale, int *width, int *height);
/* The glyphs only, their block's top-left at (x, y). */
ed_status ed_draw_text(ed_image *img, int x, int y, const char *text, int scale, const uint8_t fg[3]);
/* A label: a filled box of bg, text block plus scale pixels on every side,
 * its top-left at (x, y), the text inside it at (x + scale, y + scale). */
ed_status ed_draw_label(ed_image *img, int x, int y, const char *text, int scale, const uint8_t fg[3],
                        const uint8_t bg[3]);

/* ---- instances ----------------------------------------------------------------
 * Instance i is drawn in colour i of ed_palette_distinct: its mask
 * blended with alpha, its box outlined scale pixels thick, and a label
 * "<name> <score>" (score with two decimals) at text scale `scale`, in black
 * or white on that colour, above the box's top-left corner (inside the box
 * when there is no room above). Masks go first, then boxes, then labels,
 * so no mask or box is painted over a label.
 * masks: (n, H, W) U8 (nonzero is inside) or F32 (> 0.5 is inside, Mask
 * R-CNN's threshold), H x W the image's size, or NULL for boxes only.
 * boxes: n x 4 floats x1, y1, x2, y2 (torchvision's convention: the box
 * covers [x1, x2) x [y1, y2)), or NULL to use each mask's extent. labels
 * (class indices into names, 0..num_names-1) and scores may be NULL; a
 * label without names shows as "class <k>". With neither labels nor scores
 * no text is drawn. */
typedef struct ed_instances {
    int n;
    const ed_tensor *masks;
    const float *boxes;
    const int64_t *labels;
    const float *scores;
    const char *const *names;
    int num_names;
} ed_instances;
ed_status ed_draw_instances(ed_image *img, const ed_instances *inst, double alpha, int scale);

/* ---- grids --------------------------------------------------------------------
 * n images (any kind ed_picture_rgb takes, sizes may differ) in rows of
 * cols, each with its caption (captions or captions[i] may be NULL) centred
 * under it at text scale `scale` (1..64). A column is as wide as its widest
 * image or caption, a row as tall as its tallest image plus (when it has
 * captions) 2 * scale and its tallest caption; images sit centred at the top
 * of their cell. pad (0..4096) pixels of white surround every cell. cols <= 0
 * puts all in one row. Images are converted as ed_picture_rgb does. */
ed_status ed_grid(const ed_image *const *images, const char *const *captions, int n, int cols, int pad, int scale,
                  ed_image **out);

/* ---- line plots ---------------------------------------------------------------
 * One or more series of (x, y) points joined by lines. x may be NULL for
 * 1, 2, ..., n (epochs). Points with a non-finite x or y are left out and
 * the line joins the others (a metric validated every few epochs may be
 * NaN in between). A series on the right axis (right_axis = 1) is scaled to
 * its own y axis, drawn on the right and titled y2label: train loss on the
 * left with val PSNR on the right. A series needs n >= 1 and one finite
 * point (ED_E_ARG). Axes reach out to round tick values. */
typedef struct ed_series {
    const char *name;     /* in the legend */
    const double *x;      /* n values or NULL */
    const double *y;      /* n values */
    int n;
    int right_axis;
} ed_series;

typedef struct ed_plot_args {
    const char *title, *xlabel, *ylabel, *y2label;   /* NULL for none */
    int width, height;    /* pixels; 0 for 800 x 500 */
    int scale;            /* text scale, 0 for 2; the title is one larger */
} ed_plot_args;

ed_status ed_plot_image(const ed_series *series, int n_series, const ed_plot_args *args, ed_image **out);
ed_status ed_plot_png(const char *path, const ed_series *series, int n_series, const ed_plot_args *args);
/* The same layout as an SVG text file: a <polyline> per series (pixel
 * coordinates), <text> for every label, and for a series of at most 200
 * points a <circle> per point whose <title> tooltip reads "name: (x, y)". */
ed_status ed_plot_svg(const char *path, const ed_series *series, int n_series, const ed_plot_args *args);

/* ---- confusion-matrix heat map --------------------------------------------------
 * conf: C x C counts as ed_confusion_update makes them (row = target class,
 * column = prediction). Each cell is shaded white to dark blue by its share
 * of its row (the recall of the diagonal) and shows that share in percent
 * with the count under it (k, M, G for thousands, millions, billions);
 * a cell with no pixels shows a grey 0; rows without pixels are grey.
 * Names label rows and columns (names NULL: pal's names, else the
 * indices); with pal (at least C entries), a swatch of each class's colour
 * sits by its name. num_classes 1..256, text scale 1..16; negative counts
 * are ED_E_RANGE. */
ed_status ed_confusion_heatmap(const int64_t *conf, int num_classes, const char *const *names, const ed_palette *pal,
                               int scale, ed_image **out);

/* ---- HTML report -------------------------------------------------------------------
 * A page with a title, tables of metrics and text, and pictures under their
 * captions, in the order they are added. Pictures are files in the
 * report's folder (the folder of html_path) linked by relative paths, or,
 * with ED_REPORT_EMBED, put in the page as base64 data URIs so the HTML
 * stands alone. All text is HTML-escaped. */
typedef struct ed_report ed_report;
#define ED_REPORT_EMBED 1

ed_status ed_report_new(const char *html_path, const char *title, ed_report **out);
void ed_report_free(ed_report *r);   /* NULL is fine */
/* A row name | value of a metrics table (consecutive metrics share one
 * table). Values print as integers when whole, with 4 decimals between
 * 0.01 and 1e6, else with 4 significant digits (1.5e-07); NaN as "n/a". */
ed_status ed_report_add_metric(ed_report *r, const char *name, double value);
/* A table of strings: rows x cols cells, row-major, the first row the header. */
ed_status ed_report_add_table(ed_report *r, const char *caption, int rows, int cols, const char *const *cells);
ed_status ed_report_add_text(ed_report *r, const char *text);   /* a paragraph */
/* Saves img now as a PNG named file_name (a plain name ending in .png, no
 * '/') in the report's folder, and shows it. */
ed_status ed_report_add_image(ed_report *r, const ed_image *img, const char *file_name, const char *caption);
/* Shows a PNG, JPEG or SVG file already there: rel_path is relative to the
 * report's folder (no leading '/' and no ".."); it must exist when the
 * report is written (ED_E_IO). */
ed_status ed_report_add_file(ed_report *r, const char *rel_path, const char *caption);
ed_status ed_report_write(ed_report *r, int flags);

#ifdef __cplusplus
}
#endif
#endif
