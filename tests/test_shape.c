/* Reductions and shape ops: sum, mean, cat, pad, center_crop, linear,
 * matmul. Golden outputs and gradients from torch (gen_shape.py), float64
 * gradient checks, thread-count independence, a naive reference for sizes
 * past the kernels' chunk and tile sizes, and error cases. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- golden ------------------------------------------------------------------ */

static int json_ints(const cJSON *a, const char *key, int *out, int max)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    if (!cJSON_IsArray(v)) return -1;   /* null: none given */
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, v) if (n < max) out[n++] = e->valueint;
    return n;
}

/* Runs case k's op on ins (in golden order) and returns its output. */
static ed_status golden_apply(const cJSON *a, ed_tensor *const *ins, int n_in, ed_tensor **y)
{
    const char *op = golden_str(a, "op", "");
    if (!strcmp(op, "sum") || !strcmp(op, "mean")) {
        int dims[8];
        int nd = json_ints(a, "dims", dims, 8);
        int keep = golden_int(a, "keepdim", 0);
        return op[0] == 's' ? ed_sum(ins[0], nd < 0 ? NULL : dims, nd < 0 ? 0 : nd, keep, y)
                            : ed_mean(ins[0], nd < 0 ? NULL : dims, nd < 0 ? 0 : nd, keep, y);
    }
    if (!strcmp(op, "cat")) return ed_cat((const ed_tensor *const *)ins, n_in, golden_int(a, "dim", 0), y);
    if (!strcmp(op, "pad")) {
        int p[16];
        int np = json_ints(a, "pad", p, 16);
        int64_t p64[16];
        for (int i = 0; i < np; i++) p64[i] = p[i];
        const char *m = golden_str(a, "mode", "constant");
        ed_pad_mode mode = !strcmp(m, "reflect") ? ED_PAD_REFLECT : !strcmp(m, "replicate") ? ED_PAD_REPLICATE : ED_PAD_CONSTANT;
        return ed_pad(ins[0], p64, np, mode, golden_double(a, "value", 0), y);
    }
    if (!strcmp(op, "center_crop")) return ed_center_crop(ins[0], golden_int(a, "h", 0), golden_int(a, "w", 0), y);
    if (!strcmp(op, "linear")) return ed_linear(ins[0], ins[1], n_in > 2 ? ins[2] : NULL, y);
    if (!strcmp(op, "matmul")) return ed_matmul(ins[0], ins[1], y);
    return ed__err(ED_E_ARG, "unknown golden op %s", op);
}

static void test_golden(void)
{
    golden *g = golden_open("shape");
    if (!g) return;
    CHECK(golden_cases(g) > 60);
    for (int k = 0; k < golden_cases(g); k++) {
        const cJSON *a = golden_args(g, k);
        const char *op = golden_str(a, "op", "");
        const char *names[4];
        char cat_names[8][8];
        int n_in = 0;
        if (!strcmp(op, "cat")) {
            n_in = golden_int(a, "n", 0);
            for (int i = 0; i < n_in && i < 8; i++) { snprintf(cat_names[i], 8, "x%d", i); names[i] = cat_names[i]; }
        } else if (!strcmp(op, "linear")) {
            names[0] = "x"; names[1] = "weight"; names[2] = "bias";
            n_in = golden_int(a, "bias", 0) ? 3 : 2;
        } else if (!strcmp(op, "matmul")) {
            names[0] = "a"; names[1] = "b"; n_in = 2;
        } else {
            names[0] = "x"; n_in = 1;
        }
        ed_tensor *ins[8] = { 0 };
        for (int i = 0; i < n_in; i++) {
            CHECK_OK(ed_tensor_clone(golden_tensor(g, k, names[i]), &ins[i]));
            ed_tensor_set_requires_grad(ins[i], 1);
        }
        const double tol = (!strcmp(op, "linear") || !strcmp(op, "matmul")) ? 1e-4 : 1e-5;
        char what[160];
        char *js = cJSON_PrintUnformatted(a);
        ed_tensor *y = NULL;
        if (CHECK_OK(golden_apply(a, ins, n_in, &y))) {
            snprintf(what, sizeof what, "case %d %s: y", k, js);
            CHECK_CLOSE(what, y, golden_tensor(g, k, "y"), tol);
            if (y->numel > 0) {
                CHECK_OK(ed_backward(y, golden_tensor(g, k, "gy")));
                for (int i = 0; i < n_in; i++) {
                    char gname[16];
                    snprintf(gname, sizeof gname, "g_%s", names[i]);
                    snprintf(what, sizeof what, "case %d %s: %s", k, js, gname);
                    const ed_tensor *want = golden_tensor(g, k, gname);
                    if (ins[i]->numel == 0) continue;
                    CHECK_CLOSE(what, ed_tensor_grad(ins[i]), want, tol);
                }
            }
        }
        free(js);
        ed_tensor_free(y);
        for (int i = 0; i < n_in; i++) ed_tensor_free(ins[i]);
    }
    golden_close(g);
}

/* ---- gradient checks (float64) ------------------------------------------------ */

typedef struct { int dims[4]; int nd; int keep; int mean; } red_args;

static ed_status f_reduce(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const red_args *r = ctx;
    return r->mean ? ed_mean(in[0], r->nd ? r->dims : NULL, r->nd, r->keep, out)
                   : ed_sum(in[0], r->nd ? r->dims : NULL, r->nd, r->keep, out);
}

static ed_status f_cat(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    return ed_cat((const ed_tensor *const *)in, 3, *(int *)ctx, out);
}

typedef struct { int64_t pad[8]; int npad; ed_pad_mode mode; double value; } pad_args;

static ed_status f_pad(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const pad_args *p = ctx;
    return ed_pad(in[0], p->pad, p->npad, p->mode, p->value, out);
}

static ed_status f_crop(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const int64_t *hw = ctx;
    return ed_center_crop(in[0], hw[0], hw[1], out);
}

static ed_status f_linear(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    return ed_linear(in[0], in[1], *(int *)ctx ? in[2] : NULL, out);
}

static ed_status f_matmul(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    (void)ctx;
    return ed_matmul(in[0], in[1], out);
}

/* sum(x^2 ...) style composites are covered elsewhere; these check each
 * op's own backward. */
static void test_gradchecks(void)
{
    ed_tensor *x = check_randn(ED_F64, SHAPE(2, 3, 4, 5), 21);
    red_args ra[] = {
        { { 0 }, 0, 0, 0 }, { { 0 }, 0, 1, 1 }, { { 1, 3 }, 2, 0, 1 }, { { -1 }, 1, 1, 0 },
        { { 0, 2, 3 }, 3, 0, 1 }, { { 2 }, 1, 0, 0 },
    };
    for (size_t i = 0; i < sizeof ra / sizeof ra[0]; i++) check_gradcheck("sum/mean", f_reduce, &ra[i], 1, &x, NULL, 1e-6, 1e-6);
    ed_tensor_free(x);

    for (int dim = -3; dim < 3; dim++) {
        int64_t s0[3] = { 2, 3, 4 }, s1[3] = { 2, 3, 4 }, s2[3] = { 2, 3, 4 };
        int d = dim < 0 ? dim + 3 : dim;
        s0[d] = 1; s1[d] = 2; s2[d] = 3;
        ed_tensor *in[3] = { check_randn(ED_F64, 3, s0, 31), check_randn(ED_F64, 3, s1, 32), check_randn(ED_F64, 3, s2, 33) };
        check_gradcheck("cat", f_cat, &dim, 3, in, NULL, 1e-6, 1e-6);
        for (int i = 0; i < 3; i++) ed_tensor_free(in[i]);
    }

    pad_args pa[] = {
        { { 1, 2 }, 2, ED_PAD_CONSTANT, 0.5 }, { { -1, 2, 2, -1 }, 4, ED_PAD_CONSTANT, 0 },
        { { 1, 0, 0, 1, 2, 1 }, 6, ED_PAD_CONSTANT, -1 }, { { 3, 1 }, 2, ED_PAD_REFLECT, 0 },
        { { 2, 3, 3, 1 }, 4, ED_PAD_REFLECT, 0 }, { { -1, 2, 1, -2 }, 4, ED_PAD_REFLECT, 0 },
        { { 3, 1 }, 2, ED_PAD_REPLICATE, 0 }, { { 4, 0, 1, 3 }, 4, ED_PAD_REPLICATE, 0 },
        { { -2, 3, 2, -1 }, 4, ED_PAD_REPLICATE, 0 },
    };
    x = check_randn(ED_F64, SHAPE(2, 2, 4, 5), 41);
    for (size_t i = 0; i < sizeof pa / sizeof pa[0]; i++) check_gradcheck("pad", f_pad, &pa[i], 1, &x, NULL, 1e-6, 1e-6);
    ed_tensor_free(x);

    x = check_randn(ED_F64, SHAPE(2, 3, 7, 8), 51);
    int64_t hw[][2] = { { 4, 5 }, { 6, 6 }, { 7, 8 }, { 1, 1 } };
    for (int i = 0; i < 4; i++) check_gradcheck("center_crop", f_crop, hw[i], 1, &x, NULL, 1e-6, 1e-6);
    ed_tensor_free(x);

    for (int bias = 0; bias < 2; bias++) {
        ed_tensor *in[3] = { check_randn(ED_F64, SHAPE(2, 3, 5), 61), check_randn(ED_F64, SHAPE(4, 5), 62),
                             check_randn(ED_F64, SHAPE(4), 63) };
        check_gradcheck("linear", f_linear, &bias, bias ? 3 : 2, in, NULL, 1e-6, 1e-6);
        for (int i = 0; i < 3; i++) ed_tensor_free(in[i]);
    }
    ed_tensor *mm[2] = { check_randn(ED_F64, SHAPE(4, 6), 71), check_randn(ED_F64, SHAPE(6, 3), 72) };
    check_gradcheck("matmul", f_matmul, NULL, 2, mm, NULL, 1e-6, 1e-6);
    ed_tensor_free(mm[0]); ed_tensor_free(mm[1]);
    ed_tensor *bm[2] = { check_randn(ED_F64, SHAPE(2, 3, 4, 5), 73), check_randn(ED_F64, SHAPE(2, 3, 5, 2), 74) };
    check_gradcheck("matmul batched", f_matmul, NULL, 2, bm, NULL, 1e-6, 1e-6);
    ed_tensor_free(bm[0]); ed_tensor_free(bm[1]);
}

/* ---- corners ------------------------------------------------------------------ */

static void test_reduce_corners(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 3, 4), 1), *y = NULL;
    /* full reduction: 0-d, numel 1; keepdim keeps every dim as 1 */
    CHECK_OK(ed_sum(x, NULL, 0, 0, &y));
    CHECK(y && y->ndim == 0 && y->numel == 1);
    double ref = 0;
    for (int64_t i = 0; i < x->numel; i++) ref += ed__get(x, i);
    CHECK(y && fabs(ed_tensor_item(y) - ref) < 1e-5);
    ed_tensor_free(y);
    CHECK_OK(ed_mean(x, (int[]){ 0 }, 0, 1, &y));   /* ndims 0 with dims given: all */
    CHECK(y && y->ndim == 3 && y->shape[0] == 1 && y->shape[2] == 1 && fabs(ed_tensor_item(y) - ref / 24) < 1e-6);
    ed_tensor_free(y);
    /* a 0-d tensor takes dim 0 and -1 */
    ed_tensor *s = NULL;
    CHECK_OK(ed_tensor_from_data(ED_F64, 0, NULL, (double[]){ 2.5 }, &s));
    CHECK_OK(ed_sum(s, (int[]){ -1 }, 1, 1, &y));
    CHECK(y && y->ndim == 0 && ed_tensor_item(y) == 2.5);
    ed_tensor_free(y);
    CHECK_ERR(ed_sum(s, (int[]){ 1 }, 1, 0, &y), ED_E_RANGE, "[-1, 0]");
    ed_tensor_free(s);
    /* empty: sum 0, mean NaN, over everything too */
    ed_tensor *e = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(3, 0), &e));
    CHECK_OK(ed_mean(e, NULL, 0, 0, &y));
    CHECK(y && isnan(ed_tensor_item(y)));
    ed_tensor_free(y);
    CHECK_OK(ed_sum(e, (int[]){ 1 }, 1, 1, &y));
    CHECK(y && y->ndim == 2 && y->shape[0] == 3 && y->shape[1] == 1 && ed_tensor_item(y) == 0);
    ed_tensor_free(y);
    CHECK_OK(ed_sum(e, (int[]){ 0 }, 1, 0, &y));
    CHECK(y && y->ndim == 1 && y->numel == 0);
    ed_tensor_free(y);
    ed_tensor_free(e);
    /* errors */
    CHECK_ERR(ed_sum(x, (int[]){ 1, -2 }, 2, 0, &y), ED_E_ARG, "dim 1 appears multiple times");
    CHECK_ERR(ed_mean(x, (int[]){ 3 }, 1, 0, &y), ED_E_RANGE, "[-3, 2], but got 3");
    CHECK_ERR(ed_sum(x, NULL, 2, 0, &y), ED_E_ARG, "dims is NULL");
    ed_tensor *i64 = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(3), &i64));
    CHECK_ERR(ed_sum(i64, NULL, 0, 0, &y), ED_E_DTYPE, "float32");
    ed_tensor_free(i64);
    ed_tensor_free(x);
}

/* Naive double sums over dims of big tensors (past RED_CHUNK and the
 * output blocks), and the same bits whatever the thread count. */
static void test_reduce_big(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(3, 5000, 7), 5);
    const int cases[][3] = { { 1, 0, 0 }, { 2, 0, 2 }, { 1, 1, 0 }, { 1, 2, 0 }, { 3, 0, 1 } };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int nd = cases[c][0], dims[3] = { cases[c][1], cases[c][2], 0 };
        if (nd == 3) { dims[0] = 0; dims[1] = 1; dims[2] = 2; }
        bool red[3] = { false, false, false };
        for (int i = 0; i < nd; i++) red[dims[i]] = true;
        ed_tensor *y1 = NULL, *y2 = NULL, *m = NULL;
        ed_set_num_threads(1);
        CHECK_OK(ed_sum(x, dims, nd, 1, &y1));
        ed_set_num_threads(2);
        CHECK_OK(ed_sum(x, dims, nd, 1, &y2));
        CHECK_OK(ed_mean(x, dims, nd, 1, &m));
        if (!y1 || !y2 || !m) continue;
        CHECK_MSG(memcmp(y1->data, y2->data, (size_t)y1->numel * 4) == 0, "sum over %d dims from %d: threads change bits", nd, dims[0]);
        double *ref = calloc((size_t)y1->numel, sizeof *ref);
        int64_t cnt = x->numel / y1->numel;
        for (int64_t a = 0; a < 3; a++)
            for (int64_t b = 0; b < 5000; b++)
                for (int64_t d = 0; d < 7; d++) {
                    int64_t o = ((red[0] ? 0 : a) * (red[1] ? 1 : 5000) + (red[1] ? 0 : b)) * (red[2] ? 1 : 7) + (red[2] ? 0 : d);
                    ref[o] += ed__get(x, (a * 5000 + b) * 7 + d);
                }
        double worst = 0, wm = 0;
        for (int64_t o = 0; o < y1->numel; o++) {
            worst = fmax(worst, fabs(ed__get(y1, o) - ref[o]) / fmax(1, fabs(ref[o])));
            wm = fmax(wm, fabs(ed__get(m, o) - ref[o] / (double)cnt) / fmax(1e-3, fabs(ref[o] / (double)cnt)));
        }
        CHECK_MSG(worst < 1e-6 && wm < 1e-5, "big sum case %zu: err %g, mean err %g", c, worst, wm);
        free(ref);
        ed_tensor_free(y1); ed_tensor_free(y2); ed_tensor_free(m);
    }
    ed_set_num_threads(0);
    ed_tensor_free(x);
}

static void test_cat_corners(void)
{
    ed_tensor *a = check_randn(ED_F32, SHAPE(2, 3), 1), *b = check_randn(ED_F32, SHAPE(1, 3), 2), *y = NULL;
    ed_tensor *leg = NULL, *e = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(0), &leg));
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(0, 3), &e));
    /* a list of one copies */
    CHECK_OK(ed_cat((const ed_tensor *[]){ a }, 1, -2, &y));
    CHECK(y && y->shape[0] == 2 && memcmp(y->data, a->data, 24) == 0);
    ed_tensor_free(y);
    /* (0, 3) joins; a legacy (0,) is skipped whatever the shapes */
    CHECK_OK(ed_cat((const ed_tensor *[]){ e, a, leg, b }, 4, 0, &y));
    CHECK(y && y->shape[0] == 3 && y->shape[1] == 3 && ed__get(y, 6) == ed__get(b, 0));
    ed_tensor_free(y);
    CHECK_OK(ed_cat((const ed_tensor *[]){ leg, leg }, 2, 1, &y));
    CHECK(y && y->ndim == 1 && y->numel == 0);
    ed_tensor_free(y);
    /* other dtypes are copied */
    ed_tensor *u = NULL, *v = NULL;
    CHECK_OK(ed_tensor_from_data(ED_U8, SHAPE(1, 2), (uint8_t[]){ 1, 2 }, &u));
    CHECK_OK(ed_tensor_from_data(ED_U8, SHAPE(1, 1), (uint8_t[]){ 3 }, &v));
    CHECK_OK(ed_cat((const ed_tensor *[]){ u, v }, 2, 1, &y));
    CHECK(y && y->shape[1] == 3 && ((uint8_t *)y->data)[2] == 3);
    ed_tensor_free(y);
    /* errors */
    CHECK_ERR(ed_cat((const ed_tensor *[]){ a, b }, 2, 1, &y), ED_E_SHAPE, "expected size 2 but got size 1 in dimension 0");
    CHECK_ERR(ed_cat((const ed_tensor *[]){ a, u }, 2, 0, &y), ED_E_DTYPE, "same dtype");
    CHECK_ERR(ed_cat((const ed_tensor *[]){ a }, 0, 0, &y), ED_E_ARG, "non-empty");
    CHECK_ERR(ed_cat((const ed_tensor *[]){ a, b }, 2, 2, &y), ED_E_RANGE, "[-2, 1], but got 2");
    ed_tensor *c3 = check_randn(ED_F32, SHAPE(2, 3, 1), 3), *s = NULL;
    CHECK_ERR(ed_cat((const ed_tensor *[]){ a, c3 }, 2, 0, &y), ED_E_SHAPE, "same number of dimensions");
    CHECK_OK(ed_tensor_from_data(ED_F32, 0, NULL, (float[]){ 1 }, &s));
    CHECK_ERR(ed_cat((const ed_tensor *[]){ s }, 1, 0, &y), ED_E_SHAPE, "zero-dimensional");
    ed_tensor_free(c3); ed_tensor_free(s); ed_tensor_free(u); ed_tensor_free(v);
    ed_tensor_free(a); ed_tensor_free(b); ed_tensor_free(leg); ed_tensor_free(e);
}

static void test_pad_corners(void)
{
    ed_tensor *x = NULL, *y = NULL;
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(1, 4), (float[]){ 1, 2, 3, 4 }, &x));
    CHECK_OK(ed_pad(x, (int64_t[]){ 2, 3 }, 2, ED_PAD_REFLECT, 0, &y));
    const float want_r[] = { 3, 2, 1, 2, 3, 4, 3, 2, 1 };
    CHECK(y && y->shape[1] == 9 && memcmp(y->data, want_r, sizeof want_r) == 0);
    ed_tensor_free(y);
    CHECK_OK(ed_pad(x, (int64_t[]){ -1, 3 }, 2, ED_PAD_REPLICATE, 0, &y));
    const float want_p[] = { 2, 3, 4, 4, 4, 4 };
    CHECK(y && y->shape[1] == 6 && memcmp(y->data, want_p, sizeof want_p) == 0);
    ed_tensor_free(y);
    /* cropping to nothing is fine for constant padding; npad 0 copies */
    CHECK_OK(ed_pad(x, (int64_t[]){ -4, 0 }, 2, ED_PAD_CONSTANT, 0, &y));
    CHECK(y && y->shape[1] == 0);
    ed_tensor_free(y);
    CHECK_OK(ed_pad(x, NULL, 0, ED_PAD_CONSTANT, 0, &y));
    CHECK(y && y->numel == 4 && memcmp(y->data, x->data, 16) == 0);
    ed_tensor_free(y);
    /* padding an empty dim with a constant */
    ed_tensor *e = NULL;
    CHECK_OK(ed_tensor_new(ED_F64, SHAPE(2, 0), &e));
    CHECK_OK(ed_pad(e, (int64_t[]){ 1, 1 }, 2, ED_PAD_CONSTANT, 7, &y));
    CHECK(y && y->numel == 4 && ed__get(y, 3) == 7);
    ed_tensor_free(y);
    /* a uint8 label map padded with 255 */
    ed_tensor *u = NULL;
    CHECK_OK(ed_tensor_from_data(ED_U8, SHAPE(1, 2), (uint8_t[]){ 1, 2 }, &u));
    CHECK_OK(ed_pad(u, (int64_t[]){ 1, 0, 0, 1 }, 4, ED_PAD_CONSTANT, 255, &y));
    const uint8_t want_u[] = { 255, 1, 2, 255, 255, 255 };
    CHECK(y && y->shape[0] == 2 && y->shape[1] == 3 && memcmp(y->data, want_u, 6) == 0);
    ed_tensor_free(y);
    /* errors, with torch's conditions */
    CHECK_ERR(ed_pad(x, (int64_t[]){ 1 }, 1, ED_PAD_CONSTANT, 0, &y), ED_E_ARG, "divisible by 2");
    CHECK_ERR(ed_pad(x, (int64_t[]){ 1, 1, 1, 1, 1, 1 }, 6, ED_PAD_CONSTANT, 0, &y), ED_E_ARG, "two times the input dimension");
    CHECK_ERR(ed_pad(x, (int64_t[]){ -3, -2 }, 2, ED_PAD_CONSTANT, 0, &y), ED_E_SHAPE, "negative size -1");
    CHECK_ERR(ed_pad(x, (int64_t[]){ 4, 0 }, 2, ED_PAD_REFLECT, 0, &y), ED_E_ARG, "padding (4, 0) at dimension 1");
    CHECK_ERR(ed_pad(x, (int64_t[]){ -2, -2 }, 2, ED_PAD_REPLICATE, 0, &y), ED_E_SHAPE, "output size 0");
    CHECK_ERR(ed_pad(x, (int64_t[]){ 0, 0, 1, 1 }, 4, ED_PAD_REFLECT, 0, &y), ED_E_ARG, "dimension 0");
    CHECK_ERR(ed_pad(e, (int64_t[]){ 1, 1 }, 2, ED_PAD_REPLICATE, 0, &y), ED_E_SHAPE, "non-empty");
    CHECK_ERR(ed_pad(x, (int64_t[]){ 1, 1, 1, 1 }, 4, (ed_pad_mode)7, 0, &y), ED_E_ARG, "unknown mode");
    CHECK_ERR(ed_pad(u, (int64_t[]){ 1, 1 }, 2, ED_PAD_REFLECT, 0, &y), ED_E_DTYPE, "float");
    CHECK_ERR(ed_pad(u, (int64_t[]){ 1, 1 }, 2, ED_PAD_CONSTANT, NAN, &y), ED_E_ARG, "cannot be stored");
    ed_tensor *x3 = check_randn(ED_F32, SHAPE(2, 3, 4), 9);
    CHECK_ERR(ed_pad(x3, (int64_t[]){ 1, 1, 1, 1, 1, 1 }, 6, ED_PAD_REPLICATE, 0, &y), ED_E_UNSUPPORTED, "last 1 or 2 dims");
    ed_tensor_free(x3); ed_tensor_free(u); ed_tensor_free(e); ed_tensor_free(x);
}

static void test_crop_corners(void)
{
    ed_tensor *x = NULL, *y = NULL;
    float d[25];
    for (int i = 0; i < 25; i++) d[i] = (float)i;
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(5, 5), d, &x));
    /* differences 1 and 3: round(0.5) = 0, round(1.5) = 2 */
    CHECK_OK(ed_center_crop(x, 4, 2, &y));
    CHECK(y && ed__get(y, 0) == 2 && ed__get(y, 1) == 3 && ed__get(y, 2) == 7);
    ed_tensor_free(y);
    CHECK_ERR(ed_center_crop(x, 6, 2, &y), ED_E_SHAPE, "larger than");
    CHECK_ERR(ed_center_crop(x, 0, 2, &y), ED_E_ARG, "positive");
    ed_tensor *v = check_randn(ED_F32, SHAPE(5), 1);
    CHECK_ERR(ed_center_crop(v, 1, 1, &y), ED_E_SHAPE, "at least 2 dims");
    ed_tensor_free(v);
    ed_tensor_free(x);
}

/* matmul/linear against a naive double product on sizes past the GEMM tiles
 * (32 x 256 x 128), and the same bits with 1 or 2 threads. */
static void naive_mm(int64_t n, int64_t k, int64_t m, const ed_tensor *a, int64_t ao, int sa_t, const ed_tensor *b,
                     int64_t bo, int sb_t, double *c)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < m; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++)
                s += ed__get(a, ao + (sa_t ? p * n + i : i * k + p)) * ed__get(b, bo + (sb_t ? j * k + p : p * m + j));
            c[i * m + j] = s;
        }
}

static double max_err(const ed_tensor *t, const double *ref)
{
    double w = 0;
    for (int64_t i = 0; i < t->numel; i++) w = fmax(w, fabs(ed__get(t, i) - ref[i]) / fmax(1, fabs(ref[i])));
    return w;
}

static void test_gemm_big(void)
{
    const int64_t B = 2, n = 37, k = 141, m = 263;
    ed_tensor *a = check_randn(ED_F64, SHAPE(B, n, k), 81), *b = check_randn(ED_F64, SHAPE(B, k, m), 82);
    ed_tensor *g = check_randn(ED_F64, SHAPE(B, n, m), 83), *y = NULL;
    ed_tensor_set_requires_grad(a, 1);
    ed_tensor_set_requires_grad(b, 1);
    CHECK_OK(ed_matmul(a, b, &y));
    CHECK_OK(ed_backward(y, g));
    double *ref = malloc(sizeof(double) * (size_t)(B * (n * m + n * k + k * m)));
    double *rc = ref, *ra = rc + B * n * m, *rb = ra + B * n * k;
    for (int64_t i = 0; i < B; i++) {
        naive_mm(n, k, m, a, i * n * k, 0, b, i * k * m, 0, rc + i * n * m);
        naive_mm(n, m, k, g, i * n * m, 0, b, i * k * m, 1, ra + i * n * k);   /* g @ b^T */
        naive_mm(k, n, m, a, i * n * k, 1, g, i * n * m, 0, rb + i * k * m);   /* a^T @ g */
    }
    CHECK_MSG(y && max_err(y, rc) < 1e-12, "big matmul: y err %g", y ? max_err(y, rc) : -1.0);
    CHECK_MSG(max_err(ed_tensor_grad(a), ra) < 1e-12, "big matmul: ga err %g", max_err(ed_tensor_grad(a), ra));
    CHECK_MSG(max_err(ed_tensor_grad(b), rb) < 1e-12, "big matmul: gb err %g", max_err(ed_tensor_grad(b), rb));
    ed_tensor_free(y);
    free(ref);
    ed_tensor_free(a); ed_tensor_free(b); ed_tensor_free(g);

    /* linear in float32: (70, 300) x (260, 300)^T, bias; 1 vs 2 threads */
    ed_tensor *x = check_randn(ED_F32, SHAPE(70, 300), 84), *w = check_randn(ED_F32, SHAPE(260, 300), 85);
    ed_tensor *bias = check_randn(ED_F32, SHAPE(260), 86), *y1 = NULL, *y2 = NULL;
    ed_set_num_threads(1);
    CHECK_OK(ed_linear(x, w, bias, &y1));
    ed_set_num_threads(2);
    CHECK_OK(ed_linear(x, w, bias, &y2));
    ed_set_num_threads(0);
    if (y1 && y2) {
        CHECK(memcmp(y1->data, y2->data, (size_t)y1->numel * 4) == 0);
        double *r = malloc(sizeof(double) * 70 * 260);
        naive_mm(70, 300, 260, x, 0, 0, w, 0, 1, r);
        for (int64_t i = 0; i < 70 * 260; i++) r[i] += ed__get(bias, i % 260);
        CHECK_MSG(max_err(y1, r) < 1e-4, "big linear: err %g", max_err(y1, r));
        free(r);
    }
    ed_tensor_free(y1); ed_tensor_free(y2);
    ed_tensor_free(x); ed_tensor_free(w); ed_tensor_free(bias);
}

static void test_linear_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 3), 1), *w = check_randn(ED_F32, SHAPE(4, 5), 2), *y = NULL;
    ed_tensor *b = check_randn(ED_F32, SHAPE(3), 3), *w3 = check_randn(ED_F32, SHAPE(4, 3), 4);
    ed_tensor *x64 = check_randn(ED_F64, SHAPE(2, 3), 5);
    CHECK_ERR(ed_linear(x, w, NULL, &y), ED_E_SHAPE, "(2, 3) and weight (4, 5)");
    CHECK_ERR(ed_linear(x, w3, b, &y), ED_E_SHAPE, "bias must have shape (4,)");
    CHECK_ERR(ed_linear(x64, w3, NULL, &y), ED_E_DTYPE, "differ");
    CHECK_ERR(ed_linear(x, b, NULL, &y), ED_E_SHAPE, "weight must be 2-D");
    CHECK_ERR(ed_matmul(x, w, &y), ED_E_SHAPE, "(2, 3) and (4, 5) cannot be multiplied");
    ed_tensor *a3 = check_randn(ED_F32, SHAPE(2, 2, 3), 6), *b3 = check_randn(ED_F32, SHAPE(3, 3, 4), 7);
    CHECK_ERR(ed_matmul(a3, b3, &y), ED_E_SHAPE, "(2, 2, 3) and (3, 3, 4) have different batch dims");
    CHECK_ERR(ed_matmul(a3, w3, &y), ED_E_SHAPE, "(2, 2, 3) and (4, 3)");
    CHECK_ERR(ed_matmul(b, b, &y), ED_E_SHAPE, "(3,) and (3,)");
    /* empty products: k = 0 gives zeros (plus the bias) */
    ed_tensor *xe = NULL, *we = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(2, 0), &xe));
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(3, 0), &we));
    CHECK_OK(ed_linear(xe, we, b, &y));
    CHECK(y && y->shape[1] == 3 && ed__get(y, 4) == ed__get(b, 1));
    ed_tensor_free(y);
    ed_tensor_free(xe); ed_tensor_free(we);
    ed_tensor_free(a3); ed_tensor_free(b3);
    ed_tensor_free(x); ed_tensor_free(w); ed_tensor_free(b); ed_tensor_free(w3); ed_tensor_free(x64);
}

/* Ops inside an arena allocate from it; backward works there too. */
static void test_arena(void)
{
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 3, 6, 6), 1), *w = check_randn(ED_F32, SHAPE(5, 4), 2);
    ed_tensor_set_requires_grad(x, 1);
    ed_tensor_set_requires_grad(w, 1);
    ed_arena_begin(ar);
    ed_tensor *p = NULL, *c = NULL, *cc = NULL, *l = NULL, *s = NULL;
    CHECK_OK(ed_pad(x, (int64_t[]){ 1, 1, 1, 1 }, 4, ED_PAD_REFLECT, 0, &p));
    CHECK_OK(ed_center_crop(p, 4, 4, &c));
    CHECK_OK(ed_cat((const ed_tensor *[]){ c, c }, 2, 1, &cc));
    CHECK_OK(ed_linear(cc, w, NULL, &l));
    CHECK_OK(ed_mean(l, NULL, 0, 0, &s));
    CHECK_OK(ed_backward(s, NULL));
    ed_arena_end();
    CHECK(ed_arena_used(ar) > 0 && ed_tensor_grad(x) && ed_tensor_grad(w));
    ed_arena_free(ar);
    ed_tensor_free(x); ed_tensor_free(w);
}

int main(void)
{
    test_golden();
    test_gradchecks();
    test_reduce_corners();
    test_reduce_big();
    test_cat_corners();
    test_pad_corners();
    test_crop_corners();
    test_gemm_big();
    test_linear_errors();
    test_arena();
    return check_done();
}
