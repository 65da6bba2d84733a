/* Degradations and augmentation (include/encdec/augment.h).
 * Golden (tests/golden/gen_augment.py): MATLAB bicubic imresize against a
 * numpy port of imresize.m, Set5 x2/x3/x4 pairs, YCbCr against the formula,
 * torchvision's colour adjustments, rot90/flip, resize of images and labels.
 * Then noise statistics, determinism (same seed, 1 vs 2 threads), geometric
 * identities, image/label/box alignment through ed_augment_apply, and bad
 * arguments. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int same_bytes(const ed_tensor *a, const ed_tensor *b)
{
    if (!a || !b || a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return memcmp(a->data, b->data, (size_t)a->numel * ed_dtype_size(a->dtype)) == 0;
}

/* ---- golden ------------------------------------------------------------------- */

static void golden_imresize(golden *g, int k, const cJSON *a, const char *name)
{
    const ed_tensor *x = golden_tensor(g, k, "x"), *ye = golden_tensor(g, k, "y");
    int aa = golden_int(a, "antialias", 1);
    int hw[2] = { 0, 0 };
    golden_pair(a, "size", 0, hw);
    double scale = golden_double(a, "scale", 0);
    ed_tensor *y = NULL;
    if (CHECK_OK(ed_imresize_bicubic(x, hw[0], hw[1], scale, aa, &y))) CHECK_CLOSE(name, y, ye, 1e-5);
    /* the raw-array entry point gives the same bytes */
    if (y) {
        int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
        int64_t oh = y->shape[y->ndim - 2], ow = y->shape[y->ndim - 1];
        float *raw = calloc((size_t)y->numel, sizeof(float));
        CHECK_OK(ed_imresize_bicubic_f32(ed__cf32(x), x->numel / (H * W), H, W, raw, oh, ow, scale, scale, aa));
        CHECK_MSG(!memcmp(raw, y->data, (size_t)y->numel * sizeof(float)), "%s: raw variant differs", name);
        free(raw);
    }
    ed_tensor_free(y);
}

static void golden_sr(golden *g, int k)
{
    const ed_tensor *x = golden_tensor(g, k, "x");
    for (int s = 2; s <= 4; s++) {
        char what[16], name[64];
        snprintf(what, sizeof what, "lr%d", s);
        snprintf(name, sizeof name, "set5 crop x%d", s);
        ed_tensor *lr = NULL, *hr = NULL, *ref = NULL;
        if (CHECK_OK(ed_sr_pair(x, s, &lr, &hr))) {
            CHECK_CLOSE(name, lr, golden_tensor(g, k, what), 1e-5);
            int64_t h = 50 - 50 % s;
            CHECK(hr->shape[1] == h && hr->shape[2] == h);
            CHECK_OK(ed_aug_crop(x, 0, 0, h, h, &ref));
            CHECK_MSG(same_bytes(hr, ref), "%s: hr is not the top-left crop", name);
        }
        ed_tensor_free(lr); ed_tensor_free(hr); ed_tensor_free(ref);
    }
}

static void golden_ycbcr(golden *g, int k)
{
    const ed_tensor *x = golden_tensor(g, k, "x");
    ed_tensor *ycc = NULL, *y = NULL, *rgb = NULL, *back = NULL;
    if (CHECK_OK(ed_rgb_to_ycbcr(x, &ycc))) {
        CHECK_CLOSE("rgb_to_ycbcr", ycc, golden_tensor(g, k, "ycbcr"), 1e-5);
        if (CHECK_OK(ed_ycbcr_to_rgb(ycc, &back))) CHECK_CLOSE("ycbcr round trip", back, x, 1e-5);
    }
    if (CHECK_OK(ed_rgb_to_y(x, &y))) CHECK_CLOSE("rgb_to_y", y, golden_tensor(g, k, "y"), 1e-5);
    if (CHECK_OK(ed_ycbcr_to_rgb(golden_tensor(g, k, "z"), &rgb)))
        CHECK_CLOSE("ycbcr_to_rgb", rgb, golden_tensor(g, k, "rgb"), 1e-5);
    /* Y of white and black: 235/255 and 16/255 */
    ed_tensor *wb = NULL, *wy = NULL;
    float px[6] = { 1, 0, 1, 0, 1, 0 };
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(3, 1, 2), px, &wb));
    if (CHECK_OK(ed_rgb_to_y(wb, &wy)))
        CHECK(fabs(ed__cf32(wy)[0] - 235.0 / 255) < 1e-6 && fabs(ed__cf32(wy)[1] - 16.0 / 255) < 1e-6);
    ed_tensor_free(wb); ed_tensor_free(wy);
    ed_tensor_free(ycc); ed_tensor_free(y); ed_tensor_free(rgb); ed_tensor_free(back);
}

static void golden_jitter(golden *g, int k, const cJSON *a, const char *name)
{
    const char *kind = golden_str(a, "kind", "");
    double f = golden_double(a, "factor", 1);
    const ed_tensor *x = golden_tensor(g, k, "x");
    ed_tensor *y = NULL;
    ed_status st = !strcmp(kind, "brightness") ? ed_adjust_brightness(x, f, &y)
                   : !strcmp(kind, "contrast") ? ed_adjust_contrast(x, f, &y)
                                               : ed_adjust_saturation(x, f, &y);
    if (CHECK_OK(st)) CHECK_CLOSE(name, y, golden_tensor(g, k, "y"), 1e-5);
    ed_tensor_free(y);
}

static void golden_geometry(golden *g, int k, const cJSON *a, const char *op, const char *name)
{
    const ed_tensor *x = golden_tensor(g, k, "x");
    int kk = golden_int(a, "k", 0);
    ed_tensor *y = NULL;
    ed_status st = !strcmp(op, "rot90") ? ed_aug_rot90(x, kk, &y) : ed_aug_flip(x, kk, &y);
    if (CHECK_OK(st)) CHECK_MSG(same_bytes(y, golden_tensor(g, k, "y")), "%s differs", name);
    ed_tensor_free(y);
}

static void golden_aug_resize(golden *g, int k, const cJSON *a, const char *name)
{
    int hw[2];
    golden_pair(a, "size", 1, hw);
    ed_tensor *y = NULL, *ly = NULL, *l8 = NULL, *ly8 = NULL, *back = NULL;
    if (CHECK_OK(ed_aug_resize(golden_tensor(g, k, "x"), hw[0], hw[1], &y)))
        CHECK_CLOSE(name, y, golden_tensor(g, k, "y"), 1e-5);
    if (CHECK_OK(ed_aug_resize(golden_tensor(g, k, "labels"), hw[0], hw[1], &ly)))
        CHECK_MSG(same_bytes(ly, golden_tensor(g, k, "labels_y")), "%s: labels differ", name);
    /* uint8 labels take the same positions */
    CHECK_OK(ed_tensor_to(golden_tensor(g, k, "labels"), ED_U8, &l8));
    if (CHECK_OK(ed_aug_resize(l8, hw[0], hw[1], &ly8)) && CHECK_OK(ed_tensor_to(ly8, ED_I64, &back)))
        CHECK_MSG(same_bytes(back, golden_tensor(g, k, "labels_y")), "%s: uint8 labels differ", name);
    ed_tensor_free(y); ed_tensor_free(ly); ed_tensor_free(l8); ed_tensor_free(ly8); ed_tensor_free(back);
}

static void test_golden(void)
{
    golden *g = golden_open("augment");
    if (!g) return;
    for (int k = 0; k < golden_cases(g); k++) {
        cJSON *a = golden_args(g, k);
        const char *op = golden_str(a, "op", "");
        char name[96];
        snprintf(name, sizeof name, "augment case %d (%s)", k, op);
        if (!strcmp(op, "imresize")) golden_imresize(g, k, a, name);
        else if (!strcmp(op, "sr")) golden_sr(g, k);
        else if (!strcmp(op, "ycbcr")) golden_ycbcr(g, k);
        else if (!strcmp(op, "jitter")) golden_jitter(g, k, a, name);
        else if (!strcmp(op, "rot90") || !strcmp(op, "flip")) golden_geometry(g, k, a, op, name);
        else if (!strcmp(op, "aug_resize")) golden_aug_resize(g, k, a, name);
        else CHECK_MSG(0, "unknown golden op %s", op);
    }
    golden_close(g);
}

/* ---- noise -------------------------------------------------------------------- */

static ed_tensor *constant(int64_t n, float v)
{
    ed_tensor *t = NULL;
    ed_tensor_new(ED_F32, SHAPE(n), &t);
    ed_tensor_fill(t, v);
    return t;
}

static void stats(const ed_tensor *t, double *mean, double *var)
{
    double s = 0, s2 = 0;
    const float *x = ed__cf32(t);
    for (int64_t i = 0; i < t->numel; i++) s += x[i];
    *mean = s / (double)t->numel;
    for (int64_t i = 0; i < t->numel; i++) s2 += (x[i] - *mean) * (x[i] - *mean);
    *var = s2 / (double)(t->numel - 1);
}

static void test_noise_stats(void)
{
    const int64_t n = 1 << 17;
    double m, v;
    ed_rng r;

    ed_tensor *t = constant(n, 0.5f);
    ed_rng_init(&r, 11);
    CHECK_OK(ed_add_gaussian_noise(t, 25, 0, &r));
    CHECK(r.counter == (uint64_t)n);
    stats(t, &m, &v);
    double sd = 25.0 / 255;
    CHECK_MSG(fabs(m - 0.5) < 5 * sd / sqrt((double)n), "gaussian mean %g", m);
    CHECK_MSG(fabs(sqrt(v) / sd - 1) < 0.01, "gaussian std %g, want %g", sqrt(v), sd);
    int outside = 0;
    for (int64_t i = 0; i < n; i++) outside += ed__cf32(t)[i] < 0 || ed__cf32(t)[i] > 1;
    ed_tensor_free(t);
    t = constant(n, 0.5f);
    CHECK_OK(ed_add_gaussian_noise(t, 200, 1, &r));
    int in_range = 1;
    for (int64_t i = 0; i < n; i++) in_range &= ed__cf32(t)[i] >= 0 && ed__cf32(t)[i] <= 1;
    CHECK_MSG(in_range, "clip=1 leaves values outside [0, 1]");
    ed_tensor_free(t);
    t = constant(n, 0.5f);
    CHECK_OK(ed_add_gaussian_noise(t, 200, 0, &r));
    outside = 0;
    for (int64_t i = 0; i < n; i++) outside += ed__cf32(t)[i] < 0 || ed__cf32(t)[i] > 1;
    CHECK_MSG(outside > n / 10, "clip=0 clamped: only %d values outside [0, 1]", outside);
    ed_tensor_free(t);

    t = constant(n, 0.5f);
    CHECK_OK(ed_add_salt_pepper_noise(t, 0.1, 0.3, &r));
    int64_t salt = 0, pepper = 0, other = 0;
    for (int64_t i = 0; i < n; i++) {
        float x = ed__cf32(t)[i];
        if (x == 1) salt++;
        else if (x == 0) pepper++;
        else other += x != 0.5f;
    }
    double frac = (double)(salt + pepper) / (double)n, sf = (double)salt / (double)(salt + pepper);
    CHECK_MSG(other == 0 && fabs(frac - 0.1) < 5 * sqrt(0.09 / (double)n), "s&p: fraction %g, %lld other", frac,
              (long long)other);
    CHECK_MSG(fabs(sf - 0.3) < 0.02, "s&p: salt share %g", sf);
    ed_tensor_free(t);

    /* Poisson: mean x, variance x / peak; both the inversion (lambda 2)
     * and the rejection (lambda 50, 3000) samplers; values are k / peak. */
    const double cases[3][2] = { { 0.02, 100 }, { 0.5, 100 }, { 0.75, 4000 } };
    for (int c = 0; c < 3; c++) {
        double x = cases[c][0], peak = cases[c][1];
        t = constant(n, (float)x);
        CHECK_OK(ed_add_poisson_noise(t, peak, &r));
        stats(t, &m, &v);
        double want_v = (double)(float)x / peak;
        CHECK_MSG(fabs(m - x) < 5 * sqrt(want_v / (double)n), "poisson(%g, %g) mean %g", x, peak, m);
        CHECK_MSG(fabs(v / want_v - 1) < 0.03, "poisson(%g, %g) var %g, want %g", x, peak, v, want_v);
        int integral = 1;
        for (int64_t i = 0; i < n; i++) {
            double k = ed__cf32(t)[i] * peak;
            integral &= fabs(k - floor(k + 0.5)) < 1e-3 * fmax(1, k);
        }
        CHECK_MSG(integral, "poisson(%g, %g): x * peak not integral", x, peak);
        ed_tensor_free(t);
    }
    /* zero stays zero */
    t = constant(1000, 0);
    CHECK_OK(ed_add_poisson_noise(t, 30, &r));
    stats(t, &m, &v);
    CHECK(m == 0);
    ed_tensor_free(t);
}

typedef ed_status (*noise_fn)(ed_tensor *t, ed_rng *r);
static ed_status gauss(ed_tensor *t, ed_rng *r) { return ed_add_gaussian_noise(t, 15, 0, r); }
static ed_status snp(ed_tensor *t, ed_rng *r) { return ed_add_salt_pepper_noise(t, 0.2, 0.5, r); }
static ed_status pois(ed_tensor *t, ed_rng *r) { return ed_add_poisson_noise(t, 60, r); }

static void test_noise_determinism(void)
{
    noise_fn fns[3] = { gauss, snp, pois };
    const char *names[3] = { "gaussian", "salt_pepper", "poisson" };
    int saved = ed_get_num_threads();
    for (int f = 0; f < 3; f++) {
        ed_tensor *t[3];
        for (int i = 0; i < 3; i++) {
            t[i] = check_rand(ED_F32, SHAPE(3, 200, 200), 0, 1, 77);
            ed_set_num_threads(i == 2 ? 2 : 1);
            ed_rng r;
            ed_rng_init(&r, 1234);
            r.counter = 99;
            CHECK_OK(fns[f](t[i], &r));
            CHECK(r.counter == 99 + 120000);
        }
        CHECK_MSG(same_bytes(t[0], t[1]), "%s: same seed, different noise", names[f]);
        CHECK_MSG(same_bytes(t[0], t[2]), "%s: 1 vs 2 threads differ", names[f]);
        /* another seed gives other noise */
        ed_tensor *o = check_rand(ED_F32, SHAPE(3, 200, 200), 0, 1, 77);
        ed_rng r;
        ed_rng_init(&r, 1235);
        CHECK_OK(fns[f](o, &r));
        CHECK_MSG(!same_bytes(t[0], o), "%s: seed ignored", names[f]);
        ed_tensor_free(o);
        for (int i = 0; i < 3; i++) ed_tensor_free(t[i]);
    }
    /* imresize and ycbcr: no reduction crosses threads, still checked */
    ed_tensor *x = check_rand(ED_F32, SHAPE(3, 150, 170), 0, 1, 5), *y1 = NULL, *y2 = NULL;
    ed_set_num_threads(1);
    CHECK_OK(ed_imresize_bicubic(x, 0, 0, 0.37, 1, &y1));
    ed_set_num_threads(2);
    CHECK_OK(ed_imresize_bicubic(x, 0, 0, 0.37, 1, &y2));
    CHECK_MSG(same_bytes(y1, y2), "imresize: 1 vs 2 threads differ");
    ed_tensor_free(x); ed_tensor_free(y1); ed_tensor_free(y2);
    ed_set_num_threads(saved);
}

/* ---- geometry ----------------------------------------------------------------- */

static void test_geometry(void)
{
    ed_tensor *x = check_rand(ED_F32, SHAPE(2, 5, 7), 0, 1, 3), *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    /* rot90 k = 1: out[i][j] = in[j][W-1-i] */
    CHECK_OK(ed_aug_rot90(x, 1, &a));
    int ok = a->shape[1] == 7 && a->shape[2] == 5;
    for (int p = 0; ok && p < 2; p++)
        for (int i = 0; i < 7; i++)
            for (int j = 0; j < 5; j++) ok &= ed__cf32(a)[(p * 7 + i) * 5 + j] == ed__cf32(x)[(p * 5 + j) * 7 + 6 - i];
    CHECK_MSG(ok, "rot90 k=1 formula");
    CHECK_OK(ed_aug_rot90(a, 3, &b));
    CHECK_MSG(same_bytes(b, x), "rot90 1 then 3 is not the identity");
    ed_tensor_free(b);
    CHECK_OK(ed_aug_rot90(x, 2, &b));
    CHECK_OK(ed_aug_flip(x, 1, &c));
    CHECK_OK(ed_aug_flip(c, 0, &d));
    CHECK_MSG(same_bytes(b, d), "rot90 2 != hflip + vflip");
    ed_tensor_free(b); ed_tensor_free(d);
    CHECK_OK(ed_aug_flip(c, 1, &d));
    CHECK_MSG(same_bytes(d, x), "hflip twice is not the identity");
    ed_tensor *r = ed_tensor_retain(x);
    for (int i = 0; i < 4; i++) {
        ed_tensor *n = NULL;
        CHECK_OK(ed_aug_rot90(r, 1, &n));
        ed_tensor_free(r);
        r = n;
    }
    CHECK_MSG(same_bytes(r, x), "rot90 four times is not the identity");
    ed_tensor_free(r); ed_tensor_free(a); ed_tensor_free(c); ed_tensor_free(d); ed_tensor_free(x);
}

/* ---- ed_augment_apply: alignment and boxes ------------------------------------ */

/* mask = (image[0] > 0.5) as uint8 */
static ed_tensor *threshold(const ed_tensor *img)
{
    int64_t H = img->shape[img->ndim - 2], W = img->shape[img->ndim - 1];
    ed_tensor *m = NULL;
    ed_tensor_new(ED_U8, SHAPE(H, W), &m);
    for (int64_t i = 0; i < H * W; i++) ((uint8_t *)m->data)[i] = ed__cf32(img)[i] > 0.5f;
    return m;
}

static void test_alignment(void)
{
    ed_tensor *img = check_rand(ED_F32, SHAPE(3, 20, 24), 0, 1, 9);
    ed_tensor *mask = threshold(img), *ids = NULL;
    ed_tensor_to(mask, ED_I64, &ids);
    const ed_tensor *labels[2] = { mask, ids };
    ed_augment_params p;
    ed_augment_params_default(&p);
    p.p_vflip = 0.5;
    p.p_rot90 = 0.7;
    int mismatches = 0, seen_rot = 0, seen_h = 0, seen_v = 0;
    for (int pass = 0; pass < 3; pass++) {
        p.crop_h = pass == 0 ? 12 : pass == 1 ? 0 : 24;
        p.crop_w = pass == 0 ? 16 : pass == 1 ? 0 : 30;
        p.pad_if_needed = pass == 2;
        p.label_pad_value = 0;   /* the padded image (0) thresholds to 0 */
        for (int s = 0; s < 40; s++) {
            ed_rng r;
            ed_rng_init(&r, (uint64_t)(pass * 100 + s));
            ed_augment_result res;
            if (!CHECK_OK(ed_augment_apply(&p, &r, img, labels, 2, NULL, 0, &res))) continue;
            CHECK(r.counter == ED_AUGMENT_DRAWS);
            ed_tensor *t = threshold(res.image), *t64 = NULL;
            ed_tensor_to(t, ED_I64, &t64);
            mismatches += !same_bytes(t, res.labels[0]) + !same_bytes(t64, res.labels[1]);
            seen_rot += res.draw.rot90 != 0;
            seen_h += res.draw.hflip;
            seen_v += res.draw.vflip;
            int64_t want_h = pass == 1 ? 20 : p.crop_h, want_w = pass == 1 ? 24 : p.crop_w;
            if (res.draw.rot90 & 1) { int64_t tmp = want_h; want_h = want_w; want_w = tmp; }
            CHECK(res.image->shape[1] == want_h && res.image->shape[2] == want_w);
            ed_tensor_free(t); ed_tensor_free(t64);
            ed_augment_result_free(&res);
        }
    }
    CHECK_MSG(mismatches == 0, "%d label maps out of line with the image", mismatches);
    CHECK_MSG(seen_rot > 50 && seen_h > 30 && seen_v > 30, "draws not varied: rot %d h %d v %d", seen_rot, seen_h,
              seen_v);
    ed_tensor_free(img); ed_tensor_free(mask); ed_tensor_free(ids);
}

/* Boxes follow the image: non-overlapping rectangles painted as ids 1..n in
 * a label map; after augmentation each kept box equals the bounding box of
 * its id, and a dropped box's id is gone. */
static void test_boxes(void)
{
    const int H = 30, W = 40, N = 4;
    const float boxes[4][4] = { { 2, 3, 10, 9 }, { 12, 1, 20, 6 }, { 25, 15, 39, 29 }, { 3, 20, 8, 28 } };
    ed_tensor *img = check_rand(ED_F32, SHAPE(1, H, W), 0, 1, 4), *ids = NULL;
    ed_tensor_new(ED_I64, SHAPE(H, W), &ids);
    for (int b = 0; b < N; b++)
        for (int y = (int)boxes[b][1]; y < (int)boxes[b][3]; y++)
            for (int x = (int)boxes[b][0]; x < (int)boxes[b][2]; x++) ed__i64(ids)[y * W + x] = b + 1;
    const ed_tensor *labels[1] = { ids };
    ed_augment_params p;
    ed_augment_params_default(&p);
    p.p_vflip = 0.5;
    p.p_rot90 = 0.75;
    int bad = 0, dropped = 0, kept = 0;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 1 doubles the size first: nearest takes out = 2 in exactly */
        p.p_scale = pass;
        p.scale_min = p.scale_max = pass ? 2 : 1;
        p.crop_h = pass ? 30 : 16;
        p.crop_w = pass ? 36 : 18;
        for (int s = 0; s < 60; s++) {
            ed_rng r;
            ed_rng_init(&r, (uint64_t)(1000 + 100 * pass + s));
            ed_augment_result res;
            if (!CHECK_OK(ed_augment_apply(&p, &r, img, labels, 1, &boxes[0][0], N, &res))) continue;
            const ed_tensor *l = res.labels[0];
            int64_t h = l->shape[0], w = l->shape[1];
            for (int b = 0; b < N; b++) {
                int64_t x0 = w, y0 = h, x1 = -1, y1 = -1;
                for (int64_t y = 0; y < h; y++)
                    for (int64_t x = 0; x < w; x++)
                        if (ed__ci64(l)[y * w + x] == b + 1) {
                            x0 = x < x0 ? x : x0; x1 = x > x1 ? x : x1;
                            y0 = y < y0 ? y : y0; y1 = y > y1 ? y : y1;
                        }
                int j = -1;
                for (int q = 0; q < res.n_boxes; q++)
                    if (res.box_index[q] == b) j = q;
                if (x1 < 0) { bad += j >= 0; dropped++; continue; }
                kept++;
                if (j < 0) { bad++; continue; }
                const float *o = res.boxes + 4 * j;
                bad += o[0] != (float)x0 || o[1] != (float)y0 || o[2] != (float)(x1 + 1) || o[3] != (float)(y1 + 1);
            }
            ed_augment_result_free(&res);
        }
    }
    CHECK_MSG(bad == 0, "%d boxes out of line with their masks", bad);
    CHECK_MSG(dropped > 20 && kept > 100, "boxes: %d dropped, %d kept (want both)", dropped, kept);
    ed_tensor_free(img); ed_tensor_free(ids);
}

static void test_apply_determinism_and_jitter(void)
{
    ed_tensor *img = check_rand(ED_F32, SHAPE(3, 170, 160), 0, 1, 21), *lab = NULL;
    lab = threshold(img);
    const ed_tensor *labels[1] = { lab };
    ed_augment_params p;
    ed_augment_params_default(&p);
    p.p_scale = 1; p.scale_min = 0.8; p.scale_max = 1.25;
    p.crop_h = 128; p.crop_w = 128; p.pad_if_needed = 1;
    p.p_rot90 = 0.5;
    p.brightness = 0.3; p.contrast = 0.3; p.saturation = 0.3;
    const float box[4] = { 10, 10, 100, 90 };
    int saved = ed_get_num_threads();
    ed_augment_result res[3];
    for (int i = 0; i < 3; i++) {
        ed_set_num_threads(i == 2 ? 2 : 1);
        ed_rng r;
        ed_rng_init(&r, 555);
        CHECK_OK(ed_augment_apply(&p, &r, img, labels, 1, box, 1, &res[i]));
    }
    ed_set_num_threads(saved);
    for (int i = 1; i < 3; i++) {
        CHECK_MSG(same_bytes(res[0].image, res[i].image) && same_bytes(res[0].labels[0], res[i].labels[0]) &&
                  res[0].n_boxes == res[i].n_boxes &&
                  !memcmp(res[0].boxes, res[i].boxes, sizeof(float) * 4 * (size_t)res[0].n_boxes),
                  "augment run %d differs (%s)", i, i == 2 ? "2 threads" : "same seed");
    }
    const ed_augment_draw *d = &res[0].draw;
    CHECK(d->brightness >= 0.7 && d->brightness <= 1.3 && d->contrast >= 0.7 && d->contrast <= 1.3);
    int perm = (1 << d->jitter_order[0]) | (1 << d->jitter_order[1]) | (1 << d->jitter_order[2]);
    CHECK_MSG(perm == 7, "jitter order is not a permutation");
    /* the same draw without jitter, then the three adjustments in its order,
     * gives the jittered image */
    ed_augment_draw plain = *d;
    plain.brightness = plain.contrast = plain.saturation = 1;
    ed_augment_result geo;
    if (CHECK_OK(ed_augment_apply_draw(&plain, img, NULL, 0, NULL, 0, &geo))) {
        ed_tensor *t = ed_tensor_retain(geo.image);
        for (int i = 0; i < 3; i++) {
            ed_tensor *n = NULL;
            int k = d->jitter_order[i];
            if (k == 0) CHECK_OK(ed_adjust_brightness(t, d->brightness, &n));
            if (k == 1) CHECK_OK(ed_adjust_contrast(t, d->contrast, &n));
            if (k == 2) CHECK_OK(ed_adjust_saturation(t, d->saturation, &n));
            ed_tensor_free(t);
            t = n;
        }
        CHECK_MSG(same_bytes(t, res[0].image), "jitter differs from the adjustments in draw order");
        ed_tensor_free(t);
        ed_augment_result_free(&geo);
    }
    /* inside an arena the results live there and match the heap run */
    ed_arena *arena = NULL;
    CHECK_OK(ed_arena_new(0, &arena));
    ed_arena_begin(arena);
    ed_rng r;
    ed_rng_init(&r, 555);
    ed_augment_result ar;
    if (CHECK_OK(ed_augment_apply(&p, &r, img, labels, 1, box, 1, &ar))) {
        CHECK(same_bytes(ar.image, res[0].image) && same_bytes(ar.labels[0], res[0].labels[0]));
        CHECK(ed_arena_used(arena) > 0);
        ed_augment_result_free(&ar);
    }
    ed_arena_end();
    ed_arena_free(arena);
    for (int i = 0; i < 3; i++) ed_augment_result_free(&res[i]);
    ed_tensor_free(img); ed_tensor_free(lab);
}

/* ---- errors ------------------------------------------------------------------- */

static void test_errors(void)
{
    ed_tensor *img = check_rand(ED_F32, SHAPE(3, 4, 4), 0, 1, 1), *y = NULL, *y2 = NULL;
    ed_tensor *i64 = NULL, *empty = NULL, *four = NULL, *lab = NULL, *lab_ok = NULL;
    ed_tensor_new(ED_I64, SHAPE(4, 4), &i64);
    ed_tensor_new(ED_F32, SHAPE(3, 0, 4), &empty);
    ed_tensor_new(ED_F32, SHAPE(4, 4, 4), &four);
    ed_tensor_new(ED_I64, SHAPE(5, 6), &lab);
    ed_tensor_new(ED_U8, SHAPE(4, 4), &lab_ok);
    ed_rng r;
    ed_rng_init(&r, 1);

    CHECK_ERR(ed_imresize_bicubic(img, 0, 5, 0, 1, &y), ED_E_ARG, "imresize_bicubic");
    CHECK_ERR(ed_imresize_bicubic(img, 2, 2, 0.5, 1, &y), ED_E_ARG, "not both");
    CHECK_ERR(ed_imresize_bicubic(img, 0, 0, -1, 1, &y), ED_E_ARG, "scale");
    CHECK_ERR(ed_imresize_bicubic(i64, 2, 2, 0, 1, &y), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_imresize_bicubic(empty, 2, 2, 0, 1, &y), ED_E_SHAPE, "(3, 0, 4)");
    CHECK_ERR(ed_imresize_bicubic(img, 0, 0, 1e6, 1, &y), ED_E_ARG, "per side");
    CHECK(y == NULL);
    CHECK_ERR(ed_sr_pair(img, 0, &y, &y2), ED_E_ARG, "scale");
    CHECK_ERR(ed_sr_pair(img, 5, &y, &y2), ED_E_SHAPE, "smaller than the scale");
    CHECK_ERR(ed_sr_pair(empty, 2, &y, &y2), ED_E_SHAPE, "empty");

    CHECK_ERR(ed_add_gaussian_noise(img, -1, 0, &r), ED_E_ARG, "sigma");
    CHECK_ERR(ed_add_gaussian_noise(i64, 1, 0, &r), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_add_gaussian_noise(img, 1, 0, NULL), ED_E_ARG, "rng");
    CHECK_ERR(ed_add_salt_pepper_noise(img, 1.5, 0.5, &r), ED_E_ARG, "amount");
    CHECK_ERR(ed_add_salt_pepper_noise(img, 0.5, -0.1, &r), ED_E_ARG, "salt_vs_pepper");
    CHECK_ERR(ed_add_poisson_noise(img, 0, &r), ED_E_ARG, "peak");
    CHECK(r.counter == 0);

    CHECK_ERR(ed_rgb_to_y(four, &y), ED_E_SHAPE, "(3, H, W)");
    CHECK_ERR(ed_ycbcr_to_rgb(i64, &y), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_adjust_brightness(img, -0.5, &y), ED_E_ARG, "factor");
    CHECK_ERR(ed_adjust_contrast(four, 1.2, &y), ED_E_SHAPE, "1 or 3 channels");

    CHECK_ERR(ed_aug_crop(img, 1, 1, 4, 2, &y), ED_E_SHAPE, "does not fit");
    CHECK_ERR(ed_aug_crop(img, 0, 0, 0, 2, &y), ED_E_ARG, ">= 1");
    CHECK_ERR(ed_aug_resize(img, 0, 3, &y), ED_E_ARG, ">= 1");
    CHECK_ERR(ed_aug_rot90(NULL, 1, &y), ED_E_ARG, "NULL");

    ed_augment_params p;
    ed_augment_result res;
    ed_augment_params_default(&p);
    p.crop_h = 5; p.crop_w = 3;
    CHECK_ERR(ed_augment_apply(&p, &r, img, NULL, 0, NULL, 0, &res), ED_E_SHAPE, "larger than the image");
    CHECK(res.image == NULL);
    ed_augment_params_default(&p);
    const ed_tensor *bad_labels[2] = { lab_ok, lab };
    CHECK_ERR(ed_augment_apply(&p, &r, img, bad_labels, 2, NULL, 0, &res), ED_E_SHAPE, "labels[1] (5, 6)");
    CHECK_ERR(ed_augment_apply(&p, &r, img, bad_labels, 2, NULL, 0, &res), ED_E_SHAPE, "image (3, 4, 4)");
    CHECK_ERR(ed_augment_apply(&p, &r, img, NULL, 1, NULL, 0, &res), ED_E_ARG, "labels is NULL");
    CHECK_ERR(ed_augment_apply(&p, &r, empty, NULL, 0, NULL, 0, &res), ED_E_SHAPE, "empty");
    CHECK_ERR(ed_augment_apply(&p, &r, i64, NULL, 0, NULL, 0, &res), ED_E_DTYPE, "float32");
    const float inverted[4] = { 3, 0, 1, 2 };
    CHECK_ERR(ed_augment_apply(&p, &r, img, NULL, 0, inverted, 1, &res), ED_E_ARG, "box 0");
    p.p_hflip = 1.5;
    CHECK_ERR(ed_augment_apply(&p, &r, img, NULL, 0, NULL, 0, &res), ED_E_ARG, "probabilities");
    ed_augment_params_default(&p);
    p.p_scale = 1; p.scale_min = 2; p.scale_max = 1;
    CHECK_ERR(ed_augment_apply(&p, &r, img, NULL, 0, NULL, 0, &res), ED_E_ARG, "scale range");
    ed_augment_params_default(&p);
    p.crop_h = 2;
    CHECK_ERR(ed_augment_apply(&p, &r, img, NULL, 0, NULL, 0, &res), ED_E_ARG, "crop size");
    ed_augment_params_default(&p);
    p.saturation = 0.5;
    CHECK_ERR(ed_augment_apply(&p, &r, four, NULL, 0, NULL, 0, &res), ED_E_SHAPE, "1 or 3 channels");
    CHECK(res.image == NULL);
    ed_augment_draw d;
    CHECK_OK(ed_augment_sample(&p, &r, 9, 9, &d));
    CHECK_ERR(ed_augment_apply_draw(&d, img, NULL, 0, NULL, 0, &res), ED_E_SHAPE, "made for 9 x 9");

    ed_tensor_free(img); ed_tensor_free(i64); ed_tensor_free(empty); ed_tensor_free(four);
    ed_tensor_free(lab); ed_tensor_free(lab_ok);
}

int main(void)
{
    test_golden();
    test_noise_stats();
    test_noise_determinism();
    test_geometry();
    test_alignment();
    test_boxes();
    test_apply_determinism_and_jitter();
    test_errors();
    return check_done();
}
