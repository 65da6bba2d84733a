/* Losses: cross_entropy, binary_cross_entropy_with_logits, mse, l1,
 * smooth_l1 and soft Dice. Golden outputs and gradients from torch
 * (tests/golden/gen_loss.py) in float32 and float64, finite-difference
 * gradient checks, the error cases, and thread-count independence. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef ed_status (*loss_fn)(const ed_tensor *, const ed_tensor *, const ed_loss_args *, ed_tensor **);

static loss_fn op_fn(const char *op)
{
    if (!strcmp(op, "cross_entropy")) return ed_cross_entropy;
    if (!strcmp(op, "bce_with_logits")) return ed_binary_cross_entropy_with_logits;
    if (!strcmp(op, "mse_loss")) return ed_mse_loss;
    if (!strcmp(op, "l1_loss")) return ed_l1_loss;
    if (!strcmp(op, "smooth_l1_loss")) return ed_smooth_l1_loss;
    if (!strcmp(op, "dice_loss")) return ed_dice_loss;
    return NULL;
}

static ed_reduction reduction_of(const char *s)
{
    return !strcmp(s, "sum") ? ED_REDUCTION_SUM : !strcmp(s, "none") ? ED_REDUCTION_NONE : ED_REDUCTION_MEAN;
}

/* A copy of a golden tensor; float ones converted to dt. NULL stays NULL. */
static ed_tensor *copy_as(const ed_tensor *t, ed_dtype dt)
{
    if (!t) return NULL;
    ed_tensor *c = NULL;
    if (t->dtype == ED_F32 || t->dtype == ED_F64) ed_tensor_to(t, dt, &c);
    else ed_tensor_clone(t, &c);
    return c;
}

static void golden_case(golden *g, int k, ed_dtype dt)
{
    const cJSON *a = golden_args(g, k);
    const char *op = golden_str(a, "op", "?"), *red = golden_str(a, "reduction", "mean");
    loss_fn fn = op_fn(op);
    if (!CHECK_MSG(fn != NULL, "case %d: unknown op %s", k, op)) return;
    ed_loss_args la;
    ed_loss_args_default(&la);
    la.reduction = reduction_of(red);
    la.ignore_index = golden_int(a, "ignore_index", -100);
    la.label_smoothing = golden_double(a, "label_smoothing", 0.0);
    la.beta = golden_double(a, "beta", 1.0);
    la.smooth = golden_double(a, "smooth", 1.0);
    ed_tensor *x = copy_as(golden_tensor(g, k, "input"), dt), *t = copy_as(golden_tensor(g, k, "target"), dt);
    ed_tensor *w = copy_as(golden_tensor(g, k, "weight"), dt), *pw = copy_as(golden_tensor(g, k, "pos_weight"), dt);
    ed_tensor *gy = copy_as(golden_tensor(g, k, "gy"), dt);
    la.weight = w;
    la.pos_weight = pw;
    ed_tensor_set_requires_grad(x, 1);
    bool tgrad = t->dtype != ED_I64;
    if (tgrad) ed_tensor_set_requires_grad(t, 1);
    char name[128];
    snprintf(name, sizeof name, "case %d %s %s %s", k, op, red, ed_dtype_name(dt));
    ed_tensor *y = NULL;
    if (CHECK_OK(fn(x, t, &la, &y))) {
        char what[160];
        snprintf(what, sizeof what, "%s: out", name);
        CHECK_CLOSE(what, y, golden_tensor(g, k, "out"), 1e-4);
        if (CHECK_OK(ed_backward(y, gy))) {
            snprintf(what, sizeof what, "%s: grad_input", name);
            CHECK_CLOSE(what, ed_tensor_grad(x), golden_tensor(g, k, "grad_input"), 1e-4);
            if (tgrad) {
                snprintf(what, sizeof what, "%s: grad_target", name);
                CHECK_CLOSE(what, ed_tensor_grad(t), golden_tensor(g, k, "grad_target"), 1e-4);
            }
        }
    }
    ed_tensor_free(y);
    ed_tensor_free(x); ed_tensor_free(t); ed_tensor_free(w); ed_tensor_free(pw); ed_tensor_free(gy);
}

static void test_golden(void)
{
    golden *g = golden_open("loss");
    if (!g) return;
    CHECK(golden_cases(g) > 60);
    for (int k = 0; k < golden_cases(g); k++) {
        golden_case(g, k, ED_F32);
        golden_case(g, k, ED_F64);
    }
    golden_close(g);
}

/* ---- gradient checks ------------------------------------------------------ */

/* Index targets ride in the context: gradcheck inputs are all float64. */
typedef struct {
    loss_fn fn;
    const ed_tensor *target;   /* NULL: the target is inputs[1] */
    ed_loss_args args;
} gc_ctx;

static ed_status gc_call(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const gc_ctx *c = ctx;
    return c->fn(in[0], c->target ? c->target : in[1], &c->args, out);
}

static ed_tensor *labels(int ndim, const int64_t *shape, int64_t classes, uint64_t seed)
{
    ed_tensor *t = NULL;
    ed_tensor_new(ED_I64, ndim, shape, &t);
    ed_rng r;
    ed_rng_init(&r, seed);
    for (int64_t i = 0; i < t->numel; i++) ed__i64(t)[i] = (int64_t)(ed_rng_u32(&r) % (uint32_t)classes);
    return t;
}

/* Keep |x - t| away from 0 and from beta, where l1 / smooth_l1 have kinks. */
static void away_from_kinks(ed_tensor *x, const ed_tensor *t, double beta)
{
    double *xd = x->data;
    const double *td = t->data;
    for (int64_t i = 0; i < x->numel; i++) {
        double d = xd[i] - td[i];
        if (fabs(d) < 0.05) xd[i] = td[i] + (d < 0 ? -0.2 : 0.2);
        d = xd[i] - td[i];
        if (fabs(fabs(d) - beta) < 0.05) xd[i] += d < 0 ? -0.15 : 0.15;
    }
}

static void test_gradcheck_ce(void)
{
    ed_tensor *x = check_randn(ED_F64, SHAPE(2, 3, 2, 3), 21), *t = labels(SHAPE(2, 2, 3), 3, 22);
    ed_tensor *w = check_rand(ED_F64, SHAPE(3), 0.5, 1.5, 23);
    ed__i64(t)[1] = ed__i64(t)[7] = -100;
    gc_ctx c = { ed_cross_entropy, t, { 0 } };
    for (int red = 0; red < 3; red++)
        for (int v = 0; v < 2; v++) {
            ed_loss_args_default(&c.args);
            c.args.reduction = (ed_reduction)red;
            c.args.weight = v ? w : NULL;
            c.args.label_smoothing = v ? 0.1 : 0.0;
            check_gradcheck("cross_entropy (N,C,H,W)", gc_call, &c, 1, &x, NULL, 1e-6, 1e-6);
        }
    ed_tensor *x2 = check_randn(ED_F64, SHAPE(4, 5), 24), *t2 = labels(SHAPE(4), 5, 25);
    c.target = t2;
    c.args.reduction = ED_REDUCTION_MEAN;
    c.args.weight = NULL;
    c.args.label_smoothing = 0.2;
    check_gradcheck("cross_entropy (N,C)", gc_call, &c, 1, &x2, NULL, 1e-6, 1e-6);
    ed_tensor_free(x); ed_tensor_free(t); ed_tensor_free(w); ed_tensor_free(x2); ed_tensor_free(t2);
}

static void test_gradcheck_elementwise(void)
{
    ed_tensor *in[2] = { check_randn(ED_F64, SHAPE(2, 3, 4), 31), check_randn(ED_F64, SHAPE(2, 3, 4), 32) };
    gc_ctx c = { NULL, NULL, { 0 } };
    loss_fn fns[3] = { ed_mse_loss, ed_l1_loss, ed_smooth_l1_loss };
    const char *names[3] = { "mse_loss", "l1_loss", "smooth_l1_loss" };
    double betas[3] = { 1.0, 0.5, 0.0 };
    for (int f = 0; f < 3; f++)
        for (int b = 0; b < (f == 2 ? 3 : 1); b++)
            for (int red = 0; red < 3; red++) {
                ed_loss_args_default(&c.args);
                c.fn = fns[f];
                c.args.reduction = (ed_reduction)red;
                c.args.beta = betas[b];
                away_from_kinks(in[0], in[1], f == 2 ? betas[b] : 0.0);
                check_gradcheck(names[f], gc_call, &c, 2, in, NULL, 1e-6, 1e-6);
            }
    /* BCE with weight (2, 1, 4) and pos_weight over the last dim. */
    ed_tensor *w = check_rand(ED_F64, SHAPE(2, 1, 4), 0.5, 1.5, 33), *pw = check_rand(ED_F64, SHAPE(4), 0.2, 3.0, 34);
    ed_tensor *tt = check_rand(ED_F64, SHAPE(2, 3, 4), 0.0, 1.0, 35);
    ed_tensor *bin[2] = { in[0], tt };
    for (int red = 0; red < 3; red++)
        for (int v = 0; v < 2; v++) {
            ed_loss_args_default(&c.args);
            c.fn = ed_binary_cross_entropy_with_logits;
            c.args.reduction = (ed_reduction)red;
            c.args.weight = v ? w : NULL;
            c.args.pos_weight = v ? pw : NULL;
            check_gradcheck("binary_cross_entropy_with_logits", gc_call, &c, 2, bin, NULL, 1e-6, 1e-6);
        }
    ed_tensor_free(in[0]); ed_tensor_free(in[1]); ed_tensor_free(w); ed_tensor_free(pw); ed_tensor_free(tt);
}

static void test_gradcheck_dice(void)
{
    ed_tensor *x = check_randn(ED_F64, SHAPE(2, 3, 3, 3), 41), *t = labels(SHAPE(2, 3, 3), 3, 42);
    ed__i64(t)[2] = ed__i64(t)[11] = 255;
    gc_ctx c = { ed_dice_loss, t, { 0 } };
    for (int red = 0; red < 3; red++) {
        ed_loss_args_default(&c.args);
        c.args.reduction = (ed_reduction)red;
        c.args.ignore_index = 255;
        check_gradcheck("dice_loss softmax", gc_call, &c, 1, &x, NULL, 1e-6, 1e-6);
    }
    ed_tensor *x1 = check_randn(ED_F64, SHAPE(2, 1, 3, 4), 43), *t1 = labels(SHAPE(2, 3, 4), 2, 44);
    c.target = t1;
    c.args.reduction = ED_REDUCTION_MEAN;
    c.args.ignore_index = -100;
    c.args.smooth = 0.5;
    check_gradcheck("dice_loss sigmoid", gc_call, &c, 1, &x1, NULL, 1e-6, 1e-6);
    ed_tensor_free(x); ed_tensor_free(t); ed_tensor_free(x1); ed_tensor_free(t1);
}

/* ---- errors and corners ----------------------------------------------------- */

static void test_ce_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 3, 4), 51), *t = labels(SHAPE(2, 4), 3, 52), *y = NULL;
    ed_loss_args a;
    ed_loss_args_default(&a);
    CHECK(a.reduction == ED_REDUCTION_MEAN && a.ignore_index == -100 && a.beta == 1.0 && a.smooth == 1.0 &&
          a.label_smoothing == 0 && !a.weight && !a.pos_weight);
    CHECK_OK(ed_cross_entropy(x, t, NULL, &y));   /* NULL args: the defaults */
    CHECK(y && y->ndim == 0);
    ed_tensor_free(y);

    ed__i64(t)[6] = 7;   /* position [1, 2] */
    CHECK_ERR(ed_cross_entropy(x, t, NULL, &y), ED_E_RANGE, "target value 7 at [1, 2]");
    CHECK(y == NULL);
    ed__i64(t)[6] = -1;
    CHECK_ERR(ed_cross_entropy(x, t, NULL, &y), ED_E_RANGE, "0..2");
    ed__i64(t)[6] = 0;

    ed_tensor *tb = labels(SHAPE(2, 5), 3, 53), *tf = check_randn(ED_F32, SHAPE(2, 4), 54);
    CHECK_ERR(ed_cross_entropy(x, tb, NULL, &y), ED_E_SHAPE, "target shape (2, 5) does not fit input shape (2, 3, 4)");
    CHECK_ERR(ed_cross_entropy(x, tf, NULL, &y), ED_E_DTYPE, "int64");
    ed_tensor *x64 = check_randn(ED_F64, SHAPE(2, 3, 4), 55), *w = check_rand(ED_F32, SHAPE(3), 0.5, 1, 56);
    ed_tensor *w4 = check_rand(ED_F32, SHAPE(4), 0.5, 1, 57);
    a.weight = w4;
    CHECK_ERR(ed_cross_entropy(x, t, &a, &y), ED_E_SHAPE, "weight must have shape (3)");
    a.weight = w;
    CHECK_ERR(ed_cross_entropy(x64, t, &a, &y), ED_E_DTYPE, "weight");
    a.weight = NULL;
    a.label_smoothing = 1.5;
    CHECK_ERR(ed_cross_entropy(x, t, &a, &y), ED_E_ARG, "label_smoothing");
    a.label_smoothing = 0;
    a.reduction = (ed_reduction)7;
    CHECK_ERR(ed_cross_entropy(x, t, &a, &y), ED_E_ARG, "reduction");
    a.reduction = ED_REDUCTION_MEAN;
    CHECK_ERR(ed_cross_entropy(NULL, t, &a, &y), ED_E_ARG, "input is NULL");
    CHECK_ERR(ed_cross_entropy(x, t, &a, NULL), ED_E_ARG, "out is NULL");

    /* NaN in the input: a NaN loss is an error naming the position. */
    ed__f32(x)[5] = NAN;   /* (0, 1, 1) */
    CHECK_ERR(ed_cross_entropy(x, t, NULL, &y), ED_E_NAN, "cross_entropy: loss is NaN");
    a.reduction = ED_REDUCTION_NONE;
    CHECK_ERR(ed_cross_entropy(x, t, &a, &y), ED_E_NAN, "at [0, 1]");
    ed__f32(x)[5] = INFINITY;
    CHECK_ERR(ed_cross_entropy(x, t, &a, &y), ED_E_NAN, "loss is");
    ed__f32(x)[5] = 0.5f;

    /* Every target ignored: mean is NaN in torch (an error here), sum 0,
     * none all zeros with zero gradients. */
    for (int64_t i = 0; i < t->numel; i++) ed__i64(t)[i] = -100;
    a.reduction = ED_REDUCTION_MEAN;
    CHECK_ERR(ed_cross_entropy(x, t, &a, &y), ED_E_NAN, "all 8 targets are ignore_index (-100)");
    ed_tensor_set_requires_grad(x, 1);
    a.reduction = ED_REDUCTION_SUM;
    if (CHECK_OK(ed_cross_entropy(x, t, &a, &y))) {
        CHECK(ed_tensor_item(y) == 0.0);
        CHECK_OK(ed_backward(y, NULL));
        const ed_tensor *gx = ed_tensor_grad(x);
        double m = 0;
        for (int64_t i = 0; gx && i < gx->numel; i++) m = fmax(m, fabs(ed__get(gx, i)));
        CHECK(gx && m == 0.0);
    }
    ed_tensor_free(y);
    a.reduction = ED_REDUCTION_NONE;
    if (CHECK_OK(ed_cross_entropy(x, t, &a, &y))) CHECK(y->ndim == 2 && ed__get(y, 3) == 0.0);
    ed_tensor_free(y);
    /* Class weights that are zero for every present class: 0/0. */
    ed__i64(t)[0] = 1;
    ed_tensor *wz = NULL;
    ed_tensor_from_data(ED_F32, SHAPE(3), (float[]){ 1, 0, 1 }, &wz);
    a.reduction = ED_REDUCTION_MEAN;
    a.weight = wz;
    CHECK_ERR(ed_cross_entropy(x, t, &a, &y), ED_E_NAN, "sum to 0");
    ed_tensor_free(wz);
    ed_tensor_free(x); ed_tensor_free(t); ed_tensor_free(tb); ed_tensor_free(tf); ed_tensor_free(x64);
    ed_tensor_free(w); ed_tensor_free(w4);
}

static void test_elementwise_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(4, 3), 61), *t = check_randn(ED_F32, SHAPE(4, 3), 62), *y = NULL;
    ed_tensor *tb = check_randn(ED_F32, SHAPE(3, 4), 63), *t64 = check_randn(ED_F64, SHAPE(4, 3), 64);
    ed_tensor *ti = labels(SHAPE(4, 3), 2, 65);
    CHECK_ERR(ed_mse_loss(x, tb, NULL, &y), ED_E_SHAPE, "target shape (3, 4) must equal input shape (4, 3)");
    CHECK_ERR(ed_l1_loss(x, t64, NULL, &y), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_binary_cross_entropy_with_logits(x, ti, NULL, &y), ED_E_DTYPE, "int64");
    ed_loss_args a;
    ed_loss_args_default(&a);
    a.beta = -1;
    CHECK_ERR(ed_smooth_l1_loss(x, t, &a, &y), ED_E_ARG, "beta");
    ed_loss_args_default(&a);
    ed_tensor *pw4 = check_rand(ED_F32, SHAPE(4), 1, 2, 66), *w5 = check_rand(ED_F32, SHAPE(1, 4, 3), 1, 2, 67);
    a.pos_weight = pw4;
    CHECK_ERR(ed_binary_cross_entropy_with_logits(x, t, &a, &y), ED_E_SHAPE,
              "pos_weight shape (4,) does not broadcast to input shape (4, 3)");
    a.pos_weight = NULL;
    a.weight = w5;
    CHECK_ERR(ed_binary_cross_entropy_with_logits(x, t, &a, &y), ED_E_SHAPE, "weight shape (1, 4, 3)");
    a.weight = t64;
    CHECK_ERR(ed_binary_cross_entropy_with_logits(x, t, &a, &y), ED_E_DTYPE, "weight");
    ed__f32(x)[4] = INFINITY;   /* (1, 1) */
    CHECK_ERR(ed_mse_loss(x, t, NULL, &y), ED_E_NAN, "mse_loss: loss is infinite: the term at [1, 1]");
    ed__f32(x)[4] = NAN;
    CHECK_ERR(ed_l1_loss(x, t, NULL, &y), ED_E_NAN, "loss is NaN");
    ed__f32(x)[4] = 0.25f;
    /* Huge logits stay finite: the stable form never evaluates exp(+big). */
    ed__f32(x)[0] = 1e4f;
    ed__f32(x)[1] = -1e4f;
    CHECK_OK(ed_binary_cross_entropy_with_logits(x, t, NULL, &y));
    CHECK(y && isfinite(ed_tensor_item(y)));
    ed_tensor_free(y);
    ed_tensor_free(x); ed_tensor_free(t); ed_tensor_free(tb); ed_tensor_free(t64); ed_tensor_free(ti);
    ed_tensor_free(pw4); ed_tensor_free(w5);
}

static void test_dice_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 3, 2, 2), 71), *t = labels(SHAPE(2, 2, 2), 3, 72), *y = NULL;
    ed_loss_args a;
    ed_loss_args_default(&a);
    ed__i64(t)[5] = 3;
    CHECK_ERR(ed_dice_loss(x, t, NULL, &y), ED_E_RANGE, "target value 3 at [1, 0, 1]");
    ed__i64(t)[5] = 1;
    ed_tensor *tb = labels(SHAPE(2, 2), 3, 73), *tf = check_randn(ED_F32, SHAPE(2, 2, 2), 74);
    CHECK_ERR(ed_dice_loss(x, tb, NULL, &y), ED_E_SHAPE, "expected target shape (2, 2, 2)");
    CHECK_ERR(ed_dice_loss(x, tf, NULL, &y), ED_E_DTYPE, "int64");
    ed_tensor *x1 = check_randn(ED_F32, SHAPE(2, 1, 2, 2), 75);
    CHECK_ERR(ed_dice_loss(x1, t, NULL, &y), ED_E_RANGE, "binary");   /* a label 2 with one channel */
    a.smooth = -1;
    CHECK_ERR(ed_dice_loss(x, t, &a, &y), ED_E_ARG, "smooth");
    /* Every pixel of one image ignored: that image's terms are 0 with
     * smooth > 0, 0/0 (an error) with smooth 0. */
    for (int i = 0; i < 4; i++) ed__i64(t)[i] = -100;
    a.smooth = 1;
    a.reduction = ED_REDUCTION_NONE;
    if (CHECK_OK(ed_dice_loss(x, t, &a, &y))) CHECK(y->ndim == 2 && ed__get(y, 0) == 0.0 && ed__get(y, 2) == 0.0);
    ed_tensor_free(y);
    a.smooth = 0;
    CHECK_ERR(ed_dice_loss(x, t, &a, &y), ED_E_NAN, "every position ignored");
    a.smooth = 1;
    ed__f32(x)[13] = NAN;   /* image 1; NaN at an ignored position would be left out */
    CHECK_ERR(ed_dice_loss(x, t, NULL, &y), ED_E_NAN, "dice_loss: loss is NaN");
    ed_tensor_free(x); ed_tensor_free(t); ed_tensor_free(tb); ed_tensor_free(tf); ed_tensor_free(x1);
}

/* ---- determinism and arenas --------------------------------------------- */

static void run_ce_and_dice(int threads, ed_tensor *x, const ed_tensor *t, double out[2], ed_tensor **gx)
{
    ed_set_num_threads(threads);
    ed_tensor_zero_grad(x);
    ed_tensor *a = NULL, *b = NULL, *s = NULL;
    ed_loss_args la;
    ed_loss_args_default(&la);
    la.label_smoothing = 0.1;
    CHECK_OK(ed_cross_entropy(x, t, &la, &a));
    CHECK_OK(ed_dice_loss(x, t, NULL, &b));
    CHECK_OK(ed_add(a, b, &s));
    CHECK_OK(ed_backward(s, NULL));
    out[0] = ed_tensor_item(a);
    out[1] = ed_tensor_item(b);
    ed_tensor_clone(ed_tensor_grad(x), gx);
    ed_tensor_free(a); ed_tensor_free(b); ed_tensor_free(s);
}

static void test_determinism(void)
{
    int keep = ed_get_num_threads();
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 5, 96, 96), 81), *t = labels(SHAPE(2, 96, 96), 5, 82);
    ed_tensor_set_requires_grad(x, 1);
    double o1[2], o2[2];
    ed_tensor *g1 = NULL, *g2 = NULL;
    run_ce_and_dice(1, x, t, o1, &g1);
    run_ce_and_dice(2, x, t, o2, &g2);
    CHECK(o1[0] == o2[0] && o1[1] == o2[1]);
    CHECK(g1 && g2 && memcmp(g1->data, g2->data, (size_t)g1->numel * 4) == 0);
    ed_set_num_threads(keep);
    ed_tensor_free(g1); ed_tensor_free(g2);

    /* In an arena, with the leaf and labels made there too (an arena node
     * retains heap tensors it never releases: a core limitation), the
     * same numbers. */
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    ed_arena_begin(ar);
    ed_tensor *xa = NULL, *ta = NULL, *a = NULL;
    CHECK_OK(ed_tensor_to(x, ED_F32, &xa));
    CHECK_OK(ed_tensor_to(t, ED_I64, &ta));
    ed_tensor_set_requires_grad(xa, 1);
    ed_loss_args la;
    ed_loss_args_default(&la);
    la.label_smoothing = 0.1;
    CHECK_OK(ed_cross_entropy(xa, ta, &la, &a));
    CHECK(a && a->in_arena && ed_tensor_item(a) == o1[0]);
    CHECK_OK(ed_backward(a, NULL));
    CHECK(ed_tensor_grad(xa) != NULL);
    ed_arena_end();
    ed_arena_reset(ar);
    ed_arena_free(ar);
    ed_tensor_free(x); ed_tensor_free(t);
}

int main(void)
{
    test_golden();
    test_gradcheck_ce();
    test_gradcheck_elementwise();
    test_gradcheck_dice();
    test_ce_errors();
    test_elementwise_errors();
    test_dice_errors();
    test_determinism();
    return check_done();
}
