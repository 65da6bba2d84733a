/* The inference chain of convolutions (ed__conv_chain_infer) against the
 * same convolutions one by one: float32 against the reference kernels,
 * bfloat16 against the backends' own convolutions one by one (the chain
 * rounds its inner activations to bf16 as the next convolution's input
 * conversion does), with biases, folded BatchNorm scales, ReLUs on some,
 * channel counts off the 16-blocks, 1x1 and 3x3 kernels, chains longer
 * than one kernel call; errors; and that it refuses gradients. */
#include "check.h"
#include "core/ed_internal.h"
#include "encdec/precision.h"

#include <math.h>
#include <string.h>

#define MAXN 40

typedef struct {
    ed_tensor *w[MAXN], *b[MAXN], *s[MAXN];
    ed__conv_step st[MAXN];
    int n;
} chain;

static void chain_make(chain *c, int n, const int64_t *ch, int k, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->n = n;
    for (int i = 0; i < n; i++) {
        c->w[i] = check_randn(ED_F32, 4, (int64_t[]){ ch[i + 1], ch[i], k, k }, seed + 3 * (uint64_t)i);
        /* keep activations of order 1 through the chain */
        float *wd = ed_tensor_data(c->w[i]);
        const float g = (float)(1.0 / sqrt((double)ch[i] * k * k));
        for (int64_t j = 0; j < c->w[i]->numel; j++) wd[j] *= 1.5f * g;
        if (i % 3 != 1) c->b[i] = check_randn(ED_F32, 1, (int64_t[]){ ch[i + 1] }, seed + 3 * (uint64_t)i + 1);
        if (i % 2 == 0) {
            CHECK_OK(ed_tensor_new(ED_F64, 1, (int64_t[]){ ch[i + 1] }, &c->s[i]));
            double *sd = ed_tensor_data(c->s[i]);
            for (int64_t o = 0; o < ch[i + 1]; o++) sd[o] = 0.6 + 0.05 * (double)(o % 9) / 3.0;
        }
        c->st[i] = (ed__conv_step){ .w = c->w[i], .b = c->b[i], .s = c->s[i], .relu = i != n - 1 && i % 4 != 2 };
    }
}

static void chain_free(chain *c)
{
    for (int i = 0; i < c->n; i++) {
        ed_tensor_free(c->w[i]);
        ed_tensor_free(c->b[i]);
        ed_tensor_free(c->s[i]);
    }
}

/* The convolutions one by one. */
static ed_tensor *one_by_one(const ed_tensor *x, const chain *c, int pad)
{
    ed_tensor *h = NULL;
    for (int i = 0; i < c->n; i++) {
        ed_conv2d_args a;
        ed_conv2d_args_default(&a);
        a.padding[0] = a.padding[1] = pad;
        a.relu = c->st[i].relu;
        ed_tensor *t = NULL;
        const ed_tensor *in = i ? h : x;
        if (c->s[i]) CHECK_OK(ed__conv2d_scaled(in, c->w[i], c->s[i], c->b[i], &a, &t));
        else CHECK_OK(ed_conv2d(in, c->w[i], c->b[i], &a, &t));
        ed_tensor_free(h);
        h = t;
    }
    return h;
}

static void one_case(const char *name, int n, const int64_t *ch, int k, int64_t N, int64_t H, int64_t W, uint64_t seed)
{
    chain c;
    chain_make(&c, n, ch, k, seed);
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ N, ch[0], H, W }, seed + 1000);
    for (int bf = 0; bf < 2; bf++) {
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
        ed_tensor *got = NULL;
        CHECK_OK(ed__conv_chain_infer(x, n, c.st, k / 2, &got));
        ed_backend_set_enabled(bf == 1);
        ed_tensor *want = one_by_one(x, &c, k / 2);
        ed_backend_set_enabled(true);
        ed_set_conv_precision(ED_PRECISION_F32);
        double scale = 0;
        const double err = check_max_abs_err(got, want, &scale);
        CHECK_MSG(got && want && got->numel == want->numel && err <= (bf ? 1e-3 : 1e-5) * scale,
                  "%s (%s): error %.3g of the scale %.3g", name, bf ? "bf16" : "f32", err / fmax(scale, 1e-30), scale);
        ed_tensor_free(got);
        ed_tensor_free(want);
    }
    ed_tensor_free(x);
    chain_free(&c);
}

static void test_errors(void)
{
    chain c;
    chain_make(&c, 2, (const int64_t[]){ 4, 8, 8 }, 3, 500);
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 1, 5, 6, 6 }, 501), *y = NULL;
    CHECK_ERR(ed__conv_chain_infer(x, 2, c.st, 1, &y), ED_E_SHAPE, "channels");   /* 5 channels for a 4-channel weight */
    CHECK_ERR(ed__conv_chain_infer(x, 0, c.st, 1, &y), ED_E_ARG, "no convolutions");
    CHECK_ERR(ed__conv_chain_infer(x, 2, c.st, 1, NULL), ED_E_ARG, "out is NULL");
    ed_tensor *x4 = check_randn(ED_F32, 4, (int64_t[]){ 1, 4, 6, 6 }, 502);
    ed_tensor_set_requires_grad(c.w[1], 1);
    CHECK_ERR(ed__conv_chain_infer(x4, 2, c.st, 1, &y), ED_E_ARG, "gradient");
    ed_tensor_free(x);
    ed_tensor_free(x4);
    chain_free(&c);
}

int main(void)
{
    one_case("unet level", 2, (const int64_t[]){ 3, 32, 32 }, 3, 2, 16, 16, 10);
    one_case("dncnn-like", 6, (const int64_t[]){ 1, 64, 64, 64, 64, 64, 1 }, 3, 3, 12, 10, 20);
    one_case("odd channels", 3, (const int64_t[]){ 5, 19, 7, 33 }, 3, 2, 9, 7, 30);
    one_case("1x1", 3, (const int64_t[]){ 16, 32, 16, 8 }, 1, 2, 8, 8, 40);
    int64_t ch[MAXN + 1];
    for (int i = 0; i <= 35; i++) ch[i] = i == 0 || i == 35 ? 2 : 16;
    one_case("35 convolutions (two kernel calls)", 35, ch, 3, 1, 8, 8, 50);
    test_errors();
    return check_done();
}
