/* The convolution algorithm setting (ed_set_conv_algo): its errors; that
 * Winograd convolutions (3x3 float32) stay within float rounding of the
 * reference, with bias, ReLU and a folded BatchNorm, alone, in an
 * inference graph and in training (both gradients); that they are
 * Winograd's (not bit-equal to direct) where oneDNN has the kernel
 * (AVX-512); and that what it does not cover (other kernels and strides,
 * bf16) is bit-identical to direct. */
#include "check.h"
#include "core/ed_internal.h"
#include "encdec/precision.h"

#include <math.h>
#include <string.h>

static double rel_err(const ed_tensor *got, const ed_tensor *want)
{
    double s = 0;
    const double e = check_max_abs_err(got, want, &s);
    return e / fmax(s, 1e-30);
}

static bool same_bits(const ed_tensor *a, const ed_tensor *b)
{
    return a && b && a->numel == b->numel && !memcmp(a->data, b->data, (size_t)a->numel * sizeof(float));
}

static bool have_wino(void)
{
#if defined(ENCDEC_HAVE_ONEDNN) && (defined(__x86_64__) || defined(__i386__))
    return __builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

static ed_tensor *scaled_w(int64_t o, int64_t i, int64_t k, uint64_t seed)
{
    ed_tensor *w = check_randn(ED_F32, 4, (int64_t[]){ o, i, k, k }, seed);
    float *d = ed_tensor_data(w);
    for (int64_t j = 0; j < w->numel; j++) d[j] *= (float)(1.0 / sqrt((double)i * k * k));
    return w;
}

/* conv2d without gradients: y under the algorithm a (backends on) or the
 * reference (backends off). */
static ed_tensor *conv(const ed_tensor *x, const ed_tensor *w, const ed_tensor *b, const ed_tensor *s, int k, int relu,
                       ed_conv_algo a, bool reference)
{
    ed_conv2d_args ar;
    ed_conv2d_args_default(&ar);
    ar.padding[0] = ar.padding[1] = k / 2;
    ar.relu = relu;
    ed_set_conv_algo(a);
    ed_backend_set_enabled(!reference);
    ed_tensor *y = NULL;
    ed_no_grad_begin();
    CHECK_OK(s ? ed__conv2d_scaled(x, w, s, b, &ar, &y) : ed_conv2d(x, w, b, &ar, &y));
    ed_no_grad_end();
    ed_backend_set_enabled(true);
    ed_set_conv_algo(ED_CONV_ALGO_DIRECT);
    return y;
}

static void test_settings(void)
{
    CHECK(ed_get_conv_algo() == ED_CONV_ALGO_DIRECT);
    CHECK_ERR(ed_set_conv_algo((ed_conv_algo)7), ED_E_ARG, "ED_CONV_ALGO_DIRECT or ED_CONV_ALGO_WINOGRAD");
    CHECK_OK(ed_set_conv_algo(ED_CONV_ALGO_WINOGRAD));
    CHECK(ed_get_conv_algo() == ED_CONV_ALGO_WINOGRAD);
    CHECK_OK(ed_set_conv_algo(ED_CONV_ALGO_DIRECT));
}

static void test_conv(int64_t N, int64_t C, int64_t O, int64_t H, int64_t W, bool bias, bool scale, int relu, uint64_t seed)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ N, C, H, W }, seed), *w = scaled_w(O, C, 3, seed + 1);
    ed_tensor *b = bias ? check_randn(ED_F32, 1, (int64_t[]){ O }, seed + 2) : NULL, *s = NULL;
    if (scale) {
        CHECK_OK(ed_tensor_new(ED_F64, 1, (int64_t[]){ O }, &s));
        for (int64_t o = 0; o < O; o++) ((double *)ed_tensor_data(s))[o] = 0.5 + 0.1 * (double)(o % 7);
    }
    ed_tensor *ref = conv(x, w, b, s, 3, relu, ED_CONV_ALGO_DIRECT, true);
    ed_tensor *dir = conv(x, w, b, s, 3, relu, ED_CONV_ALGO_DIRECT, false);
    ed_tensor *win = conv(x, w, b, s, 3, relu, ED_CONV_ALGO_WINOGRAD, false);
    ed_tensor *win2 = conv(x, w, b, s, 3, relu, ED_CONV_ALGO_WINOGRAD, false);
    if (ref && dir && win && win2) {
        CHECK_MSG(rel_err(dir, ref) <= 1e-6, "direct: error %.3g", rel_err(dir, ref));
        CHECK_MSG(rel_err(win, ref) <= 1e-5, "winograd %lldx%lldx%lldx%lld -> %lld: error %.3g of the scale",
                  (long long)N, (long long)C, (long long)H, (long long)W, (long long)O, rel_err(win, ref));
        CHECK_MSG(same_bits(win, win2), "winograd: the same bits run to run");
        if (have_wino()) CHECK_MSG(!same_bits(win, dir), "winograd asked for, but the result is direct's to the bit");
    }
    ed_tensor *list[] = { x, w, b, s, ref, dir, win, win2 };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) ed_tensor_free(list[i]);
}

/* Training: forward and both gradients under Winograd against the
 * reference kernels (and not direct's bits, where the kernel exists). */
static void test_training(int64_t N, int64_t C, int64_t O, int64_t H, uint64_t seed)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ N, C, H, H }, seed), *w = scaled_w(O, C, 3, seed + 1);
    ed_tensor *b = check_randn(ED_F32, 1, (int64_t[]){ O }, seed + 2);
    ed_tensor *gy = check_randn(ED_F32, 4, (int64_t[]){ N, O, H, H }, seed + 3);
    ed_tensor_set_requires_grad(x, 1);
    ed_tensor_set_requires_grad(w, 1);
    ed_tensor_set_requires_grad(b, 1);
    ed_conv2d_args ar;
    ed_conv2d_args_default(&ar);
    ar.padding[0] = ar.padding[1] = 1;
    ed_tensor *r[3][4] = { { NULL } };   /* reference, direct, winograd: y, gx, gw, gb */
    for (int k = 0; k < 3; k++) {
        ed_backend_set_enabled(k > 0);
        ed_set_conv_algo(k == 2 ? ED_CONV_ALGO_WINOGRAD : ED_CONV_ALGO_DIRECT);
        CHECK_OK(ed_conv2d(x, w, b, &ar, &r[k][0]));
        if (r[k][0]) CHECK_OK(ed_backward(r[k][0], gy));
        const ed_tensor *g[3] = { ed_tensor_grad(x), ed_tensor_grad(w), ed_tensor_grad(b) };
        for (int i = 0; i < 3; i++)
            if (g[i]) CHECK_OK(ed_tensor_clone(g[i], &r[k][i + 1]));
        ed_tensor_zero_grad(x);
        ed_tensor_zero_grad(w);
        ed_tensor_zero_grad(b);
    }
    ed_backend_set_enabled(true);
    ed_set_conv_algo(ED_CONV_ALGO_DIRECT);
    static const char *const names[4] = { "y", "gx", "gw", "gb" };
    for (int i = 0; i < 4; i++) {
        if (!r[0][i] || !r[1][i] || !r[2][i]) {
            CHECK_MSG(false, "training %s missing", names[i]);
            continue;
        }
        CHECK_MSG(rel_err(r[2][i], r[0][i]) <= 1e-5, "winograd training %lldx%lldx%lld: %s error %.3g of the scale",
                  (long long)N, (long long)C, (long long)H, names[i], rel_err(r[2][i], r[0][i]));
        if (i < 3 && have_wino())
            CHECK_MSG(!same_bits(r[2][i], r[1][i]), "winograd training: %s is direct's to the bit", names[i]);
    }
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 4; i++) ed_tensor_free(r[k][i]);
    ed_tensor *list[] = { x, w, b, gy };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) ed_tensor_free(list[i]);
}

/* Not covered: a 5x5 kernel, a strided one, one over few positions, one
 * of 3 input channels, and bf16 give direct's bits with the setting on. */
static void test_not_covered(void)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 12, 12 }, 50), *w = scaled_w(16, 16, 3, 51);
    ed_tensor *w5 = scaled_w(16, 16, 5, 52);
    ed_tensor *d5 = conv(x, w5, NULL, NULL, 5, 0, ED_CONV_ALGO_DIRECT, false);
    ed_tensor *w5r = conv(x, w5, NULL, NULL, 5, 0, ED_CONV_ALGO_WINOGRAD, false);
    CHECK_MSG(same_bits(d5, w5r), "5x5 convolution changed by the setting");
    ed_tensor *ds = conv(x, w, NULL, NULL, 3, 0, ED_CONV_ALGO_DIRECT, false);   /* 288 positions: too few */
    ed_tensor *wsm = conv(x, w, NULL, NULL, 3, 0, ED_CONV_ALGO_WINOGRAD, false);
    CHECK_MSG(same_bits(ds, wsm), "a convolution over too few positions changed by the setting");
    ed_tensor *x3 = check_randn(ED_F32, 4, (int64_t[]){ 2, 3, 40, 40 }, 53), *w3 = scaled_w(16, 3, 3, 54);
    ed_tensor *d3 = conv(x3, w3, NULL, NULL, 3, 0, ED_CONV_ALGO_DIRECT, false);
    ed_tensor *wn3 = conv(x3, w3, NULL, NULL, 3, 0, ED_CONV_ALGO_WINOGRAD, false);
    CHECK_MSG(same_bits(d3, wn3), "a convolution of 3 channels changed by the setting");
    ed_tensor *list3[] = { x3, w3, d3, wn3 };
    for (size_t i = 0; i < 4; i++) ed_tensor_free(list3[i]);
    ed_tensor_free(ds);
    ed_tensor_free(wsm);
    ed_tensor *ys[2] = { NULL };
    for (int a = 0; a < 2; a++) {
        ed_conv2d_args ar;
        ed_conv2d_args_default(&ar);
        ar.padding[0] = ar.padding[1] = 1;
        ar.stride[0] = ar.stride[1] = 2;
        ed_set_conv_algo(a ? ED_CONV_ALGO_WINOGRAD : ED_CONV_ALGO_DIRECT);
        CHECK_OK(ed_conv2d(x, w, NULL, &ar, &ys[a]));
    }
    ed_set_conv_algo(ED_CONV_ALGO_DIRECT);
    CHECK_MSG(same_bits(ys[0], ys[1]), "strided convolution changed by the setting");
    ed_set_conv_precision(ED_PRECISION_BF16);
    ed_tensor *bd = conv(x, w, NULL, NULL, 3, 0, ED_CONV_ALGO_DIRECT, false);
    ed_set_conv_precision(ED_PRECISION_BF16);
    ed_tensor *bw = conv(x, w, NULL, NULL, 3, 0, ED_CONV_ALGO_WINOGRAD, false);
    ed_set_conv_precision(ED_PRECISION_F32);
    CHECK_MSG(same_bits(bd, bw), "bf16 convolution changed by the setting");
    ed_tensor *list[] = { x, w, w5, d5, w5r, ys[0], ys[1], bd, bw };
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) ed_tensor_free(list[i]);
}

/* A small U-Net's evaluation forward (the inference graph) under
 * Winograd against the reference kernels. */
static void test_model(void)
{
    ed_model *m = NULL;
    if (!CHECK_OK(ed_model_create("unet", "{\"in_channels\":3,\"num_classes\":4,\"base_width\":16,\"depth\":2}", &m))) return;
    ed_rng r;
    ed_rng_init(&r, 3);
    CHECK_OK(ed_model_init(m, &r));
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 3, 64, 32 }, 4), *y = NULL, *want = NULL;
    for (int i = 0; i < 2; i++) {   /* running statistics away from 0 and 1 */
        CHECK_OK(ed_model_forward(m, x, 1, &y));
        ed_tensor_free(y);
        y = NULL;
    }
    ed_no_grad_begin();
    ed_backend_set_enabled(false);
    CHECK_OK(ed_model_forward(m, x, 0, &want));
    ed_backend_set_enabled(true);
    ed_set_conv_algo(ED_CONV_ALGO_WINOGRAD);
    CHECK_OK(ed_model_forward(m, x, 0, &y));
    ed_set_conv_algo(ED_CONV_ALGO_DIRECT);
    ed_no_grad_end();
    if (y && want) CHECK_MSG(rel_err(y, want) <= 3e-5, "unet under winograd: error %.3g of the scale", rel_err(y, want));
    /* A training step's gradients (the fused conv-BN-ReLU blocks give way
     * to the two ops under Winograd) against direct's. */
    ed_params *ps = ed_model_params(m);
    ed_tensor *g[2][64] = { { NULL } };
    const int np = ed_params_count(ps) < 64 ? ed_params_count(ps) : 64;
    for (int a = 0; a < 2; a++) {
        ed_set_conv_algo(a ? ED_CONV_ALGO_WINOGRAD : ED_CONV_ALGO_DIRECT);
        ed_tensor *out = NULL;
        CHECK_OK(ed_model_forward(m, x, 1, &out));
        if (out) CHECK_OK(ed_backward(out, out));
        for (int i = 0; i < np; i++) {
            const ed_tensor *gi = ed_tensor_grad(ed_params_tensor(ps, i));
            if (gi) CHECK_OK(ed_tensor_clone(gi, &g[a][i]));
        }
        ed_params_zero_grad(ps);
        ed_tensor_free(out);
    }
    ed_set_conv_algo(ED_CONV_ALGO_DIRECT);
    double worst = 0;
    for (int i = 0; i < np; i++)
        if (g[0][i] && g[1][i]) worst = fmax(worst, rel_err(g[1][i], g[0][i]));
    CHECK_MSG(worst <= 1e-4, "unet training under winograd: gradients %.3g from direct's", worst);
    for (int a = 0; a < 2; a++)
        for (int i = 0; i < np; i++) ed_tensor_free(g[a][i]);
    ed_tensor_free(x);
    ed_tensor_free(y);
    ed_tensor_free(want);
    ed_model_free(m);
}

int main(void)
{
    test_settings();
    /* Winograd runs from 2048 positions (N H W) up (conv.c's WINO_MIN_PIXELS) */
    test_conv(2, 32, 32, 32, 32, true, false, 1, 10);
    test_conv(1, 64, 48, 53, 41, false, true, 0, 20);    /* odd sizes, a folded BatchNorm */
    test_conv(1, 128, 128, 48, 48, true, true, 1, 30);    /* deeper sums: Winograd's larger errors */
    test_training(2, 32, 32, 32, 10);
    test_training(2, 64, 48, 36, 20);
    test_not_covered();
    test_model();
    return check_done();
}
