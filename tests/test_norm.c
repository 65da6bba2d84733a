/* Normalisation, softmax and dropout: batch_norm, group_norm, softmax,
 * log_softmax against torch (tests/golden/gen_norm.py) in float32 and
 * float64, gradient checks, errors, determinism; dropout by its
 * statistics, scaling, seeding and mask reuse in backward (PyTorch's
 * generator cannot be matched). */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdlib.h>

/* A leaf copy of a golden tensor in dtype dt (NULL stays NULL). */
static ed_tensor *leaf(const ed_tensor *t, ed_dtype dt, int grad)
{
    if (!t) return NULL;
    ed_tensor *c = NULL;
    if (!CHECK_OK(ed_tensor_to(t, dt, &c))) return NULL;
    if (grad) ed_tensor_set_requires_grad(c, 1);
    return c;
}

/* The CHECK_CLOSE measure: relative error, floored at 1e-3 of the
 * reference's largest magnitude. */
static double rel_err(const ed_tensor *a, const ed_tensor *e)
{
    double scale = 0;
    for (int64_t i = 0; e && i < e->numel; i++) scale = fmax(scale, fabs(ed__get(e, i)));
    return check_max_rel_err(a, e, fmax(scale * 1e-3, 1e-12));
}

/* Compare with torch. A float64 result must match torch's float64 one to
 * 1e-9; a float32 one must be within 1e-5 of that float64 truth, and
 * within torch's own float32 noise of torch's float32 result: torch's
 * float32 reductions can be 1e-4 off the truth (a batch of mean 100) and
 * its saturated softmax gradient 10%, so 1e-5 against them would demand
 * reproducing their rounding. */
static void compare(const char *name, const char *what, const ed_tensor *a, golden *g, int k, const char *key)
{
    char k64[64], nm[160];
    snprintf(k64, sizeof k64, "%s64", key);
    const ed_tensor *r32 = golden_tensor(g, k, key), *r64 = golden_tensor(g, k, k64);
    if (!r32 && !r64) return;
    snprintf(nm, sizeof nm, "%s %s", name, what);
    if (!r32 || !r64) { CHECK_MSG(0, "%s: golden file lacks %s or %s", nm, key, k64); return; }
    if (a && a->dtype == ED_F64) { CHECK_CLOSE(nm, a, r64, 1e-9); return; }
    CHECK_CLOSE(nm, a, r64, 1e-5);
    CHECK_CLOSE(nm, a, r32, fmax(1e-5, 2 * rel_err(r32, r64)));
}

static const ed_tensor *grad_or_null(const ed_tensor *t) { return t ? ed_tensor_grad(t) : NULL; }

/* Golden case k in dtype dt: output, every gradient and the running stats. */
static void golden_case(golden *g, int k, ed_dtype dt)
{
    cJSON *a = golden_args(g, k);
    const char *op = golden_str(a, "op", "");
    char name[96];
    snprintf(name, sizeof name, "case %d %s %s", k, op, dt == ED_F64 ? "f64" : "f32");
    ed_tensor *x = leaf(golden_tensor(g, k, "x"), dt, 1), *w = leaf(golden_tensor(g, k, "weight"), dt, 1);
    ed_tensor *b = leaf(golden_tensor(g, k, "bias"), dt, 1), *rm = leaf(golden_tensor(g, k, "running_mean"), dt, 0);
    ed_tensor *rv = leaf(golden_tensor(g, k, "running_var"), dt, 0), *gy = leaf(golden_tensor(g, k, "gy"), dt, 0);
    ed_tensor *y = NULL;
    ed_status s;
    if (!strcmp(op, "batch_norm"))
        s = ed_batch_norm(x, rm, rv, w, b, golden_int(a, "training", 1), golden_double(a, "momentum", 0.1),
                          golden_double(a, "eps", 1e-5), &y);
    else if (!strcmp(op, "group_norm"))
        s = ed_group_norm(x, golden_int(a, "groups", 1), w, b, golden_double(a, "eps", 1e-5), &y);
    else if (!strcmp(op, "softmax"))
        s = ed_softmax(x, golden_int(a, "dim", 0), &y);
    else
        s = ed_log_softmax(x, golden_int(a, "dim", 0), &y);
    if (CHECK_OK(s)) {
        compare(name, "y", y, g, k, "y");
        if (CHECK_OK(ed_backward(y, gy))) {
            compare(name, "gx", grad_or_null(x), g, k, "gx");
            compare(name, "gweight", grad_or_null(w), g, k, "gweight");
            compare(name, "gbias", grad_or_null(b), g, k, "gbias");
        }
        compare(name, "running_mean", rm, g, k, "running_mean_out");
        compare(name, "running_var", rv, g, k, "running_var_out");
    }
    ed_tensor_free(y);
    ed_tensor *all[] = { x, w, b, rm, rv, gy };
    for (int i = 0; i < 6; i++) ed_tensor_free(all[i]);
}

static void test_golden(void)
{
    golden *g = golden_open("norm");
    if (!g) return;
    for (int k = 0; k < golden_cases(g); k++) {
        golden_case(g, k, ED_F32);
        golden_case(g, k, ED_F64);
    }
    golden_close(g);
}

/* ---- gradient checks (float64) ---------------------------------------------- */

typedef struct { int training, affine, groups, dim, log; } fn_args;

static ed_status f_bn(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const fn_args *a = ctx;
    /* Running stats fixed for eval; in training they are updated but unused. */
    ed_tensor *rm = in[3], *rv = in[4];
    return ed_batch_norm(in[0], rm, rv, a->affine ? in[1] : NULL, a->affine ? in[2] : NULL, a->training, 0.3, 1e-3, out);
}

static ed_status f_bn_relu(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const fn_args *a = ctx;
    return ed__batch_norm_relu(in[0], in[3], in[4], a->affine ? in[1] : NULL, a->affine ? in[2] : NULL, a->training, 0.3,
                               1e-3, out);
}

static ed_status f_gn(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const fn_args *a = ctx;
    return ed_group_norm(in[0], a->groups, a->affine ? in[1] : NULL, a->affine ? in[2] : NULL, 1e-5, out);
}

static ed_status f_sm(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const fn_args *a = ctx;
    return a->log ? ed_log_softmax(in[0], a->dim, out) : ed_softmax(in[0], a->dim, out);
}

static ed_status f_dropout(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const fn_args *a = ctx;
    ed_manual_seed(99);   /* the same mask on every evaluation */
    return a->dim ? ed_dropout2d(in[0], 0.4, 1, out) : ed_dropout(in[0], 0.4, 1, out);
}

static void test_gradchecks(void)
{
    static const int64_t shapes[3][4] = { { 3, 3, 2, 2 }, { 5, 3 }, { 2, 4, 3 } };
    static const int ndims[3] = { 4, 2, 3 };
    for (int s = 0; s < 3; s++) {
        const int64_t C = shapes[s][1];
        for (int training = 0; training < 2; training++)
            for (int affine = 0; affine < 2; affine++) {
                ed_tensor *in[5] = { check_randn(ED_F64, ndims[s], shapes[s], 10 + s), check_randn(ED_F64, 1, &C, 20),
                                     check_randn(ED_F64, 1, &C, 21), check_randn(ED_F64, 1, &C, 22),
                                     check_rand(ED_F64, 1, &C, 0.5, 1.5, 23) };
                fn_args a = { training, affine, 0, 0, 0 };
                int no_grad[5] = { 0, !affine, !affine, 1, 1 };
                check_gradcheck(training ? "batch_norm train" : "batch_norm eval", f_bn, &a, 5, in, no_grad, 1e-6, 1e-6);
                check_gradcheck(training ? "batch_norm_relu train" : "batch_norm_relu eval", f_bn_relu, &a, 5, in, no_grad,
                                1e-6, 1e-6);
                for (int i = 0; i < 5; i++) ed_tensor_free(in[i]);
            }
    }
    const int64_t C = 4;
    for (int gi = 0; gi < 3; gi++)
        for (int affine = 0; affine < 2; affine++) {
            int groups = gi == 0 ? 1 : gi == 1 ? 2 : 4;
            ed_tensor *in[3] = { check_randn(ED_F64, SHAPE(2, 4, 3), 30 + gi), check_randn(ED_F64, 1, &C, 31),
                                 check_randn(ED_F64, 1, &C, 32) };
            fn_args a = { 0, affine, groups, 0, 0 };
            int no_grad[3] = { 0, !affine, !affine };
            check_gradcheck("group_norm", f_gn, &a, 3, in, no_grad, 1e-6, 1e-6);
            for (int i = 0; i < 3; i++) ed_tensor_free(in[i]);
        }
    for (int log = 0; log < 2; log++)
        for (int dim = -1; dim < 3; dim++) {
            ed_tensor *in[1] = { check_randn(ED_F64, SHAPE(2, 3, 4), 40 + dim) };
            fn_args a = { 0, 0, 0, dim, log };
            check_gradcheck(log ? "log_softmax" : "softmax", f_sm, &a, 1, in, NULL, 1e-6, 1e-6);
            ed_tensor_free(in[0]);
        }
    for (int d2 = 0; d2 < 2; d2++) {
        ed_tensor *in[1] = { check_randn(ED_F64, SHAPE(2, 3, 2, 2), 50) };
        fn_args a = { 0, 0, 0, d2, 0 };
        check_gradcheck(d2 ? "dropout2d" : "dropout", f_dropout, &a, 1, in, NULL, 1e-6, 1e-6);
        ed_tensor_free(in[0]);
    }
}

/* ---- errors ------------------------------------------------------------------- */

static void test_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 3, 4), 1), *c3 = check_randn(ED_F32, SHAPE(3), 2);
    ed_tensor *c4 = check_randn(ED_F32, SHAPE(4), 3), *v = check_randn(ED_F32, SHAPE(3), 4);
    ed_tensor *d3 = check_randn(ED_F64, SHAPE(3), 5), *one = check_randn(ED_F32, SHAPE(1, 3), 6), *y = NULL;
    ed_tensor *i64 = NULL;
    ed_tensor_new(ED_I64, SHAPE(2, 3), &i64);
    ed_tensor_fill(v, 1.0);
    CHECK_ERR(ed_batch_norm(NULL, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &y), ED_E_ARG, "input is NULL");
    CHECK_ERR(ed_batch_norm(x, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, NULL), ED_E_ARG, "out is NULL");
    CHECK_ERR(ed_batch_norm(c3, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &y), ED_E_SHAPE, "(N, C)");
    CHECK_ERR(ed_batch_norm(i64, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &y), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_batch_norm(x, NULL, NULL, c4, NULL, 1, 0.1, 1e-5, &y), ED_E_SHAPE, "weight should contain 3");
    CHECK_ERR(ed_batch_norm(x, NULL, NULL, NULL, c4, 1, 0.1, 1e-5, &y), ED_E_SHAPE, "bias should contain 3");
    CHECK_ERR(ed_batch_norm(x, c4, c4, NULL, NULL, 1, 0.1, 1e-5, &y), ED_E_SHAPE, "running_mean should contain 3");
    CHECK_ERR(ed_batch_norm(x, NULL, NULL, d3, NULL, 1, 0.1, 1e-5, &y), ED_E_DTYPE, "weight must have");
    CHECK_ERR(ed_batch_norm(x, c3, NULL, NULL, NULL, 1, 0.1, 1e-5, &y), ED_E_ARG, "both be NULL");
    CHECK_ERR(ed_batch_norm(x, NULL, NULL, NULL, NULL, 0, 0.1, 1e-5, &y), ED_E_ARG, "evaluation mode");
    CHECK_ERR(ed_batch_norm(one, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &y), ED_E_SHAPE, "more than 1 value");
    CHECK_ERR(ed_batch_norm(x, NULL, NULL, NULL, NULL, 1, 0.1, 0.0, &y), ED_E_ARG, "eps must be positive");
    CHECK_OK(ed_batch_norm(one, c3, v, NULL, NULL, 0, 0.1, 1e-5, &y));   /* one value is fine in eval */
    ed_tensor_free(y);

    CHECK_ERR(ed_group_norm(x, 2, NULL, NULL, 1e-5, &y), ED_E_ARG, "divisible by num_groups");
    CHECK_ERR(ed_group_norm(x, 0, NULL, NULL, 1e-5, &y), ED_E_ARG, "positive");
    CHECK_ERR(ed_group_norm(c3, 1, NULL, NULL, 1e-5, &y), ED_E_SHAPE, "(N, C)");
    CHECK_ERR(ed_group_norm(x, 3, c4, NULL, 1e-5, &y), ED_E_SHAPE, "weight should contain 3");
    CHECK_ERR(ed_group_norm(i64, 1, NULL, NULL, 1e-5, &y), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_group_norm(x, 3, NULL, NULL, 1e-5, NULL), ED_E_ARG, "out is NULL");

    CHECK_ERR(ed_softmax(x, 3, &y), ED_E_ARG, "[-3, 2], but got 3");
    CHECK_ERR(ed_log_softmax(x, -4, &y), ED_E_ARG, "out of range");
    CHECK_ERR(ed_softmax(i64, 0, &y), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_softmax(NULL, 0, &y), ED_E_ARG, "input is NULL");

    CHECK_ERR(ed_dropout(x, 1.5, 1, &y), ED_E_ARG, "between 0 and 1, but got 1.5");
    CHECK_ERR(ed_dropout(x, -0.1, 0, &y), ED_E_ARG, "between 0 and 1");   /* checked even in eval */
    CHECK_ERR(ed_dropout(x, NAN, 1, &y), ED_E_ARG, "between 0 and 1");
    CHECK_ERR(ed_dropout2d(c3, 0.5, 1, &y), ED_E_SHAPE, "at least 2 dimensions");
    CHECK_ERR(ed_dropout(i64, 0.5, 1, &y), ED_E_DTYPE, "float32");
    ed_tensor *all[] = { x, c3, c4, v, d3, one, i64 };
    for (int i = 0; i < 7; i++) ed_tensor_free(all[i]);
}

/* ---- corners ---------------------------------------------------------------- */

static void test_softmax_corners(void)
{
    /* A 0-d input: softmax 1, log_softmax 0. Huge and infinite logits. */
    ed_tensor *s = NULL, *y = NULL;
    CHECK_OK(ed_tensor_from_data(ED_F32, 0, NULL, (float[]){ 3.0f }, &s));
    CHECK_OK(ed_softmax(s, -1, &y));
    CHECK(y && ed_tensor_ndim(y) == 0 && ed_tensor_item(y) == 1.0);
    ed_tensor_free(y);
    CHECK_OK(ed_log_softmax(s, 0, &y));
    CHECK(y && ed_tensor_item(y) == 0.0);
    ed_tensor_free(y);
    CHECK_ERR(ed_softmax(s, 1, &y), ED_E_ARG, "[-1, 0]");
    ed_tensor_free(s);
    ed_tensor *x = NULL;
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(3), (float[]){ 1e30f, -1e30f, 1e30f }, &x));
    CHECK_OK(ed_softmax(x, 0, &y));
    CHECK(y && ed__cf32(y)[0] == 0.5f && ed__cf32(y)[1] == 0.0f);
    ed_tensor_free(y);
    CHECK_OK(ed_log_softmax(x, 0, &y));
    CHECK(y && fabsf(ed__cf32(y)[0] + logf(2)) < 1e-6f && ed__cf32(y)[1] == 2 * -1e30f);
    ed_tensor_free(y);
    ed_tensor_free(x);
    /* inf - inf is NaN in PyTorch too. */
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(2), (float[]){ INFINITY, 1.0f }, &x));
    CHECK_OK(ed_softmax(x, 0, &y));
    CHECK(y && isnan(ed__cf32(y)[0]) && isnan(ed__cf32(y)[1]));
    ed_tensor_free(y);
    ed_tensor_free(x);
    /* An empty dimension is fine. */
    ed_tensor *e = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(2, 0, 3), &e));
    CHECK_OK(ed_softmax(e, 1, &y));
    CHECK(y && ed_tensor_numel(y) == 0);
    ed_tensor_free(y);
    ed_tensor_free(e);
}

/* A backend probe: sees the documented tensors[] order, declines the call. */
static int probe_calls, probe_order_ok;
static bool probe_supports(const void *params, ed_tensor *const *t)
{
    (void)params;
    probe_calls++;
    probe_order_ok = t[0] && t[5] && t[0]->numel == t[5]->numel && t[6] && t[6]->dtype == ED_F64 && t[7] &&
                     t[6]->numel == t[0]->shape[1];
    return false;
}

static void test_batch_norm_behaviour(void)
{
    /* Eval leaves running stats alone; an empty batch in training too. */
    ed_tensor *x = check_randn(ED_F32, SHAPE(4, 3, 2), 7), *rm = check_randn(ED_F32, SHAPE(3), 8);
    ed_tensor *rv = check_rand(ED_F32, SHAPE(3), 0.5, 1.0, 9), *rm0 = NULL, *rv0 = NULL, *y = NULL;
    ed_tensor_clone(rm, &rm0);
    ed_tensor_clone(rv, &rv0);
    CHECK_OK(ed_batch_norm(x, rm, rv, NULL, NULL, 0, 0.1, 1e-5, &y));
    CHECK(memcmp(rm->data, rm0->data, 12) == 0 && memcmp(rv->data, rv0->data, 12) == 0);
    ed_tensor_free(y);
    ed_tensor *e = NULL;
    ed_tensor_new(ED_F32, SHAPE(0, 3, 2), &e);
    CHECK_OK(ed_batch_norm(e, rm, rv, NULL, NULL, 1, 0.1, 1e-5, &y));
    CHECK(y && ed_tensor_numel(y) == 0 && memcmp(rm->data, rm0->data, 12) == 0);
    ed_tensor_free(y);
    ed_tensor_free(e);
    /* The backend is asked first, with the documented tensors[] order. */
    static const ed_kernel probe = { ED_OP_BATCH_NORM, ED_FORWARD, "probe", probe_supports, NULL };
    ed_backend_register(&probe);
    CHECK_OK(ed_batch_norm(x, rm, rv, NULL, NULL, 1, 0.1, 1e-5, &y));
    CHECK(probe_calls == 1 && probe_order_ok);
    ed_tensor_free(y);
    ed_tensor *all[] = { x, rm, rv, rm0, rv0 };
    for (int i = 0; i < 5; i++) ed_tensor_free(all[i]);
}

/* The fused BatchNorm + ReLU (used by the models' conv-BN-ReLU blocks in
 * training) gives relu(batch_norm(x)) bit for bit: output, running stats
 * and the gradients of x, weight and bias. S = 63 leaves a lane tail. */
static void test_batch_norm_relu_fused(void)
{
    for (int dti = 0; dti < 2; dti++)
        for (int training = 0; training < 2; training++)
            for (int affine = 0; affine < 2; affine++) {
                ed_dtype dt = dti ? ED_F64 : ED_F32;
                ed_tensor *x[2], *w[2], *b[2], *rm[2], *rv[2], *y[2] = { NULL, NULL };
                ed_tensor *gy = check_randn(dt, SHAPE(3, 5, 7, 9), 41);
                for (int k = 0; k < 2; k++) {
                    x[k] = check_randn(dt, SHAPE(3, 5, 7, 9), 40);
                    w[k] = check_randn(dt, SHAPE(5), 42);
                    b[k] = check_randn(dt, SHAPE(5), 43);
                    rm[k] = check_randn(dt, SHAPE(5), 44);
                    rv[k] = check_rand(dt, SHAPE(5), 0.5, 1.5, 45);
                    ed_tensor_set_requires_grad(x[k], 1);
                    ed_tensor_set_requires_grad(w[k], 1);
                    ed_tensor_set_requires_grad(b[k], 1);
                }
                ed_tensor *n = NULL;
                CHECK_OK(ed_batch_norm(x[0], rm[0], rv[0], affine ? w[0] : NULL, affine ? b[0] : NULL, training, 0.1, 1e-5, &n));
                CHECK_OK(ed_relu(n, &y[0]));
                CHECK_OK(ed__batch_norm_relu(x[1], rm[1], rv[1], affine ? w[1] : NULL, affine ? b[1] : NULL, training, 0.1, 1e-5,
                                             &y[1]));
                CHECK_OK(ed_backward(y[0], gy));
                CHECK_OK(ed_backward(y[1], gy));
                size_t es = dti ? 8 : 4;
                char what[96];
                snprintf(what, sizeof what, "bn_relu %s %s %s", dti ? "f64" : "f32", training ? "train" : "eval",
                         affine ? "affine" : "plain");
                CHECK_MSG(memcmp(y[0]->data, y[1]->data, y[0]->numel * es) == 0, "%s: output differs", what);
                CHECK_MSG(memcmp(rm[0]->data, rm[1]->data, 5 * es) == 0 && memcmp(rv[0]->data, rv[1]->data, 5 * es) == 0,
                          "%s: running stats differ", what);
                const ed_tensor *g0 = ed_tensor_grad(x[0]), *g1 = ed_tensor_grad(x[1]);
                CHECK_MSG(g0 && g1 && memcmp(g0->data, g1->data, g0->numel * es) == 0, "%s: grad x differs", what);
                if (affine) {
                    for (int k = 0; k < 2; k++) {
                        const ed_tensor *p0 = ed_tensor_grad(k ? b[0] : w[0]), *p1 = ed_tensor_grad(k ? b[1] : w[1]);
                        CHECK_MSG(p0 && p1 && memcmp(p0->data, p1->data, 5 * es) == 0, "%s: grad %s differs", what, k ? "bias" : "weight");
                    }
                }
                ed_tensor_free(n);
                ed_tensor_free(gy);
                for (int k = 0; k < 2; k++) {
                    ed_tensor *all[] = { x[k], w[k], b[k], rm[k], rv[k], y[k] };
                    for (int i = 0; i < 6; i++) ed_tensor_free(all[i]);
                }
            }
}

/* Same output and gradients whatever the thread count. */
static void test_thread_determinism(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(16, 3, 32, 32), 60), *w = check_randn(ED_F32, SHAPE(3), 61);
    ed_tensor *gy = check_randn(ED_F32, SHAPE(16, 3, 32, 32), 62);
    ed_tensor_set_requires_grad(x, 1);
    ed_tensor_set_requires_grad(w, 1);
    ed_tensor *ys[2][3] = { { NULL } }, *gxs[2][3] = { { NULL } };
    int saved = ed_get_num_threads();
    for (int t = 0; t < 2; t++) {
        ed_set_num_threads(t + 1);
        for (int op = 0; op < 3; op++) {
            ed_tensor *y = NULL;
            if (op == 0) CHECK_OK(ed_batch_norm(x, NULL, NULL, w, NULL, 1, 0.1, 1e-5, &y));
            else if (op == 1) CHECK_OK(ed_group_norm(x, 3, w, NULL, 1e-5, &y));
            else CHECK_OK(ed_softmax(x, 1, &y));
            if (!y) continue;
            CHECK_OK(ed_backward(y, gy));
            ed_tensor_detach(y, &ys[t][op]);
            ed_tensor_clone(ed_tensor_grad(x), &gxs[t][op]);
            ed_tensor_zero_grad(x);
            ed_tensor_zero_grad(w);
            ed_tensor_free(y);
        }
    }
    ed_set_num_threads(saved);
    size_t bytes = (size_t)ed_tensor_numel(x) * 4;
    for (int op = 0; op < 3; op++) {
        CHECK_MSG(ys[0][op] && ys[1][op] && !memcmp(ys[0][op]->data, ys[1][op]->data, bytes), "op %d: output depends on threads", op);
        CHECK_MSG(gxs[0][op] && gxs[1][op] && !memcmp(gxs[0][op]->data, gxs[1][op]->data, bytes), "op %d: grad depends on threads", op);
        for (int t = 0; t < 2; t++) { ed_tensor_free(ys[t][op]); ed_tensor_free(gxs[t][op]); }
    }
    ed_tensor_free(x); ed_tensor_free(w); ed_tensor_free(gy);
}

/* ---- dropout ------------------------------------------------------------------ */

static ed_tensor *ones(int ndim, const int64_t *shape)
{
    ed_tensor *t = NULL;
    ed_tensor_new(ED_F32, ndim, shape, &t);
    ed_tensor_fill(t, 1.0);
    return t;
}

static void test_dropout(void)
{
    const double p = 0.3;
    const float scale = (float)(1.0 / (1.0 - p));
    ed_tensor *x = ones(SHAPE(40000)), *y1 = NULL, *y2 = NULL, *y3 = NULL;
    ed_tensor_set_requires_grad(x, 1);
    ed_manual_seed(7);
    CHECK_OK(ed_dropout(x, p, 1, &y1));
    int64_t zeros = 0, bad = 0;
    double sum = 0;
    for (int64_t i = 0; i < 40000; i++) {
        float v = ed__cf32(y1)[i];
        zeros += v == 0;
        bad += v != 0 && v != scale;
        sum += v;
    }
    CHECK_MSG(fabs(zeros / 40000.0 - p) < 0.01, "dropout: %lld of 40000 dropped at p=%g", (long long)zeros, p);
    CHECK_MSG(bad == 0, "dropout: %lld kept elements not scaled by 1/(1-p)", (long long)bad);
    CHECK_MSG(fabs(sum / 40000 - 1) < 0.02, "dropout: mean %g, expected about 1", sum / 40000);
    /* Backward multiplies by the same mask. */
    ed_tensor *g = ones(SHAPE(40000));
    CHECK_OK(ed_backward(y1, g));
    CHECK(ed_tensor_grad(x) && !memcmp(ed_tensor_grad(x)->data, y1->data, 40000 * 4));
    ed_tensor_zero_grad(x);
    /* The stream moves on; reseeding replays it, whatever the thread count. */
    CHECK_OK(ed_dropout(x, p, 1, &y2));
    CHECK(memcmp(y1->data, y2->data, 40000 * 4) != 0);
    ed_tensor_free(y2);
    int saved = ed_get_num_threads();
    ed_set_num_threads(1);
    ed_manual_seed(7);
    CHECK_OK(ed_dropout(x, p, 0, &y3));   /* eval: identity, draws nothing */
    CHECK(y3 && !memcmp(y3->data, x->data, 40000 * 4));
    ed_tensor_free(y3);
    CHECK_OK(ed_dropout(x, 0.0, 1, &y3));   /* p = 0: identity, draws nothing */
    CHECK(y3 && !memcmp(y3->data, x->data, 40000 * 4));
    ed_tensor_free(y3);
    CHECK_OK(ed_dropout(x, p, 1, &y2));
    ed_set_num_threads(saved);
    CHECK(y2 && !memcmp(y1->data, y2->data, 40000 * 4));
    ed_tensor_free(y2);
    CHECK_OK(ed_dropout(x, 1.0, 1, &y2));   /* p = 1: zeros */
    double s2 = 0;
    for (int64_t i = 0; i < 40000; i++) s2 += fabs(ed__cf32(y2)[i]);
    CHECK(s2 == 0);
    CHECK_OK(ed_backward(y2, g));
    CHECK(ed_tensor_grad(x) && ed__cf32(ed_tensor_grad(x))[5] == 0);
    ed_tensor_free(y2);
    ed_tensor_free(y1);
    ed_tensor_free(g);
    ed_tensor_free(x);
}

/* Whole (n, c) planes go together; a 3-D input is (N, C, L), as PyTorch. */
static void check_planes(const ed_tensor *y, int64_t planes, int64_t plane, double p, const char *what)
{
    const float scale = (float)(1.0 / (1.0 - p));
    int64_t dropped = 0, mixed = 0;
    for (int64_t q = 0; q < planes; q++) {
        const float *v = ed__cf32(y) + q * plane;
        int64_t z = 0, k = 0;
        for (int64_t i = 0; i < plane; i++) { z += v[i] == 0; k += v[i] == scale; }
        dropped += z == plane;
        mixed += z != plane && k != plane;
    }
    CHECK_MSG(mixed == 0, "%s: %lld planes partly dropped", what, (long long)mixed);
    CHECK_MSG(fabs((double)dropped / (double)planes - p) < 0.1, "%s: %lld of %lld planes dropped at p=%g", what,
              (long long)dropped, (long long)planes, p);
}

static void test_dropout2d(void)
{
    ed_tensor *x = ones(SHAPE(8, 64, 3, 3)), *y = NULL, *y2 = NULL;
    ed_tensor_set_requires_grad(x, 1);
    ed_manual_seed(11);
    CHECK_OK(ed_dropout2d(x, 0.5, 1, &y));
    if (y) check_planes(y, 8 * 64, 9, 0.5, "dropout2d 4-D");
    ed_tensor *g = ones(SHAPE(8, 64, 3, 3));
    CHECK_OK(ed_backward(y, g));
    CHECK(ed_tensor_grad(x) && !memcmp(ed_tensor_grad(x)->data, y->data, (size_t)ed_tensor_numel(x) * 4));
    ed_manual_seed(11);
    CHECK_OK(ed_dropout2d(x, 0.5, 1, &y2));
    CHECK(y2 && !memcmp(y->data, y2->data, (size_t)ed_tensor_numel(x) * 4));
    ed_tensor_free(y); ed_tensor_free(y2); ed_tensor_free(g); ed_tensor_free(x);
    x = ones(SHAPE(16, 32, 5));
    CHECK_OK(ed_dropout2d(x, 0.25, 1, &y));
    if (y) check_planes(y, 16 * 32, 5, 0.25, "dropout2d 3-D");
    ed_tensor_free(y);
    ed_tensor_free(x);
    x = ones(SHAPE(20, 50));   /* (N, C): one draw per element */
    CHECK_OK(ed_dropout2d(x, 0.5, 1, &y));
    if (y) check_planes(y, 1000, 1, 0.5, "dropout2d 2-D");
    ed_tensor_free(y);
    CHECK_OK(ed_dropout2d(x, 0.5, 0, &y));
    CHECK(y && !memcmp(y->data, x->data, 4000));
    ed_tensor_free(y);
    ed_tensor_free(x);
}

int main(void)
{
    test_golden();
    test_gradchecks();
    test_errors();
    test_softmax_corners();
    test_batch_norm_behaviour();
    test_batch_norm_relu_fused();
    test_thread_determinism();
    test_dropout();
    test_dropout2d();
    return check_done();
}
