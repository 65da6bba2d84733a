/* Metrics: PSNR and SSIM against scikit-image, the confusion matrix and
 * segmentation scores against numpy (tests/golden/metrics.safetensors), and
 * their errors. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdlib.h>

/* Equal as doubles, NaN equal to NaN. */
static int same(double a, double b) { return (isnan(a) && isnan(b)) || a == b; }

static void check_near(const char *what, int k, double got, double want, double rtol)
{
    if (isinf(want)) {
        CHECK_MSG(got == want, "case %d %s: got %.10g, want %g", k, what, got, want);
        return;
    }
    double err = fabs(got - want) / fmax(fabs(want), 1.0);
    CHECK_MSG(err <= rtol, "case %d %s: got %.12g, want %.12g (rel err %.3g)", k, what, got, want, err);
}

static void iq_case(golden *g, int k, cJSON *a)
{
    int h = golden_int(a, "h", 0), w = golden_int(a, "w", 0), c = golden_int(a, "c", 0);
    double range = golden_double(a, "data_range", 1);
    int y = golden_int(a, "y_channel", 0), crop = golden_int(a, "crop_border", 0);
    const float *x1 = ed_tensor_cdata(golden_tensor(g, k, "a")), *x2 = ed_tensor_cdata(golden_tensor(g, k, "b"));
    double psnr = 0, ssim = 0;
    if (CHECK_OK(ed_psnr(x1, x2, h, w, c, range, y, crop, &psnr)))
        check_near("psnr", k, psnr, ed_tensor_item(golden_tensor(g, k, "psnr")), 1e-4);
    if (CHECK_OK(ed_ssim(x1, x2, h, w, c, range, y, crop, &ssim)))
        check_near("ssim", k, ssim, ed_tensor_item(golden_tensor(g, k, "ssim")), 1e-4);
}

static void seg_case(golden *g, int k, cJSON *a)
{
    int C = golden_int(a, "C", 0), n = golden_int(a, "n", 0);
    const cJSON *ig = cJSON_GetObjectItemCaseSensitive(a, "ignore");
    int64_t ignore = cJSON_IsNumber(ig) ? (int64_t)ig->valuedouble : INT64_MIN;
    const int64_t *pred = ed_tensor_cdata(golden_tensor(g, k, "pred"));
    const int64_t *target = ed_tensor_cdata(golden_tensor(g, k, "target"));
    const int64_t *want = ed_tensor_cdata(golden_tensor(g, k, "conf"));
    int64_t *conf = calloc((size_t)C * C, sizeof *conf);
    /* In two pieces: updates accumulate. */
    CHECK_OK(ed_confusion_update(conf, pred, target, n / 3, C, ignore));
    CHECK_OK(ed_confusion_update(conf, pred + n / 3, target + n / 3, n - n / 3, C, ignore));
    CHECK_MSG(!memcmp(conf, want, sizeof *conf * (size_t)C * C), "case %d: confusion matrix differs", k);
    ed_seg_scores s;
    if (CHECK_OK(ed_segmentation_scores(want, C, &s))) {
        const char *names[3] = { "iou", "dice", "recall" };
        double *got[3] = { s.iou, s.dice, s.recall };
        for (int q = 0; q < 3; q++) {
            const double *e = ed_tensor_cdata(golden_tensor(g, k, names[q]));
            for (int c = 0; c < C; c++)
                CHECK_MSG(same(got[q][c], e[c]), "case %d %s[%d]: %.17g vs %.17g", k, names[q], c, got[q][c], e[c]);
        }
        const double *m = ed_tensor_cdata(golden_tensor(g, k, "means"));
        double mine[4] = { s.mean_iou, s.mean_dice, s.global_acc, s.class_acc };
        for (int q = 0; q < 4; q++) CHECK_MSG(same(mine[q], m[q]), "case %d mean %d: %.17g vs %.17g", k, q, mine[q], m[q]);
        ed_seg_scores_free(&s);
    }
    free(conf);
}

static void test_golden(void)
{
    golden *g = golden_open("metrics");
    if (!g) return;
    for (int k = 0; k < golden_cases(g); k++) {
        cJSON *a = golden_args(g, k);
        if (!strcmp(golden_str(a, "kind", ""), "iq")) iq_case(g, k, a);
        else seg_case(g, k, a);
    }
    golden_close(g);
}

static void test_iq_known(void)
{
    /* mse 1 on the 0..255 scale: 20 log10(255). */
    float a[16 * 16], b[16 * 16];
    for (int i = 0; i < 256; i++) { a[i] = (float)(i % 200); b[i] = a[i] + 1.0f; }
    double v = 0;
    CHECK_OK(ed_psnr(a, b, 16, 16, 1, 255, 0, 0, &v));
    CHECK(fabs(v - 20 * log10(255.0)) < 1e-12);
    CHECK_OK(ed_psnr(a, a, 16, 16, 1, 255, 0, 0, &v));
    CHECK(isinf(v) && v > 0);
    CHECK_OK(ed_ssim(a, a, 16, 16, 1, 255, 0, 0, &v));
    CHECK(fabs(v - 1) < 1e-12);

    CHECK_ERR(ed_psnr(a, b, 16, 16, 1, 255, 1, 0, &v), ED_E_ARG, "y_channel needs 3");
    CHECK_ERR(ed_psnr(a, b, 16, 16, 1, 255, 0, 8, &v), ED_E_ARG, "crop_border 8");
    CHECK_ERR(ed_psnr(a, b, 16, 16, 1, 0, 0, 0, &v), ED_E_ARG, "data_range");
    CHECK_ERR(ed_psnr(a, b, 0, 16, 1, 1, 0, 0, &v), ED_E_ARG, "positive");
    CHECK_ERR(ed_psnr(NULL, b, 16, 16, 1, 1, 0, 0, &v), ED_E_ARG, "NULL");
    CHECK_ERR(ed_psnr(a, b, 16, 16, 1, 1, 0, 0, NULL), ED_E_ARG, "out");
    CHECK_ERR(ed_ssim(a, b, 16, 16, 1, 255, 0, 3, &v), ED_E_ARG, "window exceeds");
    CHECK_ERR(ed_ssim(a, b, 10, 25, 1, 255, 0, 0, &v), ED_E_ARG, "window exceeds");
    b[37] = NAN;
    CHECK_ERR(ed_ssim(a, b, 16, 16, 1, 255, 0, 0, &v), ED_E_NAN, "in b at (y 2, x 5");
    a[3] = INFINITY;
    CHECK_ERR(ed_psnr(a, b, 16, 16, 1, 255, 0, 0, &v), ED_E_NAN, "in a");
}

static void test_seg_errors(void)
{
    int64_t conf[9] = { 0 }, keep[9] = { 0 };
    int64_t pred[4] = { 0, 1, 2, 1 }, target[4] = { 0, 255, 1, 2 };
    CHECK_OK(ed_confusion_update(conf, pred, target, 4, 3, 255));
    CHECK(conf[0] == 1 && conf[1 * 3 + 2] == 1 && conf[2 * 3 + 1] == 1);
    memcpy(keep, conf, sizeof conf);
    /* Without an ignore_index, 255 is out of range: nothing is counted. */
    CHECK_ERR(ed_confusion_update(conf, pred, target, 4, 3, INT64_MIN), ED_E_RANGE, "target value 255 at position 1");
    CHECK(!memcmp(conf, keep, sizeof conf));
    target[1] = -1;
    CHECK_ERR(ed_confusion_update(conf, pred, target, 4, 3, 255), ED_E_RANGE, "target value -1 at position 1");
    target[1] = 0;
    pred[3] = 3;
    CHECK_ERR(ed_confusion_update(conf, pred, target, 4, 3, 255), ED_E_RANGE, "pred value 3 at position 3");
    CHECK(!memcmp(conf, keep, sizeof conf));
    pred[3] = 1;
    CHECK_ERR(ed_confusion_update(conf, pred, target, 4, 0, 255), ED_E_ARG, "num_classes");
    CHECK_ERR(ed_confusion_update(conf, pred, target, -1, 3, 255), ED_E_ARG, "n must be");
    CHECK_ERR(ed_confusion_update(NULL, pred, target, 4, 3, 255), ED_E_ARG, "NULL");
    CHECK_OK(ed_confusion_update(conf, NULL, NULL, 0, 3, 255));

    ed_seg_scores s;
    int64_t empty[4] = { 0 };
    if (CHECK_OK(ed_segmentation_scores(empty, 2, &s))) {
        CHECK(isnan(s.global_acc) && isnan(s.mean_iou) && isnan(s.class_acc) && isnan(s.iou[0]));
        ed_seg_scores_free(&s);
    }
    int64_t neg[4] = { 1, -2, 0, 3 };
    CHECK_ERR(ed_segmentation_scores(neg, 2, &s), ED_E_RANGE, "negative count -2 at row 0, column 1");
    CHECK_ERR(ed_segmentation_scores(empty, 0, &s), ED_E_ARG, "num_classes");
    ed_seg_scores_free(&s);   /* safe after a failure */
}

int main(void)
{
    test_golden();
    test_iq_known();
    test_seg_errors();
    return check_done();
}
