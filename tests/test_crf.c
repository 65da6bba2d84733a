/* Dense CRF (src/crf): Q and labels against pydensecrf (tests/golden/crf,
 * written by gen_crf.py) for each compatibility, kernel type,
 * normalisation, 1/5/10 iterations, Gaussian + bilateral and N-D features,
 * a CamVid crop; the step-wise API and KL divergence; the unary helpers;
 * the one-call image path; errors; and that results are bitwise the same
 * across runs with a given thread count. Agreement: labels on >= 99.9% of pixels and
 * |Q - Q_pydensecrf| <= 1e-3 everywhere. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define Q_TOL 1e-3
#define LABEL_AGREE 0.999

static golden *G;
static ed_tensor *in_rgb, *in_probs, *in_unary, *in_feats;
static int W, H, L;

/* Max |a - b| over n floats and the share of pixels whose argmax agrees
 * (a, b: (labels, n) label-major). */
static void compare_q(const char *name, const float *a, const float *b, int labels, int64_t n)
{
    double maxd = 0;
    int64_t agree = 0;
    for (int64_t i = 0; i < n; i++) {
        int la = 0, lb = 0;
        for (int l = 0; l < labels; l++) {
            double d = fabs((double)a[l * n + i] - b[l * n + i]);
            if (!(d <= maxd)) maxd = d;
            if (a[l * n + i] > a[la * n + i]) la = l;
            if (b[l * n + i] > b[lb * n + i]) lb = l;
        }
        agree += la == lb;
    }
    if (getenv("ED_CRF_VERBOSE")) printf("%s: max |dQ| %.3g, labels agree %lld/%lld\n", name, maxd, (long long)agree, (long long)n);
    CHECK_MSG(maxd <= Q_TOL, "%s: max |Q - Q_ref| = %.3g > %g", name, maxd, Q_TOL);
    CHECK_MSG((double)agree >= LABEL_AGREE * n, "%s: labels agree on %lld of %lld pixels", name, (long long)agree,
              (long long)n);
}

static ed_crf_compat_kind compat_of(const char *s)
{
    return !strcmp(s, "diag") ? ED_CRF_DIAG : !strcmp(s, "matrix") ? ED_CRF_MATRIX : ED_CRF_POTTS;
}
static ed_crf_kernel kernel_of(const char *s)
{
    return !strcmp(s, "const") ? ED_CRF_CONST_KERNEL : !strcmp(s, "full") ? ED_CRF_FULL_KERNEL : ED_CRF_DIAG_KERNEL;
}
static ed_crf_norm norm_of(const char *s)
{
    return !strcmp(s, "none") ? ED_CRF_NO_NORMALIZATION
         : !strcmp(s, "before") ? ED_CRF_NORMALIZE_BEFORE
         : !strcmp(s, "after") ? ED_CRF_NORMALIZE_AFTER : ED_CRF_NORMALIZE_SYMMETRIC;
}

static double num_at(const cJSON *arr, int i)
{
    return cJSON_GetArrayItem(arr, i)->valuedouble;
}

/* A CRF over the shared inputs with the terms of a golden case. */
static ed_densecrf *build(const cJSON *terms)
{
    int nd = 0;
    for (int k = 0; k < cJSON_GetArraySize(terms); k++)
        nd |= !strcmp(golden_str(cJSON_GetArrayItem(terms, k), "type", ""), "features");
    ed_densecrf *crf = NULL;
    if (!CHECK_OK(nd ? ed_densecrf_new(W * H, L, &crf) : ed_densecrf_new_2d(W, H, L, &crf))) return NULL;
    CHECK_OK(ed_densecrf_set_unary(crf, in_unary));
    for (int k = 0; k < cJSON_GetArraySize(terms); k++) {
        const cJSON *t = cJSON_GetArrayItem(terms, k);
        const char *type = golden_str(t, "type", "");
        ed_crf_pairwise p;
        ed_crf_pairwise_default(&p, golden_double(t, "w", 1.0));
        p.compat = compat_of(golden_str(t, "compat", "potts"));
        p.kernel = kernel_of(golden_str(t, "kernel", "diag"));
        p.normalization = norm_of(golden_str(t, "norm", "symmetric"));
        ed_tensor *wt = NULL;
        const cJSON *wa = cJSON_GetObjectItem(t, "weights");
        if (p.compat != ED_CRF_POTTS) {
            int nw = cJSON_GetArraySize(wa);
            float buf[64];
            for (int i = 0; i < nw; i++) buf[i] = (float)num_at(wa, i);
            if (p.compat == ED_CRF_DIAG) ed_tensor_from_data(ED_F32, SHAPE(L), buf, &wt);
            else ed_tensor_from_data(ED_F32, SHAPE(L, L), buf, &wt);
            p.weights = wt;
        }
        if (!strcmp(type, "gaussian")) {
            CHECK_OK(ed_densecrf_add_gaussian(crf, golden_double(t, "sx", 0), golden_double(t, "sy", 0), &p));
        } else if (!strcmp(type, "bilateral")) {
            const cJSON *s = cJSON_GetObjectItem(t, "srgb");
            CHECK_OK(ed_densecrf_add_bilateral(crf, golden_double(t, "sx", 0), golden_double(t, "sy", 0), num_at(s, 0),
                                               num_at(s, 1), num_at(s, 2), in_rgb, &p));
        } else {
            const cJSON *dims = cJSON_GetObjectItem(t, "dims");
            int d = cJSON_GetArraySize(dims);
            ed_tensor *f = NULL;
            CHECK_OK(ed_tensor_new(ED_F32, SHAPE(d, W * H), &f));
            for (int j = 0; j < d; j++)
                memcpy(ed__f32(f) + (int64_t)j * W * H, ed__cf32(in_feats) + (int64_t)num_at(dims, j) * W * H,
                       sizeof(float) * W * H);
            CHECK_OK(ed_densecrf_add_pairwise(crf, f, &p));
            ed_tensor_free(f);
        }
        ed_tensor_free(wt);
    }
    return crf;
}

static void test_golden_crf(void)
{
    for (int k = 1; k < golden_cases(G); k++) {
        cJSON *a = golden_args(G, k);
        if (strcmp(golden_str(a, "kind", ""), "crf")) continue;
        const cJSON *iters = cJSON_GetObjectItem(a, "iters");
        int ref = golden_int(a, "same_as", k);
        ed_densecrf *crf = build(cJSON_GetObjectItem(a, "terms"));
        if (!crf) continue;
        for (int j = 0; j < cJSON_GetArraySize(iters); j++) {
            int n = (int)num_at(iters, j);
            char what[16], name[160];
            snprintf(what, sizeof what, "q%d", n);
            snprintf(name, sizeof name, "case %d (%s), %d iterations", k, golden_str(a, "note", ""), n);
            ed_tensor *q = NULL, *e = golden_tensor(G, ref, what);
            if (!CHECK_OK(ed_densecrf_inference(crf, n, &q)) || !CHECK(e)) continue;
            compare_q(name, ed__cf32(q), ed__cf32(e), L, W * H);
            ed_tensor_free(q);
        }
        ed_densecrf_free(crf);
    }
}

static void test_golden_steps(int k)
{
    cJSON *a = golden_args(G, k);
    ed_densecrf *crf = build(cJSON_GetObjectItem(a, "terms"));
    const double *kl_ref = ed__cf64(golden_tensor(G, k, "kl"));
    ed_tensor *q = NULL;
    if (!crf || !CHECK_OK(ed_densecrf_start_inference(crf, &q))) return;
    for (int s = 0; s <= golden_int(a, "steps", 0); s++) {
        if (s > 0) CHECK_OK(ed_densecrf_step_inference(crf, q));
        double kl = 0;
        CHECK_OK(ed_densecrf_kl_divergence(crf, q, &kl));
        CHECK_MSG(fabs(kl - kl_ref[s]) <= 1e-4 * fabs(kl_ref[s]) + 1e-3, "KL after %d steps: %.8g vs pydensecrf %.8g",
                  s, kl, kl_ref[s]);
    }
    compare_q("step-wise Q", ed__cf32(q), ed__cf32(golden_tensor(G, k, "q")), L, W * H);
    /* Stepping from start equals inference with as many iterations. */
    ed_tensor *q3 = NULL;
    CHECK_OK(ed_densecrf_inference(crf, golden_int(a, "steps", 0), &q3));
    CHECK(q3 && !memcmp(q3->data, q->data, sizeof(float) * L * W * H));
    ed_tensor_free(q3);
    ed_tensor_free(q);
    ed_densecrf_free(crf);
}

static void test_golden_unary(int k)
{
    cJSON *a = golden_args(G, k);
    const char *kind = golden_str(a, "kind", "");
    ed_tensor *u = NULL, *e = golden_tensor(G, k, "unary");
    if (!strcmp(kind, "unary_softmax"))
        CHECK_OK(ed_crf_unary_from_softmax(golden_tensor(G, k, "probs"), golden_double(a, "scale", 0),
                                           golden_double(a, "clip", -1), &u));
    else
        CHECK_OK(ed_crf_unary_from_labels(golden_tensor(G, k, "labels"), golden_int(a, "n_labels", 0),
                                          golden_double(a, "gt_prob", 0), cJSON_IsTrue(cJSON_GetObjectItem(a, "zero_unsure")),
                                          &u));
    char name[64];
    snprintf(name, sizeof name, "case %d %s", k, kind);
    if (u) CHECK_CLOSE(name, u, e, 1e-6);
    ed_tensor_free(u);
}

static void test_golden_refine(int k)
{
    cJSON *a = golden_args(G, k);
    uint8_t *lab = malloc((size_t)W * H);
    float *q = malloc(sizeof(float) * L * W * H);
    CHECK_OK(ed_crf_refine_image(in_rgb->data, W, H, ed__cf32(in_probs), L, NULL, golden_int(a, "iters", 5), lab, q));
    compare_q("refine_image Q", q, ed__cf32(golden_tensor(G, k, "q")), L, W * H);
    const uint8_t *e = golden_tensor(G, k, "labels")->data;
    int64_t agree = 0;
    for (int64_t i = 0; i < W * H; i++) agree += lab[i] == e[i];
    CHECK_MSG(agree >= LABEL_AGREE * W * H, "refine_image labels agree on %lld of %d", (long long)agree, W * H);
    /* scale 1 takes the general path (float64 energies): the same labels. */
    ed_crf_params cp;
    ed_crf_params_default(&cp);
    cp.scale = 1.0;
    uint8_t *lab2 = malloc((size_t)W * H);
    CHECK_OK(ed_crf_refine_image(in_rgb->data, W, H, ed__cf32(in_probs), L, &cp, golden_int(a, "iters", 5), lab2, NULL));
    CHECK_MSG(!memcmp(lab, lab2, (size_t)W * H), "refine_image with scale 1 gives other labels");
    free(lab2);
    free(lab);
    free(q);
}

static void test_golden_camvid(int k)
{
    cJSON *a = golden_args(G, k);
    int w = golden_int(a, "w", 0), h = golden_int(a, "h", 0), C = golden_int(a, "labels", 0);
    int64_t n = (int64_t)w * h;
    const uint8_t *packed = golden_tensor(G, k, "unary4")->data;
    ed_tensor *u = NULL, *q = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(C, n), &u));
    for (int64_t j = 0; j < C * n; j++) {
        uint8_t b = packed[j / 2];
        ed__f32(u)[j] = (float)((j & 1) ? b >> 4 : b & 15) * 0.5f;
    }
    ed_densecrf *crf = NULL;
    ed_crf_pairwise p;
    CHECK_OK(ed_densecrf_new_2d(w, h, C, &crf));
    CHECK_OK(ed_densecrf_set_unary(crf, u));
    ed_crf_pairwise_default(&p, 3);
    CHECK_OK(ed_densecrf_add_gaussian(crf, 3, 3, &p));
    ed_crf_pairwise_default(&p, 10);
    CHECK_OK(ed_densecrf_add_bilateral(crf, 80, 80, 13, 13, 13, golden_tensor(G, k, "rgb"), &p));
    if (CHECK_OK(ed_densecrf_inference(crf, golden_int(a, "iters", 5), &q))) {
        const uint8_t *e = golden_tensor(G, k, "labels")->data;
        const float *qd = ed__cf32(q);
        int64_t agree = 0;
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            for (int l = 1; l < C; l++)
                if (qd[l * n + i] > qd[best * n + i]) best = l;
            agree += best == e[i];
        }
        CHECK_MSG(agree >= LABEL_AGREE * n, "camvid crop: labels agree on %lld of %lld", (long long)agree, (long long)n);
        const cJSON *win = cJSON_GetObjectItem(a, "win");
        int wy = (int)num_at(win, 0), wx = (int)num_at(win, 1), wh = (int)num_at(win, 2), ww = (int)num_at(win, 3);
        float *sub = malloc(sizeof(float) * C * wh * ww);
        for (int l = 0; l < C; l++)
            for (int y = 0; y < wh; y++)
                for (int x = 0; x < ww; x++)
                    sub[(l * wh + y) * ww + x] = qd[l * n + (int64_t)(wy + y) * w + wx + x];
        compare_q("camvid crop window", sub, ed__cf32(golden_tensor(G, k, "qwin")), C, (int64_t)wh * ww);
        free(sub);
    }
    ed_tensor_free(q);
    ed_tensor_free(u);
    ed_densecrf_free(crf);
}

/* Kernel parameters scale (DIAG) or mix (FULL) the features: the same as
 * giving the transformed features with no parameters. */
static void test_kernel_params(void)
{
    const int64_t n = W * H;
    float diag[3] = { 0.5f, 2.0f, 1.5f }, full[9] = { 1, 0.5f, 0, 0, 1, 0.25f, 0.5f, 0, 2 };
    for (int kind = 0; kind < 2; kind++) {
        ed_tensor *kp = NULL, *f2 = NULL, *q1 = NULL, *q2 = NULL;
        if (kind == 0) ed_tensor_from_data(ED_F32, SHAPE(3), diag, &kp);
        else ed_tensor_from_data(ED_F32, SHAPE(3, 3), full, &kp);
        ed_tensor_new(ED_F32, SHAPE(3, n), &f2);
        const float *f = ed__cf32(in_feats);
        for (int r = 0; r < 3; r++)
            for (int64_t i = 0; i < n; i++) {
                float s = 0;
                if (kind == 0) s = diag[r] * f[r * n + i];
                else
                    for (int c = 0; c < 3; c++) s += full[r * 3 + c] * f[c * n + i];
                ed__f32(f2)[r * n + i] = s;
            }
        ed_densecrf *a = NULL, *b = NULL;
        ed_crf_pairwise p;
        ed_crf_pairwise_default(&p, 4);
        CHECK_OK(ed_densecrf_new(n, L, &a));
        CHECK_OK(ed_densecrf_new(n, L, &b));
        CHECK_OK(ed_densecrf_set_unary(a, in_unary));
        CHECK_OK(ed_densecrf_set_unary(b, in_unary));
        CHECK_OK(ed_densecrf_add_pairwise(b, f2, &p));
        p.kernel = kind == 0 ? ED_CRF_DIAG_KERNEL : ED_CRF_FULL_KERNEL;
        p.kernel_params = kp;
        CHECK_OK(ed_densecrf_add_pairwise(a, in_feats, &p));
        CHECK_OK(ed_densecrf_inference(a, 3, &q1));
        CHECK_OK(ed_densecrf_inference(b, 3, &q2));
        CHECK_MSG(q1 && q2 && !memcmp(q1->data, q2->data, sizeof(float) * L * n), "%s kernel parameters",
                  kind ? "FULL" : "DIAG");
        ed_tensor_free(q1); ed_tensor_free(q2); ed_tensor_free(kp); ed_tensor_free(f2);
        ed_densecrf_free(a); ed_densecrf_free(b);
    }
}

/* Many labels (rows wider than the kernels keep in registers): labels
 * with +inf energy get Q = 0 and change nothing else, so a 37-label CRF
 * whose extra labels are impossible gives the 5-label CRF's Q bitwise. */
static void test_wide_labels(void)
{
    const int64_t n = W * H;
    const int wide = 37;
    ed_tensor *q[2] = { NULL, NULL };
    for (int v = 0; v < 2; v++) {
        const int C = v ? wide : L;
        ed_tensor *u = NULL, *dw = NULL, *mw = NULL;
        CHECK_OK(ed_tensor_new(ED_F32, SHAPE(C, n), &u));
        CHECK_OK(ed_tensor_new(ED_F32, SHAPE(C), &dw));
        CHECK_OK(ed_tensor_new(ED_F32, SHAPE(C, C), &mw));
        for (int l = 0; l < C; l++)
            for (int64_t i = 0; i < n; i++) ed__f32(u)[l * n + i] = l < L ? ed__cf32(in_unary)[l * n + i] : INFINITY;
        for (int l = 0; l < L; l++) {
            ed__f32(dw)[l] = -1.0f - 0.5f * l;
            for (int j = 0; j < L; j++) ed__f32(mw)[l * C + j] = l == j ? -2.0f : 0.3f * (float)((l * 3 + j) % 5);
        }
        ed_densecrf *crf = NULL;
        ed_crf_pairwise p;
        CHECK_OK(ed_densecrf_new_2d(W, H, C, &crf));
        CHECK_OK(ed_densecrf_set_unary(crf, u));
        ed_crf_pairwise_default(&p, 3);
        CHECK_OK(ed_densecrf_add_gaussian(crf, 3, 3, &p));
        p.compat = ED_CRF_DIAG;
        p.weights = dw;
        CHECK_OK(ed_densecrf_add_bilateral(crf, 8, 8, 13, 13, 13, in_rgb, &p));
        p.compat = ED_CRF_MATRIX;
        p.weights = mw;
        CHECK_OK(ed_densecrf_add_gaussian(crf, 2, 2, &p));
        CHECK_OK(ed_densecrf_inference(crf, 4, &q[v]));
        ed_densecrf_free(crf);
        ed_tensor_free(u); ed_tensor_free(dw); ed_tensor_free(mw);
    }
    int same = q[0] && q[1] && !memcmp(q[0]->data, q[1]->data, sizeof(float) * L * n), zero = q[1] != NULL;
    for (int64_t j = L * n; zero && j < wide * n; j++) zero = ed__cf32(q[1])[j] == 0.0f;
    CHECK_MSG(same && zero, "37 labels, 32 impossible: Q differs from the 5-label CRF's (same %d, zeros %d)", same, zero);
    ed_tensor_free(q[0]);
    ed_tensor_free(q[1]);
}

/* Bitwise the same over two runs with a thread count, within rounding
 * across thread counts; map = argmax. */
static void test_determinism(void)
{
    int saved = ed_get_num_threads();
    ed_tensor *q[3] = { NULL, NULL, NULL }, *m = NULL;
    const int threads[3] = { 2, 2, 1 };
    for (int r = 0; r < 3; r++) {
        ed_set_num_threads(threads[r]);
        ed_densecrf *crf = NULL;
        ed_crf_pairwise p;
        CHECK_OK(ed_densecrf_new_2d(W, H, L, &crf));
        CHECK_OK(ed_densecrf_set_unary(crf, in_unary));
        ed_crf_pairwise_default(&p, 3);
        CHECK_OK(ed_densecrf_add_gaussian(crf, 3, 3, &p));
        ed_crf_pairwise_default(&p, 10);
        CHECK_OK(ed_densecrf_add_bilateral(crf, 8, 8, 13, 13, 13, in_rgb, &p));
        CHECK_OK(ed_densecrf_inference(crf, 5, &q[r]));
        if (r == 0) CHECK_OK(ed_densecrf_map(crf, 5, &m));
        ed_densecrf_free(crf);
    }
    ed_set_num_threads(saved);
    const size_t bytes = sizeof(float) * L * W * H;
    CHECK_MSG(q[0] && q[1] && !memcmp(q[0]->data, q[1]->data, bytes), "two runs with 2 threads differ");
    /* Other thread counts add the splat's parts in other groupings:
     * rounding apart, the same. */
    double maxd = 0;
    for (int64_t j = 0; q[0] && q[2] && j < L * W * H; j++)
        maxd = fmax(maxd, fabs((double)ed__cf32(q[0])[j] - ed__cf32(q[2])[j]));
    CHECK_MSG(q[0] && q[2] && maxd < 1e-5, "1 and 2 threads differ by %.3g", maxd);
    int ok = m != NULL;
    for (int64_t i = 0; ok && i < W * H; i++) {
        int best = 0;
        for (int l = 1; l < L; l++)
            if (ed__cf32(q[0])[l * W * H + i] > ed__cf32(q[0])[best * W * H + i]) best = l;
        ok = ed__ci64(m)[i] == best;
    }
    CHECK_MSG(ok, "map is the argmax of Q");
    for (int r = 0; r < 3; r++) ed_tensor_free(q[r]);
    ed_tensor_free(m);
}

static void test_errors(void)
{
    ed_densecrf *crf = NULL;
    ed_tensor *t = NULL, *q = NULL;
    ed_crf_pairwise p;
    ed_crf_pairwise_default(&p, 3);
    CHECK_ERR(ed_densecrf_new_2d(0, 5, 3, &crf), ED_E_ARG, "got 0 x 5");
    CHECK_ERR(ed_densecrf_new_2d(4, 5, 0, &crf), ED_E_ARG, "labels must be");
    CHECK_ERR(ed_densecrf_new(0, 3, &crf), ED_E_ARG, "got 0");
    CHECK(crf == NULL);
    CHECK_OK(ed_densecrf_new_2d(W, H, L, &crf));
    /* Unary: wrong labels, wrong pixels, wrong dtype, NaN. */
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(L - 1, W * H), &t));
    CHECK_ERR(ed_densecrf_set_unary(crf, t), ED_E_SHAPE, "(labels, pixels) = (5, 480), got (4, 480)");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(L, W * H + 1), &t));
    CHECK_ERR(ed_densecrf_set_unary(crf, t), ED_E_SHAPE, "got (5, 481)");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_new(ED_F64, SHAPE(L, W * H), &t));
    CHECK_ERR(ed_densecrf_set_unary(crf, t), ED_E_DTYPE, "float32");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_clone(in_unary, &t));
    ed__f32(t)[7] = NAN;
    CHECK_ERR(ed_densecrf_set_unary(crf, t), ED_E_NAN, "NaN");
    for (int l = 0; l < L; l++) ed__f32(t)[(int64_t)l * W * H + 7] = INFINITY;
    CHECK_ERR(ed_densecrf_set_unary(crf, t), ED_E_NAN, "pixel 7");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(L, H, W), &t));   /* (labels, H, W) is fine */
    CHECK_OK(ed_densecrf_set_unary(crf, t));
    ed_tensor_free(t);
    /* Pairwise parameters. */
    CHECK_ERR(ed_densecrf_add_gaussian(crf, -1, 3, &p), ED_E_ARG, "sx must be > 0 and finite, got -1");
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 0, &p), ED_E_ARG, "sy must be > 0");
    CHECK_ERR(ed_densecrf_add_bilateral(crf, 80, 80, 13, NAN, 13, in_rgb, &p), ED_E_ARG, "sg");
    CHECK_OK(ed_tensor_new(ED_U8, SHAPE(H, W + 1, 3), &t));
    CHECK_ERR(ed_densecrf_add_bilateral(crf, 80, 80, 13, 13, 13, t, &p), ED_E_SHAPE, "(20, 24, 3), got (20, 25, 3)");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(H, W, 3), &t));
    CHECK_ERR(ed_densecrf_add_bilateral(crf, 80, 80, 13, 13, 13, t, &p), ED_E_DTYPE, "uint8");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(3, W * H - 1), &t));
    CHECK_ERR(ed_densecrf_add_pairwise(crf, t, &p), ED_E_SHAPE, "(d, 480)");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(0, W * H), &t));
    CHECK_ERR(ed_densecrf_add_pairwise(crf, t, &p), ED_E_SHAPE, "d >= 1");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_clone(in_feats, &t));
    ed__f32(t)[5] = INFINITY;
    CHECK_ERR(ed_densecrf_add_pairwise(crf, t, &p), ED_E_NAN, "of point 5 is not finite");
    ed__f32(t)[5] = 3e9f;
    CHECK_ERR(ed_densecrf_add_pairwise(crf, t, &p), ED_E_RANGE, "too large");
    ed_tensor_free(t);
    p.compat = ED_CRF_DIAG;
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_ARG, "needs weights");
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(L + 1), &t));
    p.weights = t;
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_SHAPE, "(labels) = (5), got (6,)");
    p.compat = ED_CRF_MATRIX;
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_SHAPE, "(labels, labels) = (5, 5), got (6,)");
    ed_tensor_free(t);
    ed_crf_pairwise_default(&p, 3);
    p.compat = (ed_crf_compat_kind)7;
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_ARG, "compatibility kind 7");
    ed_crf_pairwise_default(&p, 3);
    p.normalization = (ed_crf_norm)9;
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_ARG, "normalization 9");
    ed_crf_pairwise_default(&p, 3);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(3), &t));
    p.kernel_params = t;
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_SHAPE, "(d) = (2), got (3,)");
    p.kernel = ED_CRF_CONST_KERNEL;
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_ARG, "no kernel_params");
    ed_tensor_free(t);
    CHECK(ed_densecrf_terms(crf) == 0);
    /* Inference and steps. */
    CHECK_ERR(ed_densecrf_inference(crf, -1, &q), ED_E_ARG, "n_iterations must be >= 0, got -1");
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(L, W * H - 1), &t));
    CHECK_ERR(ed_densecrf_step_inference(crf, t), ED_E_SHAPE, "q must be (labels, pixels)");
    double kl;
    CHECK_ERR(ed_densecrf_kl_divergence(crf, t, &kl), ED_E_SHAPE, "got (5, 479)");
    ed_tensor_free(t);
    ed_densecrf_free(crf);
    crf = NULL;
    CHECK_OK(ed_densecrf_new(W * H, L, &crf));
    ed_crf_pairwise_default(&p, 3);
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 3, 3, &p), ED_E_STATE, "2-D CRF");
    /* No unary and no terms: uniform Q. */
    CHECK_OK(ed_densecrf_inference(crf, 2, &q));
    CHECK(q && fabsf(ed__cf32(q)[3] - 1.0f / L) < 1e-6f);
    ed_tensor_free(q);
    ed_densecrf_free(crf);
    ed_densecrf_free(NULL);
    /* Unary helpers. */
    CHECK_ERR(ed_crf_unary_from_softmax(in_probs, 1.5, 1e-5, &t), ED_E_ARG, "scale must be in (0, 1]");
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(0, 4), &t));
    CHECK_ERR(ed_crf_unary_from_softmax(t, 0, 1e-5, &q), ED_E_SHAPE, "zero size");
    ed_tensor_free(t);
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(4), &t));
    ed__i64(t)[2] = 6;
    CHECK_ERR(ed_crf_unary_from_labels(t, 5, 0.5, 1, &q), ED_E_RANGE, "label 6 at 2 is outside 0..5");
    CHECK_ERR(ed_crf_unary_from_labels(t, 5, 1.0, 1, &q), ED_E_ARG, "gt_prob must be in (0, 1), got 1");
    ed__i64(t)[2] = -1;
    CHECK_ERR(ed_crf_unary_from_labels(t, 5, 0.5, 0, &q), ED_E_RANGE, "label -1");
    ed_tensor_free(t);
    /* The one-call path. */
    uint8_t lab[4];
    float pr[8] = { 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f };
    uint8_t px[12] = { 0 };
    CHECK_ERR(ed_crf_refine_image(px, 0, 2, pr, 2, NULL, 5, lab, NULL), ED_E_ARG, "got 0 x 2");
    CHECK_ERR(ed_crf_refine_image(NULL, 2, 2, pr, 2, NULL, 5, lab, NULL), ED_E_ARG, "rgb is NULL");
    CHECK_ERR(ed_crf_refine_image(px, 2, 2, pr, 300, NULL, 5, lab, NULL), ED_E_ARG, "got 300");
    ed_crf_params cp;
    ed_crf_params_default(&cp);
    cp.bilat_srgb = -13;
    CHECK_ERR(ed_crf_refine_image(px, 2, 2, pr, 2, &cp, 5, lab, NULL), ED_E_ARG, "sr must be > 0");
    CHECK_OK(ed_crf_refine_image(px, 2, 2, pr, 2, NULL, 5, lab, NULL));
}

/* Tiny and degenerate sizes run: one pixel, one label, many labels. */
static void test_sizes(void)
{
    const int labels[3] = { 1, 2, 37 };
    for (int k = 0; k < 3; k++) {
        int C = labels[k];
        ed_densecrf *crf = NULL;
        ed_tensor *u = NULL, *q = NULL;
        ed_crf_pairwise p;
        ed_crf_pairwise_default(&p, 3);
        CHECK_OK(ed_densecrf_new_2d(7, 3, C, &crf));
        u = check_rand(ED_F32, SHAPE(C, 21), 0, 3, 11 + k);
        CHECK_OK(ed_densecrf_set_unary(crf, u));
        CHECK_OK(ed_densecrf_add_gaussian(crf, 1, 1, &p));
        CHECK_OK(ed_densecrf_inference(crf, 3, &q));
        double s = 0;
        for (int l = 0; q && l < C; l++) s += ed__cf32(q)[l * 21 + 4];
        CHECK_MSG(fabs(s - 1) < 1e-5, "%d labels: Q sums to %g", C, s);
        ed_tensor_free(q); ed_tensor_free(u);
        ed_densecrf_free(crf);
    }
    ed_densecrf *crf = NULL;
    ed_tensor *q = NULL;
    ed_crf_pairwise p;
    ed_crf_pairwise_default(&p, 3);
    CHECK_OK(ed_densecrf_new_2d(1, 1, 3, &crf));
    CHECK_ERR(ed_densecrf_add_bilateral(crf, 1, 1, 1, 1, 1, NULL, &p), ED_E_ARG, "rgb is NULL");
    CHECK_OK(ed_densecrf_add_gaussian(crf, 1, 1, &p));
    CHECK_OK(ed_densecrf_inference(crf, 1, &q));
    ed_tensor_free(q);
    for (int k = 1; k < 64; k++) ed_densecrf_add_gaussian(crf, 1, 1, &p);
    CHECK(ed_densecrf_terms(crf) == 64);
    CHECK_ERR(ed_densecrf_add_gaussian(crf, 1, 1, &p), ED_E_ARG, "at most 64 pairwise terms");
    ed_densecrf_free(crf);
}

int main(void)
{
    G = golden_open("crf");
    if (!G) return check_done();
    cJSON *a0 = golden_args(G, 0);
    W = golden_int(a0, "w", 0);
    H = golden_int(a0, "h", 0);
    L = golden_int(a0, "labels", 0);
    in_rgb = golden_tensor(G, 0, "rgb");
    in_probs = golden_tensor(G, 0, "probs");
    in_unary = golden_tensor(G, 0, "unary");
    in_feats = golden_tensor(G, 0, "feats");
    test_golden_crf();
    for (int k = 1; k < golden_cases(G); k++) {
        const char *kind = golden_str(golden_args(G, k), "kind", "");
        if (!strcmp(kind, "steps")) test_golden_steps(k);
        else if (!strncmp(kind, "unary", 5)) test_golden_unary(k);
        else if (!strcmp(kind, "refine")) test_golden_refine(k);
        else if (!strcmp(kind, "camvid")) test_golden_camvid(k);
    }
    test_kernel_params();
    test_wide_labels();
    test_determinism();
    test_errors();
    test_sizes();
    golden_close(G);
    return check_done();
}
