/* The 1x1 few-output-channel conv2d kernel (src/backend/fast/conv_head.c)
 * against the reference kernels (backends off), which test_conv holds to
 * PyTorch: random shapes forward and backward (pixel counts on and off its
 * 64-pixel blocks, 1 to 32 output channels), accumulation into existing
 * gradients and the stored input gradient, the configurations it leaves
 * to others, bf16 precision (oneDNN's bf16 products), and results
 * identical for 1 and 2 threads. A call counter shows this kernel ran. */
#include "check.h"
#include "core/ed_internal.h"
#include "core/tile16.h"
#include "encdec/precision.h"
#include "ops/conv_common.h"
#include "backend/fast/conv_head.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
    int N, cin, cout, H, W;
    bool bias;
} cfg;

static const char *const what[4] = { "y", "gx", "gweight", "gbias" };

/* y and the gradients of sum(y * gy) for copies of x, w and b (b may be
 * NULL) made leaves; out: y, gx, gw, gb (NULL where none). */
static ed_status run_on(const ed_tensor *x0, const ed_tensor *w0, const ed_tensor *b0, const ed_tensor *gy, bool backend,
                        ed_tensor *out[4])
{
    ed_backend_set_enabled(backend);
    ed_tensor *in[3] = { NULL, NULL, NULL }, *y = NULL;
    const ed_tensor *src[3] = { x0, w0, b0 };
    ed_status st = ED_OK;
    for (int i = 0; i < 3 && st == ED_OK; i++)
        if (src[i] && (st = ed_tensor_clone(src[i], &in[i])) == ED_OK) ed_tensor_set_requires_grad(in[i], 1);
    if (st == ED_OK) st = ed_conv2d(in[0], in[1], in[2], NULL, &y);
    if (st == ED_OK) st = ed_backward(y, gy);
    out[0] = y;
    for (int i = 0; i < 3; i++) {
        out[1 + i] = NULL;
        if (st == ED_OK && in[i]) ed_tensor_clone(ed_tensor_grad(in[i]), &out[1 + i]);
        ed_tensor_free(in[i]);
    }
    ed_backend_set_enabled(true);
    return st;
}

/* run_on for the configuration's random tensors. */
static ed_status run(const cfg *c, bool backend, ed_tensor *out[4])
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(c->N, c->cin, c->H, c->W), 1);
    ed_tensor *w = check_randn(ED_F32, SHAPE(c->cout, c->cin, 1, 1), 2);
    ed_tensor *b = c->bias ? check_randn(ED_F32, SHAPE(c->cout), 3) : NULL;
    ed_tensor *gy = check_randn(ED_F32, SHAPE(c->N, c->cout, c->H, c->W), 4);
    ed_status st = run_on(x, w, b, gy, backend, out);
    ed_tensor *all[] = { x, w, b, gy };
    for (int i = 0; i < 4; i++) ed_tensor_free(all[i]);
    return st;
}

static void compare(const cfg *c)
{
    char name[160];
    snprintf(name, sizeof name, "N=%d Cin=%d Cout=%d %dx%d%s", c->N, c->cin, c->cout, c->H, c->W, c->bias ? " bias" : "");
    ed_tensor *ref[4] = { 0 }, *got[4] = { 0 };
    int64_t f0 = ed__conv_head_calls(0), b0 = ed__conv_head_calls(1);
    ed_status s2 = run(c, true, got);
    int64_t f1 = ed__conv_head_calls(0), b1 = ed__conv_head_calls(1);
    ed_status s1 = run(c, false, ref);
    CHECK_MSG(s1 == ED_OK && s2 == ED_OK, "%s: status %d / %d: %s", name, s1, s2, ed_last_error());
    CHECK_MSG(f1 - f0 == 1 && b1 - b0 == 1, "%s: the kernel ran %lld forward / %lld backward times, want 1", name,
              (long long)(f1 - f0), (long long)(b1 - b0));
    if (s1 == ED_OK && s2 == ED_OK) CHECK_OUTPUTS(name, got, ref, what, 4, 1e-5);
    for (int i = 0; i < 4; i++) {
        ed_tensor_free(ref[i]);
        ed_tensor_free(got[i]);
    }
}

static int rnd(int lo, int hi) { return lo + rand() % (hi - lo + 1); }

static void test_random_shapes(void)
{
    srand(4242);
    for (int t = 0; t < 30; t++) {
        cfg c = { .N = rnd(1, 3), .cin = rnd(1, 70), .cout = rnd(1, 32), .H = rnd(1, 20), .W = rnd(1, 20),
                  .bias = rnd(0, 3) != 0 };
        compare(&c);
    }
    /* Whole 64-pixel blocks (the vector path), blocks and a tail, output
     * and input channels on and off the register blocks of 4, runs past
     * the weight gradient's 256 pixels, 21 classes (PASCAL VOC). */
    compare(&(cfg){ .N = 2, .cin = 32, .cout = 4, .H = 8, .W = 16, .bias = true });
    compare(&(cfg){ .N = 1, .cin = 5, .cout = 7, .H = 9, .W = 16, .bias = true });
    compare(&(cfg){ .N = 2, .cin = 3, .cout = 16, .H = 40, .W = 40, .bias = false });
    compare(&(cfg){ .N = 1, .cin = 33, .cout = 1, .H = 16, .W = 12, .bias = true });
    compare(&(cfg){ .N = 2, .cin = 30, .cout = 21, .H = 17, .W = 23, .bias = true });
    compare(&(cfg){ .N = 1, .cin = 7, .cout = 32, .H = 32, .W = 16, .bias = false });
}

static bool head_takes(ed_pass pass, const ed__conv_params *p, ed_tensor *const *t)
{
    return check_fast_kernel(ED_OP_CONV2D, pass, p, t) != NULL;
}

static void test_declines(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 8, 5, 6), 1), *w = check_randn(ED_F32, SHAPE(4, 8, 1, 1), 2);
    ed_tensor *y = check_randn(ED_F32, SHAPE(2, 4, 5, 6), 3), *w3 = check_randn(ED_F32, SHAPE(4, 8, 3, 3), 4);
    ed_tensor *w33 = check_randn(ED_F32, SHAPE(33, 8, 1, 1), 5), *y33 = check_randn(ED_F32, SHAPE(2, 33, 5, 6), 6);
    ed_tensor *xd, *wd, *yd;
    ed_tensor_to(x, ED_F64, &xd);
    ed_tensor_to(w, ED_F64, &wd);
    ed_tensor_to(y, ED_F64, &yd);
    ed__conv_params p = { .stride = { 1, 1 }, .dilation = { 1, 1 }, .groups = 1 };
    CHECK_MSG(head_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w, NULL, y }), "1x1 to 4 channels is the kernel's");
    CHECK_MSG(head_takes(ED_BACKWARD, &p, (ed_tensor *[]){ x, w, y, NULL, NULL, NULL }), "backward too");
    CHECK_MSG(!head_takes(ED_FORWARD, &p, (ed_tensor *[]){ xd, wd, NULL, yd }), "float64 is declined");
    CHECK_MSG(!head_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w33, NULL, y33 }), "33 output channels are declined");
    ed_tensor *w17 = check_randn(ED_F32, SHAPE(17, 8, 1, 1), 7), *y17 = check_randn(ED_F32, SHAPE(2, 17, 5, 6), 8);
    CHECK_MSG(head_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w17, NULL, y17 }), "17 output channels in float32 are the kernel's");
    CHECK_OK(ed_set_conv_precision(ED_PRECISION_BF16));
    CHECK_MSG(!head_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w17, NULL, y17 }), "17 output channels under bf16 are oneDNN's");
    CHECK_MSG(head_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w, NULL, y }), "4 output channels under bf16 are the kernel's");
    CHECK_OK(ed_set_conv_precision(ED_PRECISION_F32));
    ed_tensor_free(w17);
    ed_tensor_free(y17);
    CHECK_MSG(!head_takes(ED_FORWARD, &p, (ed_tensor *[]){ x, w3, NULL, y }), "a 3x3 kernel is declined");
    ed__conv_params q = p;
    q.stride[1] = 2;
    CHECK_MSG(!head_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w, NULL, y }), "stride 2 is declined");
    q = p;
    q.pad_lo[0] = q.pad_hi[0] = 1;
    CHECK_MSG(!head_takes(ED_BACKWARD, &q, (ed_tensor *[]){ x, w, y, NULL, NULL, NULL }), "padding is declined");
    q = p;
    q.relu = 1;
    CHECK_MSG(!head_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w, NULL, y }), "a fused ReLU is declined");
    q = p;
    q.groups = 2;
    CHECK_MSG(!head_takes(ED_FORWARD, &q, (ed_tensor *[]){ x, w, NULL, y }), "groups are declined");
    ed_tensor *all[] = { x, w, y, w3, w33, y33, xd, wd, yd };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
}

/* The kernel adds into gradients that hold values, and stores gx when
 * asked to (gx_overwrite: the buffer holds garbage). */
static void test_accumulates(void)
{
    cfg c = { .N = 2, .cin = 37, .cout = 6, .H = 9, .W = 16, .bias = true };
    ed_tensor *ref[4] = { 0 };
    CHECK_OK(run(&c, false, ref));
    if (!ref[0]) return;
    ed_tensor *x = check_randn(ED_F32, SHAPE(c.N, c.cin, c.H, c.W), 1);
    ed_tensor *w = check_randn(ED_F32, SHAPE(c.cout, c.cin, 1, 1), 2);
    ed_tensor *gy = check_randn(ED_F32, ref[0]->ndim, ref[0]->shape, 4);
    ed_tensor *pre[3], *want[3], *g[3];
    for (int i = 0; i < 3; i++) {
        pre[i] = check_randn(ED_F32, ref[1 + i]->ndim, ref[1 + i]->shape, 30 + i);
        ed_add(pre[i], ref[1 + i], &want[i]);
        ed_tensor_clone(pre[i], &g[i]);
    }
    ed__conv_params p = { .stride = { 1, 1 }, .dilation = { 1, 1 }, .groups = 1 };
    ed_tensor *t[6] = { x, w, gy, g[0], g[1], g[2] };
    const ed_kernel *k = check_fast_kernel(ED_OP_CONV2D, ED_BACKWARD, &p, t);
    CHECK(k);
    if (k) {
        CHECK_OK(k->run(&p, t));
        CHECK_MSG(check_err_of_scale(g[0], want[0]) <= 1e-5, "gx accumulates");
        CHECK_MSG(check_err_of_scale(g[1], want[1]) <= 1e-5, "gweight accumulates");
        CHECK_MSG(check_err_of_scale(g[2], want[2]) <= 1e-5, "gbias accumulates");
        /* Stored: NaN in the buffer must not survive. */
        float *gd = ed_tensor_data(g[0]);
        for (int64_t i = 0; i < g[0]->numel; i++) gd[i] = NAN;
        ed__conv_params o = p;
        o.gx_overwrite = 1;
        CHECK_OK(k->run(&o, (ed_tensor *[]){ x, w, gy, g[0], NULL, NULL }));
        CHECK_MSG(check_err_of_scale(g[0], ref[1]) <= 1e-5, "gx stored");
    }
    ed_tensor *all[] = { x, w, gy, ref[0], ref[1], ref[2], ref[3] };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
    for (int i = 0; i < 3; i++) {
        ed_tensor_free(pre[i]);
        ed_tensor_free(want[i]);
        ed_tensor_free(g[i]);
    }
}

/* A copy of t with every value rounded to bfloat16. */
static ed_tensor *rounded(const ed_tensor *t)
{
    ed_tensor *r = NULL;
    CHECK_OK(ed_tensor_clone(t, &r));
    float *d = ed_tensor_data(r);
    for (int64_t i = 0; i < r->numel; i++) d[i] = ed__bf16_f(ed__bf16_rne(d[i]));
    return r;
}

/* Under bf16 convolution precision the products are oneDNN's bf16 ones:
 * the reference on x, the weight and gy rounded to bfloat16 (the bias
 * and its gradient stay float32), with pixel counts on and off the
 * vector blocks. */
static void test_bf16(void)
{
    static const int hw[2][2] = { { 16, 16 }, { 7, 5 } };
    for (int k = 0; k < 2; k++) {
        const int64_t N = 2, cin = 32, cout = 5, H = hw[k][0], W = hw[k][1];
        ed_tensor *x = check_randn(ED_F32, SHAPE(N, cin, H, W), 1), *w = check_randn(ED_F32, SHAPE(cout, cin, 1, 1), 2);
        ed_tensor *b = check_randn(ED_F32, SHAPE(cout), 3), *gy = check_randn(ED_F32, SHAPE(N, cout, H, W), 4);
        ed_tensor *xr = rounded(x), *wr = rounded(w), *gyr = rounded(gy);
        ed_tensor *got[4], *want[4], *want_b[4];
        CHECK_OK(ed_set_conv_precision(ED_PRECISION_BF16));
        int64_t f0 = ed__conv_head_calls(0), b0 = ed__conv_head_calls(1);
        CHECK_OK(run_on(x, w, b, gy, true, got));
        CHECK(ed__conv_head_calls(0) == f0 + 1 && ed__conv_head_calls(1) == b0 + 1);
        CHECK_OK(ed_set_conv_precision(ED_PRECISION_F32));
        CHECK_OK(run_on(xr, wr, b, gyr, false, want));
        CHECK_OK(run_on(xr, wr, b, gy, false, want_b));   /* the bias gradient from gy itself */
        for (int i = 0; i < 4; i++) {
            const ed_tensor *e = i == 3 ? want_b[3] : want[i];
            CHECK_MSG(got[i] && e && check_err_of_scale(got[i], e) <= 1e-5, "bf16 precision %lldx%lld: %s as oneDNN's bf16",
                      (long long)H, (long long)W, what[i]);
        }
        for (int i = 0; i < 4; i++) {
            ed_tensor_free(got[i]);
            ed_tensor_free(want[i]);
            ed_tensor_free(want_b[i]);
        }
        ed_tensor *all[] = { x, w, b, gy, xr, wr, gyr };
        for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
    }
}

static ed_status run_backend(const void *c, ed_tensor **out) { return run(c, true, out); }

/* Large enough to fork; every output must be bit-identical. */
static void test_threads(void)
{
    cfg c = { .N = 3, .cin = 70, .cout = 5, .H = 33, .W = 31, .bias = true };
    CHECK_THREADS_IDENTICAL(run_backend, &c, what, 4);
}

int main(void)
{
    test_random_shapes();
    test_declines();
    test_accumulates();
    test_bf16();
    test_threads();
    return check_done();
}
