/* Data sets and the loader: the real sets under ED_DATA_DIR (counts,
 * pairs, label ranges, Penn-Fudan instances against their annotations),
 * broken sets written to a temporary folder (each problem an error naming
 * the file and value, or a warning), deterministic splits, the loader's
 * batches bit-identical for 0, 1 and 3 workers, and padding to a multiple. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp_root[256];

/* ---- helpers --------------------------------------------------------------------- */

static void mkdirs(const char *fmt, const char *sub)
{
    char p[1024];
    snprintf(p, sizeof p, fmt, tmp_root, sub);
    mkdir(p, 0755);
}

/* An 8-bit image w x h x c whose samples are f(x, y, ch). */
static void write_png(const char *path, int w, int h, int c, int (*f)(int, int, int))
{
    ed_image *im = NULL;
    if (!CHECK_OK(ed_image_new(w, h, c, 8, &im))) return;
    uint8_t *d = im->data;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++) d[(y * w + x) * c + ch] = (uint8_t)f(x, y, ch);
    CHECK_OK(ed_image_save_png(path, im));
    ed_image_free(im);
}

static int pix_rgb(int x, int y, int ch) { return (x * 37 + y * 11 + ch * 80) % 256; }
static int lab_ok(int x, int y, int ch) { (void)ch; return (x + y) % 12; }          /* 0..11, 11 = void */
static int lab_17(int x, int y, int ch) { return x == 3 && y == 2 ? 17 : lab_ok(x, y, ch); }

static void path_of(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", tmp_root, rel);
}

static void png(const char *rel, int w, int h, int c, int (*f)(int, int, int))
{
    char p[1024];
    path_of(p, sizeof p, rel);
    write_png(p, w, h, c, f);
}

static void text(const char *rel, const char *content)
{
    char p[1024];
    path_of(p, sizeof p, rel);
    FILE *f = fopen(p, "w");
    if (!CHECK(f != NULL)) return;
    fputs(content, f);
    fclose(f);
}

static ed_dataset_options seg_opts(void)
{
    ed_dataset_options o;
    ed_dataset_options_default(&o);
    o.num_classes = 11;
    o.ignore_index = 11;
    return o;
}

static ed_status open_tmp(ed_dataset_kind k, const char *sub, const char *split, const ed_dataset_options *o,
                          ed_dataset **ds)
{
    char p[1024];
    path_of(p, sizeof p, sub);
    return ed_dataset_open(k, p, split, o, ds);
}

/* ---- real data sets --------------------------------------------------------------- */

static void test_rps28(const char *data)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/rps28", data);
    ed_dataset *ds = NULL;
    if (!CHECK_OK(ed_dataset_open(ED_DATASET_CLASSES, root, "train", NULL, &ds))) return;
    CHECK(ed_dataset_size(ds) == 2520);
    CHECK(ed_dataset_num_classes(ds) == 3);
    int count[3] = { 0 };
    for (int i = 0; i < ed_dataset_size(ds); i++) {
        int l = ed_dataset_label(ds, i);
        if (l >= 0 && l < 3) count[l]++;
    }
    CHECK_MSG(count[0] == 840 && count[1] == 840 && count[2] == 840, "per class %d %d %d", count[0], count[1], count[2]);
    CHECK(!strcmp(ed_dataset_class_name(ds, 0), "paper") && !strcmp(ed_dataset_class_name(ds, 2), "scissors"));
    ed_sample s;
    if (CHECK_OK(ed_dataset_get(ds, 1000, &s))) {
        const int64_t *sh = ed_tensor_shape(s.image);
        CHECK_MSG(ed_tensor_ndim(s.image) == 3 && sh[0] == 3 && sh[1] == 28 && sh[2] == 28, "rps image shape");
        CHECK(s.label == ed_dataset_label(ds, 1000) && s.labels == NULL);
        const float *v = ed_tensor_cdata(s.image);
        int in01 = 1;
        for (int64_t k = 0; k < ed_tensor_numel(s.image); k++) in01 &= v[k] >= 0 && v[k] <= 1;
        CHECK(in01);
        ed_sample_free(&s);
    }
    CHECK_ERR(ed_dataset_get(ds, 2520, &s), ED_E_RANGE, "2520");

    /* rps28 has no val or test split on disk; test is refused before looking. */
    ed_dataset *bad = NULL;
    CHECK_ERR(ed_dataset_open(ED_DATASET_CLASSES, root, "val", NULL, &bad), ED_E_IO, "no 'val' split");
    CHECK_ERR(ed_dataset_open(ED_DATASET_CLASSES, root, "test", NULL, &bad), ED_E_ARG, "held back");
    ed_dataset_options o;
    ed_dataset_options_default(&o);
    o.allow_test = 1;
    CHECK_ERR(ed_dataset_open(ED_DATASET_CLASSES, root, "test", &o, &bad), ED_E_IO, "no 'test' split");
    o.allow_test = 0;
    o.num_classes = 4;
    CHECK_ERR(ed_dataset_open(ED_DATASET_CLASSES, root, "train", &o, &bad), ED_E_ARG, "3 class folders");
    CHECK(bad == NULL);

    /* Deterministic, stratified split. */
    ed_dataset *tr = NULL, *va = NULL, *tr2 = NULL, *va2 = NULL, *tr3 = NULL, *va3 = NULL;
    CHECK_OK(ed_dataset_split(ds, 0.2, 42, &tr, &va));
    CHECK_OK(ed_dataset_split(ds, 0.2, 42, &tr2, &va2));
    CHECK_OK(ed_dataset_split(ds, 0.2, 43, &tr3, &va3));
    if (tr && va && tr2 && va2 && tr3 && va3) {
        CHECK(ed_dataset_size(va) == 504 && ed_dataset_size(tr) == 2016);
        int vc[3] = { 0 }, same = 1, differ = 0;
        for (int i = 0; i < ed_dataset_size(va); i++) {
            vc[ed_dataset_label(va, i)]++;
            same &= ed_dataset_image_path(va, i) == ed_dataset_image_path(va2, i);
            differ |= ed_dataset_image_path(va, i) != ed_dataset_image_path(va3, i);
        }
        CHECK_MSG(vc[0] == 168 && vc[1] == 168 && vc[2] == 168, "val per class %d %d %d", vc[0], vc[1], vc[2]);
        CHECK_MSG(same, "same seed, same split");
        CHECK_MSG(differ, "another seed, another split");
        /* The paths are the set's own strings: mark each once. */
        int *seen = calloc(2520, sizeof *seen), ok = 1;
        for (int pass = 0; pass < 2; pass++) {
            const ed_dataset *v = pass ? va : tr;
            int j = 0;
            for (int i = 0; i < ed_dataset_size(v); i++) {   /* both views are in the set's order */
                while (j < 2520 && ed_dataset_image_path(ds, j) != ed_dataset_image_path(v, i)) j++;
                if (j < 2520) seen[j]++;
                else ok = 0;
            }
        }
        for (int i = 0; i < 2520; i++) ok &= seen[i] == 1;
        CHECK_MSG(ok, "train and val are disjoint and together the whole set");
        free(seen);
        /* Fixed expectations: integer Philox only, so the same on every machine. */
        const char *want[4] = { "paper01-001.png", "paper01-015.png", "paper01-017.png", "paper01-026.png" };
        int fixed = 1;
        for (int i = 0; i < 4; i++) fixed &= strstr(ed_dataset_image_path(va, i), want[i]) != NULL;
        CHECK_MSG(fixed, "split(0.2, seed 42) starts with paper01-001, -015, -017, -026; got %s",
                  ed_dataset_image_path(va, 0));
        ed_loader *ld = NULL;
        ed_batch b;
        if (CHECK_OK(ed_loader_new(va, 5, 1, 77, 0, NULL, NULL, 0, &ld)) && CHECK_OK(ed_loader_next(ld, &b))) {
            CHECK_MSG(b.indices[0] == 161 && b.indices[1] == 59 && b.indices[2] == 456 && b.indices[3] == 182 &&
                          b.indices[4] == 386,
                      "shuffle(seed 77, epoch 0) starts 161 59 456 182 386; got %d %d", b.indices[0], b.indices[1]);
            ed_batch_free(&b);
        }
        ed_loader_free(ld);
        ed_rng r;
        ed_loader_sample_rng(77, 1, 5, &r);
        CHECK(ed_rng_u32(&r) == 2736361866u);
    }
    ed_dataset_free(tr3), ed_dataset_free(va3);
    CHECK_ERR(ed_dataset_split(ds, 1.0, 1, &tr3, &va3), ED_E_ARG, "val_fraction");
    ed_dataset *t1 = NULL, *v1 = NULL;
    int three[3] = { 0, 1, 2 };
    ed_dataset *small = NULL;
    CHECK_OK(ed_dataset_subset(ds, three, 3, &small));
    CHECK_ERR(ed_dataset_split(small, 0.01, 1, &t1, &v1), ED_E_ARG, "empty");
    ed_dataset_free(small);
    ed_dataset_free(tr), ed_dataset_free(va), ed_dataset_free(tr2), ed_dataset_free(va2);
    ed_dataset_free(ds);
}

static void test_camvid(const char *data)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/camvid", data);
    ed_dataset_options o = seg_opts();
    ed_dataset *tr = NULL, *va = NULL;
    if (!CHECK_OK(ed_dataset_open(ED_DATASET_SEG_INDEX, root, "train", &o, &tr))) return;
    CHECK_OK(ed_dataset_open(ED_DATASET_SEG_INDEX, root, "val", &o, &va));
    CHECK(ed_dataset_size(tr) == 367);
    CHECK(ed_dataset_size(va) == 101);
    CHECK(strstr(ed_dataset_mask_path(tr, 0), "trainannot/") != NULL);
    ed_sample s;
    if (CHECK_OK(ed_dataset_get(va, 50, &s))) {
        const int64_t *sh = ed_tensor_shape(s.image), *lh = ed_tensor_shape(s.labels);
        CHECK(sh[0] == 3 && sh[1] == 360 && sh[2] == 480 && lh[0] == 360 && lh[1] == 480);
        const int64_t *l = ed_tensor_cdata(s.labels);
        int64_t lo = 99, hi = -1;
        for (int64_t k = 0; k < ed_tensor_numel(s.labels); k++) lo = l[k] < lo ? l[k] : lo, hi = l[k] > hi ? l[k] : hi;
        CHECK_MSG(lo >= 0 && hi <= 11 && hi > 0, "camvid labels %lld..%lld", (long long)lo, (long long)hi);
        CHECK(s.ignore_index == 11);
        ed_sample_free(&s);
    }
    o.num_classes = 0;
    ed_dataset *bad = NULL;
    CHECK_ERR(ed_dataset_open(ED_DATASET_SEG_INDEX, root, "train", &o, &bad), ED_E_ARG, "num_classes");
    ed_dataset_free(tr), ed_dataset_free(va);
}

/* Plain image folders (denoising, super-resolution): clean images only. */
static void test_plain(const char *data)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/denoise", data);
    ed_dataset *ds = NULL;
    ed_sample s;
    if (CHECK_OK(ed_dataset_open(ED_DATASET_IMAGES, root, "set12", NULL, &ds))) {
        CHECK(ed_dataset_size(ds) == 12);
        if (CHECK_OK(ed_dataset_get(ds, 0, &s))) CHECK(ed_tensor_shape(s.image)[0] == 1 && !s.labels && s.label == -1);
        ed_sample_free(&s);
        ed_dataset_free(ds);
    }
    snprintf(root, sizeof root, "%s/sr/set5", data);
    ed_dataset_options o;
    ed_dataset_options_default(&o);
    o.channels = 1;     /* PIL's convert("L"), checked equal to it on bird_GT.png */
    if (CHECK_OK(ed_dataset_open(ED_DATASET_IMAGES, root, NULL, &o, &ds))) {
        CHECK(ed_dataset_size(ds) == 5);
        if (CHECK_OK(ed_dataset_get(ds, 1, &s))) {
            const int64_t *sh = ed_tensor_shape(s.image);
            CHECK(strstr(s.path, "bird_GT.png") && sh[0] == 1 && sh[1] == 288 && sh[2] == 288);
        }
        ed_sample_free(&s);
        ed_dataset_free(ds);
    }
}

/* Every mask pixel inside its box and the box tight; one mask per id. */
static void check_instances(const ed_sample *s)
{
    const int64_t *lab = ed_tensor_cdata(s->labels);
    const int64_t H = ed_tensor_shape(s->labels)[0], W = ed_tensor_shape(s->labels)[1];
    int present[256] = { 0 }, n_ids = 0;
    for (int64_t p = 0; p < H * W; p++)
        if (lab[p] > 0 && lab[p] < 256 && !present[lab[p]]++) n_ids++;
    CHECK_MSG(s->n_instances == n_ids, "%s: %d masks for %d ids", s->path, s->n_instances, n_ids);
    const uint8_t *m = ed_tensor_cdata(s->masks);
    const float *b = ed_tensor_cdata(s->boxes);
    const int64_t *ids = ed_tensor_cdata(s->ids);
    int ok = 1;
    for (int k = 0; k < s->n_instances; k++) {
        int64_t x0 = W, y0 = H, x1 = -1, y1 = -1, area = 0;
        for (int64_t p = 0; p < H * W; p++) {
            int in = m[k * H * W + p];
            ok &= in == (lab[p] == ids[k]);
            if (!in) continue;
            area++;
            int64_t x = p % W, y = p / W;
            ok &= x >= b[4 * k] && x + 1 <= b[4 * k + 2] && y >= b[4 * k + 1] && y + 1 <= b[4 * k + 3];
            x0 = x < x0 ? x : x0, y0 = y < y0 ? y : y0, x1 = x > x1 ? x : x1, y1 = y > y1 ? y : y1;
        }
        ok &= area > 0 && b[4 * k] == x0 && b[4 * k + 1] == y0 && b[4 * k + 2] == x1 + 1 && b[4 * k + 3] == y1 + 1;
    }
    CHECK_MSG(ok, "%s: masks match the id map and boxes enclose them tightly", s->path);
}

static void test_pennfudan(const char *data)
{
    char root[1024], p[1200];
    snprintf(root, sizeof root, "%s/pennfudan", data);
    ed_dataset *ds = NULL;
    if (!CHECK_OK(ed_dataset_open(ED_DATASET_INSTANCE, root, "train", NULL, &ds))) return;
    ed_file_list *imgs = NULL, *masks = NULL;
    snprintf(p, sizeof p, "%s/PNGImages", root);
    CHECK_OK(ed_file_list_images(p, 0, &imgs));
    snprintf(p, sizeof p, "%s/PedMasks", root);
    CHECK_OK(ed_file_list_images(p, 0, &masks));
    if (imgs && masks) {
        printf("pennfudan: %d images, %d masks, %d pairs\n", imgs->n, masks->n, ed_dataset_size(ds));
        CHECK(ed_dataset_size(ds) == imgs->n && imgs->n == masks->n && imgs->n == 140);
    }
    ed_file_list_free(imgs), ed_file_list_free(masks);
    CHECK(strstr(ed_dataset_mask_path(ds, 0), "FudanPed00001_mask.png") != NULL);
    const int pick[] = { 0, 1, 58, 59, 139 };
    for (int k = 0; k < 5; k++) {
        ed_sample s;
        if (!CHECK_OK(ed_dataset_get(ds, pick[k], &s))) continue;
        check_instances(&s);
        CHECK(s.n_instances >= 1);
        ed_sample_free(&s);
    }
    /* The PASCAL text boxes of image 1, 1-based inclusive -> [x0, x1). */
    ed_tensor *ann = NULL;
    snprintf(p, sizeof p, "%s/Annotation/FudanPed00001.txt", root);
    if (CHECK_OK(ed_pascal_boxes_load(p, &ann))) {
        const float *a = ed_tensor_cdata(ann);
        CHECK(ed_tensor_shape(ann)[0] == 2 && a[0] == 159 && a[1] == 181 && a[2] == 302 && a[3] == 431 &&
              a[4] == 419 && a[7] == 486);
        ed_tensor_free(ann);
    }
    ed_dataset *bad = NULL;
    CHECK_ERR(ed_dataset_open(ED_DATASET_INSTANCE, root, "val", NULL, &bad), ED_E_IO, "no 'val' split");
    CHECK_ERR(ed_dataset_open(ED_DATASET_INSTANCE, root, "test", NULL, &bad), ED_E_ARG, "held back");

    /* Batches of different sizes are refused, naming both files; a crop hook fixes them. */
    ed_loader *ld = NULL;
    ed_batch b;
    if (CHECK_OK(ed_loader_new(ds, 2, 0, 1, 0, NULL, NULL, 0, &ld))) {
        CHECK_ERR(ed_loader_next(ld, &b), ED_E_SHAPE, "FudanPed00002.png");
        ed_loader_free(ld);
    }
    ed_augment_params ap;
    ed_augment_params_default(&ap);
    ap.crop_h = ap.crop_w = 300;
    ap.p_hflip = 0.5;
    if (CHECK_OK(ed_loader_new(ds, 2, 1, 3, 1, ed_sample_augment, &ap, 0, &ld))) {
        if (CHECK_OK(ed_loader_next(ld, &b)) && CHECK(b.samples != NULL && b.n == 2)) {
            const int64_t *sh = ed_tensor_shape(b.images);
            CHECK(sh[0] == 2 && sh[2] == 300 && sh[3] == 300 && ed_tensor_shape(b.labels)[1] == 300);
            for (int i = 0; i < b.n; i++) {
                ed_sample view = b.samples[i];
                ed_tensor *lab = NULL;   /* the sample's map is row i of the stack */
                CHECK_OK(ed_tensor_from_data(ED_I64, 2, (int64_t[]){ 300, 300 },
                                             (const int64_t *)ed_tensor_cdata(b.labels) + i * 90000, &lab));
                view.labels = lab;
                check_instances(&view);
                ed_tensor_free(lab);
            }
        }
        ed_batch_free(&b);
        ed_loader_free(ld);
    }
    ed_dataset_free(ds);
}

/* ---- synthetic broken sets ------------------------------------------------------- */

static void make_seg_set(const char *name, int (*mask_b)(int, int, int), int mask_c_w)
{
    char a[256], b[256];
    mkdirs("%s/%s", name);
    snprintf(a, sizeof a, "%s/train", name), snprintf(b, sizeof b, "%s/trainannot", name);
    mkdirs("%s/%s", a), mkdirs("%s/%s", b);
    const char *names[3] = { "a", "b", "c" };
    for (int i = 0; i < 3; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s.png", a, names[i]);
        png(p, 6, 5, 3, pix_rgb);
        snprintf(p, sizeof p, "%s/%s.png", b, names[i]);
        png(p, i == 2 ? mask_c_w : 6, 5, 1, i == 1 ? mask_b : lab_ok);
    }
}

static void count_warning(const char *msg, void *ctx)
{
    (void)msg;
    (*(int *)ctx)++;
}

static void test_bad_sets(void)
{
    ed_dataset_options o = seg_opts();
    ed_dataset *ds = NULL;
    ed_sample s;

    /* Label 17 in an 11-class set: an error at get naming file, value, position. */
    make_seg_set("l17", lab_17, 6);
    if (CHECK_OK(open_tmp(ED_DATASET_SEG_INDEX, "l17", "train", &o, &ds))) {
        CHECK_OK(ed_dataset_get(ds, 0, &s));
        ed_sample_free(&s);
        CHECK_ERR(ed_dataset_get(ds, 1, &s), ED_E_RANGE, "trainannot/b.png: label 17 at (x 3, y 2)");
        CHECK(s.image == NULL && s.labels == NULL);
        ed_dataset_free(ds);
    }
    o.check = ED_CHECK_FULL;
    CHECK_ERR(open_tmp(ED_DATASET_SEG_INDEX, "l17", "train", &o, &ds), ED_E_RANGE, "label 17");
    /* warn_only: the label becomes the ignore value, one warning per sample. */
    o.check = ED_CHECK_BASIC;
    o.warn_only = 1;
    int calls = 0;
    o.on_warning = count_warning;
    o.warning_ctx = &calls;
    if (CHECK_OK(open_tmp(ED_DATASET_SEG_INDEX, "l17", "train", &o, &ds))) {
        for (int rep = 0; rep < 2; rep++) {
            if (CHECK_OK(ed_dataset_get(ds, 1, &s))) CHECK(((const int64_t *)ed_tensor_cdata(s.labels))[2 * 6 + 3] == 11);
            ed_sample_free(&s);
        }
        CHECK(ed_dataset_num_warnings(ds) == 1);
        CHECK(ed_dataset_warning(ds, 0) && strstr(ed_dataset_warning(ds, 0), "b.png: label 17"));
        CHECK(calls == 1);
        ed_dataset_free(ds);
    }
    o.warn_only = 0;
    o.on_warning = NULL;

    /* Mask of another size. */
    make_seg_set("size", lab_ok, 4);
    if (CHECK_OK(open_tmp(ED_DATASET_SEG_INDEX, "size", "train", &o, &ds))) {
        CHECK_ERR(ed_dataset_get(ds, 2, &s), ED_E_SHAPE, "train/c.png is 6 x 5 (W x H) but its mask");
        ed_dataset_free(ds);
    }

    /* An image without its mask; a mask without its image. */
    make_seg_set("miss", lab_ok, 6);
    png("miss/train/d.png", 6, 5, 3, pix_rgb);
    CHECK_ERR(open_tmp(ED_DATASET_SEG_INDEX, "miss", "train", &o, &ds), ED_E_IO, "train/d.png has no mask");
    o.warn_only = 1;
    if (CHECK_OK(open_tmp(ED_DATASET_SEG_INDEX, "miss", "train", &o, &ds))) {
        CHECK(ed_dataset_size(ds) == 3 && ed_dataset_num_warnings(ds) == 1);
        ed_dataset_free(ds);
    }
    o.warn_only = 0;
    make_seg_set("orphan", lab_ok, 6);
    png("orphan/trainannot/z.png", 6, 5, 1, lab_ok);
    CHECK_ERR(open_tmp(ED_DATASET_SEG_INDEX, "orphan", "train", &o, &ds), ED_E_IO, "z.png has no image");

    /* An empty file; an empty folder. */
    make_seg_set("zero", lab_ok, 6);
    text("zero/train/e.png", "");
    png("zero/trainannot/e.png", 6, 5, 1, lab_ok);
    CHECK_ERR(open_tmp(ED_DATASET_SEG_INDEX, "zero", "train", &o, &ds), ED_E_FORMAT, "e.png is empty");
    mkdirs("%s/%s", "empty"), mkdirs("%s/%s", "empty/train"), mkdirs("%s/%s", "empty/trainannot");
    CHECK_ERR(open_tmp(ED_DATASET_SEG_INDEX, "empty", "train", &o, &ds), ED_E_IO, "no image files");
    CHECK_ERR(open_tmp(ED_DATASET_IMAGES, "empty", "train", NULL, &ds), ED_E_IO, "no image files");

    /* A test split only on request. */
    mkdirs("%s/%s", "l17/test"), mkdirs("%s/%s", "l17/testannot");
    png("l17/test/a.png", 6, 5, 3, pix_rgb);
    png("l17/testannot/a.png", 6, 5, 1, lab_ok);
    CHECK_ERR(open_tmp(ED_DATASET_SEG_INDEX, "l17", "test", &o, &ds), ED_E_ARG, "held back");
    o.image_dir = "test";
    o.mask_dir = "testannot";
    CHECK_ERR(open_tmp(ED_DATASET_SEG_INDEX, "l17", "train", &o, &ds), ED_E_ARG, "held back");
    o.image_dir = o.mask_dir = NULL;
    o.allow_test = 1;
    if (CHECK_OK(open_tmp(ED_DATASET_SEG_INDEX, "l17", "test", &o, &ds))) CHECK(ed_dataset_size(ds) == 1);
    ed_dataset_free(ds);
    ds = NULL;
    o.allow_test = 0;
}

static int pal_idx(int x, int y, int ch) { (void)ch; return x == 0 ? 255 : (x + y) % 3; }

static void test_palette_voc(void)
{
    mkdirs("%s/%s", "voc"), mkdirs("%s/%s", "voc/ImageSets"), mkdirs("%s/%s", "voc/ImageSets/Segmentation");
    mkdirs("%s/%s", "voc/JPEGImages"), mkdirs("%s/%s", "voc/SegmentationClass");
    png("voc/JPEGImages/2007_1.png", 6, 5, 3, pix_rgb);
    png("voc/JPEGImages/2007_2.png", 6, 5, 3, pix_rgb);
    char p[1024];
    ed_image *m = NULL;
    if (CHECK_OK(ed_image_new(6, 5, 1, 8, &m))) {
        m->indexed = 1;
        m->palette_size = 256;
        for (int i = 0; i < 256; i++) m->palette[i][0] = (uint8_t)i, m->palette[i][3] = 255;
        m->palette[1][1] = 128;
        for (int y = 0; y < 5; y++)
            for (int x = 0; x < 6; x++) ((uint8_t *)m->data)[y * 6 + x] = (uint8_t)pal_idx(x, y, 0);
        path_of(p, sizeof p, "voc/SegmentationClass/2007_1.png");
        CHECK_OK(ed_image_save_png(p, m));
        ed_image_free(m);
    }
    png("voc/SegmentationClass/2007_2.png", 6, 5, 1, pal_idx);     /* gray, not palette */
    text("voc/ImageSets/Segmentation/train.txt", "2007_1\n");
    text("voc/ImageSets/Segmentation/val.txt", "2007_2\n");
    ed_dataset_options o;
    ed_dataset_options_default(&o);
    o.num_classes = 3;
    ed_dataset *ds = NULL;
    ed_sample s;
    if (CHECK_OK(open_tmp(ED_DATASET_SEG_PALETTE, "voc", "train", &o, &ds))) {
        uint8_t pal[256][4];
        CHECK(ed_dataset_palette(ds, pal) >= 3 && pal[1][1] == 128);
        if (CHECK_OK(ed_dataset_get(ds, 0, &s))) {
            const int64_t *l = ed_tensor_cdata(s.labels);
            CHECK(l[0] == 255 && l[1] == 1 && l[6 + 2] == 0);
        }
        ed_sample_free(&s);
        ed_dataset_free(ds);
    }
    CHECK_ERR(open_tmp(ED_DATASET_SEG_PALETTE, "voc", "val", &o, &ds), ED_E_FORMAT, "not a palette PNG");
    CHECK_ERR(open_tmp(ED_DATASET_SEG_PALETTE, "voc", "test", &o, &ds), ED_E_ARG, "held back");
}

static int inst_ids(int x, int y, int ch)
{
    (void)ch;
    if (x >= 1 && x <= 3 && y >= 2 && y <= 4) return 1;
    if (x >= 6 && y <= 1) return 3;
    return 0;
}

static void test_instance_synthetic(void)
{
    mkdirs("%s/%s", "inst"), mkdirs("%s/%s", "inst/PNGImages"), mkdirs("%s/%s", "inst/PedMasks");
    mkdirs("%s/%s", "inst/Annotation");
    png("inst/PNGImages/p1.png", 8, 6, 3, pix_rgb);
    png("inst/PedMasks/p1_mask.png", 8, 6, 1, inst_ids);
    const char *good = "Objects with ground truth : 2 { \"P\" \"P\" }\n"
                       "Bounding box for object 1 \"P\" (Xmin, Ymin) - (Xmax, Ymax) : (2, 3) - (4, 5)\n"
                       "Bounding box for object 2 \"P\" (Xmin, Ymin) - (Xmax, Ymax) : (7, 1) - (8, 2)\n";
    text("inst/Annotation/p1.txt", good);
    ed_dataset *ds = NULL;
    ed_sample s;
    if (CHECK_OK(open_tmp(ED_DATASET_INSTANCE, "inst", NULL, NULL, &ds))) {
        if (CHECK_OK(ed_dataset_get(ds, 0, &s))) {
            check_instances(&s);
            const int64_t *ids = ed_tensor_cdata(s.ids);
            const float *b = ed_tensor_cdata(s.boxes);
            CHECK(s.n_instances == 2 && ids[0] == 1 && ids[1] == 3);
            CHECK(b[0] == 1 && b[1] == 2 && b[2] == 4 && b[3] == 5 && b[4] == 6 && b[7] == 2);
            CHECK(((const int64_t *)ed_tensor_cdata(s.classes))[1] == 1);
        }
        ed_sample_free(&s);
        ed_dataset_free(ds);
    }
    text("inst/Annotation/p1.txt", "Bounding box for object 1 \"P\" (Xmin, Ymin) - (Xmax, Ymax) : (2, 3) - (4, 5)\n"
                                   "Bounding box for object 2 \"P\" (Xmin, Ymin) - (Xmax, Ymax) : (1, 1) - (2, 2)\n");
    if (CHECK_OK(open_tmp(ED_DATASET_INSTANCE, "inst", "train", NULL, &ds))) {
        CHECK_ERR(ed_dataset_get(ds, 0, &s), ED_E_FORMAT, "p1.txt: object 2's box");
        ed_dataset_free(ds);
    }
    text("inst/Annotation/p1.txt", "Bounding box for object 1 \"P\" (Xmin, Ymin) - (Xmax, Ymax) : (2, 3) - (4, 5)\n");
    if (CHECK_OK(open_tmp(ED_DATASET_INSTANCE, "inst", "train", NULL, &ds))) {
        CHECK_ERR(ed_dataset_get(ds, 0, &s), ED_E_FORMAT, "lists 1 objects but mask");
        ed_dataset_free(ds);
    }
    text("inst/Annotation/p1.txt", good);
}

/* ---- the loader -------------------------------------------------------------------- */

typedef struct {
    int n_batches;
    ed_batch b[40];
} run;

static void collect(const ed_dataset *ds, int workers, const ed_augment_params *ap, int flags, run *r)
{
    memset(r, 0, sizeof *r);
    ed_loader *ld = NULL;
    if (!CHECK_OK(ed_loader_new(ds, 16, 1, 77, workers, ed_sample_augment, ap, flags, &ld))) return;
    for (int e = 0; e < 2; e++)
        for (;;) {
            ed_batch b;
            if (!CHECK_OK(ed_loader_next(ld, &b))) break;
            if (b.n == 0) {
                CHECK(b.epoch == e && b.step == ed_loader_num_batches(ld));
                break;
            }
            if (r->n_batches < 40) r->b[r->n_batches++] = b;
            else ed_batch_free(&b);
        }
    ed_loader_free(ld);
}

static int same_tensor(const ed_tensor *a, const ed_tensor *b)
{
    if (!a || !b) return a == b;
    return ed_tensor_numel(a) == ed_tensor_numel(b) && ed_tensor_ndim(a) == ed_tensor_ndim(b) &&
           !memcmp(ed_tensor_shape(a), ed_tensor_shape(b), sizeof(int64_t) * (size_t)ed_tensor_ndim(a)) &&
           !memcmp(ed_tensor_cdata(a), ed_tensor_cdata(b), (size_t)ed_tensor_numel(a) * ed_dtype_size(ed_tensor_dtype(a)));
}

static void free_run(run *r)
{
    for (int i = 0; i < r->n_batches; i++) ed_batch_free(&r->b[i]);
}

static void test_loader(const char *data)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/rps28", data);
    ed_dataset *all = NULL, *tr = NULL, *ds = NULL;
    if (!CHECK_OK(ed_dataset_open(ED_DATASET_CLASSES, root, "train", NULL, &all))) return;
    CHECK_OK(ed_dataset_split(all, 0.05, 9, &tr, &ds));    /* 126 samples */
    ed_dataset_free(tr);
    ed_dataset_free(all);      /* the views keep the files alive */
    if (!ds) return;
    CHECK(ed_dataset_size(ds) == 126);
    ed_augment_params ap;
    ed_augment_params_default(&ap);
    ap.crop_h = ap.crop_w = 24;
    ap.p_hflip = 0.5;
    ap.brightness = 0.3;
    run r0, r1, r3, rd;
    collect(ds, 0, &ap, 0, &r0);
    collect(ds, 1, &ap, 0, &r1);
    collect(ds, 3, &ap, 0, &r3);
    CHECK(r0.n_batches == 16 && r1.n_batches == 16 && r3.n_batches == 16);
    int same = r0.n_batches == r1.n_batches && r1.n_batches == r3.n_batches;
    for (int i = 0; same && i < r0.n_batches; i++) {
        same &= r0.b[i].n == r1.b[i].n && r1.b[i].n == r3.b[i].n;
        same &= same_tensor(r0.b[i].images, r1.b[i].images) && same_tensor(r1.b[i].images, r3.b[i].images);
        same &= same_tensor(r0.b[i].labels, r1.b[i].labels) && same_tensor(r1.b[i].labels, r3.b[i].labels);
        same &= !memcmp(r0.b[i].indices, r3.b[i].indices, (size_t)r0.b[i].n * sizeof(int));
    }
    CHECK_MSG(same, "batches are bit-identical for 0, 1 and 3 workers over 2 epochs");
    if (r0.n_batches == 16) {
        const int64_t *sh = ed_tensor_shape(r0.b[0].images);
        CHECK(sh[0] == 16 && sh[1] == 3 && sh[2] == 24 && sh[3] == 24);
        CHECK(r0.b[7].n == 126 - 7 * 16 && r0.b[8].epoch == 1 && r0.b[8].step == 0);
        /* Each epoch visits each sample once, in another order; labels follow. */
        int seen[2][126] = { { 0 } }, order_differs = 0, labels_ok = 1;
        for (int i = 0; i < 16; i++)
            for (int k = 0; k < r0.b[i].n; k++) {
                int idx = r0.b[i].indices[k];
                seen[i / 8][idx]++;
                labels_ok &= ((const int64_t *)ed_tensor_cdata(r0.b[i].labels))[k] == ed_dataset_label(ds, idx);
                if (i < 8) order_differs |= idx != r0.b[i + 8].indices[k];
            }
        int once = 1;
        for (int e = 0; e < 2; e++)
            for (int k = 0; k < 126; k++) once &= seen[e][k] == 1;
        CHECK_MSG(once && order_differs && labels_ok, "epochs cover the set once each, shuffled anew");
    }
    collect(ds, 2, &ap, ED_LOADER_DROP_LAST, &rd);
    CHECK(rd.n_batches == 14 && rd.b[6].n == 16 && rd.b[7].epoch == 1);
    CHECK(rd.n_batches >= 1 && same_tensor(rd.b[0].images, r0.b[0].images));
    free_run(&r0), free_run(&r1), free_run(&r3), free_run(&rd);

    /* Stopping mid-epoch joins the workers cleanly. */
    ed_loader *ld = NULL;
    if (CHECK_OK(ed_loader_new(ds, 4, 1, 1, 3, NULL, NULL, 0, &ld))) {
        ed_batch b;
        CHECK_OK(ed_loader_next(ld, &b));
        CHECK(b.n == 4 && ed_tensor_shape(b.images)[1] == 3);
        ed_batch_free(&b);
        ed_loader_free(ld);
    }
    CHECK_ERR(ed_loader_new(ds, 0, 1, 1, 1, NULL, NULL, 0, &ld), ED_E_ARG, "batch_size");
    CHECK_ERR(ed_loader_new(ds, 200, 1, 1, 1, NULL, NULL, ED_LOADER_DROP_LAST, &ld), ED_E_ARG, "no batch");
    ed_dataset_free(ds);
}

/* A worker's error reaches ed_loader_next naming the file; the loader goes on. */
static void test_loader_errors(void)
{
    ed_dataset_options o = seg_opts();
    ed_dataset *ds = NULL;
    if (!CHECK_OK(open_tmp(ED_DATASET_SEG_INDEX, "l17", "train", &o, &ds))) return;
    ed_loader *ld = NULL;
    if (CHECK_OK(ed_loader_new(ds, 1, 0, 1, 2, NULL, NULL, 0, &ld))) {
        ed_batch b;
        CHECK_OK(ed_loader_next(ld, &b));
        CHECK(b.n == 1 && ed_tensor_ndim(b.labels) == 3);
        ed_batch_free(&b);
        CHECK_ERR(ed_loader_next(ld, &b), ED_E_RANGE, "epoch 0, batch 1: dataset: mask");
        CHECK(strstr(ed_last_error(), "b.png: label 17") != NULL);
        CHECK(b.n == 0 && b.images == NULL);
        CHECK_OK(ed_loader_next(ld, &b));
        CHECK(b.n == 1 && b.indices && b.indices[0] == 2);
        ed_batch_free(&b);
        CHECK_OK(ed_loader_next(ld, &b));
        CHECK(b.n == 0);
        ed_loader_free(ld);
    }
    /* Padding labels with a value that is not the ignore value is refused. */
    ed_augment_params ap;
    ed_augment_params_default(&ap);
    ap.crop_h = ap.crop_w = 8;
    ap.pad_if_needed = 1;
    ed_sample s;
    if (CHECK_OK(ed_dataset_get(ds, 0, &s))) {
        ed_rng r;
        ed_loader_sample_rng(1, 0, 0, &r);
        CHECK_ERR(ed_sample_augment(&s, &ap, &r), ED_E_ARG, "label_pad_value 255");
        ap.label_pad_value = 11;
        if (CHECK_OK(ed_sample_augment(&s, &ap, &r))) {
            const int64_t *l = ed_tensor_cdata(s.labels);
            CHECK(ed_tensor_shape(s.labels)[0] == 8 && l[7 * 8 + 7] == 11);
        }
    }
    ed_sample_free(&s);
    ed_dataset_free(ds);
}

/* ---- padding to a multiple ---------------------------------------------------------- */

static void test_pad(void)
{
    ed_tensor *x = check_rand(ED_F32, SHAPE(1, 2, 5, 7), 0, 1, 3), *p = NULL, *c = NULL;
    ed_pad_info info;
    if (CHECK_OK(ed_pad_to_multiple(x, 4, ED_PAD_REFLECT, &p, &info))) {
        const int64_t *sh = ed_tensor_shape(p);
        CHECK(sh[2] == 8 && sh[3] == 8 && info.pad_bottom == 3 && info.pad_right == 1 && info.height == 5);
        const float *xv = ed_tensor_cdata(x), *pv = ed_tensor_cdata(p);
        /* top-left unchanged; row 5 mirrors row 3, column 7 mirrors column 5 */
        CHECK(pv[0] == xv[0] && pv[8 * 8 + 4 * 8 + 6] == xv[35 + 4 * 7 + 6]);
        CHECK(pv[5 * 8 + 2] == xv[3 * 7 + 2] && pv[1 * 8 + 7] == xv[1 * 7 + 5]);
        if (CHECK_OK(ed_crop_back(p, &info, &c))) CHECK(same_tensor(c, x));
        ed_tensor_free(c);
        ed_tensor *up = check_rand(ED_F32, SHAPE(1, 1, 16, 16), 0, 1, 4);
        if (CHECK_OK(ed_crop_back(up, &info, &c)))
            CHECK(ed_tensor_shape(c)[2] == 10 && ed_tensor_shape(c)[3] == 14);
        ed_tensor_free(c);
        ed_tensor_free(up);
        up = check_rand(ED_F32, SHAPE(1, 1, 8, 9), 0, 1, 4);
        CHECK_ERR(ed_crop_back(up, &info, &c), ED_E_SHAPE, "misalign");
        ed_tensor_free(up);
    }
    ed_tensor_free(p);
    /* Already a multiple: unchanged. Gradients flow back through both. */
    ed_tensor *y = check_rand(ED_F64, SHAPE(2, 8, 16), 0, 1, 5);
    ed_tensor_set_requires_grad(y, 1);
    if (CHECK_OK(ed_pad_to_multiple(y, 8, ED_PAD_CONSTANT, &p, &info))) {
        CHECK(info.pad_bottom == 0 && info.pad_right == 0 && same_tensor(p, y));
        ed_tensor *q = NULL, *s = NULL;
        ed_pad_info i2;
        CHECK_OK(ed_pad_to_multiple(p, 6, ED_PAD_CONSTANT, &q, &i2));
        CHECK_OK(ed_crop_back(q, &i2, &c));
        CHECK_OK(ed_sum(c, NULL, 0, 0, &s));
        if (s && CHECK_OK(ed_backward(s, NULL))) {
            const ed_tensor *g = ed_tensor_grad(y);
            int ones = g != NULL;
            for (int64_t k = 0; g && k < ed_tensor_numel(g); k++) ones &= ((const double *)ed_tensor_cdata(g))[k] == 1.0;
            CHECK_MSG(ones, "crop_back(pad_to_multiple(y)) passes gradient 1 to every pixel");
        }
        ed_tensor_free(s), ed_tensor_free(c), ed_tensor_free(q);
    }
    ed_tensor_free(p);
    ed_tensor_free(y);
    ed_tensor *small = check_rand(ED_F32, SHAPE(1, 1, 3, 3), 0, 1, 6);
    CHECK_ERR(ed_pad_to_multiple(small, 8, ED_PAD_REFLECT, &p, &info), ED_E_ARG, "ED_PAD_REPLICATE");
    if (CHECK_OK(ed_pad_to_multiple(small, 8, ED_PAD_REPLICATE, &p, &info))) CHECK(ed_tensor_shape(p)[3] == 8);
    ed_tensor_free(p);
    CHECK_ERR(ed_pad_to_multiple(small, 0, ED_PAD_REFLECT, &p, &info), ED_E_ARG, "multiple");
    ed_tensor_free(small);
    ed_tensor_free(x);
}

int main(void)
{
    snprintf(tmp_root, sizeof tmp_root, "/tmp/ed_test_dataset_XXXXXX");
    if (!mkdtemp(tmp_root)) {
        fprintf(stderr, "cannot make a temporary folder\n");
        return 1;
    }
    test_bad_sets();
    test_palette_voc();
    test_instance_synthetic();
    test_loader_errors();
    test_pad();
    const char *data = getenv("ED_DATA_DIR");
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/rps28/train", data ? data : "");
    struct stat sb;
    if (!data || stat(probe, &sb) != 0) {
        printf("ED_DATA_DIR not set or without the data sets: real-set tests skipped\n");
    } else {
        test_rps28(data);
        test_camvid(data);
        test_pennfudan(data);
        test_plain(data);
        test_loader(data);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_root);
    return check_done();
}
