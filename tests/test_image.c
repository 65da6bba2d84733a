/* Image files: decoding odd PNG/JPEG variants against tests/golden/images
 * (pixels from the arrays they were made from, JPEGs from PIL's decode), the
 * real data sets under ED_DATA_DIR, save/load round trips, tensor
 * conversion, and broken input (errors, never crashes). */
#include "check.h"
#include "core/ed_internal.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *golden_dir(void)
{
    const char *d = getenv("ED_GOLDEN_DIR");
    return d ? d : "tests/golden";
}

static int read_file(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *buf = malloc(n > 0 ? (size_t)n : 1);
    *len = fread(*buf, 1, (size_t)n, f);
    fclose(f);
    return 1;
}

/* Sample k of img as an int (8 or 16-bit). */
static int sample(const ed_image *img, int64_t k)
{
    return img->bit_depth == 8 ? ((const uint8_t *)img->data)[k] : ((const uint16_t *)img->data)[k];
}

/* ---- golden variants ---------------------------------------------------------- */

static void test_golden(void)
{
    golden *g = golden_open("images_expected");
    if (!g) return;
    int jpeg_mismatch = 0;
    for (int k = 0; k < golden_cases(g); k++) {
        cJSON *a = golden_args(g, k);
        const char *file = golden_str(a, "file", "?");
        int flags = golden_int(a, "flags", 0);
        char path[1024];
        snprintf(path, sizeof path, "%s/images/%s", golden_dir(), file);
        ed_image *img = NULL;
        const char *status = golden_str(a, "status", NULL);
        if (status) {
            ed_status want = !strcmp(status, "unsupported") ? ED_E_UNSUPPORTED : ED_E_FORMAT;
            CHECK_ERR(ed_image_load(path, flags, &img), want, golden_str(a, "msg", ""));
            CHECK_MSG(strstr(ed_last_error(), file) != NULL, "%s: error does not name the file: %s", file,
                      ed_last_error());
            CHECK(img == NULL);
            /* The same bytes from memory fail the same way, naming "<memory>". */
            uint8_t *buf = NULL;
            size_t len = 0;
            if (CHECK(read_file(path, &buf, &len))) {
                CHECK_ERR(ed_image_load_memory(buf, len, flags, &img), want, "<memory>");
                free(buf);
            }
            continue;
        }
        if (!CHECK_OK(ed_image_load(path, flags, &img))) continue;
        ed_tensor *px = golden_tensor(g, k, "pixels");
        const int64_t *sh = ed_tensor_shape(px);
        int c = golden_int(a, "channels", 0), depth = golden_int(a, "bit_depth", 8);
        CHECK_MSG(img->height == sh[0] && img->width == sh[1] && img->channels == c && img->bit_depth == depth &&
                      img->indexed == golden_int(a, "indexed", 0),
                  "%s (flags %d): got %d x %d x %d, %d-bit, indexed %d", file, flags, img->height, img->width,
                  img->channels, img->bit_depth, img->indexed);
        if (img->height == sh[0] && img->width == sh[1] && img->channels == c && img->bit_depth == depth) {
            int64_t bad = 0, first = -1;
            int maxdiff = 0;
            for (int64_t i = 0; i < ed_tensor_numel(px); i++) {
                int want = (int)ed__get(px, i), got = sample(img, i);
                if (want != got) {
                    if (first < 0) first = i;
                    bad++;
                    if (abs(want - got) > maxdiff) maxdiff = abs(want - got);
                }
            }
            int is_jpeg = strstr(file, ".jpg") != NULL;
            if (is_jpeg && bad) jpeg_mismatch = 1;
            CHECK_MSG(bad == 0, "%s (flags %d): %lld samples differ from %s (first at %lld, max diff %d)", file,
                      flags, (long long)bad, is_jpeg ? "PIL" : "the source", (long long)first, maxdiff);
        }
        ed_tensor *pal = golden_tensor(g, k, "palette");
        if (pal) {
            const int64_t n = ed_tensor_shape(pal)[0];
            const uint8_t *p = ed_tensor_cdata(pal);
            CHECK_MSG(img->palette_size == n && !memcmp(img->palette, p, (size_t)n * 4), "%s: palette differs (size %d vs %lld)",
                      file, img->palette_size, (long long)n);
        }
        /* From memory: the same image. */
        uint8_t *buf = NULL;
        size_t len = 0;
        ed_image *m = NULL;
        if (CHECK(read_file(path, &buf, &len)) && CHECK_OK(ed_image_load_memory(buf, len, flags, &m))) {
            size_t bytes = (size_t)img->width * img->height * img->channels * (img->bit_depth / 8);
            CHECK_MSG(m->width == img->width && m->channels == img->channels &&
                          !memcmp(m->data, img->data, bytes),
                      "%s: memory and file decodes differ", file);
        }
        ed_image_free(m);
        free(buf);
        ed_image_free(img);
    }
    if (jpeg_mismatch)
        printf("note: JPEG decodes differ from PIL's (PIL's libjpeg-turbo %s vs the system's)\n",
               golden_str(golden_args(g, 0), "libjpeg_turbo", "?"));
    golden_close(g);
}

/* ---- real data sets ------------------------------------------------------------ */

typedef struct { int n, failed; int w, h, c; int max_label; } walk_stats;

/* Loads every step-th .png under dir (recursively, in readdir order, which
 * is fine: every file loads or the test fails). */
static void walk(const char *dir, int step, int *counter, walk_stats *st)
{
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) != 0) continue;
        if (S_ISDIR(sb.st_mode)) { walk(path, step, counter, st); continue; }
        size_t n = strlen(e->d_name);
        if (n < 4 || strcmp(e->d_name + n - 4, ".png")) continue;
        if ((*counter)++ % step) continue;
        ed_image *img = NULL;
        ed_status s = ed_image_load(path, 0, &img);
        st->n++;
        if (s != ED_OK) {
            st->failed++;
            CHECK_MSG(0, "%s: %s", path, ed_last_error());
            continue;
        }
        st->w = img->width;
        st->h = img->height;
        st->c = img->channels;
        if (img->channels == 1 && img->bit_depth == 8)
            for (int64_t i = 0; i < (int64_t)img->width * img->height; i++)
                if (((uint8_t *)img->data)[i] > st->max_label) st->max_label = ((uint8_t *)img->data)[i];
        ed_image_free(img);
    }
    closedir(d);
}

static void test_datasets(void)
{
    const char *root = getenv("ED_DATA_DIR");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/rps28", root ? root : "");
    struct stat sb;
    if (!root || stat(probe, &sb) != 0) {
        printf("skip: data sets not found (ED_DATA_DIR=%s)\n", root ? root : "unset");
        return;
    }
    struct { const char *sub; int step; } sets[] = {
        { "rps28", 1 }, { "camvid/train", 37 }, { "camvid/trainannot", 37 }, { "pennfudan", 1 },
        { "denoise", 1 }, { "sr", 1 },
    };
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        char dir[1024];
        snprintf(dir, sizeof dir, "%s/%s", root, sets[i].sub);
        walk_stats st = { 0 };
        int counter = 0;
        walk(dir, sets[i].step, &counter, &st);
        CHECK_MSG(st.n > 0 && st.failed == 0, "%s: %d of %d failed", sets[i].sub, st.failed, st.n);
        if (!strcmp(sets[i].sub, "rps28")) CHECK(st.w == 28 && st.h == 28 && st.c == 4);
        if (!strcmp(sets[i].sub, "camvid/train")) CHECK(st.w == 480 && st.h == 360 && st.c == 3);
        if (!strcmp(sets[i].sub, "camvid/trainannot")) CHECK(st.c == 1 && st.max_label <= 11);
        printf("%s: %d images loaded\n", sets[i].sub, st.n);
    }
}

/* ---- save / load round trips ------------------------------------------------- */

static void tmp_path(char *buf, size_t n, const char *what)
{
    const char *t = getenv("TMPDIR");
    snprintf(buf, n, "%s/ed_test_image_%d_%s.png", t ? t : "/tmp", (int)getpid(), what);
}

static void test_roundtrip(void)
{
    ed_rng r;
    ed_rng_init(&r, 7);
    char path[1024], tmp[1100];
    for (int depth = 8; depth <= 16; depth += 8)
        for (int c = 1; c <= 4; c++) {
            ed_image *img = NULL, *back = NULL;
            if (!CHECK_OK(ed_image_new(13 + c, 7 + depth / 8, c, depth, &img))) continue;
            int64_t n = (int64_t)img->width * img->height * c;
            for (int64_t i = 0; i < n; i++) {
                uint32_t v = ed_rng_u32(&r);
                if (depth == 8) ((uint8_t *)img->data)[i] = (uint8_t)v;
                else ((uint16_t *)img->data)[i] = (uint16_t)v;
            }
            tmp_path(path, sizeof path, "rt");
            CHECK_OK(ed_image_save_png(path, img));
            snprintf(tmp, sizeof tmp, "%s.tmp", path);
            CHECK_MSG(access(tmp, F_OK) != 0, "%s left behind", tmp);
            if (CHECK_OK(ed_image_load(path, 0, &back))) {
                CHECK_MSG(back->width == img->width && back->height == img->height && back->channels == c &&
                              back->bit_depth == depth && !memcmp(back->data, img->data, (size_t)n * (depth / 8)),
                          "round trip %d-bit, %d channels differs", depth, c);
            }
            remove(path);
            ed_image_free(back);
            ed_image_free(img);
        }

    /* A palette label map with tRNS: indices and palette come back with the
     * flag; without it, the RGBA colours. */
    ed_image *lab = NULL, *back = NULL;
    CHECK_OK(ed_image_new(9, 5, 1, 8, &lab));
    lab->indexed = 1;
    lab->palette_size = 3;
    uint8_t pal[3][4] = { { 0, 0, 0, 0 }, { 255, 0, 0, 255 }, { 0, 128, 255, 100 } };
    memcpy(lab->palette, pal, sizeof pal);
    for (int i = 0; i < 45; i++) ((uint8_t *)lab->data)[i] = (uint8_t)(i * 7 % 3);
    tmp_path(path, sizeof path, "pal");
    CHECK_OK(ed_image_save_png(path, lab));
    if (CHECK_OK(ed_image_load(path, ED_IMAGE_KEEP_PALETTE, &back))) {
        CHECK(back->indexed == 1 && back->channels == 1 && back->palette_size == 3);
        CHECK(!memcmp(back->data, lab->data, 45) && !memcmp(back->palette, pal, sizeof pal));
        ed_tensor *t = NULL;
        if (CHECK_OK(ed_image_to_labels(back, &t))) {
            CHECK(ed_tensor_shape(t)[0] == 5 && ed_tensor_shape(t)[1] == 9 && ed__ci64(t)[8] == 56 % 3);
            ed_tensor_free(t);
        }
        CHECK_ERR(ed_image_to_tensor(back, &t), ED_E_ARG, "palette indices");
    }
    ed_image_free(back);
    back = NULL;
    if (CHECK_OK(ed_image_load(path, 0, &back))) {
        CHECK(back->indexed == 0 && back->channels == 4);
        int ok = 1;
        for (int i = 0; i < 45; i++) ok &= !memcmp((uint8_t *)back->data + 4 * i, pal[i * 7 % 3], 4);
        CHECK_MSG(ok, "palette PNG expands to its RGBA colours");
    }
    ed_image_free(back);
    remove(path);
    ((uint8_t *)lab->data)[3] = 3;
    CHECK_ERR(ed_image_save_png(path, lab), ED_E_RANGE, "past the palette");
    lab->palette_size = 0;
    CHECK_ERR(ed_image_save_png(path, lab), ED_E_ARG, "palette_size");
    ed_image_free(lab);

    /* Saving errors. */
    ed_image *img = NULL;
    CHECK_OK(ed_image_new(4, 4, 3, 8, &img));
    CHECK_ERR(ed_image_save_png("/nonexistent-dir/x.png", img), ED_E_IO, "/nonexistent-dir/x.png");
    CHECK_ERR(ed_image_save_png(NULL, img), ED_E_ARG, "path");
    img->channels = 5;
    CHECK_ERR(ed_image_save_png(path, img), ED_E_ARG, "channels");
    img->channels = 3;
    img->bit_depth = 12;
    CHECK_ERR(ed_image_save_png(path, img), ED_E_ARG, "bit_depth");
    img->bit_depth = 8;
    ed_image_free(img);
    CHECK_ERR(ed_image_new(0, 4, 3, 8, &img), ED_E_ARG, "size");
    CHECK_ERR(ed_image_new(4, 4, 5, 8, &img), ED_E_ARG, "channels");
    CHECK_ERR(ed_image_new(4, 4, 3, 4, &img), ED_E_ARG, "bit_depth");
    CHECK_ERR(ed_image_new(40000, 4, 3, 8, &img), ED_E_ARG, "32768");
}

/* ---- tensors ----------------------------------------------------------------------- */

static void test_tensors(void)
{
    ed_image *img = NULL, *back = NULL;
    CHECK_OK(ed_image_new(3, 2, 3, 8, &img));
    uint8_t *p = img->data;
    for (int i = 0; i < 18; i++) p[i] = (uint8_t)(i * 15);
    ed_tensor *t = NULL;
    if (CHECK_OK(ed_image_to_tensor(img, &t))) {
        const int64_t *s = ed_tensor_shape(t);
        CHECK(ed_tensor_ndim(t) == 4 && s[0] == 1 && s[1] == 3 && s[2] == 2 && s[3] == 3);
        /* (c, y, x) = (2, 1, 0) is sample ((1 * 3 + 0) * 3 + 2) = 11. */
        CHECK(ed__cf32(t)[2 * 6 + 1 * 3 + 0] == (float)(11 * 15) / 255.0f);
        if (CHECK_OK(ed_tensor_to_image(t, &back)))
            CHECK(back->channels == 3 && back->width == 3 && !memcmp(back->data, img->data, 18));
        ed_image_free(back);
        back = NULL;
        ed_tensor_free(t);
    }
    ed_image_free(img);

    CHECK_OK(ed_image_new(2, 1, 1, 16, &img));
    ((uint16_t *)img->data)[0] = 65535;
    ((uint16_t *)img->data)[1] = 257;
    if (CHECK_OK(ed_image_to_tensor(img, &t))) {
        CHECK(ed__cf32(t)[0] == 1.0f && ed__cf32(t)[1] == 257.0f / 65535.0f);
        ed_tensor_free(t);
    }
    ed_image_free(img);

    /* Clamp and round half up: 0.5 * 255 = 127.5 -> 128. */
    float v[6] = { -0.25f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f / 255.0f };
    uint8_t want[6] = { 0, 0, 128, 255, 255, 2 };
    ed_tensor *x = NULL;
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(1, 2, 3), v, &x));
    if (CHECK_OK(ed_tensor_to_image(x, &back))) {
        CHECK(back->channels == 1 && back->height == 2 && back->width == 3 && back->bit_depth == 8);
        CHECK(!memcmp(back->data, want, 6));
    }
    ed_image_free(back);
    back = NULL;
    ed_tensor_free(x);
    double vd[4] = { 0.2, 0.4, 0.6, 0.8 };
    CHECK_OK(ed_tensor_from_data(ED_F64, SHAPE(1, 4, 1, 1), vd, &x));
    if (CHECK_OK(ed_tensor_to_image(x, &back))) {
        uint8_t w4[4] = { 51, 102, 153, 204 };
        CHECK(back->channels == 4 && !memcmp(back->data, w4, 4));
    }
    ed_image_free(back);
    back = NULL;
    ed_tensor_free(x);

    v[2] = NAN;
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(1, 2, 3), v, &x));
    CHECK_ERR(ed_tensor_to_image(x, &back), ED_E_NAN, "y 0, x 2");
    ed_tensor_free(x);
    x = check_randn(ED_F32, SHAPE(5, 2, 2), 1);
    CHECK_ERR(ed_tensor_to_image(x, &back), ED_E_SHAPE, "1..4 channels");
    ed_tensor_free(x);
    x = check_randn(ED_F32, SHAPE(2, 3, 2, 2), 1);
    CHECK_ERR(ed_tensor_to_image(x, &back), ED_E_SHAPE, "(C, H, W)");
    ed_tensor_free(x);
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(1, 2, 2), &x));
    CHECK_ERR(ed_tensor_to_image(x, &back), ED_E_DTYPE, NULL);
    ed_tensor_free(x);
    CHECK_OK(ed_image_new(2, 2, 3, 8, &img));
    CHECK_ERR(ed_image_to_labels(img, &t), ED_E_ARG, "1 channel");
    ed_image_free(img);
    CHECK_ERR(ed_image_to_tensor(NULL, &t), ED_E_ARG, "NULL");
}

/* ---- broken input -------------------------------------------------------------- */

static void test_errors(void)
{
    ed_image *img = NULL;
    CHECK_ERR(ed_image_load("/nonexistent/file.png", 0, &img), ED_E_IO, "/nonexistent/file.png");
    CHECK_ERR(ed_image_load("/tmp", 0, &img), ED_E_IO, "/tmp");
    CHECK_ERR(ed_image_load(NULL, 0, &img), ED_E_ARG, "path");
    CHECK_ERR(ed_image_load_memory("", 0, 0, &img), ED_E_FORMAT, "empty");
    CHECK_ERR(ed_image_load_memory(NULL, 4, 0, &img), ED_E_ARG, "NULL");
    CHECK_ERR(ed_image_load_memory("\x89PNG\r\n\x1a\n", 8, 0, &img), ED_E_FORMAT, "truncated");
    CHECK_ERR(ed_image_load_memory("\xff\xd8\xff", 3, 0, &img), ED_E_FORMAT, "JPEG");
    CHECK_ERR(ed_image_load_memory("\xff\xd8\xff\xd9", 4, 0, &img), ED_E_FORMAT, "JPEG");
    CHECK(img == NULL);
}

/* Every prefix-length class and random byte flips of each golden file: the
 * decoders must return (any status) and never crash; run under ASan. */
static void test_fuzz(void)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/images", golden_dir());
    DIR *d = opendir(dir);
    if (!CHECK_MSG(d != NULL, "cannot open %s", dir)) return;
    ed_rng r;
    ed_rng_init(&r, 99);
    int runs = 0, ok = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        uint8_t *buf = NULL;
        size_t len = 0;
        if (!read_file(path, &buf, &len)) continue;
        uint8_t *copy = malloc(len + 1);
        for (int trial = 0; trial < 40; trial++) {
            size_t n = len;
            memcpy(copy, buf, len);
            if (trial < 12) {
                n = len * (size_t)trial / 12;                    /* truncations */
            } else {
                int flips = 1 + (int)(ed_rng_u32(&r) % 4);       /* flipped bytes past the signature */
                for (int f = 0; f < flips && len > 8; f++)
                    copy[8 + ed_rng_u32(&r) % (len - 8)] ^= (uint8_t)(1 + ed_rng_u32(&r) % 255);
            }
            ed_image *img = NULL;
            ed_status s = ed_image_load_memory(copy, n, trial & 1, &img);
            runs++;
            if (s == ED_OK) {
                ok++;
                size_t bytes = (size_t)img->width * img->height * img->channels * (img->bit_depth / 8);
                volatile uint8_t sum = 0;
                for (size_t i = 0; i < bytes; i++) sum += ((uint8_t *)img->data)[i];   /* touch every byte */
                (void)sum;
            } else {
                CHECK_MSG(img == NULL && ed_last_error()[0], "fuzz %s: failure without a message", e->d_name);
            }
            ed_image_free(img);
        }
        free(copy);
        free(buf);
    }
    closedir(d);
    printf("fuzz: %d decodes, %d succeeded, none crashed\n", runs, ok);
    CHECK(runs > 0);
}

int main(void)
{
    test_golden();
    test_errors();
    test_roundtrip();
    test_tensors();
    test_fuzz();
    test_datasets();
    return check_done();
}
