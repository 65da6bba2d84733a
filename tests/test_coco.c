/* COCO: masks (RLE encode/decode, compressed strings, polygon and box
 * rasterisation, merge, area, box, IoU) and COCOeval stats against
 * pycocotools (tests/golden/coco.safetensors and the JSON files in
 * tests/golden/coco/, written by gen_coco.py), JSON round trips, and the
 * errors of malformed files. */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *golden_dir(void)
{
    const char *d = getenv("ED_GOLDEN_DIR");
    return d ? d : "tests/golden";
}

static const uint8_t *u8(golden *g, int k, const char *what) { return ed_tensor_cdata(golden_tensor(g, k, what)); }
static const double *f64(golden *g, int k, const char *what) { return ed_tensor_cdata(golden_tensor(g, k, what)); }

/* The RLE's string equals want and it decodes to mask. */
static void check_rle(const char *what, int k, const ed_coco_rle *r, const char *want, const uint8_t *mask)
{
    char *s = NULL;
    if (CHECK_OK(ed_coco_rle_to_string(r, &s)))
        CHECK_MSG(!strcmp(s, want), "case %d %s: string %s, pycocotools %s", k, what, s, want);
    free(s);
    if (!mask) return;
    size_t n = (size_t)r->h * (size_t)r->w;
    uint8_t *m = malloc(n);
    if (CHECK_OK(ed_coco_rle_decode(r, m))) {
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += m[i] != mask[i];
        CHECK_MSG(bad == 0, "case %d %s: %zu of %zu pixels differ from pycocotools", k, what, bad, n);
    }
    free(m);
}

static void check_area_bbox(golden *g, int k, const ed_coco_rle *r)
{
    double bb[4];
    ed_coco_rle_to_bbox(r, bb);
    const double *want = f64(g, k, "bbox");
    CHECK_MSG((double)ed_coco_rle_area(r) == f64(g, k, "area")[0], "case %d: area %llu vs %g", k,
              (unsigned long long)ed_coco_rle_area(r), f64(g, k, "area")[0]);
    CHECK_MSG(!memcmp(bb, want, sizeof bb), "case %d: bbox [%g %g %g %g] vs [%g %g %g %g]", k, bb[0], bb[1], bb[2],
              bb[3], want[0], want[1], want[2], want[3]);
}

static void mask_case(golden *g, int k, cJSON *a, const char *kind)
{
    int h = golden_int(a, "h", 0), w = golden_int(a, "w", 0);
    const char *want = golden_str(a, "string", "");
    ed_coco_rle r = { 0 };
    if (!strcmp(kind, "poly")) {
        const ed_tensor *xy = golden_tensor(g, k, "xy");
        if (CHECK_OK(ed_coco_rle_from_polygon(ed_tensor_cdata(xy), (int)ed_tensor_numel(xy), h, w, &r))) {
            check_rle("polygon", k, &r, want, u8(g, k, "mask"));
            check_area_bbox(g, k, &r);
        }
    } else if (!strcmp(kind, "box")) {
        if (CHECK_OK(ed_coco_rle_from_bbox(f64(g, k, "xy"), h, w, &r))) check_rle("box", k, &r, want, u8(g, k, "mask"));
    } else if (!strcmp(kind, "rle")) {
        if (CHECK_OK(ed_coco_rle_encode(u8(g, k, "mask"), h, w, &r))) {
            check_rle("encode", k, &r, want, u8(g, k, "mask"));
            check_area_bbox(g, k, &r);
        }
        ed_coco_rle r2 = { 0 };
        if (CHECK_OK(ed_coco_rle_from_string(want, h, w, &r2))) {
            check_rle("from_string", k, &r2, want, u8(g, k, "mask"));
            CHECK_MSG(r2.m == r.m && !memcmp(r2.counts, r.counts, sizeof(uint32_t) * (size_t)r.m),
                      "case %d: counts from the string differ from encode's", k);
        }
        ed_coco_rle_free(&r2);
    } else if (!strcmp(kind, "merge")) {
        const cJSON *polys = cJSON_GetObjectItemCaseSensitive(a, "polys");
        int n = cJSON_GetArraySize(polys), i = 0;
        ed_coco_rle rs[8] = { { 0 } };
        int ok = 1;
        for (const cJSON *p = polys->child; p && i < 8; p = p->next, i++) {
            double xy[64];
            int c = 0;
            for (const cJSON *v = p->child; v && c < 64; v = v->next) xy[c++] = v->valuedouble;
            ok &= CHECK_OK(ed_coco_rle_from_polygon(xy, c, h, w, &rs[i]));
        }
        if (ok && CHECK_OK(ed_coco_rle_merge(rs, n, 0, &r))) check_rle("merge", k, &r, want, u8(g, k, "mask"));
        for (i = 0; i < 8; i++) ed_coco_rle_free(&rs[i]);
    }
    ed_coco_rle_free(&r);
}

static void iou_case(golden *g, int k, cJSON *a)
{
    int h = golden_int(a, "h", 0), w = golden_int(a, "w", 0);
    const ed_tensor *dt = golden_tensor(g, k, "dt"), *gt = golden_tensor(g, k, "gt");
    int m = (int)ed_tensor_shape(dt)[0], n = (int)ed_tensor_shape(gt)[0];
    ed_coco_rle dr[8] = { { 0 } }, gr[8] = { { 0 } };
    for (int d = 0; d < m; d++) CHECK_OK(ed_coco_rle_encode(u8(g, k, "dt") + (size_t)d * h * w, h, w, &dr[d]));
    for (int i = 0; i < n; i++) CHECK_OK(ed_coco_rle_encode(u8(g, k, "gt") + (size_t)i * h * w, h, w, &gr[i]));
    double iou[64], want_err = 0;
    const double *want = f64(g, k, "iou");
    if (CHECK_OK(ed_coco_rle_iou(dr, m, gr, n, u8(g, k, "crowd"), iou)))
        for (int i = 0; i < m * n; i++) want_err = fmax(want_err, fabs(iou[i] - want[i]));
    CHECK_MSG(want_err == 0, "case %d: mask IoU differs from pycocotools by %g", k, want_err);
    int bm = (int)ed_tensor_shape(golden_tensor(g, k, "dt_box"))[0];
    ed_coco_bbox_iou(f64(g, k, "dt_box"), bm, f64(g, k, "gt_box"), n, u8(g, k, "crowd"), iou);
    want = f64(g, k, "box_iou");
    want_err = 0;
    for (int i = 0; i < bm * n; i++) want_err = fmax(want_err, fabs(iou[i] - want[i]));
    CHECK_MSG(want_err == 0, "case %d: box IoU differs from pycocotools by %g", k, want_err);
    for (int i = 0; i < 8; i++) { ed_coco_rle_free(&dr[i]); ed_coco_rle_free(&gr[i]); }
}

static void check_stats(const char *what, const double *got, const double *want)
{
    double err = 0;
    for (int i = 0; i < 12; i++) err = fmax(err, fabs(got[i] - want[i]));
    CHECK_MSG(err <= 1e-4, "%s: max |stat - pycocotools| = %g (AP %.6f vs %.6f, AR100 %.6f vs %.6f)", what, err,
              got[0], want[0], got[8], want[8]);
    if (err > 1e-12) printf("  %s: largest difference from pycocotools %g\n", what, err);
}

static void eval_case(golden *g, int k, cJSON *a)
{
    char gp[1024], rp[1024], what[1100];
    snprintf(gp, sizeof gp, "%s/coco/%s", golden_dir(), golden_str(a, "gt", ""));
    snprintf(rp, sizeof rp, "%s/coco/%s", golden_dir(), golden_str(a, "res", ""));
    const char *types[2] = { "bbox", "segm" };
    for (int t = 0; t < 2; t++) {
        double stats[12];
        snprintf(what, sizeof what, "%s %s", golden_str(a, "res", ""), types[t]);
        if (CHECK_OK(ed_coco_eval(gp, rp, types[t], stats))) check_stats(what, stats, f64(g, k, types[t]));
    }
    /* Through the writer and back: the same stats. */
    ed_coco *gt = NULL, *res = NULL;
    if (!CHECK_OK(ed_coco_load(gp, &gt)) || !CHECK_OK(ed_coco_load_results(rp, &res))) goto done;
    char *gs = NULL, *rs = NULL;
    if (CHECK_OK(ed_coco_to_json(gt, &gs)) && CHECK_OK(ed_coco_to_json(res, &rs))) {
        double stats[12];
        snprintf(what, sizeof what, "%s segm, written and read back", golden_str(a, "res", ""));
        if (CHECK_OK(ed_coco_eval_memory(gs, strlen(gs), rs, strlen(rs), "segm", stats)))
            check_stats(what, stats, f64(g, k, "segm"));
        /* The writer keeps what it read: the same JSON again. */
        ed_coco *gt2 = NULL;
        char *gs2 = NULL;
        if (CHECK_OK(ed_coco_load_memory(gs, strlen(gs), &gt2)) && CHECK_OK(ed_coco_to_json(gt2, &gs2)))
            CHECK_MSG(!strcmp(gs, gs2), "case %d: gt JSON changes on a second round trip", k);
        ed_coco_free(gt2);
        free(gs2);
    }
    free(gs); free(rs);
    /* annToRLE of every gt has its image's size and, for RLE gt, its counts. */
    for (int i = 0; i < gt->n_anns; i++) {
        ed_coco_rle r;
        if (!CHECK_OK(ed_coco_ann_to_rle(gt, &gt->anns[i], &r))) break;
        if (gt->anns[i].segm_kind == ED_COCO_SEGM_RLE)
            CHECK(r.m == gt->anns[i].rle.m && !memcmp(r.counts, gt->anns[i].rle.counts, sizeof(uint32_t) * (size_t)r.m));
        CHECK_MSG((double)ed_coco_rle_area(&r) == gt->anns[i].area, "case %d ann %d: area %llu vs %g", k, i,
                  (unsigned long long)ed_coco_rle_area(&r), gt->anns[i].area);
        ed_coco_rle_free(&r);
    }
done:
    ed_coco_free(gt); ed_coco_free(res);
}

/* ---- errors ------------------------------------------------------------------ */

#define IMGS "\"images\":[{\"id\":1,\"width\":10,\"height\":8}]"
#define CATS "\"categories\":[{\"id\":2,\"name\":\"a\"}]"

static ed_status load_gt(const char *json)
{
    ed_coco *c = NULL;
    ed_status st = ed_coco_load_memory(json, strlen(json), &c);
    ed_coco_free(c);
    return st;
}

static ed_status eval_res(const char *res, const char *type)
{
    const char *gt = "{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,"
                     "\"bbox\":[1,1,4,4],\"area\":16,\"segmentation\":[[1,1,5,1,5,5,1,5]]}]}";
    double stats[12];
    return ed_coco_eval_memory(gt, strlen(gt), res, strlen(res), type, stats);
}

static void test_errors(void)
{
    CHECK_ERR(load_gt("{\"images\": [}"), ED_E_FORMAT, "not valid JSON");
    CHECK_ERR(load_gt("[]"), ED_E_FORMAT, "must be a JSON object");
    CHECK_ERR(load_gt("{" CATS "}"), ED_E_FORMAT, "missing \"images\"");
    CHECK_ERR(load_gt("{\"images\":{}," CATS "}"), ED_E_FORMAT, "\"images\" must be a list");
    CHECK_ERR(load_gt("{\"images\":[{\"id\":1,\"width\":10}]," CATS "}"), ED_E_FORMAT, "images[0]: missing \"height\"");
    CHECK_ERR(load_gt("{\"images\":[{\"id\":\"x\",\"width\":10,\"height\":8}]," CATS "}"), ED_E_FORMAT,
              "images[0]: \"id\" must be an integer, got a string");
    CHECK_ERR(load_gt("{\"images\":[{\"id\":1.5,\"width\":10,\"height\":8}]," CATS "}"), ED_E_FORMAT,
              "must be an integer");
    CHECK_ERR(load_gt("{\"images\":[{\"id\":1,\"width\":0,\"height\":8}]," CATS "}"), ED_E_FORMAT, "\"width\" must be");
    CHECK_ERR(load_gt("{\"images\":[{\"id\":1,\"width\":3,\"height\":8},{\"id\":1,\"width\":3,\"height\":8}]," CATS "}"),
              ED_E_FORMAT, "images[0] and images[1] have the same id 1");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"category_id\":2}]}"), ED_E_FORMAT,
              "annotations[0]: missing \"image_id\"");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":9,\"category_id\":2}]}"),
              ED_E_FORMAT, "\"image_id\" 9 is not among the images");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":5}]}"),
              ED_E_FORMAT, "\"category_id\" 5 is not among the categories");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,\"bbox\":\"no\"}]}"),
              ED_E_FORMAT, "\"bbox\" must be a list of 4 numbers, got a string");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,\"bbox\":[1,2,3]}]}"),
              ED_E_FORMAT, "got 3 numbers");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,"
                      "\"segmentation\":[[1,2,\"x\"]]}]}"),
              ED_E_FORMAT, "polygons must hold finite numbers");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,"
                      "\"segmentation\":{\"size\":[8,10],\"counts\":[5,3]}}]}"),
              ED_E_FORMAT, "counts sum to 8, not h * w");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,"
                      "\"segmentation\":{\"size\":[8,10],\"counts\":\"0~\"}}]}"),
              ED_E_FORMAT, "not in '0'..'o'");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,"
                      "\"segmentation\":{\"size\":[8,10]}}]}"),
              ED_E_FORMAT, "missing \"counts\"");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,"
                      "\"segmentation\":{\"size\":[9,10],\"counts\":[90]}}]}"),
              ED_E_FORMAT, "differs from image 1's [8, 10]");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,\"iscrowd\":\"1\"}]}"),
              ED_E_FORMAT, "\"iscrowd\" must be 0 or 1");
    CHECK_ERR(load_gt("{" IMGS "," CATS ",\"annotations\":[{\"id\":4,\"image_id\":1,\"category_id\":2},"
                      "{\"id\":4,\"image_id\":1,\"category_id\":2}]}"),
              ED_E_FORMAT, "annotations[0] and annotations[1] have the same id 4");
    CHECK_OK(load_gt("{" IMGS "," CATS "}"));

    ed_coco *c = NULL;
    CHECK_ERR(ed_coco_load("/nonexistent/gt.json", &c), ED_E_IO, "/nonexistent/gt.json");
    CHECK_ERR(ed_coco_load_results_memory("{}", 2, &c), ED_E_FORMAT, "results must be a JSON list");
    CHECK_ERR(ed_coco_load_results_memory("[{\"image_id\":1,\"category_id\":2,\"bbox\":[1,1,2,2]}]", 52, &c),
              ED_E_FORMAT, "results[0]: missing \"score\"");
    CHECK_ERR(ed_coco_load_results_memory("[{\"image_id\":1,\"category_id\":2,\"score\":0.5}]", 46, &c), ED_E_FORMAT,
              "needs \"bbox\" or \"segmentation\"");
    CHECK(c == NULL);

    CHECK_OK(eval_res("[{\"image_id\":1,\"category_id\":2,\"bbox\":[1,1,4,4],\"score\":0.9}]", "bbox"));
    CHECK_ERR(eval_res("[{\"image_id\":7,\"category_id\":2,\"bbox\":[1,1,4,4],\"score\":0.9}]", "bbox"), ED_E_FORMAT,
              "results[0]: image_id 7 is not among the ground truth images");
    CHECK_ERR(eval_res("[{\"image_id\":1,\"category_id\":3,\"bbox\":[1,1,4,4],\"score\":0.9}]", "segm"), ED_E_FORMAT,
              "results[0]: category_id 3 is not among the ground truth categories");
    CHECK_ERR(eval_res("[{\"image_id\":1,\"category_id\":2,\"bbox\":[1,1,4,4],\"score\":0.9},"
                       "{\"image_id\":1,\"category_id\":2,\"segmentation\":[[1,1,3,1,3,3]],\"score\":0.9}]", "bbox"),
              ED_E_FORMAT, "results[1] has no \"bbox\"");
    CHECK_ERR(eval_res("[{\"image_id\":1,\"category_id\":2,\"segmentation\":{\"size\":[4,4],\"counts\":[16]},"
                       "\"score\":0.9}]", "segm"),
              ED_E_FORMAT, "differs from its image's [8, 10]");
    CHECK_ERR(eval_res("[]", "keypoints"), ED_E_ARG, "iou_type must be \"bbox\" or \"segm\"");
    double stats[12];
    CHECK_OK(ed_coco_eval_memory("{" IMGS "," CATS "}", strlen("{" IMGS "," CATS "}"), "[]", 2, "bbox", stats));
    CHECK_MSG(stats[0] == -1 && stats[8] == -1, "no gt: stats are -1, got %g %g", stats[0], stats[8]);
    CHECK_OK(eval_res("[]", "segm"));   /* no detections: AP 0 */
    const char *gt_noarea = "{" IMGS "," CATS ",\"annotations\":[{\"id\":1,\"image_id\":1,\"category_id\":2,\"bbox\":[1,1,4,4]}]}";
    CHECK_ERR(ed_coco_eval_memory(gt_noarea, strlen(gt_noarea), "[]", 2, "bbox", stats), ED_E_FORMAT, "has no \"area\"");

    /* Masks. */
    ed_coco_rle r = { 0 };
    uint8_t m[6] = { 1, 1, 0, 0, 1, 0 };
    CHECK_ERR(ed_coco_rle_encode(m, 0, 6, &r), ED_E_ARG, "mask size");
    CHECK_ERR(ed_coco_rle_from_string("1", 2, 3, &r), ED_E_FORMAT, "sum to 1, not h * w");
    CHECK_ERR(ed_coco_rle_from_string("0@", 2, 3, &r), ED_E_FORMAT, "decodes to -16");
    CHECK_ERR(ed_coco_rle_from_string("oooooooo", 2, 3, &r), ED_E_FORMAT, "longer than 7 chars");
    CHECK_ERR(ed_coco_rle_from_string("6o", 2, 3, &r), ED_E_FORMAT, "ends inside a count");
    const double nan_poly[6] = { 1, 1, NAN, 2, 3, 3 };
    CHECK_ERR(ed_coco_rle_from_polygon(nan_poly, 6, 4, 4, &r), ED_E_RANGE, "coordinate 2");
    double zigzag[40];   /* 20 edges of 5e6 points at 5x */
    for (int i = 0; i < 20; i++) { zigzag[2 * i] = i % 2 ? 1e6 : -1e6; zigzag[2 * i + 1] = i; }
    CHECK_ERR(ed_coco_rle_from_polygon(zigzag, 40, 4, 4, &r), ED_E_RANGE, "outline");
    ed_coco_rle a = { 0 }, b = { 0 };
    CHECK_OK(ed_coco_rle_encode(m, 2, 3, &a));
    CHECK_OK(ed_coco_rle_encode(m, 3, 2, &b));
    ed_coco_rle ab[2] = { a, b };
    CHECK_ERR(ed_coco_rle_merge(ab, 2, 0, &r), ED_E_SHAPE, "mask 1 is 3x2");
    double iou[1];
    CHECK_ERR(ed_coco_rle_iou(&a, 1, &b, 1, NULL, iou), ED_E_SHAPE, "ground truth 0 is 3x2");
    /* Encode/decode and intersection on a hand-made case. */
    uint8_t back[6];
    CHECK(a.m == 5 && a.counts[0] == 0 && a.counts[1] == 2 && a.counts[2] == 2 && a.counts[3] == 1 && a.counts[4] == 1);
    CHECK_OK(ed_coco_rle_decode(&a, back));
    CHECK(!memcmp(back, m, 6));
    ed_coco_rle_free(&a); ed_coco_rle_free(&b);
}

/* A dataset written to a file and read back; results too. */
static void test_save(void)
{
    const char *gt = "{\"images\":[{\"id\":3,\"width\":6,\"height\":5,\"file_name\":\"a.png\"}],"
                     "\"categories\":[{\"id\":1,\"name\":\"cat\",\"supercategory\":\"animal\"}],"
                     "\"annotations\":[{\"id\":7,\"image_id\":3,\"category_id\":1,\"segmentation\":[[0.5,0.5,4.25,0.5,4,3.75]],"
                     "\"area\":6.5,\"bbox\":[0.5,0.5,3.75,3.25],\"iscrowd\":0},"
                     "{\"id\":8,\"image_id\":3,\"category_id\":1,\"segmentation\":{\"size\":[5,6],\"counts\":[2,3,25]},"
                     "\"area\":3,\"bbox\":[0,2,1,3],\"iscrowd\":1}]}";
    ed_coco *c = NULL, *c2 = NULL;
    if (!CHECK_OK(ed_coco_load_memory(gt, strlen(gt), &c))) return;
    CHECK(c->n_images == 1 && c->images[0].height == 5 && !strcmp(c->images[0].file_name, "a.png"));
    CHECK(c->n_anns == 2 && c->anns[0].segm_kind == ED_COCO_SEGM_POLYGONS && c->anns[0].polygons[0].n == 6);
    CHECK(c->anns[1].segm_kind == ED_COCO_SEGM_RLE && c->anns[1].iscrowd && !c->anns[1].rle_compressed);
    const char *path = "test_coco_tmp.json";
    if (CHECK_OK(ed_coco_save(path, c)) && CHECK_OK(ed_coco_load(path, &c2))) {
        char *s1 = NULL, *s2 = NULL;
        CHECK_OK(ed_coco_to_json(c, &s1));
        CHECK_OK(ed_coco_to_json(c2, &s2));
        CHECK_MSG(s1 && s2 && !strcmp(s1, s2), "saved and reloaded JSON differ");
        free(s1); free(s2);
    }
    remove(path);
    ed_coco_free(c2);
    /* A perfect detection of each gt: AP 1 on the non-crowd one. */
    double stats[12];
    const char *res = "[{\"image_id\":3,\"category_id\":1,\"bbox\":[0.5,0.5,3.75,3.25],\"score\":0.5}]";
    ed_coco *r = NULL;
    if (CHECK_OK(ed_coco_load_results_memory(res, strlen(res), &r))) {
        CHECK(r->is_results && r->n_anns == 1 && r->anns[0].id == 1);
        if (CHECK_OK(ed_coco_eval_data(c, r, "bbox", stats)))
            CHECK_MSG(fabs(stats[0] - 1) < 1e-12 && fabs(stats[3] - 1) < 1e-12 && stats[4] == -1, "AP %g, small %g, medium %g", stats[0],
                      stats[3], stats[4]);
        char *s = NULL;
        if (CHECK_OK(ed_coco_to_json(r, &s)))
            CHECK_MSG(!strcmp(s, "[{\"image_id\":3,\"category_id\":1,\"bbox\":[0.5,0.5,3.75,3.25],\"score\":0.5}]"),
                      "results JSON: %s", s);
        free(s);
    }
    ed_coco_free(r);
    ed_coco_free(c);
}

int main(void)
{
    golden *g = golden_open("coco");
    if (g) {
        int n_eval = 0;
        for (int k = 0; k < golden_cases(g); k++) {
            cJSON *a = golden_args(g, k);
            const char *kind = golden_str(a, "kind", "");
            if (!strcmp(kind, "eval")) { eval_case(g, k, a); n_eval++; }
            else if (!strcmp(kind, "iou")) iou_case(g, k, a);
            else mask_case(g, k, a, kind);
        }
        printf("%d evaluation cases, %d mask cases\n", n_eval, golden_cases(g) - n_eval);
        golden_close(g);
    }
    test_errors();
    test_save();
    return check_done();
}
