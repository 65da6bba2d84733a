/* The bf16 2x up-sampler (conv_transpose2d 2x2 stride 2 under
 * --precision bf16, backend/onednn/deconv_up2.c: a 1x1 convolution to
 * 4 Cout channels with its packing and unpacking) against the float64
 * reference run on the same bf16-rounded operands: forward, input
 * gradient, weight gradient and bias gradient, with widths that take the
 * vector paths and their scalar tails. Without oneDNN the setting falls
 * back to float32 and the comparison is against float32's own result. */
#include "check.h"
#include "core/tile16.h"
#include "core/ed_internal.h"
#include "encdec/precision.h"

#include <math.h>
#include <string.h>

/* A float64 copy of t (float32), rounded to bf16 first when round. */
static ed_tensor *as_f64(const ed_tensor *t, bool round)
{
    ed_tensor *o = NULL;
    CHECK_OK(ed_tensor_new(ED_F64, t->ndim, t->shape, &o));
    const float *s = ed_tensor_data((ed_tensor *)t);
    double *d = ed_tensor_data(o);
    for (int64_t i = 0; i < t->numel; i++) {
        float v = s[i];
        if (round) {
            uint32_t u = (uint32_t)ed__bf16_rne(v) << 16;
            memcpy(&v, &u, 4);
        }
        d[i] = v;
    }
    return o;
}

static double rel_err(const ed_tensor *got, const ed_tensor *want)
{
    double s = 0;
    const double e = check_max_abs_err(got, want, &s);
    return e / fmax(s, 1e-30);
}

/* y, gx, gw, gb of conv_transpose2d(x, w, b) with upstream gradient gy. */
static void run(ed_tensor *x, ed_tensor *w, ed_tensor *b, const ed_tensor *gy, ed_tensor *out[4])
{
    ed_conv_transpose2d_args a;
    ed_conv_transpose2d_args_default(&a);
    a.stride[0] = a.stride[1] = 2;
    ed_tensor_set_requires_grad(x, 1);
    ed_tensor_set_requires_grad(w, 1);
    if (b) ed_tensor_set_requires_grad(b, 1);
    out[0] = NULL;
    CHECK_OK(ed_conv_transpose2d(x, w, b, &a, &out[0]));
    if (out[0]) CHECK_OK(ed_backward(out[0], gy));
    const ed_tensor *g[3] = { ed_tensor_grad(x), ed_tensor_grad(w), b ? ed_tensor_grad(b) : NULL };
    for (int i = 0; i < 3; i++) {
        out[i + 1] = NULL;
        if (g[i]) CHECK_OK(ed_tensor_clone(g[i], &out[i + 1]));
    }
    ed_tensor_zero_grad(x);
    ed_tensor_zero_grad(w);
    if (b) ed_tensor_zero_grad(b);
}

static void one_case(int64_t N, int64_t Cin, int64_t Cout, int64_t H, int64_t W, bool bias, uint64_t seed)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ N, Cin, H, W }, seed);
    ed_tensor *w = check_randn(ED_F32, 4, (int64_t[]){ Cin, Cout, 2, 2 }, seed + 1);
    ed_tensor *b = bias ? check_randn(ED_F32, 1, (int64_t[]){ Cout }, seed + 2) : NULL;
    ed_tensor *gy = check_randn(ED_F32, 4, (int64_t[]){ N, Cout, 2 * H, 2 * W }, seed + 3);
    ed_tensor *got[4], *want[4];
    ed_set_conv_precision(ED_PRECISION_BF16);
    run(x, w, b, gy, got);
    ed_set_conv_precision(ED_PRECISION_F32);
#ifdef ENCDEC_HAVE_ONEDNN
    const bool bf = true;
#else
    const bool bf = false;   /* the request falls back to float32 */
#endif
    /* The reference on what the kernel multiplies: x, w and (for the two
     * products' gradients) gy rounded to bf16; the bias gradient sums the
     * float32 gy. */
    ed_tensor *x64 = as_f64(x, bf), *w64 = as_f64(w, bf), *b64 = b ? as_f64(b, false) : NULL;
    ed_tensor *gy64 = as_f64(gy, bf), *gyb = as_f64(gy, false);
    ed_backend_set_enabled(false);
    run(x64, w64, b64, gy64, want);
    if (b64) {
        ed_tensor *tmp[4];
        run(x64, w64, b64, gyb, tmp);   /* the bias gradient of the unrounded gy */
        ed_tensor_free(want[3]);
        want[3] = tmp[3];
        for (int i = 0; i < 3; i++) ed_tensor_free(tmp[i]);
    }
    ed_backend_set_enabled(true);
    static const char *const names[4] = { "y", "gx", "gw", "gb" };
    for (int i = 0; i < (bias ? 4 : 3); i++) {
        if (!got[i] || !want[i]) {
            CHECK_MSG(false, "up2 %lldx%lldx%lldx%lld -> %lld: %s missing", (long long)N, (long long)Cin, (long long)H,
                      (long long)W, (long long)Cout, names[i]);
            continue;
        }
        const double e = rel_err(got[i], want[i]);
        CHECK_MSG(e <= 1e-5, "up2 %lldx%lldx%lldx%lld -> %lld: %s error %.3g of the scale", (long long)N, (long long)Cin,
                  (long long)H, (long long)W, (long long)Cout, names[i], e);
    }
    for (int i = 0; i < 4; i++) ed_tensor_free(got[i]), ed_tensor_free(want[i]);
    ed_tensor *list[] = { x, w, b, gy, x64, w64, b64, gy64, gyb };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) ed_tensor_free(list[i]);
}

/* A fused block whose only reader is the up-sampler (the U-Net bottleneck
 * and decoder under bf16): with feeds_block 2 its z stays deferred and the
 * up-sampler reads the block's bf16 copy (the same values its own
 * conversion makes) and hands its input gradient back in bf16 NHWC. Against
 * the same chain with z written: y the same bits, the gradients to the
 * rounding of that hand-over; z never written (its memory poisoned). */
static void chain(int feeds, ed_tensor *out[5], int *deferred)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 16, 6, 20), 50), *wc = check_randn(ED_F32, SHAPE(32, 16, 3, 3), 51);
    ed_tensor *wu = check_randn(ED_F32, SHAPE(32, 16, 2, 2), 52), *bu = check_randn(ED_F32, SHAPE(16), 53);
    ed_tensor *gy = check_randn(ED_F32, SHAPE(2, 16, 12, 40), 54);
    ed_tensor *leaves[4] = { x, wc, wu, bu };
    for (int i = 0; i < 4; i++) ed_tensor_set_requires_grad(leaves[i], 1);
    ed_tensor *h = NULL, *z = NULL, *y = NULL;
    CHECK_OK(ed_scale(x, 2.0, &h));
    CHECK_OK(ed__conv_bn_relu_train(h, wc, NULL, 1, NULL, NULL, NULL, NULL, 0.1, 1e-5, feeds, &z));
    if (z->deferred) memset(z->data, 0xff, sizeof(float) * (size_t)z->numel);
    ed_conv_transpose2d_args a;
    ed_conv_transpose2d_args_default(&a);
    a.stride[0] = a.stride[1] = 2;
    CHECK_OK(ed_conv_transpose2d(z, wu, bu, &a, &y));
    CHECK_OK(ed_backward(y, gy));
    *deferred = z->deferred;   /* still: nothing read its data */
    out[0] = NULL;
    CHECK_OK(ed_tensor_clone(y, &out[0]));
    for (int i = 0; i < 4; i++) {
        out[1 + i] = NULL;
        CHECK_OK(ed_tensor_clone(ed_tensor_grad(leaves[i]), &out[1 + i]));
    }
    ed_tensor *all[] = { x, wc, wu, bu, gy, h, z, y };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
}

static void test_block_feeds_up(void)
{
    ed_set_conv_precision(ED_PRECISION_BF16);
    ed_tensor *d[5], *e[5];
    int dd = 0, de = 0;
    chain(2, d, &dd);
    chain(0, e, &de);
    ed_set_conv_precision(ED_PRECISION_F32);
#ifdef ENCDEC_HAVE_ONEDNN
    CHECK_MSG(dd == 1 && de == 0, "block -> up-sampler: z deferred throughout (%d, %d)", dd, de);
#endif
    const char *names[5] = { "y", "gx", "gw_conv", "gw_up", "gb_up" };
    for (int i = 0; i < 5; i++) {
        /* y and the up-sampler's own gradients see the same bf16 inputs; the
         * block's gradients carry the bf16 hand-over (2^-9 relative). */
        const double e_ = rel_err(d[i], e[i]), tol = i == 0 || i >= 3 ? 1e-6 : 1e-2;
        CHECK_MSG(e_ <= tol, "block -> up-sampler, deferred vs written: %s error %.3g of the scale", names[i], e_);
        ed_tensor_free(d[i]);
        ed_tensor_free(e[i]);
    }
}

int main(void)
{
    test_block_feeds_up();
    one_case(2, 32, 16, 6, 5, true, 10);     /* scalar tails only */
    one_case(1, 48, 32, 7, 19, true, 20);    /* a 16-pixel run and a tail */
    one_case(3, 16, 48, 4, 32, false, 30);   /* whole runs, no bias */
    one_case(2, 24, 8, 5, 20, true, 40);     /* 8 outputs: oneDNN's deconvolution instead, same contract */
    return check_done();
}
