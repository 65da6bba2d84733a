/* Pictures: palettes, overlays, boxes, the bitmap font, instances, grids,
 * plots (PNG and SVG), the confusion heat map and the HTML report. Checks
 * are on exact pixels and file contents; then, when the data sets are
 * found, one CamVid val frame with its ground truth and one Penn-Fudan
 * image with its instances. With ED_PICTURES_SAMPLE=<dir> the CamVid and
 * Penn-Fudan pictures, a curve, a heat map and a report are also written
 * there, to be looked at. */
#include "check.h"
#include "eval/picture_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint8_t RED[3] = {255, 0, 0}, WHITE[3] = {255, 255, 255}, BLACK[3] = {0, 0, 0};

static uint8_t *px(ed_image *img, int x, int y) { return (uint8_t *)img->data + ((int64_t)y * img->width + x) * 3; }
static int px_is(ed_image *img, int x, int y, const uint8_t rgb[3]) { return !memcmp(px(img, x, y), rgb, 3); }

static ed_image *solid(int w, int h, uint8_t v)
{
    ed_image *img = NULL;
    if (ed_image_new(w, h, 3, 8, &img) != ED_OK) return NULL;
    memset(img->data, v, (size_t)w * h * 3);
    return img;
}

static int count_colour(ed_image *img, const uint8_t rgb[3])
{
    int n = 0;
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++) n += px_is(img, x, y, rgb);
    return n;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t k = fread(s, 1, (size_t)n, f);
    s[k] = 0;
    fclose(f);
    return s;
}

static int exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* ---- palettes ----------------------------------------------------------------- */

static void test_palettes(void)
{
    ed_palette p;
    ed_palette_camvid(&p);
    static const uint8_t want[12][3] = {{128, 128, 128}, {128, 0, 0},   {192, 192, 128}, {128, 64, 128},
                                        {60, 40, 222},   {128, 128, 0}, {192, 128, 128}, {64, 64, 128},
                                        {64, 0, 128},    {64, 64, 0},   {0, 128, 192},   {0, 0, 0}};
    static const char *names[12] = {"Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol",
                                    "Fence", "Car", "Pedestrian", "Bicyclist", "void"};
    CHECK(p.size == 12);
    for (int i = 0; i < 12; i++)
        CHECK_MSG(!memcmp(p.rgb[i], want[i], 3) && !strcmp(p.names[i], names[i]), "camvid %d: %s (%d,%d,%d)", i,
                  p.names[i], p.rgb[i][0], p.rgb[i][1], p.rgb[i][2]);

    CHECK_OK(ed_palette_voc(256, &p));
    static const struct { int i; uint8_t rgb[3]; } voc[] = {{0, {0, 0, 0}},       {1, {128, 0, 0}},
                                                           {2, {0, 128, 0}},     {3, {128, 128, 0}},
                                                           {8, {64, 0, 0}},      {15, {192, 128, 128}},
                                                           {20, {0, 64, 128}},   {255, {224, 224, 192}}};
    for (size_t k = 0; k < sizeof voc / sizeof *voc; k++)
        CHECK_MSG(!memcmp(p.rgb[voc[k].i], voc[k].rgb, 3), "voc %d: (%d,%d,%d)", voc[k].i, p.rgb[voc[k].i][0],
                  p.rgb[voc[k].i][1], p.rgb[voc[k].i][2]);
    CHECK(!strcmp(p.names[15], "person") && !strcmp(p.names[20], "tvmonitor") && p.names[21] == NULL);
    CHECK_ERR(ed_palette_voc(0, &p), ED_E_ARG, "1..256");
    CHECK_ERR(ed_palette_voc(257, &p), ED_E_ARG, "257");

    CHECK_OK(ed_palette_distinct(256, &p));
    CHECK(p.rgb[0][0] == 31 && p.rgb[0][1] == 119 && p.rgb[0][2] == 180);   /* tab10 blue */
    CHECK(p.rgb[9][0] == 23 && p.rgb[9][1] == 190 && p.rgb[9][2] == 207);
    int dup = 0;
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < i; j++) dup += !memcmp(p.rgb[i], p.rgb[j], 3);
    CHECK_MSG(dup == 0, "%d repeated colours among the first 40", dup);
    ed_palette q;
    CHECK_OK(ed_palette_distinct(12, &q));
    CHECK(!memcmp(q.rgb, p.rgb, 12 * 3));   /* the first n do not depend on n */
    CHECK_ERR(ed_palette_distinct(0, &p), ED_E_ARG, "n must be");
}

/* ---- label maps and overlays --------------------------------------------------- */

static void test_colorize_overlay(void)
{
    ed_palette p;
    ed_palette_camvid(&p);
    int64_t lab[6] = {0, 3, 11, 8, 1, 3};
    ed_tensor *t = NULL;
    CHECK_OK(ed_tensor_from_data(ED_I64, SHAPE(2, 3), lab, &t));
    ed_image *c = NULL;
    if (CHECK_OK(ed_label_colorize(t, &p, &c))) {
        CHECK(c->width == 3 && c->height == 2 && c->channels == 3 && c->bit_depth == 8);
        for (int i = 0; i < 6; i++) CHECK_MSG(px_is(c, i % 3, i / 3, p.rgb[lab[i]]), "colorize pixel %d", i);
        ed_image_free(c);
    }
    uint8_t lab8[6] = {4, 4, 5, 5, 6, 6};
    ed_tensor *t8 = NULL;
    CHECK_OK(ed_tensor_from_data(ED_U8, SHAPE(1, 2, 3), lab8, &t8));
    if (CHECK_OK(ed_label_colorize(t8, &p, &c))) {
        CHECK(px_is(c, 0, 0, p.rgb[4]) && px_is(c, 2, 1, p.rgb[6]));
        ed_image_free(c);
    }
    int64_t bad[6] = {0, 1, 2, 12, 1, 1};
    ed_tensor *tb = NULL;
    CHECK_OK(ed_tensor_from_data(ED_I64, SHAPE(2, 3), bad, &tb));
    CHECK_ERR(ed_label_colorize(tb, &p, &c), ED_E_RANGE, "label 12 at (y 1, x 0)");
    bad[3] = -1;
    ed_tensor_free(tb);
    CHECK_OK(ed_tensor_from_data(ED_I64, SHAPE(2, 3), bad, &tb));
    CHECK_ERR(ed_label_colorize(tb, &p, &c), ED_E_RANGE, "label -1");
    ed_tensor *tf = check_rand(ED_F32, SHAPE(2, 3), 0, 1, 1);
    CHECK_ERR(ed_label_colorize(tf, &p, &c), ED_E_DTYPE, "float32");
    ed_tensor *t3 = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(2, 2, 3), &t3));
    CHECK_ERR(ed_label_colorize(t3, &p, &c), ED_E_SHAPE, "(2, 2, 3)");

    /* Overlay: out = floor((1 - a) * img + a * colour + 0.5), void skipped. */
    ed_image *img = solid(3, 2, 100);
    px(img, 1, 1)[0] = 101;
    CHECK_OK(ed_draw_overlay(img, t, &p, 0.25, ED_CAMVID_VOID));
    /* (0,0) Sky 128: 75 + 32 = 107; (1,0) Road (128,64,128): 107, 91, 107;
     * (2,0) void: unchanged; (0,1) Car (64,0,128): 91, 75, 107. */
    CHECK(px(img, 0, 0)[0] == 107 && px(img, 0, 0)[1] == 107 && px(img, 0, 0)[2] == 107);
    CHECK(px(img, 1, 0)[0] == 107 && px(img, 1, 0)[1] == 91 && px(img, 1, 0)[2] == 107);
    CHECK(px(img, 2, 0)[0] == 100 && px(img, 2, 0)[1] == 100 && px(img, 2, 0)[2] == 100);
    CHECK(px(img, 0, 1)[0] == 91 && px(img, 0, 1)[1] == 75 && px(img, 0, 1)[2] == 107);
    /* (1,1) Building (128,0,0) over 101: 0.75 * 101 + 32 = 107.75 -> 108. */
    CHECK_MSG(px(img, 1, 1)[0] == 108 && px(img, 1, 1)[1] == 75, "got %d %d", px(img, 1, 1)[0], px(img, 1, 1)[1]);
    /* Half-way rounds up: 0.5 * 101 + 0.5 * 0 = 50.5 -> 51. */
    ed_image *h = solid(3, 2, 101);
    int64_t car[6] = {8, 8, 8, 8, 8, 8};
    ed_tensor *tc = NULL;
    CHECK_OK(ed_tensor_from_data(ED_I64, SHAPE(2, 3), car, &tc));
    CHECK_OK(ed_draw_overlay(h, tc, &p, 0.5, INT64_MIN));
    CHECK(px(h, 0, 0)[0] == 83 && px(h, 0, 0)[1] == 51 && px(h, 0, 0)[2] == 115);   /* 82.5, 50.5, 114.5 */
    ed_image_free(h);

    /* Errors leave the image as it was. */
    ed_image *before = solid(3, 2, 0);
    memcpy(before->data, img->data, 18);
    CHECK_ERR(ed_draw_overlay(img, tb, &p, 0.5, ED_CAMVID_VOID), ED_E_RANGE, "outside the palette");
    CHECK(!memcmp(before->data, img->data, 18));
    ed_tensor *big = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(3, 3), &big));
    CHECK_ERR(ed_draw_overlay(img, big, &p, 0.5, ED_CAMVID_VOID), ED_E_SHAPE, "labels are 3 x 3");
    CHECK_ERR(ed_draw_overlay(img, t, &p, 1.5, ED_CAMVID_VOID), ED_E_ARG, "alpha");
    CHECK_ERR(ed_draw_overlay(img, t, &p, NAN, ED_CAMVID_VOID), ED_E_ARG, "alpha");
    ed_image *gray = NULL;
    CHECK_OK(ed_image_new(3, 2, 1, 8, &gray));
    CHECK_ERR(ed_draw_overlay(gray, t, &p, 0.5, ED_CAMVID_VOID), ED_E_ARG, "8-bit RGB");
    ed_palette small = p;
    small.size = 4;   /* label 11 is skipped, 8 is not in it */
    CHECK_ERR(ed_draw_overlay(img, t, &small, 0.5, ED_CAMVID_VOID), ED_E_RANGE, "label 8");
    CHECK(!memcmp(before->data, img->data, 18));

    /* picture_rgb: gray repeats, 16-bit scales, alpha over white. */
    ed_image *g16 = NULL, *rgb = NULL;
    CHECK_OK(ed_image_new(2, 1, 2, 16, &g16));
    uint16_t *d16 = g16->data;
    d16[0] = 65535, d16[1] = 65535, d16[2] = 0, d16[3] = 32768;   /* white opaque; black half-transparent */
    if (CHECK_OK(ed_picture_rgb(g16, &rgb))) {
        CHECK(px(rgb, 0, 0)[0] == 255 && px(rgb, 0, 0)[2] == 255);
        CHECK_MSG(px(rgb, 1, 0)[0] == 127 && px(rgb, 1, 0)[1] == 127, "got %d", px(rgb, 1, 0)[0]);   /* 255 * (1 - 0.50001) */
        ed_image_free(rgb);
    }
    ed_image_free(g16);
    ed_image_free(gray);
    ed_image_free(before);
    ed_image_free(img);
    ed_tensor_free(big);
    ed_tensor_free(tc);
    ed_tensor_free(t3);
    ed_tensor_free(tf);
    ed_tensor_free(tb);
    ed_tensor_free(t8);
    ed_tensor_free(t);
}

/* ---- rectangles and text ------------------------------------------------------ */

static void test_rect(void)
{
    ed_image *img = solid(10, 8, 0);
    CHECK_OK(ed_draw_rect(img, 2, 1, 6, 5, RED, 1));
    CHECK(px_is(img, 2, 1, RED) && px_is(img, 6, 5, RED) && px_is(img, 4, 1, RED) && px_is(img, 2, 3, RED) &&
          px_is(img, 6, 3, RED) && px_is(img, 4, 5, RED));
    CHECK(px_is(img, 3, 2, BLACK) && px_is(img, 5, 4, BLACK) && px_is(img, 1, 1, BLACK) && px_is(img, 7, 5, BLACK) &&
          px_is(img, 2, 0, BLACK) && px_is(img, 2, 6, BLACK));
    CHECK(count_colour(img, RED) == 16);   /* 5 x 5 outline */
    CHECK_OK(ed_draw_rect(img, 6, 5, 2, 1, WHITE, 2));   /* corners in any order; grows inwards */
    CHECK(px_is(img, 3, 2, WHITE) && px_is(img, 5, 4, WHITE) && px_is(img, 4, 3, BLACK) && count_colour(img, WHITE) == 24);
    CHECK_OK(ed_draw_rect(img, -5, -5, 100, 100, RED, 1));   /* clipped: nothing visible */
    CHECK_OK(ed_draw_rect(img, 20, 20, 30, 30, RED, 1));
    CHECK(count_colour(img, RED) == 0);
    CHECK_OK(ed_draw_rect(img, -1, -1, 9, 7, RED, 2));   /* the inner ring shows at the border */
    CHECK(px_is(img, 0, 0, RED) && px_is(img, 9, 3, RED) && px_is(img, 4, 6, RED) && !px_is(img, 1, 1, RED));
    CHECK_ERR(ed_draw_rect(img, 0, 0, 1, 1, RED, 0), ED_E_ARG, "thickness");
    ed_image_free(img);
    img = solid(6, 6, 0);
    CHECK_OK(ed_draw_fill_rect(img, 4, 4, 2, 3, WHITE));
    CHECK(px_is(img, 2, 3, WHITE) && px_is(img, 4, 4, WHITE) && count_colour(img, WHITE) == 6);
    CHECK_ERR(ed_draw_fill_rect(img, 0, 0, 1, 1, NULL), ED_E_ARG, "NULL");
    ed_image_free(img);
}

/* 'A' and 'g' spelled out here, apart from the font's own table. */
static const char *A_rows[8] = {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#", "....."};
static const char *g_rows[8] = {".....", ".....", ".####", "#...#", "#...#", ".####", "....#", ".###."};

static int ink_count(const char **rows)
{
    int n = 0;
    for (int r = 0; r < 8; r++)
        for (int c = 0; c < 5; c++) n += rows[r][c] == '#';
    return n;
}

static int glyph_matches(ed_image *img, int x, int y, int scale, const char **rows, const uint8_t fg[3],
                         const uint8_t bg[3])
{
    int bad = 0;
    for (int r = 0; r < 8 * scale; r++)
        for (int c = 0; c < 6 * scale; c++) {
            int on = c < 5 * scale && rows[r / scale][c / scale] == '#';
            bad += !px_is(img, x + c, y + r, on ? fg : bg);
        }
    return bad == 0;
}

/* The hand-drawn table: 5 cells of '#' or '.' per row, ink in every glyph
 * but space, descenders only where expected, no two glyphs alike. */
static void test_font_table(void)
{
    int bad = 0, same = 0, ink_free = 0, low = 0;
    for (int c = 32; c < 127; c++) {
        const char(*g)[6] = ed__glyph((unsigned char)c);
        int ink = 0;
        for (int r = 0; r < 8; r++) {
            bad += strlen(g[r]) != 5 || strspn(g[r], "#.") != 5;
            for (int k = 0; k < 5 && g[r][k]; k++) ink += g[r][k] == '#';
        }
        ink_free += (ink == 0) != (c == ' ');
        if (strchr(g[7], '#') && !strchr("gjpqy,_", c)) low++;
        for (int d = 32; d < c; d++) same += !memcmp(g, ed__glyph((unsigned char)d), 8 * 6);
    }
    CHECK_MSG(bad == 0 && ink_free == 0 && low == 0 && same == 0, "font table: %d bad rows, %d ink, %d low, %d alike",
              bad, ink_free, low, same);
    CHECK(ed__glyph(200) == ed__glyph('?') && ed__glyph('\t') == ed__glyph('?'));
}

static void test_text(void)
{
    int w, h;
    ed_text_size("Ab\ncde", 2, &w, &h);
    CHECK_MSG(w == (6 * 3 - 1) * 2 && h == (10 * 2 - 2) * 2, "text_size %d x %d", w, h);
    ed_text_size("", 3, &w, &h);
    CHECK(w == 0 && h == 0);
    ed_text_size("x", 1, &w, &h);
    CHECK(w == 5 && h == 8);

    ed_image *img = solid(40, 30, 0);
    CHECK_OK(ed_draw_text(img, 3, 2, "Ag", 1, WHITE));
    CHECK_MSG(glyph_matches(img, 3, 2, 1, A_rows, WHITE, BLACK), "'A' at (3, 2)");
    CHECK_MSG(glyph_matches(img, 9, 2, 1, g_rows, WHITE, BLACK), "'g' one advance (6) further");
    CHECK(count_colour(img, WHITE) == ink_count(A_rows) + ink_count(g_rows));
    memset(img->data, 0, 40 * 30 * 3);
    CHECK_OK(ed_draw_text(img, 5, 4, "A", 3, RED));
    CHECK_MSG(glyph_matches(img, 5, 4, 3, A_rows, RED, BLACK), "'A' at scale 3");
    CHECK(count_colour(img, RED) == ink_count(A_rows) * 9);
    /* Second line starts 10 * scale lower. */
    memset(img->data, 0, 40 * 30 * 3);
    CHECK_OK(ed_draw_text(img, 0, 0, " \nA", 1, WHITE));
    CHECK(glyph_matches(img, 0, 10, 1, A_rows, WHITE, BLACK));
    /* Bytes outside ASCII draw as '?'. */
    ed_image *q1 = solid(12, 10, 0), *q2 = solid(12, 10, 0);
    CHECK_OK(ed_draw_text(q1, 1, 1, "\x01\xe9", 1, WHITE));
    CHECK_OK(ed_draw_text(q2, 1, 1, "??", 1, WHITE));
    CHECK(!memcmp(q1->data, q2->data, 12 * 10 * 3) && count_colour(q1, WHITE) > 0);
    /* Clipping: a text running off every side is no error. */
    CHECK_OK(ed_draw_text(q1, -7, -3, "clipped text", 4, WHITE));
    /* A label: box of text + scale on each side, text inside. */
    memset(img->data, 0, 40 * 30 * 3);
    CHECK_OK(ed_draw_label(img, 1, 1, "A", 2, WHITE, RED));
    CHECK(px_is(img, 1, 1, RED) && px_is(img, 1 + 5 * 2 + 4 - 1, 1 + 8 * 2 + 4 - 1, RED));
    CHECK(px_is(img, 1 + 5 * 2 + 4, 1, BLACK) && px_is(img, 1, 1 + 8 * 2 + 4, BLACK));
    CHECK_MSG(glyph_matches(img, 3, 3, 2, A_rows, WHITE, RED), "label glyph at (x + scale, y + scale)");
    CHECK_ERR(ed_draw_text(img, 0, 0, "x", 0, WHITE), ED_E_ARG, "scale");
    CHECK_ERR(ed_draw_text(img, 0, 0, NULL, 1, WHITE), ED_E_ARG, "NULL");
    ed_image_free(q1);
    ed_image_free(q2);
    ed_image_free(img);
}

/* ---- instances ---------------------------------------------------------------- */

static void test_instances(void)
{
    ed_image *img = solid(100, 30, 0);
    ed_tensor *m = NULL;
    CHECK_OK(ed_tensor_new(ED_U8, SHAPE(2, 30, 100), &m));
    uint8_t *md = ed_tensor_data(m);
    for (int y = 15; y < 25; y++)
        for (int x = 5; x < 15; x++) md[y * 100 + x] = 1;              /* instance 0 */
    for (int y = 2; y < 10; y++)
        for (int x = 25; x < 35; x++) md[3000 + y * 100 + x] = 255;    /* instance 1 */
    float boxes[8] = {5, 15, 15, 25, 25, 2, 35, 10};
    int64_t labels[2] = {1, 1};
    float scores[2] = {0.987f, 0.5f};
    const char *names[2] = {"background", "person"};
    ed_instances in = {2, m, boxes, labels, scores, names, 2};
    ed_palette p;
    ed_palette_distinct(2, &p);
    CHECK_OK(ed_draw_instances(img, &in, 0.5, 1));
    /* Inside the mask, off the box edge: 0.5 * colour rounded half up. */
    uint8_t half[3] = {(uint8_t)floor(0.5 * p.rgb[0][0] + 0.5), (uint8_t)floor(0.5 * p.rgb[0][1] + 0.5),
                       (uint8_t)floor(0.5 * p.rgb[0][2] + 0.5)};
    CHECK(px_is(img, 10, 20, half));
    /* Box [5, 15) x [15, 25): edges at x 5 and 14, y 15 and 24. */
    CHECK(px_is(img, 5, 20, p.rgb[0]) && px_is(img, 14, 20, p.rgb[0]) && px_is(img, 10, 24, p.rgb[0]));
    CHECK(px_is(img, 4, 20, BLACK) && px_is(img, 15, 20, BLACK) && px_is(img, 10, 25, BLACK));
    /* Its label "person 0.99" sits above the box: a box of colour 0 ending at y 14. */
    int w, h;
    ed_text_size("person 0.99", 1, &w, &h);
    CHECK(px_is(img, 5, 14 - h - 1, p.rgb[0]) && px_is(img, 5, 14, p.rgb[0]) && px_is(img, 5 + w + 1, 14, p.rgb[0]));
    /* Instance 1 has no room above (y1 = 2): its label goes inside the box's top. */
    CHECK(px_is(img, 25, 2, p.rgb[1]) && px_is(img, 25, 2 + h + 1, p.rgb[1]));

    /* Float masks: > 0.5 is inside; no boxes: the box is the mask's extent. */
    ed_image *img2 = solid(40, 30, 0);
    ed_tensor *mf = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(1, 30, 40), &mf));
    float *fd = ed_tensor_data(mf);
    for (int y = 10; y <= 20; y++)
        for (int x = 10; x <= 30; x++) fd[y * 40 + x] = 0.9f;
    fd[5 * 40 + 5] = 0.5f;   /* exactly 0.5 is out */
    ed_instances in2 = {1, mf, NULL, NULL, NULL, NULL, 0};
    CHECK_OK(ed_draw_instances(img2, &in2, 0.5, 2));
    CHECK(px_is(img2, 5, 5, BLACK) && px_is(img2, 10, 15, p.rgb[0]) && px_is(img2, 11, 15, p.rgb[0]) &&
          px_is(img2, 30, 20, p.rgb[0]) && px_is(img2, 20, 15, half) && px_is(img2, 9, 15, BLACK));
    ed_image_free(img2);

    /* Errors. */
    ed_tensor *ms = NULL;
    CHECK_OK(ed_tensor_new(ED_U8, SHAPE(2, 29, 100), &ms));
    ed_instances bad = in;
    bad.masks = ms;
    CHECK_ERR(ed_draw_instances(img, &bad, 0.5, 1), ED_E_SHAPE, "(2, 30, 100)");
    bad = in;
    int64_t badlab[2] = {1, 2};
    bad.labels = badlab;
    CHECK_ERR(ed_draw_instances(img, &bad, 0.5, 1), ED_E_RANGE, "label 2 of instance 1");
    bad = in;
    bad.masks = NULL, bad.boxes = NULL;
    CHECK_ERR(ed_draw_instances(img, &bad, 0.5, 1), ED_E_ARG, "masks, boxes");
    float nanbox[8] = {5, 15, NAN, 25, 25, 2, 35, 10};
    bad = in;
    bad.boxes = nanbox;
    CHECK_ERR(ed_draw_instances(img, &bad, 0.5, 1), ED_E_ARG, "box 0");
    ed_tensor_free(ms);
    ed_tensor_free(mf);
    ed_tensor_free(m);
    ed_image_free(img);
}

/* ---- grids ---------------------------------------------------------------------- */

static void test_grid(void)
{
    ed_image *a = solid(4, 3, 10), *b = NULL, *c = NULL;
    CHECK_OK(ed_image_new(2, 5, 1, 8, &b));
    memset(b->data, 20, 10);
    CHECK_OK(ed_image_new(3, 3, 3, 16, &c));
    for (int i = 0; i < 27; i++) ((uint16_t *)c->data)[i] = 257 * 50;
    const ed_image *imgs[3] = {a, b, c};
    const char *caps[3] = {"input", NULL, "x"};
    ed_image *g = NULL;
    if (CHECK_OK(ed_grid(imgs, caps, 3, 2, 2, 1, &g))) {
        /* Column 0: max(4, 3, "input" 29, "x" 5) = 29; column 1: 2. Row 0:
         * 5 + caption 2 + 8; row 1: 3 + 2 + 8. */
        int W = 2 + 29 + 2 + 2 + 2, H = 2 + (5 + 10) + 2 + (3 + 10) + 2;
        CHECK_MSG(g->width == W && g->height == H, "grid %d x %d, want %d x %d", g->width, g->height, W, H);
        uint8_t v10[3] = {10, 10, 10}, v20[3] = {20, 20, 20};
        int ox = 2 + (29 - 4) / 2;   /* centred in its column */
        CHECK(px_is(g, ox, 2, v10) && px_is(g, ox + 3, 4, v10) && px_is(g, ox - 1, 2, WHITE) && px_is(g, ox + 4, 2, WHITE));
        CHECK(px_is(g, 2 + 29 + 2, 2, v20) && px_is(g, 2 + 29 + 2 + 1, 6, v20) && px_is(g, 0, 0, WHITE));
        /* Row 1 starts at 2 + 15 + 2 = 19; the 16-bit image became 8-bit. */
        uint8_t v50[3] = {50, 50, 50};
        CHECK(px_is(g, 2 + 13, 19, v50) && px_is(g, 2 + 15, 21, v50) && px_is(g, 2 + 12, 19, WHITE));
        /* The caption "input" under image a, at y = 2 + 5 + 2 (the row's tallest image). */
        int black = 0;
        for (int y = 9; y < 17; y++)
            for (int x = 2; x < 31; x++) black += px_is(g, x, y, BLACK);
        CHECK(black > 20);
        ed_image_free(g);
    }
    CHECK_OK(ed_grid(imgs, NULL, 3, 0, 0, 1, &g));   /* one row, no captions */
    if (g) CHECK(g->width == 4 + 2 + 3 && g->height == 5);
    ed_image_free(g);
    CHECK_ERR(ed_grid(imgs, caps, 0, 2, 2, 1, &g), ED_E_ARG, "at least one");
    const ed_image *withnull[2] = {a, NULL};
    CHECK_ERR(ed_grid(withnull, NULL, 2, 2, 2, 1, &g), ED_E_ARG, "image 1");
    ed_image_free(a);
    ed_image_free(b);
    ed_image_free(c);
}

/* ---- plots ---------------------------------------------------------------------- */

static void tmp_name(char *buf, size_t n, const char *dir, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void test_plot(const char *dir)
{
    double loss[5] = {0.5, 0.25, 0.125, NAN, 0.05}, psnr[5] = {20, 24.5, 26, 27.25, 28};
    ed_series s[2] = {{"train loss", NULL, loss, 5, 0}, {"val PSNR", NULL, psnr, 5, 1}};
    ed_plot_args a = {"Training", "epoch", "loss", "PSNR (dB)", 0, 0, 0};
    ed_image *img = NULL;
    if (CHECK_OK(ed_plot_image(s, 2, &a, &img))) {
        CHECK(img->width == 800 && img->height == 500);
        ed_palette p;
        ed_palette_distinct(2, &p);
        CHECK_MSG(count_colour(img, p.rgb[0]) > 100 && count_colour(img, p.rgb[1]) > 100, "curves: %d, %d px",
                  count_colour(img, p.rgb[0]), count_colour(img, p.rgb[1]));
        CHECK(count_colour(img, BLACK) > 200);   /* text */
        ed_image_free(img);
    }
    char svg[1024], png[1024];
    tmp_name(svg, sizeof svg, dir, "curve.svg");
    tmp_name(png, sizeof png, dir, "curve.png");
    CHECK_OK(ed_plot_png(png, s, 2, &a));
    CHECK_OK(ed_plot_svg(svg, s, 2, &a));
    char *t = slurp(svg);
    if (CHECK(t != NULL)) {
        CHECK(strstr(t, "<svg") && strstr(t, "</svg>"));
        CHECK(strstr(t, ">train loss</text>") && strstr(t, ">val PSNR (right)</text>"));
        CHECK(strstr(t, ">Training</text>") && strstr(t, ">epoch</text>") && strstr(t, ">PSNR (dB)</text>"));
        CHECK(strstr(t, "<title>train loss: (1, 0.5)</title>") && strstr(t, "<title>train loss: (5, 0.05)</title>"));
        CHECK(strstr(t, "<title>val PSNR (right): (4, 27.25)</title>"));
        CHECK(!strstr(t, "train loss: (4,"));   /* the NaN is left out ... */
        int polylines = 0;
        for (const char *q = t; (q = strstr(q, "<polyline")); q++) polylines++;
        CHECK_MSG(polylines == 2, "%d polylines (one per series)", polylines);
        free(t);
    }
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", svg);
    CHECK(!exists(tmp) && exists(png));
    /* Errors: empty, all-NaN, none, too small. */
    ed_series e[1] = {{"empty", NULL, loss, 0, 0}};
    CHECK_ERR(ed_plot_image(e, 1, &a, &img), ED_E_ARG, "'empty' is empty");
    double nan2[2] = {NAN, NAN};
    ed_series z[1] = {{"nan", NULL, nan2, 2, 0}};
    CHECK_ERR(ed_plot_svg(svg, z, 1, &a), ED_E_ARG, "no finite point");
    CHECK_ERR(ed_plot_png(png, s, 0, &a), ED_E_ARG, "at least one series");
    double huge[2] = {-1e308, 1e308};
    ed_series hs[1] = {{"huge", NULL, huge, 2, 0}};
    CHECK_ERR(ed_plot_image(hs, 1, &a, &img), ED_E_ARG, "too large");
    ed_plot_args tiny = {"t", NULL, NULL, NULL, 30, 30, 0};
    CHECK_ERR(ed_plot_image(s, 2, &tiny, &img), ED_E_ARG, "too small");
    /* One point, x given, no args. */
    double x1[1] = {3}, y1[1] = {7};
    ed_series one[1] = {{NULL, x1, y1, 1, 0}};
    if (CHECK_OK(ed_plot_image(one, 1, NULL, &img))) ed_image_free(img);
}

/* ---- heat map --------------------------------------------------------------------- */

static void test_heatmap(void)
{
    int64_t conf[9] = {100, 0, 0, 10, 30, 60, 0, 0, 0};
    const char *names[3] = {"road", "car", "sky"};
    ed_palette p;
    ed_palette_camvid(&p);
    ed_image *img = NULL;
    if (CHECK_OK(ed_confusion_heatmap(conf, 3, names, &p, 1, &img))) {
        static const uint8_t darkest[3] = {8, 48, 107}, empty[3] = {232, 232, 232}, lightest[3] = {247, 251, 255};
        CHECK(count_colour(img, darkest) > 1000);    /* road: 100% */
        CHECK(count_colour(img, empty) > 3 * 1000);  /* sky: a row without pixels */
        CHECK(count_colour(img, lightest) > 1000);   /* 0% cells */
        CHECK(count_colour(img, p.rgb[0]) >= 2 * 6 * 6);   /* Sky's swatches (inside their frames) */
        ed_image_free(img);
    }
    CHECK_OK(ed_confusion_heatmap(conf, 3, NULL, NULL, 2, &img));
    ed_image_free(img);
    conf[4] = -1;
    CHECK_ERR(ed_confusion_heatmap(conf, 3, names, NULL, 1, &img), ED_E_RANGE, "(true 1, predicted 1)");
    CHECK_ERR(ed_confusion_heatmap(conf, 0, names, NULL, 1, &img), ED_E_ARG, "num_classes");
    ed_palette_camvid(&p);
    CHECK_ERR(ed_confusion_heatmap(conf, 13, NULL, &p, 1, &img), ED_E_ARG, "12 entries for 13");
}

/* ---- report ------------------------------------------------------------------------- */

static void test_report(const char *dir)
{
    char html[1024], path[1100];
    tmp_name(html, sizeof html, dir, "report.html");
    ed_report *r = NULL;
    if (!CHECK_OK(ed_report_new(html, "Run <1> & co", &r))) return;
    CHECK_OK(ed_report_add_metric(r, "mean IoU", 0.51234));
    CHECK_OK(ed_report_add_metric(r, "PSNR", INFINITY));
    CHECK_OK(ed_report_add_metric(r, "epochs", 30));
    CHECK_OK(ed_report_add_metric(r, "tiny", 1.5e-7));
    CHECK_OK(ed_report_add_metric(r, "AP", NAN));
    const char *cells[6] = {"class", "IoU", "Road", "0.9100", "Car", "0.7000"};
    CHECK_OK(ed_report_add_table(r, "per class", 3, 2, cells));
    CHECK_OK(ed_report_add_text(r, "Text with <b>tags</b>."));
    ed_image *img = solid(6, 4, 200);
    CHECK_OK(ed_report_add_image(r, img, "grid.png", "a grid"));
    tmp_name(path, sizeof path, dir, "grid.png");
    CHECK(exists(path));
    CHECK_OK(ed_report_add_file(r, "curve.svg", "the curves"));   /* written by test_plot */
    CHECK_OK(ed_report_add_image(r, img, "odd #1.png", NULL));
    CHECK_ERR(ed_report_add_file(r, "../x.png", NULL), ED_E_ARG, "relative path");
    CHECK_ERR(ed_report_add_file(r, "/etc/x.png", NULL), ED_E_ARG, "relative path");
    CHECK_ERR(ed_report_add_file(r, "notes.txt", NULL), ED_E_ARG, ".svg");
    CHECK_ERR(ed_report_add_image(r, img, "sub/x.png", NULL), ED_E_ARG, "plain file name");
    CHECK_OK(ed_report_write(r, 0));
    char *t = slurp(html);
    if (CHECK(t != NULL)) {
        CHECK(strstr(t, "<!DOCTYPE html>") && strstr(t, "</html>"));
        CHECK(strstr(t, "<title>Run &lt;1&gt; &amp; co</title>"));
        CHECK(strstr(t, ">0.5123<") && strstr(t, ">inf<") && strstr(t, ">30<") && strstr(t, ">1.5e-07<") &&
              strstr(t, ">n/a<"));
        CHECK(strstr(t, "<th>mean IoU</th>") && strstr(t, "<caption>per class</caption>") &&
              strstr(t, ">0.9100</td>"));
        CHECK(strstr(t, "Text with &lt;b&gt;tags&lt;/b&gt;."));
        CHECK(strstr(t, "<img src=\"grid.png\"") && strstr(t, "<img src=\"curve.svg\""));
        CHECK(strstr(t, "<img src=\"odd%20%231.png\" alt=\"odd #1.png\">"));
        CHECK(strstr(t, "<figcaption>the curves</figcaption>"));
        /* Every src points at a file next to the page. */
        int links = 0, dangling = 0;
        for (const char *q = t; (q = strstr(q, "src=\"")); links++) {
            q += 5;
            const char *e = strchr(q, '"');
            char rel[256], full[1400];
            int k = 0;
            for (const char *c = q; c < e && k < 255; c++) {   /* undo the percent-encoding */
                unsigned v;
                if (*c == '%' && sscanf(c + 1, "%2x", &v) == 1) rel[k++] = (char)v, c += 2;
                else rel[k++] = *c;
            }
            rel[k] = 0;
            tmp_name(full, sizeof full, dir, rel);
            dangling += !exists(full);
        }
        CHECK_MSG(links == 3 && dangling == 0, "%d links, %d dangling", links, dangling);
        free(t);
    }
    CHECK_OK(ed_report_write(r, ED_REPORT_EMBED));
    t = slurp(html);
    if (CHECK(t != NULL)) {
        CHECK(strstr(t, "src=\"data:image/png;base64,iVBORw0KGgo"));   /* the PNG signature */
        CHECK(strstr(t, "src=\"data:image/svg+xml;base64,PD94bWwg"));   /* "<?xml " */
        CHECK(!strstr(t, "src=\"grid.png\""));
        free(t);
    }
    snprintf(path, sizeof path, "%s.tmp", html);
    CHECK(!exists(path));
    CHECK_OK(ed_report_add_file(r, "missing.png", NULL));
    CHECK_ERR(ed_report_write(r, 0), ED_E_IO, "missing.png");
    CHECK_ERR(ed_report_write(r, 7), ED_E_ARG, "flags");
    ed_report_free(r);
    ed_image_free(img);
    CHECK_ERR(ed_report_new("", "x", &r), ED_E_ARG, "html_path");
}

/* ---- real data ---------------------------------------------------------------------- */

static ed_image *load(const char *root, const char *rel, int flags)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    ed_image *img = NULL;
    return ed_image_load(p, flags, &img) == ED_OK ? img : NULL;
}

/* A CamVid val frame and its labels; the "prediction" is the ground truth
 * moved 6 pixels right, so the heat map has honest boundary errors. */
static void test_camvid(const char *root, const char *sample)
{
    ed_image *frame = load(root, "camvid/val/0016E5_07959.png", 0);
    ed_image *annot = load(root, "camvid/valannot/0016E5_07959.png", 0);
    if (!CHECK(frame && annot)) goto out;
    ed_tensor *gt = NULL, *pred = NULL;
    if (!CHECK_OK(ed_image_to_labels(annot, &gt))) goto out;
    ed_palette p;
    ed_palette_camvid(&p);
    ed_image *overlay = NULL, *colour = NULL;
    CHECK_OK(ed_picture_rgb(frame, &overlay));
    CHECK_OK(ed_draw_overlay(overlay, gt, &p, 0.5, ED_CAMVID_VOID));
    CHECK_OK(ed_label_colorize(gt, &p, &colour));
    const int64_t *g = ed_tensor_cdata(gt);
    int W = frame->width, H = frame->height, checked = 0;
    for (int k = 0; k < W * H; k += 997) {
        const uint8_t *f = (const uint8_t *)frame->data + 3 * k, *o = (const uint8_t *)overlay->data + 3 * k;
        int ok = 1;
        for (int c = 0; c < 3; c++) {
            int want = g[k] == ED_CAMVID_VOID ? f[c] : (int)floor(0.5 * f[c] + 0.5 * p.rgb[g[k]][c] + 0.5);
            ok &= o[c] == want;
        }
        checked += ok;
        CHECK_MSG(ok, "overlay at pixel %d", k);
        if (!ok) break;
    }
    CHECK(checked > 100);
    CHECK_OK(ed_tensor_clone(gt, &pred));
    int64_t *pd = ed_tensor_data(pred);
    for (int y = 0; y < H; y++)
        for (int x = W - 1; x >= 6; x--) pd[y * W + x] = pd[y * W + x - 6];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (pd[y * W + x] == ED_CAMVID_VOID) pd[y * W + x] = 0;   /* a model never predicts void */
    int64_t conf[ED_CAMVID_CLASSES * ED_CAMVID_CLASSES] = {0};
    CHECK_OK(ed_confusion_update(conf, pd, g, (int64_t)W * H, ED_CAMVID_CLASSES, ED_CAMVID_VOID));
    ed_image *heat = NULL, *pred_overlay = NULL, *grid = NULL;
    CHECK_OK(ed_confusion_heatmap(conf, ED_CAMVID_CLASSES, NULL, &p, 2, &heat));
    CHECK_OK(ed_picture_rgb(frame, &pred_overlay));
    CHECK_OK(ed_draw_overlay(pred_overlay, pred, &p, 0.5, ED_CAMVID_VOID));
    const ed_image *cells[4] = {frame, colour, overlay, pred_overlay};
    const char *caps[4] = {"input 0016E5_07959", "ground truth", "ground truth over input (alpha 0.5)",
                           "prediction (shifted 6 px) over input"};
    CHECK_OK(ed_grid(cells, caps, 4, 2, 8, 2, &grid));
    if (grid) CHECK(grid->width == 8 + 480 + 8 + 480 + 8);
    if (sample && heat && grid) {
        char path[1024];
        mkdir(sample, 0755);
        snprintf(path, sizeof path, "%s/camvid_overlay.png", sample);
        CHECK_OK(ed_image_save_png(path, overlay));
        ed_report *r = NULL;
        snprintf(path, sizeof path, "%s/report.html", sample);
        if (CHECK_OK(ed_report_new(path, "CamVid val 0016E5_07959: sample report", &r))) {
            ed_seg_scores sc;
            if (CHECK_OK(ed_segmentation_scores(conf, ED_CAMVID_CLASSES, &sc))) {
                ed_report_add_text(r, "A picture check, not a trained model: the \"prediction\" is the ground truth "
                                      "moved 6 pixels right, and the curves are made up.");
                ed_report_add_metric(r, "mean IoU", sc.mean_iou);
                ed_report_add_metric(r, "global accuracy", sc.global_acc);
                ed_report_add_metric(r, "class accuracy", sc.class_acc);
                ed_report_add_metric(r, "pixels", (double)W * H);
                const char *tab[2 * (ED_CAMVID_CLASSES + 1)];
                char val[ED_CAMVID_CLASSES][32];
                tab[0] = "class", tab[1] = "IoU";
                for (int c = 0; c < ED_CAMVID_CLASSES; c++) {
                    snprintf(val[c], sizeof val[c], isnan(sc.iou[c]) ? "n/a" : "%.4f", sc.iou[c]);
                    tab[2 * c + 2] = p.names[c], tab[2 * c + 3] = val[c];
                }
                ed_report_add_table(r, "IoU per class", ED_CAMVID_CLASSES + 1, 2, tab);
                ed_seg_scores_free(&sc);
            }
            CHECK_OK(ed_report_add_image(r, grid, "camvid_grid.png", "input, ground truth, overlays"));
            CHECK_OK(ed_report_add_image(r, heat, "camvid_confusion.png", "confusion matrix"));
            double loss[30], psnr[30], acc[30];
            for (int e = 0; e < 30; e++) {
                loss[e] = 0.08 + 1.9 * exp(-e / 5.0) + 0.02 * sin(e * 1.7);
                psnr[e] = e % 5 == 4 ? 30 - 8 * exp(-e / 8.0) : NAN;   /* validated every 5 epochs */
                psnr[e] = isnan(psnr[e]) ? NAN : psnr[e] - 0.4 * cos(e);
                acc[e] = 0.55 + 0.35 * (1 - exp(-e / 7.0));
            }
            ed_series s[3] = {{"train loss", NULL, loss, 30, 0}, {"val PSNR", NULL, psnr, 30, 1},
                              {"train accuracy", NULL, acc, 30, 0}};
            ed_plot_args a = {"Training curves (made up)", "epoch", "loss / accuracy", "PSNR (dB)", 0, 0, 0};
            snprintf(path, sizeof path, "%s/curve.png", sample);
            CHECK_OK(ed_plot_png(path, s, 3, &a));
            snprintf(path, sizeof path, "%s/curve.svg", sample);
            CHECK_OK(ed_plot_svg(path, s, 3, &a));
            CHECK_OK(ed_report_add_file(r, "curve.png", "curves (PNG)"));
            CHECK_OK(ed_report_add_file(r, "curve.svg", "curves (SVG)"));
            ed_image *inst = load(root, "pennfudan/PNGImages/FudanPed00001.png", 0);
            ed_image *ids = load(root, "pennfudan/PedMasks/FudanPed00001_mask.png", 0);
            if (CHECK(inst && ids)) {
                int n = 0, iw = ids->width, ih = ids->height;
                for (int k = 0; k < iw * ih; k++)
                    if (((uint8_t *)ids->data)[k] > n) n = ((uint8_t *)ids->data)[k];
                ed_tensor *m = NULL;
                CHECK_OK(ed_tensor_new(ED_U8, SHAPE(n, ih, iw), &m));
                uint8_t *md = ed_tensor_data(m);
                for (int k = 0; k < iw * ih; k++) {
                    int id = ((uint8_t *)ids->data)[k];
                    if (id) md[(int64_t)(id - 1) * iw * ih + k] = 1;
                }
                int64_t lab[16];
                float sco[16];
                for (int i = 0; i < n && i < 16; i++) lab[i] = 1, sco[i] = 1.0f - 0.07f * i;
                const char *nm[2] = {"background", "person"};
                ed_instances in = {n, m, NULL, lab, sco, nm, 2};
                ed_image *rgb = NULL;
                CHECK_OK(ed_picture_rgb(inst, &rgb));
                CHECK_OK(ed_draw_instances(rgb, &in, 0.45, 2));
                CHECK_OK(ed_report_add_image(r, rgb, "pennfudan_instances.png", "Penn-Fudan instances (scores made up)"));
                ed_image_free(rgb);
                ed_tensor_free(m);
            }
            ed_image_free(inst);
            ed_image_free(ids);
            CHECK_OK(ed_report_write(r, 0));
            ed_report_free(r);
        }
        printf("sample written to %s\n", sample);
    }
    ed_image_free(heat);
    ed_image_free(grid);
    ed_image_free(pred_overlay);
    ed_image_free(overlay);
    ed_image_free(colour);
    ed_tensor_free(pred);
    ed_tensor_free(gt);
out:
    ed_image_free(frame);
    ed_image_free(annot);
}

int main(void)
{
    char dir[] = "/tmp/ed_test_picture_XXXXXX";
    const char *t = getenv("TMPDIR");
    char tdir[1024];
    snprintf(tdir, sizeof tdir, "%s/ed_test_picture_XXXXXX", t ? t : "/tmp");
    char *d = mkdtemp(t ? tdir : dir);
    if (!CHECK(d != NULL)) return check_done();
    test_palettes();
    test_colorize_overlay();
    test_rect();
    test_font_table();
    test_text();
    test_instances();
    test_grid();
    test_plot(d);
    test_heatmap();
    test_report(d);
    const char *root = getenv("ED_DATA_DIR");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/camvid/val", root ? root : "");
    if (root && exists(probe)) test_camvid(root, getenv("ED_PICTURES_SAMPLE"));
    else printf("skip: data sets not found (ED_DATA_DIR=%s)\n", root ? root : "unset");
    const char *files[] = {"curve.svg", "curve.png", "grid.png", "odd #1.png", "report.html"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char p[1100];
        tmp_name(p, sizeof p, d, files[i]);
        remove(p);
    }
    rmdir(d);
    return check_done();
}
