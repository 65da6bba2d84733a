/* The fused conv + BatchNorm + ReLU training block (ed__conv_bn_relu_train)
 * against its oracle, ed_conv2d then ed__batch_norm_relu on the reference
 * kernels (themselves checked against PyTorch and by finite differences in
 * test_conv and test_norm): output, running statistics and every gradient,
 * in float32 and in bfloat16 convolutions, with channel counts and image
 * sizes that take the vector loops' edges; the stored and the accumulated
 * input gradient; the same bits at 1 and 2 threads; unsupported calls
 * falling back to the two ops. Without oneDNN the op is the two ops, which
 * the same comparisons then check bit for bit. */
#include "check.h"
#include "core/ed_internal.h"
#include "encdec/precision.h"

#include <math.h>

/* The fused kernels, and with them deferred outputs and cat_feed's copies,
 * are oneDNN's: a reference-only build runs the two ops everywhere. */
#ifdef ENCDEC_HAVE_ONEDNN
#define HAVE_FUSED 1
#else
#define HAVE_FUSED 0
#endif
#include <string.h>

typedef struct {
    ed_tensor *z, *rm, *rv, *gx, *gw, *gb, *gg, *gbe;
} result;

static void result_free(result *r)
{
    ed_tensor *all[] = { r->z, r->rm, r->rv, r->gx, r->gw, r->gb, r->gg, r->gbe };
    for (int i = 0; i < 8; i++) ed_tensor_free(all[i]);
    memset(r, 0, sizeof *r);
}

static ed_tensor *grad_copy(const ed_tensor *t)
{
    ed_tensor *c = NULL;
    if (t && ed_tensor_grad(t)) CHECK_OK(ed_tensor_clone(ed_tensor_grad(t), &c));
    return c;
}

/* One forward and backward of the block on copies of the inputs; via_h:
 * the block's input is h = 2 x (a non-leaf whose gradient is stored),
 * else x itself (a leaf: added). fused = 1 runs the op; 0 the oracle on
 * the reference kernels; 2 the two ops on the backends (the oracle for
 * bfloat16, whose rounding the reference does not share). */
static result run(const ed_tensor *x0, const ed_tensor *w0, const ed_tensor *b0, const ed_tensor *g0, const ed_tensor *be0,
                  const ed_tensor *gz, int pad, int fused, int via_h, int wgrad)
{
    result r;
    memset(&r, 0, sizeof r);
    ed_tensor *x = NULL, *w = NULL, *b = NULL, *g = NULL, *be = NULL, *h = NULL, *z = NULL;
    CHECK_OK(ed_tensor_clone(x0, &x));
    CHECK_OK(ed_tensor_clone(w0, &w));
    if (b0) CHECK_OK(ed_tensor_clone(b0, &b));
    CHECK_OK(ed_tensor_clone(g0, &g));
    CHECK_OK(ed_tensor_clone(be0, &be));
    const int64_t C = w0->shape[0];
    CHECK_OK(ed_tensor_new(ED_F32, 1, &C, &r.rm));
    CHECK_OK(ed_tensor_new(ED_F32, 1, &C, &r.rv));
    CHECK_OK(ed_tensor_fill(r.rm, 0.25));
    CHECK_OK(ed_tensor_fill(r.rv, 2.0));
    ed_tensor *leaves[] = { x, w, b, g, be };
    for (int i = 0; i < 5; i++)
        if (leaves[i] && (i != 1 || wgrad)) ed_tensor_set_requires_grad(leaves[i], 1);
    if (via_h) CHECK_OK(ed_scale(x, 2.0, &h));
    if (fused) {
        CHECK_OK(ed__conv_bn_relu_train(via_h ? h : x, w, b, pad, r.rm, r.rv, g, be, 0.1, 1e-5, 0, &z));
    } else {
        ed_backend_set_enabled(fused == 2);
        ed_conv2d_args a;
        ed_conv2d_args_default(&a);
        a.padding[0] = a.padding[1] = pad;
        ed_tensor *c = NULL;
        CHECK_OK(ed_conv2d(via_h ? h : x, w, b, &a, &c));
        CHECK_OK(ed__batch_norm_relu(c, r.rm, r.rv, g, be, 1, 0.1, 1e-5, &z));
        ed_tensor_free(c);
    }
    if (z) CHECK_OK(ed_backward(z, gz));
    ed_backend_set_enabled(true);
    r.z = z;
    r.gx = grad_copy(x);
    r.gw = wgrad ? grad_copy(w) : NULL;
    r.gb = grad_copy(b);
    r.gg = grad_copy(g);
    r.gbe = grad_copy(be);
    ed_tensor *all[] = { x, w, b, g, be, h };
    for (int i = 0; i < 6; i++) ed_tensor_free(all[i]);
    return r;
}

/* Errors relative to each tensor's largest magnitude, the bias gradient's
 * to gbeta's: with a BatchNorm after it, it is zero but for rounding. */
static void compare(const char *name, const result *a, const result *e, double tol)
{
    double bscale = 0;
    for (int64_t j = 0; e->gbe && j < e->gbe->numel; j++) bscale = fmax(bscale, fabs(ed__get(e->gbe, j)));
    char nm[160];
    const ed_tensor *pa[] = { a->z, a->rm, a->rv, a->gx, a->gw, a->gb, a->gg, a->gbe };
    const ed_tensor *pe[] = { e->z, e->rm, e->rv, e->gx, e->gw, e->gb, e->gg, e->gbe };
    const char *what[] = { "z", "running_mean", "running_var", "gx", "gweight", "gbias", "ggamma", "gbeta" };
    for (int i = 0; i < 8; i++) {
        CHECK_MSG(!pa[i] == !pe[i], "%s: %s present in one result only", name, what[i]);
        if (!pa[i] || !pe[i]) continue;
        snprintf(nm, sizeof nm, "%s %s", name, what[i]);
        double scale = 0, err = 0;
        for (int64_t j = 0; j < pe[i]->numel; j++) scale = fmax(scale, fabs(ed__get(pe[i], j)));
        if (i == 5) scale = bscale;
        for (int64_t j = 0; j < pe[i]->numel; j++) err = fmax(err, fabs(ed__get(pa[i], j) - ed__get(pe[i], j)));
        err /= fmax(scale, 1e-30);
        CHECK_MSG(err <= tol, "%s: error %.3g of the scale > %.3g", nm, err, tol);
    }
}

static bool same_bits(const ed_tensor *a, const ed_tensor *b)
{
    if (!a || !b) return a == b;
    return a->numel == b->numel && memcmp(ed_tensor_data((ed_tensor *)a), ed_tensor_data((ed_tensor *)b), sizeof(float) * (size_t)a->numel) == 0;
}

/* bias: 0 none, 1 random, 2 random + 100 (the BatchNorm's input then has
 * a mean 100 times its spread, where float sums would lose digits). */
static void one_case(int64_t N, int64_t Cin, int64_t H, int64_t W, int64_t Cout, int k, int bias, uint64_t seed)
{
    const int pad = k / 2;
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ N, Cin, H, W }, seed);
    ed_tensor *w = check_randn(ED_F32, 4, (int64_t[]){ Cout, Cin, k, k }, seed + 1);
    ed_tensor *b = bias ? check_randn(ED_F32, 1, (int64_t[]){ Cout }, seed + 2) : NULL;
    if (bias == 2) {
        float *bd = ed_tensor_data(b);
        const double spread = sqrt((double)Cin * k * k);   /* of the convolution's output */
        for (int64_t c = 0; c < Cout; c++) bd[c] += (float)(100 * spread);
    }
    ed_tensor *g = check_randn(ED_F32, 1, (int64_t[]){ Cout }, seed + 3), *be = check_randn(ED_F32, 1, (int64_t[]){ Cout }, seed + 4);
    ed_tensor *gz = check_randn(ED_F32, 4, (int64_t[]){ N, Cout, H, W }, seed + 5);
    char name[160];
    for (int prec = 0; prec < 2; prec++)
        for (int via_h = 0; via_h < 2; via_h++) {
            ed_set_conv_precision(prec ? ED_PRECISION_BF16 : ED_PRECISION_F32);
            result f = run(x, w, b, g, be, gz, pad, 1, via_h, 1);
            result o = run(x, w, b, g, be, gz, pad, prec ? 2 : 0, via_h, 1);
            ed_set_conv_precision(ED_PRECISION_F32);
            snprintf(name, sizeof name, "conv_bn_relu %s N=%lld Cin=%lld %lldx%lld Cout=%lld k=%d bias=%d %s",
                     prec ? "bf16" : "f32", (long long)N, (long long)Cin, (long long)H, (long long)W, (long long)Cout, k,
                     bias, via_h ? "(stored gx)" : "(added gx)");
            /* float32: rounding only. bf16: against the two ops with the same
             * bfloat16 convolutions (the sums' order is all that differs). */
            compare(name, &f, &o, prec ? 1e-3 : 1e-5);
            result_free(&f);
            result_free(&o);
        }
    /* Determinism: the same thread count, the same bits (oneDNN's own
     * reductions may split by thread count, so only that is promised). */
    int nt = ed_get_num_threads();
    ed_set_num_threads(2);
    result a = run(x, w, b, g, be, gz, pad, 1, 1, 1);
    result c = run(x, w, b, g, be, gz, pad, 1, 1, 1);
    ed_set_num_threads(nt);
    CHECK_MSG(same_bits(a.z, c.z) && same_bits(a.rv, c.rv) && same_bits(a.gx, c.gx) && same_bits(a.gw, c.gw) &&
                  same_bits(a.gg, c.gg) && same_bits(a.gbe, c.gbe),
              "conv_bn_relu Cout=%lld: two runs should give the same bits", (long long)Cout);
    result_free(&a);
    result_free(&c);
    /* Only the bias, gamma and beta want gradients (the weight frozen). */
    if (bias) {
        result f = run(x, w, b, g, be, gz, pad, 1, 0, 0), o = run(x, w, b, g, be, gz, pad, 0, 0, 0);
        compare("conv_bn_relu, frozen weight", &f, &o, 1e-5);
        result_free(&f);
        result_free(&o);
    }
    ed_tensor *all[] = { x, w, b, g, be, gz };
    for (int i = 0; i < 6; i++) ed_tensor_free(all[i]);
}

/* Calls the fused kernel does not take still give the two ops' results
 * and errors. */
static void test_fallbacks(void)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 3, 6, 6 }, 40), *w = check_randn(ED_F32, 4, (int64_t[]){ 5, 3, 3, 3 }, 41);
    ed_tensor *g = check_randn(ED_F32, 1, (int64_t[]){ 5 }, 42), *be = check_randn(ED_F32, 1, (int64_t[]){ 5 }, 43);
    ed_tensor *gz = check_randn(ED_F32, 4, (int64_t[]){ 2, 5, 6, 6 }, 44);
    result f = run(x, w, NULL, g, be, gz, 1, 1, 0, 1), o = run(x, w, NULL, g, be, gz, 1, 0, 0, 1);
    compare("conv_bn_relu, 5 channels (two ops)", &f, &o, 1e-5);
    result_free(&f);
    result_free(&o);
    ed_tensor *z = NULL, *xw = check_randn(ED_F32, 4, (int64_t[]){ 2, 4, 6, 6 }, 45);
    CHECK_ERR(ed__conv_bn_relu_train(xw, w, NULL, 1, NULL, NULL, g, be, 0.1, 1e-5, 0, &z), ED_E_SHAPE, "channels");
    CHECK_ERR(ed__conv_bn_relu_train(x, w, NULL, 1, NULL, NULL, g, be, 0.1, 0.0, 0, &z), ED_E_ARG, "eps");
    CHECK_ERR(ed__conv_bn_relu_train(x, w, NULL, 1, NULL, NULL, g, be, 0.1, 1e-5, 0, NULL), ED_E_ARG, "out");
    ed_tensor *all[] = { x, w, g, be, gz, xw };
    for (int i = 0; i < 6; i++) ed_tensor_free(all[i]);
}

/* A copy of t0 that wants a gradient (a fresh leaf). */
static ed_tensor *leaf(const ed_tensor *t0)
{
    ed_tensor *t = NULL;
    CHECK_OK(ed_tensor_clone(t0, &t));
    if (t) ed_tensor_set_requires_grad(t, 1);
    return t;
}

/* One conv(3x3, padding 1) + BatchNorm + ReLU block with batch statistics:
 * the fused op (fused == 1; feeds is its feeds_block), or conv2d followed
 * by the fused BatchNorm + ReLU (the oracle). */
static ed_tensor *block(const ed_tensor *x, const ed_tensor *w, int fused, int feeds)
{
    ed_tensor *z = NULL, *c = NULL;
    if (fused == 1) {
        CHECK_OK(ed__conv_bn_relu_train(x, w, NULL, 1, NULL, NULL, NULL, NULL, 0.1, 1e-5, feeds, &z));
        return z;
    }
    ed_conv2d_args ca;
    ed_conv2d_args_default(&ca);
    ca.padding[0] = ca.padding[1] = 1;
    CHECK_OK(ed_conv2d(x, w, NULL, &ca, &c));
    CHECK_OK(ed__batch_norm_relu(c, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &z));
    ed_tensor_free(c);
    return z;
}

/* Two blocks in a chain: the first hands the second its output already in
 * the convolution's layout (feeds_block), the second's backward hands the
 * first its input gradient in NHWC (ed_tensor.nhwc), with no layout pass.
 * extra: z1 also feeds z1 * g1 (before or after the second block), whose
 * gradient is then added to an NHWC one (back to NCHW first). fused: 1 the
 * blocks, 0 the two-op chain on the reference kernels, 2 on the backends
 * (the bfloat16 oracle). */
static void chain(const ed_tensor *x0, const ed_tensor *w1, const ed_tensor *w2, const ed_tensor *g1, const ed_tensor *gz,
                  int fused, int extra, ed_tensor **gx, ed_tensor **gw1, ed_tensor **gw2)
{
    ed_tensor *x = NULL, *a = NULL, *b = NULL, *z1 = NULL, *z2 = NULL, *m = NULL, *l1 = NULL, *l2 = NULL, *l = NULL;
    x = leaf(x0);
    a = leaf(w1);
    b = leaf(w2);
    ed_tensor *h = NULL;
    CHECK_OK(ed_scale(x, 2.0, &h));
    ed_backend_set_enabled(fused != 0);
    z1 = block(h, a, fused, extra != 1);
    if (extra == 1) CHECK_OK(ed_mul(z1, g1, &m));
    z2 = block(z1, b, fused, 0);
    if (extra == 2) CHECK_OK(ed_mul(z1, g1, &m));
    CHECK_OK(ed_mul(z2, gz, &l1));
    CHECK_OK(ed_sum(l1, NULL, 0, 0, &l2));
    if (m) {
        ed_tensor *s1 = NULL;
        CHECK_OK(ed_sum(m, NULL, 0, 0, &s1));
        CHECK_OK(extra == 1 ? ed_add(l2, s1, &l) : ed_add(s1, l2, &l));
        ed_tensor_free(s1);
    }
    CHECK_OK(ed_backward(l ? l : l2, NULL));
    ed_backend_set_enabled(true);
    *gx = grad_copy(x);
    *gw1 = grad_copy(a);
    *gw2 = grad_copy(b);
    ed_tensor *all[] = { x, a, b, h, z1, z2, m, l1, l2, l };
    for (int i = 0; i < 10; i++) ed_tensor_free(all[i]);
}

static void test_chain(void)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 9, 11 }, 60), *w1 = check_randn(ED_F32, 4, (int64_t[]){ 32, 16, 3, 3 }, 61);
    ed_tensor *w2 = check_randn(ED_F32, 4, (int64_t[]){ 16, 32, 3, 3 }, 62), *g1 = check_randn(ED_F32, 4, (int64_t[]){ 2, 32, 9, 11 }, 63);
    ed_tensor *gz = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 9, 11 }, 64);
    for (int k = 0; k < 6; k++) {
        const int extra = k % 3, bf = k / 3;
        ed_tensor *f[3], *o[3];
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
        chain(x, w1, w2, g1, gz, 1, extra, &f[0], &f[1], &f[2]);
        chain(x, w1, w2, g1, gz, bf ? 2 : 0, extra, &o[0], &o[1], &o[2]);
        ed_set_conv_precision(ED_PRECISION_F32);
        const char *what[3] = { "gx", "gw1", "gw2" };
        for (int i = 0; i < 3; i++) {
            double scale = 0;
            const double err = check_max_abs_err(f[i], o[i], &scale);
            /* Under bf16 the second block hands the first its gradient in
             * bfloat16 (as autocast does; the oracle keeps float32): the
             * gradients before it carry that rounding (2^-9 relative). */
            const double tol = !bf ? 1e-5 : i < 2 ? 1e-2 : 1e-3;
            CHECK_MSG(err <= tol * scale, "chain of two blocks (%s, extra use %d): %s error %.3g of the scale",
                      bf ? "bf16" : "f32", extra, what[i], err / fmax(scale, 1e-30));
            ed_tensor_free(f[i]);
            ed_tensor_free(o[i]);
        }
    }
    ed_tensor *all[] = { x, w1, w2, g1, gz };
    for (int i = 0; i < 5; i++) ed_tensor_free(all[i]);
}

/* A cat along channels between two blocks (the U-Net decoder's input):
 * the second block hands the cat its input gradient in its own layout and
 * the cat splits it for its inputs (ed__grad_channels). u = 2 u0 joins z1
 * before or after it (order); with cu = 16 the slices are whole
 * 16-channel groups (the register tiles), with cu = 8 the block's input
 * has 40 channels and the hand-over is declined (plain loops). fused as
 * in chain(). */
static void cat_chain(const ed_tensor *x0, const ed_tensor *u0, const ed_tensor *w1, const ed_tensor *w2,
                      const ed_tensor *gz, int fused, int order, int feed, ed_tensor *out[5], int *deferred)
{
    ed_tensor *x = leaf(x0), *u = leaf(u0), *a = leaf(w1), *b = leaf(w2);
    ed_tensor *leaves[4] = { x, u, a, b };
    ed_tensor *h = NULL, *u2 = NULL, *z1 = NULL, *c = NULL, *z2 = NULL, *l1 = NULL, *l2 = NULL;
    CHECK_OK(ed_scale(x, 2.0, &h));
    CHECK_OK(ed_scale(u, 2.0, &u2));
    ed_backend_set_enabled(fused != 0);
    z1 = block(h, a, fused, 0);
    const ed_tensor *pair[2] = { order ? u2 : z1, order ? z1 : u2 };
    if (feed) CHECK_OK(ed__cat_feed(pair, 2, &c));
    else CHECK_OK(ed_cat(pair, 2, 1, &c));
    *deferred = c->deferred;
    if (c->deferred) memset(c->data, 0xff, sizeof(float) * (size_t)c->numel);   /* nothing may read it */
    z2 = block(c, b, fused, 0);
    CHECK_OK(ed_mul(z2, gz, &l1));
    CHECK_OK(ed_sum(l1, NULL, 0, 0, &l2));
    CHECK_OK(ed_backward(l2, NULL));
    ed_backend_set_enabled(true);
    for (int i = 0; i < 4; i++) out[i] = grad_copy(leaves[i]);
    out[4] = NULL;
    ed_tensor *all[] = { x, u, a, b, h, u2, z1, c, z2, l1, l2 };
    for (int i = 0; i < 11; i++) ed_tensor_free(all[i]);
}

static void test_cat_chain(void)
{
    for (int k = 0; k < 16; k++) {
        const int cu = k % 2 ? 8 : 16, order = k / 2 % 2, bf = k / 4 % 2, feed = k / 8;
        ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 9, 11 }, 80), *u = check_randn(ED_F32, 4, (int64_t[]){ 2, cu, 9, 11 }, 81);
        ed_tensor *w1 = check_randn(ED_F32, 4, (int64_t[]){ 32, 16, 3, 3 }, 82);
        ed_tensor *w2 = check_randn(ED_F32, 4, (int64_t[]){ 16, 32 + cu, 3, 3 }, 83);
        ed_tensor *gz = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 9, 11 }, 84);
        ed_tensor *f[5], *o[5];
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
        int df = 0, dn = 0;
        cat_chain(x, u, w1, w2, gz, 1, order, feed, f, &df);
        cat_chain(x, u, w1, w2, gz, bf ? 2 : 0, order, feed, o, &dn);
        ed_set_conv_precision(ED_PRECISION_F32);
        /* ed__cat_feed writes the block's copy and defers its result when
         * the channels come in whole 16s and the backends are on; the
         * bf16 oracle's plain convolution then has it written first. */
        CHECK_MSG(df == (HAVE_FUSED && feed && cu == 16) && dn == (HAVE_FUSED && feed && cu == 16 && bf),
                  "cat_feed deferred: %d, %d (feed %d, %d channels)",
                  df, dn, feed, cu);
        const char *what[4] = { "gx", "gu", "gw1", "gw2" };
        for (int i = 0; i < 4; i++) {
            double scale = 0;
            const double e = check_max_abs_err(f[i], o[i], &scale);
            /* bf16: the gradient handed to the cat in bfloat16, as in chain() */
            const double tol = !bf ? 1e-5 : i < 3 && cu == 16 ? 1e-2 : 1e-3;
            CHECK_MSG(e <= tol * scale,
                      "cat between blocks (%s, %d + 32 channels, order %d, feed %d): %s error %.3g of the scale",
                      bf ? "bf16" : "f32", cu, order, feed, what[i], e / fmax(scale, 1e-30));
            ed_tensor_free(f[i]);
            ed_tensor_free(o[i]);
        }
        ed_tensor *all[] = { x, u, w1, w2, gz };
        for (int i = 0; i < 5; i++) ed_tensor_free(all[i]);
    }
}

/* feeds_block 2: the first block's z1 is left unwritten (deferred), the
 * second block reads the first's copy. out: z2, gx, gw1, gw2, z1 read
 * (read 1: before the second block, 2: after backward, 0: not read);
 * *deferred: whether z1 was deferred after the forward. */
static void defer_run(const ed_tensor *x0, const ed_tensor *w1, const ed_tensor *w2, const ed_tensor *gz, int feeds,
                      int read, ed_tensor *out[5], int *deferred)
{
    ed_tensor *x = NULL, *a = NULL, *b = NULL, *h = NULL, *z1 = NULL, *z2 = NULL, *l1 = NULL, *l2 = NULL;
    x = leaf(x0);
    a = leaf(w1);
    b = leaf(w2);
    CHECK_OK(ed_scale(x, 2.0, &h));
    z1 = block(h, a, 1, feeds);
    *deferred = z1->deferred;
    /* Nothing may read a deferred tensor's memory: poison it (NaN), so
     * that only a real write passes the comparisons below. */
    if (z1->deferred) memset(z1->data, 0xff, sizeof(float) * (size_t)z1->numel);
    out[4] = NULL;
    if (read == 1) CHECK_OK(ed_tensor_clone(z1, &out[4]));
    z2 = block(z1, b, 1, 0);
    CHECK_OK(ed_mul(z2, gz, &l1));
    CHECK_OK(ed_sum(l1, NULL, 0, 0, &l2));
    CHECK_OK(ed_backward(l2, NULL));
    if (read == 2) CHECK_OK(ed_tensor_clone(z1, &out[4]));
    CHECK_OK(ed_tensor_clone(z2, &out[0]));
    out[1] = grad_copy(x);
    out[2] = grad_copy(a);
    out[3] = grad_copy(b);
    ed_tensor *all[] = { x, a, b, h, z1, z2, l1, l2 };
    for (int i = 0; i < 8; i++) ed_tensor_free(all[i]);
}

static void test_deferred(void)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 9, 11 }, 90), *w1 = check_randn(ED_F32, 4, (int64_t[]){ 32, 16, 3, 3 }, 91);
    ed_tensor *w2 = check_randn(ED_F32, 4, (int64_t[]){ 16, 32, 3, 3 }, 92), *gz = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 9, 11 }, 93);
    for (int k = 0; k < 6; k++) {
        const int read = k % 3, bf = k / 3;
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
        ed_tensor *d[5], *e[5];
        int dd = 0, de = 0;
        defer_run(x, w1, w2, gz, 2, read, d, &dd);
        defer_run(x, w1, w2, gz, 1, read ? read : 1, e, &de);   /* z1 written by the forward */
        ed_set_conv_precision(ED_PRECISION_F32);
        CHECK_MSG(dd == HAVE_FUSED && de == 0, "feeds_block 2 defers z1, 1 does not (%d, %d)", dd, de);
        /* The same kernels run either way: the same bits, z1 included when read. */
        const char *what[5] = { "z2", "gx", "gw1", "gw2", "z1" };
        for (int i = 0; i < 5; i++) {
            if (i == 4 && !read) continue;
            CHECK_MSG(d[i] && e[i] && same_bits(d[i], e[i]), "deferred z1 (%s, read %d): %s differs", bf ? "bf16" : "f32",
                      read, what[i]);
        }
        for (int i = 0; i < 5; i++) {
            ed_tensor_free(d[i]);
            ed_tensor_free(e[i]);
        }
    }
    /* With no input wanting a gradient nothing is recorded, so nothing
     * could write z1 later: it is written at once. */
    {
        ed_tensor *h0 = NULL, *z0 = NULL, *r0 = NULL;
        CHECK_OK(ed_scale(x, 2.0, &h0));
        CHECK_OK(ed__conv_bn_relu_train(h0, w1, NULL, 1, NULL, NULL, NULL, NULL, 0.1, 1e-5, 2, &z0));
        CHECK_OK(ed__conv_bn_relu_train(h0, w1, NULL, 1, NULL, NULL, NULL, NULL, 0.1, 1e-5, 0, &r0));
        CHECK(z0 && r0 && z0->deferred == 0 && same_bits(z0, r0));
        ed_tensor *fr[] = { h0, z0, r0 };
        for (int i = 0; i < 3; i++) ed_tensor_free(fr[i]);
    }
    /* A deferred tensor given to another op is written first (its checks
     * materialise it): z1 * 1 has z1's values. */
    ed_tensor *h = NULL, *z1 = NULL, *m = NULL, *ref = NULL, *z1b = NULL;
    ed_tensor_set_requires_grad(x, 1);   /* a recorded node: what writes a deferred output */
    CHECK_OK(ed_scale(x, 2.0, &h));
    CHECK_OK(ed__conv_bn_relu_train(h, w1, NULL, 1, NULL, NULL, NULL, NULL, 0.1, 1e-5, 2, &z1));
    CHECK_OK(ed__conv_bn_relu_train(h, w1, NULL, 1, NULL, NULL, NULL, NULL, 0.1, 1e-5, 0, &ref));
    CHECK(z1->deferred == HAVE_FUSED);
    if (z1->deferred) memset(z1->data, 0xff, sizeof(float) * (size_t)z1->numel);
    CHECK_OK(ed_scale(z1, 1.0, &m));
    CHECK(z1->deferred == 0 && same_bits(m, ref));
    ed_tensor_free(z1);
    CHECK_OK(ed__conv_bn_relu_train(h, w1, NULL, 1, NULL, NULL, NULL, NULL, 0.1, 1e-5, 2, &z1b));
    if (z1b->deferred) memset(z1b->data, 0xff, sizeof(float) * (size_t)z1b->numel);
    const float *zd = ed_tensor_cdata(z1b);   /* the public accessor writes it */
    CHECK(zd && z1b->deferred == 0 && memcmp(zd, ed_tensor_cdata(ref), sizeof(float) * (size_t)ref->numel) == 0);
    ed_tensor *all[] = { x, w1, w2, gz, h, m, ref, z1b };
    for (int i = 0; i < 8; i++) ed_tensor_free(all[i]);
}

/* Parameter gradients after zero_grad are stored, not added to the stale
 * buffer (ed__grad_of_overwrite for leaves), and add up without it; with
 * only x and the weight cleared, theirs are stored and the bias's, gamma's
 * and beta's added (one primitive writes the weight's and the bias's, so
 * the weight's is zeroed first). Every backward is the same computation,
 * so step k's gradient is (multiplier) x the first's. */
static void test_param_grads(void)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 16, 9, 11 }, 100), *w = check_randn(ED_F32, 4, (int64_t[]){ 32, 16, 3, 3 }, 101);
    ed_tensor *b = check_randn(ED_F32, 1, (int64_t[]){ 32 }, 102), *g = check_randn(ED_F32, 1, (int64_t[]){ 32 }, 103);
    ed_tensor *be = check_randn(ED_F32, 1, (int64_t[]){ 32 }, 104), *gz = check_randn(ED_F32, 4, (int64_t[]){ 2, 32, 9, 11 }, 105);
    ed_tensor *p[5] = { x, w, b, g, be };
    static const int mult[4][5] = { { 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 1 }, { 2, 2, 2, 2, 2 }, { 1, 1, 3, 3, 3 } };
    for (int bf = 0; bf < 2; bf++) {
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
        for (int i = 0; i < 5; i++) {
            ed_tensor_set_requires_grad(p[i], 1);
            ed_tensor_zero_grad(p[i]);
        }
        ed_tensor *first[5] = { 0 };
        for (int step = 0; step < 4; step++) {
            if (step == 1)
                for (int i = 0; i < 5; i++) ed_tensor_zero_grad(p[i]);
            if (step == 3)
                for (int i = 0; i < 2; i++) ed_tensor_zero_grad(p[i]);
            ed_tensor *z = NULL;
            CHECK_OK(ed__conv_bn_relu_train(x, w, b, 1, NULL, NULL, g, be, 0.1, 1e-5, 0, &z));
            CHECK_OK(ed_backward(z, gz));
            ed_tensor_free(z);
            for (int i = 0; i < 5; i++) {
                if (step == 0) {
                    first[i] = grad_copy(p[i]);
                    continue;
                }
                const ed_tensor *gr = ed_tensor_grad(p[i]);
                bool ok = gr && first[i] && gr->numel == first[i]->numel;
                for (int64_t j = 0; ok && j < gr->numel; j++) {
                    const float a = ((const float *)gr->data)[j], e = mult[step][i] * ((const float *)first[i]->data)[j];
                    ok = fabsf(a - e) <= 1e-5f * fmaxf(1.0f, fabsf(e));
                }
                CHECK_MSG(ok, "parameter gradients (%s), step %d: gradient %d should be %d x the first's", bf ? "bf16" : "f32",
                          step, i, mult[step][i]);
            }
        }
        for (int i = 0; i < 5; i++) ed_tensor_free(first[i]);
    }
    ed_set_conv_precision(ED_PRECISION_F32);
    for (int i = 0; i < 5; i++) ed_tensor_free(p[i]);
    ed_tensor_free(gz);
}

int main(void)
{
    test_param_grads();
    test_deferred();
    test_chain();
    test_cat_chain();
    one_case(2, 16, 12, 12, 32, 3, 1, 10);   /* 144 pixels: whole 16-pixel tiles */
    one_case(3, 5, 7, 9, 16, 3, 0, 20);      /* 63 pixels: the tail loops */
    one_case(2, 32, 8, 8, 48, 1, 1, 30);     /* 1x1 */
    one_case(4, 64, 10, 10, 64, 3, 0, 50);   /* DnCNN-like */
    one_case(2, 16, 12, 12, 16, 3, 2, 70);   /* mean 100x the spread */
    test_fallbacks();
    return check_done();
}
