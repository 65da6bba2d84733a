/* Pooling: max_pool2d (+ indices), max_unpool2d, avg_pool2d,
 * adaptive_avg_pool2d. Golden cases against torch (tests/golden/gen_pool.py)
 * in float32 and float64, gradient checks in float64, error cases, the
 * backend dispatch hook, and odd corners (empty dilated windows, batch 0). */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>

/* ---- golden ------------------------------------------------------------------- */

static void pool_args_from(const cJSON *a, ed_pool2d_args *p)
{
    ed_pool2d_args_default(p, 1);
    golden_pair(a, "kernel_size", 1, p->kernel_size);
    golden_pair(a, "stride", 0, p->stride);
    golden_pair(a, "padding", 0, p->padding);
    golden_pair(a, "dilation", 1, p->dilation);
    p->ceil_mode = golden_int(a, "ceil_mode", 0);
    p->count_include_pad = golden_int(a, "count_include_pad", 1);
    p->divisor_override = golden_int(a, "divisor_override", 0);
}

static int same_i64(const ed_tensor *a, const ed_tensor *b)
{
    if (!a || !b || a->numel != b->numel || a->dtype != ED_I64 || b->dtype != ED_I64) return 0;
    return memcmp(a->data, b->data, (size_t)a->numel * sizeof(int64_t)) == 0;
}

/* float64 runs are held to 1e-4: the reference is torch's float32, whose
 * own rounding reaches 1e-5 on small sums. float32 runs are held to 1e-5. */
static void run_golden_case(golden *g, int k, ed_dtype dt)
{
    double tol = dt == ED_F32 ? 1e-5 : 1e-4;
    cJSON *a = golden_args(g, k);
    const char *op = golden_str(a, "op", "");
    ed_tensor *x = NULL, *gy = NULL, *y = NULL, *ind = NULL;
    ed_tensor *ex = golden_tensor(g, k, "x"), *egy = golden_tensor(g, k, "gy");
    if (!CHECK_OK(ed_tensor_to(ex, dt, &x)) || !CHECK_OK(ed_tensor_to(egy, dt, &gy))) return;
    ed_tensor_set_requires_grad(x, 1);
    ed_pool2d_args p;
    pool_args_from(a, &p);
    ed_status st;
    if (!strcmp(op, "max_pool2d")) {
        st = ed_max_pool2d(x, &p, &y, &ind);
    } else if (!strcmp(op, "max_unpool2d")) {
        int64_t os[2];
        int have = 0;
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, "output_size");
        if (cJSON_IsArray(o)) {
            os[0] = cJSON_GetArrayItem(o, 0)->valueint;
            os[1] = cJSON_GetArrayItem(o, 1)->valueint;
            have = 1;
        }
        st = ed_max_unpool2d(x, golden_tensor(g, k, "indices"), &p, have ? os : NULL, &y);
    } else if (!strcmp(op, "avg_pool2d")) {
        st = ed_avg_pool2d(x, &p, &y);
    } else {
        const cJSON *o = cJSON_GetObjectItemCaseSensitive(a, "output_size");
        st = ed_adaptive_avg_pool2d(x, cJSON_GetArrayItem(o, 0)->valueint, cJSON_GetArrayItem(o, 1)->valueint, &y);
    }
    char name[160];
    snprintf(name, sizeof name, "pool case %d (%s, %s)", k, op, ed_dtype_name(dt));
    if (CHECK_OK(st)) {
        char n2[200];
        snprintf(n2, sizeof n2, "%s y", name);
        CHECK_CLOSE(n2, y, golden_tensor(g, k, "y"), tol);
        if (ind) CHECK_MSG(same_i64(ind, golden_tensor(g, k, "indices")), "%s: indices differ from torch's", name);
        if (CHECK_OK(ed_backward(y, gy))) {
            snprintf(n2, sizeof n2, "%s gx", name);
            CHECK_CLOSE(n2, ed_tensor_grad(x), golden_tensor(g, k, "gx"), tol);
        }
    }
    ed_tensor_free(y); ed_tensor_free(ind); ed_tensor_free(x); ed_tensor_free(gy);
}

static void test_golden(void)
{
    golden *g = golden_open("pool");
    if (!g) return;
    CHECK(golden_cases(g) >= 30);
    for (int k = 0; k < golden_cases(g); k++) {
        run_golden_case(g, k, ED_F32);
        run_golden_case(g, k, ED_F64);
    }
    golden_close(g);
}

/* ---- gradient checks ---------------------------------------------------------- */

typedef struct { int op; ed_pool2d_args p; const ed_tensor *ind; const int64_t *osize; } pool_ctx;

static ed_status f_pool(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const pool_ctx *c = ctx;
    switch (c->op) {
    case 0: return ed_max_pool2d(in[0], &c->p, out, NULL);
    case 1: return ed_avg_pool2d(in[0], &c->p, out);
    case 2: return ed_adaptive_avg_pool2d(in[0], 3, 2, out);
    default: return ed_max_unpool2d(in[0], c->ind, &c->p, c->osize, out);
    }
}

/* Values a multiple of 0.1 apart, all distinct: no ties within h. */
static ed_tensor *separated(int ndim, const int64_t *shape)
{
    ed_tensor *t = check_randn(ED_F64, ndim, shape, 5);
    double *d = t->data;
    for (int64_t i = 0; i < t->numel; i++) d[i] = (double)((i * 7919) % t->numel) * 0.1 - 2.0;
    return t;
}

static void test_gradcheck(void)
{
    ed_tensor *x = separated(SHAPE(2, 2, 7, 8));
    pool_ctx c = { 0 };
    ed_pool2d_args_default(&c.p, 3);
    c.p.stride[0] = c.p.stride[1] = 2;
    c.p.padding[0] = c.p.padding[1] = 1;
    check_gradcheck("max_pool2d k3 s2 p1", f_pool, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.dilation[0] = 2;
    c.p.ceil_mode = 1;
    check_gradcheck("max_pool2d dilation ceil", f_pool, &c, 1, &x, NULL, 1e-6, 1e-6);
    ed_pool2d_args_default(&c.p, 2);
    c.p.stride[0] = c.p.stride[1] = 3;
    check_gradcheck("max_pool2d stride > kernel", f_pool, &c, 1, &x, NULL, 1e-6, 1e-6);

    c.op = 1;
    ed_pool2d_args_default(&c.p, 3);
    c.p.stride[0] = c.p.stride[1] = 2;
    c.p.padding[0] = c.p.padding[1] = 1;
    c.p.ceil_mode = 1;
    check_gradcheck("avg_pool2d ceil", f_pool, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.count_include_pad = 0;
    check_gradcheck("avg_pool2d no pad count", f_pool, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.divisor_override = 5;
    check_gradcheck("avg_pool2d divisor", f_pool, &c, 1, &x, NULL, 1e-6, 1e-6);

    c.op = 2;
    ed_tensor *x57 = check_randn(ED_F64, SHAPE(2, 2, 5, 7), 9);
    check_gradcheck("adaptive_avg_pool2d 5x7->3x2", f_pool, &c, 1, &x57, NULL, 1e-6, 1e-6);

    /* unpool with indices from a pool with stride > kernel. Repeated indices
     * (overlapping windows) are left to the golden cases: there PyTorch's
     * gather gives every input a gradient although only the last one
     * written reaches the output, so finite differences disagree. */
    ed_tensor *src = separated(SHAPE(1, 2, 9, 9)), *pooled = NULL, *ind = NULL;
    ed_pool2d_args pp;
    ed_pool2d_args_default(&pp, 2);
    pp.stride[0] = pp.stride[1] = 3;
    pp.padding[0] = pp.padding[1] = 1;
    ed_no_grad_begin();
    CHECK_OK(ed_max_pool2d(src, &pp, &pooled, &ind));
    ed_no_grad_end();
    c.op = 3;
    c.p = pp;
    c.ind = ind;
    check_gradcheck("max_unpool2d", f_pool, &c, 1, &pooled, NULL, 1e-6, 1e-6);
    int64_t os[2] = { 10, 11 };
    c.osize = os;
    check_gradcheck("max_unpool2d output_size", f_pool, &c, 1, &pooled, NULL, 1e-6, 1e-6);
    ed_tensor_free(src); ed_tensor_free(pooled); ed_tensor_free(ind);
    ed_tensor_free(x); ed_tensor_free(x57);
}

/* ---- errors ------------------------------------------------------------------- */

static void test_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(1, 2, 5, 5), 1), *y = NULL;
    ed_tensor *x2d = check_randn(ED_F32, SHAPE(5, 5), 1), *xi = NULL, *xe = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(1, 2, 5, 5), &xi));
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(1, 0, 5, 5), &xe));
    ed_pool2d_args p;
    ed_pool2d_args_default(&p, 2);
    CHECK_ERR(ed_max_pool2d(x, NULL, &y, NULL), ED_E_ARG, "kernel_size");
    CHECK_ERR(ed_max_pool2d(x, &p, NULL, NULL), ED_E_ARG, "out is NULL");
    CHECK_ERR(ed_max_pool2d(NULL, &p, &y, NULL), ED_E_ARG, "input is NULL");
    CHECK_ERR(ed_max_pool2d(x2d, &p, &y, NULL), ED_E_SHAPE, "3-D (C, H, W) or 4-D");
    CHECK_ERR(ed_max_pool2d(xi, &p, &y, NULL), ED_E_DTYPE, "int64");
    CHECK_ERR(ed_max_pool2d(xe, &p, &y, NULL), ED_E_SHAPE, "empty dimension 1");
    CHECK_ERR(ed_avg_pool2d(x2d, &p, &y), ED_E_SHAPE, "avg_pool2d");
    p.padding[1] = 2;
    CHECK_ERR(ed_max_pool2d(x, &p, &y, NULL), ED_E_ARG, "at most half of kernel size");
    CHECK_ERR(ed_avg_pool2d(x, &p, &y), ED_E_ARG, "at most half of kernel size");
    ed_pool2d_args_default(&p, 3);
    p.padding[0] = 1;
    p.dilation[0] = 2;   /* padding <= kernel/2 holds whatever the dilation */
    CHECK_OK(ed_max_pool2d(x, &p, &y, NULL));
    ed_tensor_free(y);
    p.padding[0] = 2;
    CHECK_ERR(ed_max_pool2d(x, &p, &y, NULL), ED_E_ARG, "padding=(2, 0)");
    ed_pool2d_args_default(&p, 0);
    CHECK_ERR(ed_max_pool2d(x, &p, &y, NULL), ED_E_ARG, "kernel_size must be positive");
    ed_pool2d_args_default(&p, 2);
    p.stride[1] = -1;
    CHECK_ERR(ed_max_pool2d(x, &p, &y, NULL), ED_E_ARG, "stride");
    ed_pool2d_args_default(&p, 2);
    p.dilation[0] = 0;
    CHECK_ERR(ed_max_pool2d(x, &p, &y, NULL), ED_E_ARG, "dilation");
    ed_pool2d_args_default(&p, 6);
    CHECK_ERR(ed_max_pool2d(x, &p, &y, NULL), ED_E_SHAPE, "too small");
    CHECK_ERR(ed_avg_pool2d(x, &p, &y), ED_E_SHAPE, "too small");
    CHECK(y == NULL);

    /* unpool */
    ed_pool2d_args_default(&p, 2);
    ed_tensor *v = check_randn(ED_F32, SHAPE(1, 1, 2, 2), 2), *bad = NULL, *i32 = NULL;
    CHECK_OK(ed_tensor_from_data(ED_I64, SHAPE(1, 1, 2, 2), (int64_t[]){ 0, 5, 16, 3 }, &bad));
    CHECK_ERR(ed_max_unpool2d(v, bad, &p, NULL, &y), ED_E_RANGE, "invalid max index 16");
    ((int64_t *)bad->data)[2] = -1;
    CHECK_ERR(ed_max_unpool2d(v, bad, &p, NULL, &y), ED_E_RANGE, "invalid max index -1");
    ((int64_t *)bad->data)[2] = 15;
    CHECK_OK(ed_max_unpool2d(v, bad, &p, NULL, &y));
    ed_tensor_free(y);
    CHECK_ERR(ed_max_unpool2d(v, bad, &p, (int64_t[]){ 3, 4 }, &y), ED_E_RANGE, "invalid max index 15");
    CHECK_ERR(ed_max_unpool2d(v, bad, &p, (int64_t[]){ 2, 4 }, &y), ED_E_ARG, "between 2 and 6");
    CHECK_ERR(ed_max_unpool2d(v, bad, &p, (int64_t[]){ 4, 6 }, &y), ED_E_ARG, "invalid output_size");
    CHECK_OK(ed_tensor_new(ED_I32, SHAPE(1, 1, 2, 2), &i32));
    CHECK_ERR(ed_max_unpool2d(v, i32, &p, NULL, &y), ED_E_DTYPE, "indices must be int64");
    CHECK_ERR(ed_max_unpool2d(x, bad, &p, NULL, &y), ED_E_SHAPE, "indices must have the input's shape");
    CHECK_ERR(ed_max_unpool2d(v, NULL, &p, NULL, &y), ED_E_ARG, "indices is NULL");
    CHECK_ERR(ed_max_unpool2d(v, bad, NULL, NULL, &y), ED_E_ARG, "kernel_size");
    ed_pool2d_args_default(&p, 1);
    p.padding[0] = 1;
    ed_tensor *one = check_randn(ED_F32, SHAPE(1, 1, 1, 1), 3), *zero = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(1, 1, 1, 1), &zero));
    CHECK_ERR(ed_max_unpool2d(one, zero, &p, NULL, &y), ED_E_SHAPE, "output size must be positive");

    /* adaptive */
    CHECK_ERR(ed_adaptive_avg_pool2d(x, 0, 2, &y), ED_E_ARG, "positive");
    CHECK_ERR(ed_adaptive_avg_pool2d(x2d, 2, 2, &y), ED_E_SHAPE, "adaptive_avg_pool2d");
    CHECK_ERR(ed_adaptive_avg_pool2d(xi, 2, 2, &y), ED_E_DTYPE, "float32 or float64");
    ed_tensor_free(one); ed_tensor_free(zero);
    ed_tensor_free(v); ed_tensor_free(bad); ed_tensor_free(i32);
    ed_tensor_free(x); ed_tensor_free(x2d); ed_tensor_free(xi); ed_tensor_free(xe);
}

/* ---- corners ------------------------------------------------------------------ */

static void test_corners(void)
{
    /* A dilated window with no tap inside the input: -inf and torch's
     * (out-of-plane) index 6; backward must not write there, and unpooling
     * it is a range error, not an out-of-bounds write. */
    ed_tensor *x = check_randn(ED_F32, SHAPE(1, 1, 2, 2), 4), *y = NULL, *ind = NULL, *u = NULL;
    ed_tensor_set_requires_grad(x, 1);
    ed_pool2d_args p;
    ed_pool2d_args_default(&p, 2);
    p.stride[0] = p.stride[1] = 1;
    p.padding[0] = p.padding[1] = 1;
    p.dilation[0] = p.dilation[1] = 3;
    if (CHECK_OK(ed_max_pool2d(x, &p, &y, &ind))) {
        CHECK(y->numel == 1 && isinf(ed__get(y, 0)) && ed__get(y, 0) < 0);
        CHECK(ed__ci64(ind)[0] == 6);
        CHECK_OK(ed_backward(y, NULL));
        CHECK(ed_tensor_grad(x) && ed__get(ed_tensor_grad(x), 0) == 0);
        ed_pool2d_args q;
        ed_pool2d_args_default(&q, 2);
        CHECK_ERR(ed_max_unpool2d(y, ind, &q, NULL, &u), ED_E_RANGE, "invalid max index 6");
    }
    ed_tensor_free(y); ed_tensor_free(ind); ed_tensor_free(x);

    /* Batch 0 is fine, as in torch. */
    ed_tensor *e = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(0, 2, 4, 4), &e));
    ed_pool2d_args_default(&p, 2);
    CHECK_OK(ed_max_pool2d(e, &p, &y, &ind));
    CHECK(y && y->ndim == 4 && y->shape[0] == 0 && y->shape[2] == 2);
    ed_tensor_free(y); ed_tensor_free(ind);
    CHECK_OK(ed_avg_pool2d(e, &p, &y));
    ed_tensor_free(y);
    ed_tensor_free(e);

    /* Inside an arena, with the indices not asked for but kept for backward;
     * results do not depend on the thread count. */
    ed_tensor *w = check_randn(ED_F32, SHAPE(2, 3, 9, 9), 6), *g1 = NULL;
    ed_tensor_set_requires_grad(w, 1);
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    ed_pool2d_args_default(&p, 3);
    p.stride[0] = p.stride[1] = 2;
    p.padding[0] = p.padding[1] = 1;
    for (int threads = 1; threads <= 2; threads++) {
        ed_set_num_threads(threads);
        ed_tensor_zero_grad(w);
        ed_arena_begin(ar);
        ed_tensor *a = NULL, *b = NULL, *s = NULL;
        CHECK_OK(ed_max_pool2d(w, &p, &a, NULL));
        CHECK_OK(ed_avg_pool2d(a, &p, &b));
        CHECK_OK(ed_sum(b, NULL, 0, 0, &s));
        CHECK_OK(ed_backward(s, NULL));
        ed_arena_end();
        ed_arena_reset(ar);
        if (threads == 1) CHECK_OK(ed_tensor_clone(ed_tensor_grad(w), &g1));
        else CHECK(g1 && memcmp(g1->data, ed_tensor_grad(w)->data, (size_t)g1->numel * 4) == 0);
    }
    ed_set_num_threads(0);
    ed_arena_free(ar);
    ed_tensor_free(g1); ed_tensor_free(w);
}

/* ---- backend dispatch --------------------------------------------------------- */

static int fake_on, fake_calls;
static bool fake_supports(const void *params, ed_tensor *const *t)
{
    (void)params; (void)t;
    return fake_on;
}
static ed_status fake_fwd(const void *params, ed_tensor *const *t)
{
    const ed_pool2d_args *p = params;
    fake_calls++;
    /* {x, y, indices}: stride arrives resolved */
    CHECK(p->stride[0] == 2 && t[0]->shape[2] == 4 && t[1]->shape[2] == 2 && t[2] && t[2]->dtype == ED_I64);
    ed_tensor_fill(t[1], 7.0);
    for (int64_t i = 0; i < t[2]->numel; i++) ed__i64(t[2])[i] = 0;
    return ED_OK;
}
static ed_status fake_bwd(const void *params, ed_tensor *const *t)
{
    (void)params;
    fake_calls++;
    /* {gy, indices, gx} */
    CHECK(t[0]->shape[2] == 2 && t[1]->dtype == ED_I64 && t[2]->shape[2] == 4);
    return ED_OK;
}

static void test_dispatch(void)
{
    static const ed_kernel kf = { ED_OP_MAX_POOL2D, ED_FORWARD, "fake", fake_supports, fake_fwd };
    static const ed_kernel kb = { ED_OP_MAX_POOL2D, ED_BACKWARD, "fake", fake_supports, fake_bwd };
    CHECK_OK(ed_backend_register(&kf));
    CHECK_OK(ed_backend_register(&kb));
    ed_tensor *x = check_randn(ED_F32, SHAPE(1, 1, 4, 4), 8), *y = NULL, *ind = NULL;
    ed_tensor_set_requires_grad(x, 1);
    ed_pool2d_args p;
    ed_pool2d_args_default(&p, 2);
    fake_on = 1;
    CHECK_OK(ed_max_pool2d(x, &p, &y, &ind));
    CHECK(y && ed__get(y, 3) == 7.0);
    CHECK_OK(ed_backward(y, y));
    CHECK(fake_calls == 2);
    fake_on = 0;
    ed_tensor_free(y); ed_tensor_free(ind); ed_tensor_free(x);
}

int main(void)
{
    test_golden();
    test_gradcheck();
    test_errors();
    test_corners();
    test_dispatch();
    return check_done();
}
