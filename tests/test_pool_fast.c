/* The fast float32 max_pool2d / max_unpool2d kernels (backend/fast/
 * pool_fast.c) against the reference kernels: forward values, indices,
 * unpooled outputs and accumulated gradients must be bit-identical
 * (memcmp) on random shapes and arguments, with ties, NaN and infinities,
 * and on 1 and 2 threads. Configurations the backend declines must reach
 * the reference. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <string.h>

void ed__fast_pool_register(void);

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static int rnd_in(int lo, int hi) { return lo + (int)(rnd() % (uint32_t)(hi - lo + 1)); }

/* Values of kind: 0 normal, 1 small integers (many ties, +-0), 2 constant,
 * 3 integers with NaN and +-inf sprinkled, 4 all -inf. */
static void fill(ed_tensor *t, int kind)
{
    float *d = ed__f32(t);
    for (int64_t i = 0; i < t->numel; i++) {
        float v = (float)((int)(rnd() % 2001) - 1000) / 337.0f;
        if (kind == 1 || kind == 3) v = (float)((int)(rnd() % 5) - 2) * ((rnd() & 1) ? 1.0f : -1.0f);
        if (kind == 2) v = 1.5f;
        if (kind == 3) {
            uint32_t r = rnd() % 10;
            if (r == 0) v = NAN;
            if (r == 1) v = -INFINITY;
            if (r == 2) v = INFINITY;
        }
        if (kind == 4) v = -INFINITY;
        d[i] = v;
    }
}

static bool same(const ed_tensor *a, const ed_tensor *b)
{
    if (!a || !b) return a == b;
    if (a->dtype != b->dtype || a->ndim != b->ndim || a->numel != b->numel) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d]) return false;
    return memcmp(a->data, b->data, (size_t)a->numel * ed_dtype_size(a->dtype)) == 0;
}

typedef struct {
    ed_status st_pool, st_unpool;
    ed_tensor *y, *ind, *u, *gx;
} result;

static void result_free(result *r)
{
    ed_tensor_free(r->y); ed_tensor_free(r->ind); ed_tensor_free(r->u); ed_tensor_free(r->gx);
    memset(r, 0, sizeof *r);
}

/* pool -> unpool (to the input's size when allowed) -> backward with gu,
 * then pool again -> backward with gy, so the second backward accumulates
 * into a gradient that already holds values. */
static result run(const ed_tensor *x0, const ed_pool2d_args *a, bool fast, int threads, uint64_t seed)
{
    result r = { 0 };
    ed_backend_set_enabled(fast);
    ed_set_num_threads(threads);
    ed_tensor *x = NULL, *y2 = NULL, *gu = NULL, *gy = NULL;
    if (!CHECK_OK(ed_tensor_detach(x0, &x))) return r;
    ed_tensor_set_requires_grad(x, 1);
    r.st_pool = ed_max_pool2d(x, a, &r.y, &r.ind);
    if (r.st_pool == ED_OK) {
        int s0 = a->stride[0] ? a->stride[0] : a->kernel_size[0], s1 = a->stride[1] ? a->stride[1] : a->kernel_size[1];
        int64_t H = x->shape[x->ndim - 2], W = x->shape[x->ndim - 1];
        int64_t dh = (r.y->shape[r.y->ndim - 2] - 1) * s0 - 2 * a->padding[0] + a->kernel_size[0];
        int64_t dw = (r.y->shape[r.y->ndim - 1] - 1) * s1 - 2 * a->padding[1] + a->kernel_size[1];
        int64_t os[2] = { H, W };
        bool fits = dh - s0 < H && H < dh + s0 && dw - s1 < W && W < dw + s1;
        r.st_unpool = ed_max_unpool2d(r.y, r.ind, a, fits ? os : NULL, &r.u);
        rng = seed;
        if (r.st_unpool == ED_OK) {
            CHECK_OK(ed_tensor_new(ED_F32, r.u->ndim, r.u->shape, &gu));
            fill(gu, 0);
            CHECK_OK(ed_backward(r.u, gu));
        }
        CHECK_OK(ed_max_pool2d(x, a, &y2, NULL));
        CHECK_OK(ed_tensor_new(ED_F32, y2->ndim, y2->shape, &gy));
        fill(gy, 0);
        CHECK_OK(ed_backward(y2, gy));
        if (ed_tensor_grad(x)) CHECK_OK(ed_tensor_detach(ed_tensor_grad(x), &r.gx));
    }
    ed_tensor_free(y2); ed_tensor_free(gu); ed_tensor_free(gy); ed_tensor_free(x);
    ed_backend_set_enabled(true);
    ed_set_num_threads(0);
    return r;
}

static bool fast_runs(ed_op op, ed_pass pass, const ed_pool2d_args *a, ed_tensor *const *t)
{
    const ed_kernel *k = ed_backend_find(op, pass, a, t);
    return k && !strcmp(k->backend, "fast");
}

/* The backend takes the forward of this call exactly when it is float32
 * and not dilated. */
static void check_dispatch(const ed_tensor *x, const ed_pool2d_args *a, const result *r, int c)
{
    ed_pool2d_args rs = *a;
    for (int i = 0; i < 2; i++)
        if (!rs.stride[i]) rs.stride[i] = rs.kernel_size[i];
    ed_tensor *t[3] = { (ed_tensor *)x, r->y, r->ind };
    bool want = a->dilation[0] == 1 && a->dilation[1] == 1;
    CHECK_MSG(fast_runs(ED_OP_MAX_POOL2D, ED_FORWARD, &rs, t) == want, "case %d: forward dispatch", c);
    ed_tensor *tb[3] = { r->y, r->ind, (ed_tensor *)x };
    CHECK_MSG(fast_runs(ED_OP_MAX_POOL2D, ED_BACKWARD, &rs, tb), "case %d: backward dispatch", c);
}

static int n_pooled, n_unpooled;

static void compare_case(int c, const ed_tensor *x, const ed_pool2d_args *a)
{
    uint64_t seed = 1000 + (uint64_t)c;
    result ref = run(x, a, false, 1, seed), f1 = run(x, a, true, 1, seed), f2 = run(x, a, true, 2, seed);
    n_pooled += ref.st_pool == ED_OK && x->numel > 0;
    n_unpooled += ref.st_pool == ED_OK && ref.st_unpool == ED_OK && x->numel > 0;
    const result *fs[2] = { &f1, &f2 };
    for (int i = 0; i < 2; i++) {
        const result *f = fs[i];
        int th = i + 1;
        CHECK_MSG(f->st_pool == ref.st_pool && f->st_unpool == ref.st_unpool, "case %d (%d threads): status", c, th);
        CHECK_MSG(same(f->y, ref.y), "case %d (%d threads): pooled values differ", c, th);
        CHECK_MSG(same(f->ind, ref.ind), "case %d (%d threads): indices differ", c, th);
        CHECK_MSG(same(f->u, ref.u), "case %d (%d threads): unpooled values differ", c, th);
        CHECK_MSG(same(f->gx, ref.gx), "case %d (%d threads): gradients differ", c, th);
    }
    if (ref.st_pool == ED_OK) check_dispatch(x, a, &ref, c);
    result_free(&ref); result_free(&f1); result_free(&f2);
}

static void test_random(void)
{
    for (int c = 0; c < 300; c++) {
        ed_pool2d_args a;
        int k = rnd_in(1, 4);
        ed_pool2d_args_default(&a, k);
        bool enc = c % 2 == 0;   /* half the cases: the encoder's 2x2 / 2 */
        if (enc) {
            a.kernel_size[0] = a.kernel_size[1] = 2;
            a.stride[0] = a.stride[1] = rnd_in(0, 1) * 2;   /* 0 = kernel_size */
            a.ceil_mode = c % 4 == 0;
        } else {
            a.kernel_size[1] = rnd_in(1, 4);
            for (int i = 0; i < 2; i++) {
                a.stride[i] = rnd_in(0, 3);
                a.padding[i] = rnd_in(0, a.kernel_size[i] / 2);
                a.dilation[i] = c % 10 == 1 ? 2 : 1;
            }
            a.ceil_mode = rnd_in(0, 1);
        }
        int nd = rnd_in(3, 4), kind = c < 10 ? c % 5 : rnd_in(0, 4);
        int64_t shape[4], *s = shape;
        if (nd == 4) *s++ = rnd_in(0, 3);
        *s++ = rnd_in(1, 9);
        *s++ = rnd_in(1, 17);
        *s++ = rnd_in(1, 17);
        ed_tensor *x = NULL;
        if (!CHECK_OK(ed_tensor_new(ED_F32, nd, shape, &x))) return;
        fill(x, kind);
        compare_case(c, x, &a);
        ed_tensor_free(x);
    }
    /* Most draws must reach the kernels (others are shape errors or N = 0). */
    CHECK_MSG(n_pooled >= 150 && n_unpooled >= 100, "%d pooled, %d unpooled of 300", n_pooled, n_unpooled);
}

/* A plane big enough that two threads split it, odd sizes, ceil mode. */
static void test_large(void)
{
    ed_tensor *x = NULL;
    if (!CHECK_OK(ed_tensor_new(ED_F32, SHAPE(3, 5, 67, 93), &x))) return;
    fill(x, 1);
    ed_pool2d_args a;
    ed_pool2d_args_default(&a, 2);
    compare_case(1000, x, &a);
    a.ceil_mode = 1;
    compare_case(1001, x, &a);
    ed_pool2d_args_default(&a, 3);
    a.stride[0] = a.stride[1] = 2;
    a.padding[0] = a.padding[1] = 1;
    compare_case(1002, x, &a);
    ed_tensor_free(x);
}

/* float64 and dilated forwards go to the reference; an out-of-range
 * unpool index is still ED_E_RANGE with the backend on. */
static void test_fallthrough_and_errors(void)
{
    ed_tensor *x = NULL, *y = NULL, *ind = NULL, *u = NULL;
    ed_pool2d_args a;
    ed_pool2d_args_default(&a, 2);
    a.stride[0] = a.stride[1] = 2;
    if (!CHECK_OK(ed_tensor_new(ED_F64, SHAPE(1, 2, 4, 4), &x))) return;
    CHECK_OK(ed_max_pool2d(x, &a, &y, &ind));
    ed_tensor *t[3] = { x, y, ind }, *tb[3] = { y, ind, x }, *tu[3] = { y, ind, x };
    CHECK(!fast_runs(ED_OP_MAX_POOL2D, ED_FORWARD, &a, t));
    CHECK(!fast_runs(ED_OP_MAX_POOL2D, ED_BACKWARD, &a, tb));
    CHECK(!fast_runs(ED_OP_MAX_UNPOOL2D, ED_FORWARD, &a, tu));
    ed_tensor_free(x); ed_tensor_free(y); ed_tensor_free(ind);

    if (!CHECK_OK(ed_tensor_new(ED_F32, SHAPE(1, 2, 4, 4), &x))) return;
    fill(x, 0);
    CHECK_OK(ed_max_pool2d(x, &a, &y, &ind));
    ed_tensor *tf[3] = { x, y, ind };
    CHECK(fast_runs(ED_OP_MAX_POOL2D, ED_FORWARD, &a, tf));
    ed_tensor *tuf[3] = { y, ind, x };
    CHECK(fast_runs(ED_OP_MAX_UNPOOL2D, ED_FORWARD, &a, tuf));
    ed_tensor *tub[3] = { x, ind, y };
    CHECK(fast_runs(ED_OP_MAX_UNPOOL2D, ED_BACKWARD, &a, tub));
    a.dilation[0] = 2;
    CHECK(!fast_runs(ED_OP_MAX_POOL2D, ED_FORWARD, &a, tf));
    a.dilation[0] = 1;
    ed__i64(ind)[3] = 16;
    CHECK_ERR(ed_max_unpool2d(y, ind, &a, NULL, &u), ED_E_RANGE, "invalid max index 16 at position 3");
    ed__i64(ind)[3] = -1;
    CHECK_ERR(ed_max_unpool2d(y, ind, &a, NULL, &u), ED_E_RANGE, "invalid max index -1");
    CHECK(u == NULL);
    ed_tensor_free(x); ed_tensor_free(y); ed_tensor_free(ind);
}

/* Repeated unpool indices keep the last value, as the reference. */
static void test_unpool_duplicates(void)
{
    ed_tensor *x = NULL, *ind = NULL;
    if (!CHECK_OK(ed_tensor_new(ED_F32, SHAPE(2, 3, 5), &x)) || !CHECK_OK(ed_tensor_new(ED_I64, SHAPE(2, 3, 5), &ind)))
        return;
    fill(x, 0);
    for (int64_t i = 0; i < ind->numel; i++) ed__i64(ind)[i] = rnd() % 7;
    ed_pool2d_args a;
    ed_pool2d_args_default(&a, 2);
    ed_tensor *u[2] = { NULL, NULL }, *gx[2] = { NULL, NULL };
    for (int f = 0; f < 2; f++) {
        ed_backend_set_enabled(f);
        ed_tensor *xx = NULL, *gu = NULL;
        CHECK_OK(ed_tensor_detach(x, &xx));
        ed_tensor_set_requires_grad(xx, 1);
        if (CHECK_OK(ed_max_unpool2d(xx, ind, &a, NULL, &u[f]))) {
            rng = 7;
            CHECK_OK(ed_tensor_new(ED_F32, u[f]->ndim, u[f]->shape, &gu));
            fill(gu, 0);
            CHECK_OK(ed_backward(u[f], gu));
            CHECK_OK(ed_backward(u[f], gu));
            CHECK_OK(ed_tensor_detach(ed_tensor_grad(xx), &gx[f]));
        }
        ed_tensor_free(xx); ed_tensor_free(gu);
    }
    ed_backend_set_enabled(true);
    CHECK(same(u[0], u[1]));
    CHECK(same(gx[0], gx[1]));
    for (int f = 0; f < 2; f++) { ed_tensor_free(u[f]); ed_tensor_free(gx[f]); }
    ed_tensor_free(x); ed_tensor_free(ind);
}

int main(void)
{
    ed__fast_pool_register();
    test_random();
    test_large();
    test_fallthrough_and_errors();
    test_unpool_duplicates();
    return check_done();
}
