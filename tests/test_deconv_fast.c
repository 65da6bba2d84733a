/* The stride == kernel conv_transpose2d kernel (src/backend/fast/deconv_s2.c)
 * against the reference kernels (backends off), which test_conv holds to
 * PyTorch: random shapes forward and backward, accumulation into existing
 * gradients, the configurations it must leave to others, and results
 * identical for 1 and 2 threads. A call counter shows the fast kernel, not
 * oneDNN or the reference, ran. */
#include "check.h"
#include "core/ed_internal.h"
#include "ops/conv_common.h"
#include "backend/fast/deconv_s2.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int N, cin, cout, H, W, kh, kw;
    bool bias;
} cfg;

static const char *const what[4] = { "y", "gx", "gweight", "gbias" };

/* y and the gradients of x, weight, bias for sum(y * gy). out: y, gx, gw, gb. */
static ed_status run(const cfg *c, bool backend, ed_tensor *out[4])
{
    ed_backend_set_enabled(backend);
    ed_tensor *x = check_randn(ED_F32, SHAPE(c->N, c->cin, c->H, c->W), 1);
    ed_tensor *w = check_randn(ED_F32, SHAPE(c->cin, c->cout, c->kh, c->kw), 2);
    ed_tensor *b = c->bias ? check_randn(ED_F32, SHAPE(c->cout), 3) : NULL;
    ed_tensor_set_requires_grad(x, 1);
    ed_tensor_set_requires_grad(w, 1);
    if (b) ed_tensor_set_requires_grad(b, 1);
    ed_conv_transpose2d_args a;
    ed_conv_transpose2d_args_default(&a);
    a.stride[0] = c->kh;
    a.stride[1] = c->kw;
    ed_tensor *y = NULL, *gy = NULL;
    ed_status st = ed_conv_transpose2d(x, w, b, &a, &y);
    if (st == ED_OK) {
        gy = check_randn(ED_F32, y->ndim, y->shape, 4);
        st = ed_backward(y, gy);
    }
    out[0] = y;
    out[1] = out[2] = out[3] = NULL;
    if (st == ED_OK) {
        ed_tensor_clone(ed_tensor_grad(x), &out[1]);
        ed_tensor_clone(ed_tensor_grad(w), &out[2]);
        if (b) ed_tensor_clone(ed_tensor_grad(b), &out[3]);
    }
    ed_tensor_free(x);
    ed_tensor_free(w);
    ed_tensor_free(b);
    ed_tensor_free(gy);
    ed_backend_set_enabled(true);
    return st;
}

static void compare(const cfg *c)
{
    char name[160];
    snprintf(name, sizeof name, "N=%d Cin=%d Cout=%d %dx%d k=(%d,%d)%s", c->N, c->cin, c->cout, c->H, c->W, c->kh,
             c->kw, c->bias ? " bias" : "");
    ed_tensor *ref[4] = { 0 }, *got[4] = { 0 };
    int64_t f0 = ed__deconv_s2_calls(0), b0 = ed__deconv_s2_calls(1);
    ed_status s2 = run(c, true, got);
    int64_t f1 = ed__deconv_s2_calls(0), b1 = ed__deconv_s2_calls(1);
    ed_status s1 = run(c, false, ref);
    CHECK_MSG(s1 == ED_OK && s2 == ED_OK, "%s: status %d / %d: %s", name, s1, s2, ed_last_error());
    /* An empty batch has nothing to multiply: the reference takes it. */
    int64_t want = c->N > 0 ? 1 : 0;
    CHECK_MSG(f1 - f0 == want && b1 - b0 == want, "%s: fast kernel ran %lld forward / %lld backward times, want %lld",
              name, (long long)(f1 - f0), (long long)(b1 - b0), (long long)want);
    if (s1 == ED_OK && s2 == ED_OK) CHECK_OUTPUTS(name, got, ref, what, 4, 1e-4);
    for (int i = 0; i < 4; i++) {
        ed_tensor_free(ref[i]);
        ed_tensor_free(got[i]);
    }
}

static int rnd(int lo, int hi) { return lo + rand() % (hi - lo + 1); }

static void test_random_shapes(void)
{
    srand(12345);
    static const int ks[3][2] = { { 2, 2 }, { 3, 3 }, { 2, 3 } };
    for (int t = 0; t < 36; t++) {
        cfg c = { .N = t < 2 ? t : rnd(1, 3), .cin = rnd(1, 70), .cout = rnd(1, 70), .H = rnd(1, 17), .W = rnd(1, 17),
                  .kh = ks[t % 3][0], .kw = ks[t % 3][1], .bias = rnd(0, 3) != 0 };
        if (t % 5 == 4) c.cin = c.cout = 1;
        compare(&c);
    }
    /* GEMM edges: channels and pixels that fill whole panels, just past them. */
    compare(&(cfg){ .N = 2, .cin = 64, .cout = 8, .H = 16, .W = 16, .kh = 2, .kw = 2, .bias = true });
    compare(&(cfg){ .N = 1, .cin = 129, .cout = 33, .H = 17, .W = 16, .kh = 2, .kw = 2, .bias = true });
    compare(&(cfg){ .N = 1, .cin = 260, .cout = 3, .H = 5, .W = 3, .kh = 3, .kw = 2, .bias = false });
    /* The 2x2 weight gradient's register transposes (channels a multiple of
     * 8, runs of 8 pixels within an image row): rows of 13 (runs and
     * single pixels), pixel chunks across images, and 8-channel panels. */
    compare(&(cfg){ .N = 3, .cin = 24, .cout = 16, .H = 11, .W = 13, .kh = 2, .kw = 2, .bias = true });
    compare(&(cfg){ .N = 2, .cin = 40, .cout = 8, .H = 9, .W = 8, .kh = 2, .kw = 2, .bias = false });
    /* The one-pass backward with more items than groups (several per
     * group), short last runs of an image, and rows not a multiple of 8. */
    compare(&(cfg){ .N = 4, .cin = 32, .cout = 24, .H = 40, .W = 37, .kh = 2, .kw = 2, .bias = true });
}

static ed__conv_params params_s(int sh, int sw)
{
    ed__conv_params p = { .stride = { sh, sw }, .dilation = { 1, 1 }, .groups = 1 };
    return p;
}

static bool fast_takes(ed_pass pass, const ed__conv_params *p, ed_tensor *const *t)
{
    return check_fast_kernel(ED_OP_CONV_TRANSPOSE2D, pass, p, t) != NULL;
}

static void test_declines(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 4, 5, 6), 1), *w = check_randn(ED_F32, SHAPE(4, 3, 2, 2), 2);
    ed_tensor *y = check_randn(ED_F32, SHAPE(2, 3, 10, 12), 3), *w3 = check_randn(ED_F32, SHAPE(4, 3, 3, 3), 2);
    ed_tensor *xd, *wd, *yd;
    ed_tensor_to(x, ED_F64, &xd);
    ed_tensor_to(w, ED_F64, &wd);
    ed_tensor_to(y, ED_F64, &yd);
    ed__conv_params p = params_s(2, 2);
    CHECK_MSG(fast_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w, NULL, y }), "2x2 stride 2 float32 is the fast kernel's");
    CHECK_MSG(fast_takes(ED_BACKWARD, &p, (ed_tensor *[]){ x, w, y, NULL, NULL, NULL }), "backward too");
    CHECK_MSG(!fast_takes(ED_FORWARD, &p, (ed_tensor *[]){ xd, wd, NULL, yd }), "float64 is declined");
    CHECK_MSG(!fast_takes(ED_BACKWARD, &p, (ed_tensor *[]){ xd, wd, yd, NULL, NULL, NULL }), "float64 backward is declined");
    ed__conv_params q = params_s(2, 2);
    CHECK_MSG(!fast_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w3, NULL, y }), "stride 2 with a 3x3 kernel is declined");
    q = params_s(1, 1);
    CHECK_MSG(!fast_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w, NULL, y }), "stride 1 with a 2x2 kernel is declined");
    q = params_s(2, 2);
    q.pad_lo[0] = q.pad_hi[0] = 1;
    CHECK_MSG(!fast_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w, NULL, y }), "padding is declined");
    q = params_s(2, 2);
    q.output_padding[1] = 1;
    CHECK_MSG(!fast_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w, NULL, y }), "output_padding is declined");
    q = params_s(2, 2);
    q.dilation[0] = 2;
    CHECK_MSG(!fast_takes(ED_BACKWARD, &q, (ed_tensor *[]){ x, w, y, NULL, NULL, NULL }), "dilation is declined");
    q = params_s(2, 2);
    q.groups = 2;
    CHECK_MSG(!fast_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w, NULL, y }), "groups are declined");
    /* bf16 precision is a request for the oneDNN kernel. */
    CHECK_OK(ed_set_conv_precision(ED_PRECISION_BF16));
    CHECK_MSG(!fast_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w, NULL, y }), "bf16 precision is declined");
    CHECK_OK(ed_set_conv_precision(ED_PRECISION_F32));

    /* Through the op: a declined configuration does not run the kernel and
     * still matches the reference. */
    ed_conv_transpose2d_args a;
    ed_conv_transpose2d_args_default(&a);
    a.stride[0] = a.stride[1] = 2;
    a.padding[0] = 1;
    int64_t f0 = ed__deconv_s2_calls(0);
    ed_tensor *y1 = NULL, *y2 = NULL;
    CHECK_OK(ed_conv_transpose2d(x, w, NULL, &a, &y1));
    CHECK(ed__deconv_s2_calls(0) == f0);
    ed_backend_set_enabled(false);
    CHECK_OK(ed_conv_transpose2d(x, w, NULL, &a, &y2));
    ed_backend_set_enabled(true);
    if (y1 && y2) CHECK_CLOSE("declined (padding 1) matches the reference", y1, y2, 1e-4);
    ed_tensor *all[] = { x, w, y, w3, xd, wd, yd, y1, y2 };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
}

/* The kernel adds into gradients that already hold values: all three at
 * once, the bias's alone, and (c2) gx or gweight alone. */
static void check_accumulates(const cfg *cp)
{
    const cfg c = *cp;
    ed_tensor *ref[4] = { 0 };
    CHECK_OK(run(&c, false, ref));
    if (!ref[0]) return;
    ed_tensor *x = check_randn(ED_F32, SHAPE(c.N, c.cin, c.H, c.W), 1);
    ed_tensor *w = check_randn(ED_F32, SHAPE(c.cin, c.cout, c.kh, c.kw), 2);
    ed_tensor *gy = check_randn(ED_F32, ref[0]->ndim, ref[0]->shape, 4);
    ed_tensor *pre[3], *want[3], *g[3], *gb2;
    for (int i = 0; i < 3; i++) {
        pre[i] = check_randn(ED_F32, ref[1 + i]->ndim, ref[1 + i]->shape, 30 + i);
        ed_add(pre[i], ref[1 + i], &want[i]);
        ed_tensor_clone(pre[i], &g[i]);
    }
    ed_tensor_clone(pre[2], &gb2);
    ed__conv_params p = params_s(c.kh, c.kw);
    ed_tensor *t[6] = { x, w, gy, g[0], g[1], g[2] };
    const ed_kernel *k = check_fast_kernel(ED_OP_CONV_TRANSPOSE2D, ED_BACKWARD, &p, t);
    CHECK(k);
    if (k) {
        CHECK_OK(k->run(&p, t));
        CHECK_MSG(check_err_of_scale(g[0], want[0]) <= 1e-4, "gx accumulates");
        CHECK_MSG(check_err_of_scale(g[1], want[1]) <= 1e-4, "gweight accumulates");
        CHECK_MSG(check_err_of_scale(g[2], want[2]) <= 1e-4, "gbias accumulates");
        /* Only the bias gradient wanted. */
        CHECK_OK(k->run(&p, (ed_tensor *[]){ x, w, gy, NULL, NULL, gb2 }));
        CHECK_MSG(check_err_of_scale(gb2, want[2]) <= 1e-4, "bias-only gradient accumulates");
        /* One of gx, gweight (the 2x2 kernel's two gradients are otherwise
         * made together, from one pass over gy). */
        for (int i = 0; i < 2; i++) {
            ed_tensor *one = NULL;
            ed_tensor_clone(pre[i], &one);
            CHECK_OK(k->run(&p, (ed_tensor *[]){ x, w, gy, i == 0 ? one : NULL, i == 1 ? one : NULL, NULL }));
            CHECK_MSG(check_err_of_scale(one, want[i]) <= 1e-4, "%s alone accumulates", what[1 + i]);
            ed_tensor_free(one);
        }
    }
    ed_tensor *all[] = { x, w, gy, gb2, ref[0], ref[1], ref[2], ref[3] };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
    for (int i = 0; i < 3; i++) {
        ed_tensor_free(pre[i]);
        ed_tensor_free(want[i]);
        ed_tensor_free(g[i]);
    }
}

static void test_accumulates(void)
{
    check_accumulates(&(cfg){ .N = 2, .cin = 37, .cout = 19, .H = 9, .W = 7, .kh = 2, .kw = 3, .bias = true });
    /* The 2x2 kernel with whole register panels (Cin % 8, Cout % 8): both
     * gradients in one pass. */
    check_accumulates(&(cfg){ .N = 3, .cin = 24, .cout = 16, .H = 11, .W = 13, .kh = 2, .kw = 2, .bias = true });
}

static ed_status run_backend(const void *c, ed_tensor **out) { return run(c, true, out); }

/* Large enough to fork; every output must be bit-identical: odd channel
 * counts, and whole panels (the one-pass backward, with more items than
 * it has groups). */
static void test_threads(void)
{
    cfg c = { .N = 3, .cin = 70, .cout = 45, .H = 17, .W = 15, .kh = 2, .kw = 2, .bias = true };
    CHECK_THREADS_IDENTICAL(run_backend, &c, what, 4);
    cfg d = { .N = 5, .cin = 72, .cout = 40, .H = 23, .W = 21, .kh = 2, .kw = 2, .bias = true };
    CHECK_THREADS_IDENTICAL(run_backend, &d, what, 4);
}

int main(void)
{
    test_random_shapes();
    test_declines();
    test_accumulates();
    test_threads();
    return check_done();
}
