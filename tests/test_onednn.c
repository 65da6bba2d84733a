/* The oneDNN backend against the reference kernels (the oracle): every
 * supported configuration of conv2d and conv_transpose2d, forward and
 * backward (input, weight and bias gradients), on random shapes and options
 * (groups, dilation, stride > kernel, asymmetric 'same' padding,
 * output_padding, odd sizes), to 1e-4 relative. Also: backward kernels add
 * (+=) into gradient buffers that already hold values, float64 is left to
 * the reference, and the backend is really chosen for float32. The
 * NCHW <-> NHWC (and nChw16c) activation loops of layout.c give exactly what
 * oneDNN's own reorders give, on tile-sized and ragged shapes.
 * Without oneDNN (ENCDEC_ONEDNN=OFF or not found) the test says so and
 * passes. */
#include "check.h"
#include "core/ed_internal.h"
#include "ops/conv_common.h"
#ifdef ENCDEC_HAVE_ONEDNN
#include "backend/onednn/onednn_common.h"
#include "ops/batch_norm_params.h"
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef ENCDEC_HAVE_ONEDNN
int main(void)
{
    printf("test_onednn: built without oneDNN (ENCDEC_ONEDNN=OFF or libdnnl not found): skipped\n");
    return check_done();
}
#else

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static int rnd(int lo, int hi)   /* inclusive */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (int)(rng_state % (uint64_t)(hi - lo + 1));
}

typedef struct {
    bool transposed;
    int N, G, cin_g, cout_g, H, W, kh, kw;
    int stride[2], pad[2], dil[2], outpad[2];
    bool same, bias;
} cfg;

static void cfg_str(const cfg *c, char *buf, size_t n)
{
    snprintf(buf, n, "%s N=%d G=%d cin/g=%d cout/g=%d %dx%d k=%dx%d s=%d,%d p=%s%d,%d d=%d,%d op=%d,%d bias=%d",
             c->transposed ? "conv_transpose2d" : "conv2d", c->N, c->G, c->cin_g, c->cout_g, c->H, c->W, c->kh, c->kw,
             c->stride[0], c->stride[1], c->same ? "same/" : "", c->pad[0], c->pad[1], c->dil[0], c->dil[1],
             c->outpad[0], c->outpad[1], c->bias);
}

/* Runs the op and its backward with sum(y * R); results are new heap
 * tensors (y, gx, gw, gb). */
static ed_status run_cfg(const cfg *c, ed_dtype dt, bool backend, ed_tensor *out[4])
{
    ed_backend_set_enabled(backend);
    const int cin = c->cin_g * c->G, cout = c->cout_g * c->G;
    ed_tensor *x = check_randn(dt, SHAPE(c->N, cin, c->H, c->W), 11);
    ed_tensor *w = c->transposed ? check_randn(dt, SHAPE(cin, c->cout_g, c->kh, c->kw), 12)
                                 : check_randn(dt, SHAPE(cout, c->cin_g, c->kh, c->kw), 12);
    ed_tensor *b = c->bias ? check_randn(dt, SHAPE(cout), 13) : NULL;
    ed_tensor_set_requires_grad(x, 1);
    ed_tensor_set_requires_grad(w, 1);
    if (b) ed_tensor_set_requires_grad(b, 1);
    ed_tensor *y = NULL;
    ed_status st;
    if (c->transposed) {
        ed_conv_transpose2d_args a;
        ed_conv_transpose2d_args_default(&a);
        for (int d = 0; d < 2; d++) {
            a.stride[d] = c->stride[d];
            a.padding[d] = c->pad[d];
            a.dilation[d] = c->dil[d];
            a.output_padding[d] = c->outpad[d];
        }
        a.groups = c->G;
        st = ed_conv_transpose2d(x, w, b, &a, &y);
    } else {
        ed_conv2d_args a;
        ed_conv2d_args_default(&a);
        for (int d = 0; d < 2; d++) {
            a.stride[d] = c->stride[d];
            a.padding[d] = c->pad[d];
            a.dilation[d] = c->dil[d];
        }
        a.groups = c->G;
        if (c->same) a.padding_kind = ED_PADDING_SAME;
        st = ed_conv2d(x, w, b, &a, &y);
    }
    if (st == ED_OK) {
        ed_tensor *r = check_randn(dt, y->ndim, y->shape, 14);
        st = ed_backward(y, r);
        ed_tensor_free(r);
    }
    if (st == ED_OK) {
        out[0] = y;
        y = NULL;
        ed_tensor *g[3] = { ed_tensor_grad(x), ed_tensor_grad(w), b ? ed_tensor_grad(b) : NULL };
        for (int i = 0; i < 3; i++) {
            out[1 + i] = NULL;
            if (g[i]) ed_tensor_clone(g[i], &out[1 + i]);
        }
    }
    ed_tensor_free(y);
    ed_tensor_free(x);
    ed_tensor_free(w);
    ed_tensor_free(b);
    ed_backend_set_enabled(true);
    return st;
}

/* The params the op would hand a backend, for the explicit-padding case. */
static ed__conv_params params_of(const cfg *c)
{
    ed__conv_params p;
    memset(&p, 0, sizeof p);
    for (int d = 0; d < 2; d++) {
        p.stride[d] = c->stride[d];
        p.pad_lo[d] = p.pad_hi[d] = c->pad[d];
        p.dilation[d] = c->dil[d];
        p.output_padding[d] = c->transposed ? c->outpad[d] : 0;
    }
    p.groups = c->G;
    return p;
}

static int n_onednn, n_total, n_declined_ok;
static double worst, worst_ref;

static void compare_cfg(const cfg *c)
{
    char name[256], what[300];
    cfg_str(c, name, sizeof name);
    /* The oracle is the reference kernel in float64: comparing two float32
     * results would hold oneDNN to the reference's own rounding, which on
     * long weight-gradient sums is itself about 1e-4 off.
     * Tolerance: 1e-4 relative, with entries below 1% of the tensor's
     * largest judged against that 1% (an absolute 1e-6 of the scale): an
     * entry that cancels to ~1e-3 of the largest carries float32 rounding
     * of ~1e-7 of the largest from its terms, whichever the order of the
     * sum, and the two kernels sum in different orders. The float32
     * reference is held to the same measure, for comparison. */
    ed_tensor *ref[4] = { 0 }, *got[4] = { 0 }, *ref32[4] = { 0 };
    ed_status s1 = run_cfg(c, ED_F64, false, ref);
    ed_status s2 = run_cfg(c, ED_F32, true, got);
    ed_status s3 = run_cfg(c, ED_F32, false, ref32);
    CHECK_MSG(s1 == ED_OK && s2 == ED_OK && s3 == ED_OK, "%s: status %d / %d: %s", name, s1, s2, ed_last_error());
    if (s1 == ED_OK && s2 == ED_OK && s3 == ED_OK) {
        static const char *what_name[4] = { "y", "gx", "gweight", "gbias" };
        for (int i = 0; i < 4; i++) {
            if (!ref[i] && !got[i]) continue;
            double scale = 0;
            for (int64_t j = 0; j < ref[i]->numel; j++) scale = fmax(scale, fabs(ed__get(ref[i], j)));
            double floor = fmax(scale * 1e-2, 1e-12);
            double err = check_max_rel_err(got[i], ref[i], floor), ref_err = check_max_rel_err(ref32[i], ref[i], floor);
            if (ref_err > worst_ref) worst_ref = ref_err;
            if (err > worst) worst = err;
            snprintf(what, sizeof what, "%s %s", name, what_name[i]);
            CHECK_MSG(err <= 1e-4, "%s: max rel err %.3g > 1e-4 (float32 reference: %.3g)", what, err, ref_err);
        }
    }
    for (int i = 0; i < 4; i++) ed_tensor_free(ref32[i]);
    /* Did oneDNN take it? (Explicit padding: params are easy to rebuild.) */
    if (!c->same && s2 == ED_OK) {
        ed__conv_params p = params_of(c);
        const int cin = c->cin_g * c->G, cout = c->cout_g * c->G;
        ed_tensor *x = check_randn(ED_F32, SHAPE(c->N, cin, c->H, c->W), 1);
        ed_tensor *w = c->transposed ? check_randn(ED_F32, SHAPE(cin, c->cout_g, c->kh, c->kw), 2)
                                     : check_randn(ED_F32, SHAPE(cout, c->cin_g, c->kh, c->kw), 2);
        ed_tensor *t[4] = { x, w, NULL, got[0] };
        const ed_kernel *k = ed_backend_find(c->transposed ? ED_OP_CONV_TRANSPOSE2D : ED_OP_CONV2D, ED_FORWARD, &p, t);
        n_total++;
        /* oneDNN rejects the negative right padding that output_padding
         * becomes for some dilated transposed convolutions; the reference
         * runs those, and only those. */
        bool may_decline = c->transposed && (c->dil[0] > 1 || c->dil[1] > 1) && (c->outpad[0] || c->outpad[1]);
        /* stride == kernel transposed convolutions go to the faster
         * special case of src/backend/fast/ (tested in test_deconv_fast.c). */
        if (k && (strcmp(k->backend, "onednn") == 0 || strcmp(k->backend, "fast") == 0)) n_onednn++;
        else if (may_decline) n_declined_ok++;
        else printf("  reference used for: %s\n", name);
        ed_tensor_free(x);
        ed_tensor_free(w);
    }
    for (int i = 0; i < 4; i++) {
        ed_tensor_free(ref[i]);
        ed_tensor_free(got[i]);
    }
}

static bool random_cfg(cfg *c, bool transposed)
{
    memset(c, 0, sizeof *c);
    c->transposed = transposed;
    c->N = rnd(1, 3);
    c->G = rnd(1, 4) == 1 ? rnd(2, 3) : 1;
    c->cin_g = rnd(1, 6);
    c->cout_g = rnd(1, 6);
    c->H = rnd(1, 13);
    c->W = rnd(1, 13);
    c->kh = rnd(1, 4);
    c->kw = rnd(1, 4);
    c->bias = rnd(0, 3) != 0;
    for (int d = 0; d < 2; d++) {
        c->stride[d] = rnd(1, 4) == 1 ? rnd(2, 5) : 1;   /* sometimes > kernel */
        c->dil[d] = rnd(1, 3) == 1 ? rnd(2, 3) : 1;
        c->pad[d] = rnd(0, 2);
    }
    if (transposed) {
        for (int d = 0; d < 2; d++) {
            int lim = c->stride[d] > c->dil[d] ? c->stride[d] : c->dil[d];
            c->outpad[d] = rnd(0, 2) == 0 ? rnd(0, lim - 1) : 0;
            int k = d ? c->kw : c->kh, in = d ? c->W : c->H;
            if ((in - 1) * c->stride[d] - 2 * c->pad[d] + c->dil[d] * (k - 1) + c->outpad[d] + 1 <= 0) return false;
        }
    } else {
        if (c->stride[0] == 1 && c->stride[1] == 1 && rnd(0, 3) == 0) c->same = true;
        for (int d = 0; d < 2; d++) {
            int k = d ? c->kw : c->kh, in = d ? c->W : c->H;
            int span = c->dil[d] * (k - 1);
            int padded = c->same ? in + span : in + 2 * c->pad[d];
            if (padded < span + 1) return false;
        }
    }
    return true;
}

static void test_random(bool transposed, int n)
{
    int done = 0;
    for (int tries = 0; done < n && tries < 20 * n; tries++) {
        cfg c;
        if (!random_cfg(&c, transposed)) continue;
        compare_cfg(&c);
        done++;
    }
}

/* Fixed corners the random draw may miss. */
static void test_corners(void)
{
    /* 'same' with an even kernel: the extra pad goes bottom/right. */
    compare_cfg(&(cfg){ .N = 2, .G = 1, .cin_g = 3, .cout_g = 4, .H = 7, .W = 6, .kh = 4, .kw = 2,
                        .stride = { 1, 1 }, .dil = { 1, 2 }, .same = true, .bias = true });
    /* stride larger than the kernel. */
    compare_cfg(&(cfg){ .N = 1, .G = 1, .cin_g = 2, .cout_g = 3, .H = 11, .W = 9, .kh = 2, .kw = 1,
                        .stride = { 4, 3 }, .dil = { 1, 1 }, .bias = false });
    /* transposed: output_padding with stride, grouped, dilated. */
    compare_cfg(&(cfg){ .transposed = true, .N = 2, .G = 2, .cin_g = 3, .cout_g = 2, .H = 5, .W = 4, .kh = 3, .kw = 3,
                        .stride = { 2, 3 }, .pad = { 1, 1 }, .dil = { 2, 1 }, .outpad = { 1, 2 }, .bias = true });
    /* the U-Net up-sampler: 2x2 stride 2. */
    compare_cfg(&(cfg){ .transposed = true, .N = 2, .G = 1, .cin_g = 16, .cout_g = 8, .H = 6, .W = 5, .kh = 2,
                        .kw = 2, .stride = { 2, 2 }, .dil = { 1, 1 }, .bias = true });
    /* a channel count that fills oneDNN's 16-wide blocks unevenly. */
    compare_cfg(&(cfg){ .N = 2, .G = 1, .cin_g = 19, .cout_g = 33, .H = 9, .W = 10, .kh = 3, .kw = 3,
                        .stride = { 1, 1 }, .pad = { 1, 1 }, .dil = { 1, 1 }, .bias = true });
}

/* Backward kernels add into buffers that already hold a gradient. */
static void test_accumulates(bool transposed)
{
    cfg c = { .transposed = transposed, .N = 2, .G = 1, .cin_g = 5, .cout_g = 7, .H = 8, .W = 7, .kh = 3, .kw = 3,
              .stride = { 1, 1 }, .pad = { 1, 1 }, .dil = { 1, 1 }, .bias = true };
    if (transposed) c.stride[0] = 2;
    ed_tensor *ref[4] = { 0 };
    CHECK_OK(run_cfg(&c, ED_F32, false, ref));
    if (!ref[0]) return;
    const int cin = c.cin_g, cout = c.cout_g;
    ed_tensor *x = check_randn(ED_F32, SHAPE(c.N, cin, c.H, c.W), 11);
    ed_tensor *w = transposed ? check_randn(ED_F32, SHAPE(cin, cout, c.kh, c.kw), 12)
                              : check_randn(ED_F32, SHAPE(cout, cin, c.kh, c.kw), 12);
    ed_tensor *gy = check_randn(ED_F32, ref[0]->ndim, ref[0]->shape, 14);
    ed_tensor *pre[3], *gx, *gw, *gb, *want[3];
    for (int i = 0; i < 3; i++) {
        pre[i] = check_randn(ED_F32, ref[1 + i]->ndim, ref[1 + i]->shape, 30 + i);
        ed_add(pre[i], ref[1 + i], &want[i]);
    }
    ed_tensor_clone(pre[0], &gx);
    ed_tensor_clone(pre[1], &gw);
    ed_tensor_clone(pre[2], &gb);
    ed__conv_params p = params_of(&c);
    ed_tensor *t[6] = { x, w, gy, gx, gw, gb };
    const ed_kernel *k = ed_backend_find(transposed ? ED_OP_CONV_TRANSPOSE2D : ED_OP_CONV2D, ED_BACKWARD, &p, t);
    CHECK(k && strcmp(k->backend, "onednn") == 0);
    if (k) {
        CHECK_OK(k->run(&p, t));
        CHECK_CLOSE(transposed ? "convt accumulate gx" : "conv accumulate gx", gx, want[0], 1e-4);
        CHECK_CLOSE(transposed ? "convt accumulate gw" : "conv accumulate gw", gw, want[1], 1e-4);
        CHECK_CLOSE(transposed ? "convt accumulate gb" : "conv accumulate gb", gb, want[2], 1e-4);
    }
    /* Only a bias gradient wanted: still added. */
    ed_tensor *gb2;
    ed_tensor_clone(pre[2], &gb2);
    ed_tensor *t2[6] = { x, w, gy, NULL, NULL, gb2 };
    k = ed_backend_find(transposed ? ED_OP_CONV_TRANSPOSE2D : ED_OP_CONV2D, ED_BACKWARD, &p, t2);
    if (k) {
        CHECK_OK(k->run(&p, t2));
        CHECK_CLOSE("bias-only gradient accumulates", gb2, want[2], 1e-4);
    }
    ed_tensor *all[] = { x, w, gy, gx, gw, gb, gb2, pre[0], pre[1], pre[2], want[0], want[1], want[2],
                         ref[0], ref[1], ref[2], ref[3] };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
}

/* float64 and empty batches are the reference's. */
static void test_declines(void)
{
    cfg c = { .N = 1, .G = 1, .cin_g = 2, .cout_g = 2, .H = 5, .W = 5, .kh = 3, .kw = 3, .stride = { 1, 1 },
              .dil = { 1, 1 } };
    ed__conv_params p = params_of(&c);
    ed_tensor *x = check_randn(ED_F64, SHAPE(1, 2, 5, 5), 1), *w = check_randn(ED_F64, SHAPE(2, 2, 3, 3), 2),
              *y = check_randn(ED_F64, SHAPE(1, 2, 3, 3), 3);
    const ed_kernel *k = ed_backend_find(ED_OP_CONV2D, ED_FORWARD, &p, (ed_tensor *[]){ x, w, NULL, y });
    CHECK_MSG(!k || strcmp(k->backend, "onednn") != 0, "float64 conv2d must not go to oneDNN");
    ed_tensor *x0 = check_randn(ED_F32, SHAPE(0, 2, 5, 5), 1), *w0 = check_randn(ED_F32, SHAPE(2, 2, 3, 3), 2),
              *y0 = check_randn(ED_F32, SHAPE(0, 2, 3, 3), 3);
    k = ed_backend_find(ED_OP_CONV2D, ED_FORWARD, &p, (ed_tensor *[]){ x0, w0, NULL, y0 });
    CHECK_MSG(!k || strcmp(k->backend, "onednn") != 0, "an empty batch must not go to oneDNN");
    /* And the op still works end to end on an empty batch. */
    ed_tensor *out = NULL;
    CHECK_OK(ed_conv2d(x0, w0, NULL, NULL, &out));
    CHECK(out && out->shape[0] == 0);
    ed_tensor *all[] = { x, w, y, x0, w0, y0, out };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
}

/* ---- bf16 ----------------------------------------------------------------
 * Under ED_PRECISION_BF16 the same configurations, against the float64
 * reference, to 2e-2 of each tensor's largest entry (bf16 keeps 8 bits of
 * mantissa: each product is off by up to ~2^-8 relative, and sums of many
 * such terms average out; the error measured here is about 3e-3). */
static double worst_bf16;
static void compare_bf16(const cfg *c)
{
    char name[256];
    cfg_str(c, name, sizeof name);
    ed_tensor *ref[4] = { 0 }, *got[4] = { 0 };
    ed_status s1 = run_cfg(c, ED_F64, false, ref);
    ed_set_conv_precision(ED_PRECISION_BF16);
    ed_status s2 = run_cfg(c, ED_F32, true, got);
    ed_set_conv_precision(ED_PRECISION_F32);
    CHECK_MSG(s1 == ED_OK && s2 == ED_OK, "bf16 %s: status %d / %d: %s", name, s1, s2, ed_last_error());
    static const char *what_name[4] = { "y", "gx", "gweight", "gbias" };
    for (int i = 0; i < 4 && s1 == ED_OK && s2 == ED_OK; i++) {
        if (!ref[i] || !got[i]) continue;
        CHECK(got[i]->dtype == ED_F32);
        double scale = 0;
        for (int64_t j = 0; j < ref[i]->numel; j++) scale = fmax(scale, fabs(ed__get(ref[i], j)));
        double err = check_max_rel_err(got[i], ref[i], fmax(scale, 1e-12));
        if (err > worst_bf16) worst_bf16 = err;
        CHECK_MSG(err <= 2e-2, "bf16 %s %s: error %.3g of the scale > 2e-2", name, what_name[i], err);
    }
    for (int i = 0; i < 4; i++) {
        ed_tensor_free(ref[i]);
        ed_tensor_free(got[i]);
    }
}

static void test_bf16(void)
{
    CHECK_ERR(ed_set_conv_precision((ed_precision)7), ED_E_ARG, "ED_PRECISION_F32 or ED_PRECISION_BF16, got 7");
    CHECK(ed_get_conv_precision() == ED_PRECISION_F32);
    CHECK_OK(ed_set_conv_precision(ED_PRECISION_BF16));
    CHECK(ed_get_conv_precision() == ED_PRECISION_BF16);
    CHECK_OK(ed_set_conv_precision(ED_PRECISION_F32));
    /* The U-Net's layers: 3x3 'same' conv, 2x2 stride-2 up-sampler. */
    compare_bf16(&(cfg){ .N = 2, .G = 1, .cin_g = 32, .cout_g = 32, .H = 12, .W = 12, .kh = 3, .kw = 3,
                         .stride = { 1, 1 }, .pad = { 1, 1 }, .dil = { 1, 1 }, .bias = true });
    compare_bf16(&(cfg){ .transposed = true, .N = 2, .G = 1, .cin_g = 32, .cout_g = 16, .H = 6, .W = 5, .kh = 2,
                         .kw = 2, .stride = { 2, 2 }, .dil = { 1, 1 }, .bias = true });
    compare_bf16(&(cfg){ .N = 2, .G = 1, .cin_g = 3, .cout_g = 19, .H = 9, .W = 10, .kh = 3, .kw = 3,
                         .stride = { 1, 1 }, .pad = { 1, 1 }, .dil = { 1, 1 }, .bias = true });
    for (int done = 0, tries = 0; done < 16 && tries < 400; tries++) {
        cfg c;
        if (!random_cfg(&c, done % 2 == 1)) continue;
        compare_bf16(&c);
        done++;
    }
    printf("test_onednn: bf16 worst error vs float64: %.3g of the tensor's scale\n", worst_bf16);
}

/* Training the demo's dae (width 16, batch 8, 32x32) for 30 Adam steps in
 * bf16 follows the f32 loss curve: each step's loss within 3%. */
static void train_dae(ed_precision prec, double *losses, int steps)
{
    ed_set_conv_precision(prec);
    ed_model *m = NULL;
    CHECK_OK(ed_model_create("dae", "{\"in_channels\":3,\"width\":16}", &m));
    ed_rng r;
    ed_rng_init(&r, 5);
    CHECK_OK(ed_model_init(m, &r));
    ed_optim *o = NULL;
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    oa.lr = 2e-3;
    CHECK_OK(ed_optim_new(ed_model_params(m), &oa, &o));
    const int N = 8, C = 3, S = 32;
    ed_tensor *clean = check_randn(ED_F32, SHAPE(N, C, S, S), 40), *noisy = check_randn(ED_F32, SHAPE(N, C, S, S), 41);
    float *cl = ed_tensor_data(clean), *no = ed_tensor_data(noisy);
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    size_t i = (((size_t)n * C + c) * S + y) * S + x;
                    cl[i] = (float)(0.5 + 0.4 * sin(0.2 * (n + 1) * x + 0.3 * c) * cos(0.15 * (c + 1) * y + n));
                    no[i] = cl[i] + 0.2f * no[i];
                }
    for (int s = 0; s < steps && m && o; s++) {
        ed_tensor *out = NULL, *loss = NULL;
        ed_status st = ed_model_forward(m, noisy, 1, &out);
        if (st == ED_OK) st = ed_mse_loss(out, clean, NULL, &loss);
        if (st == ED_OK) st = ed_backward(loss, NULL);
        losses[s] = st == ED_OK ? ed_tensor_item(loss) : NAN;
        if (st == ED_OK) st = ed_optim_step(o);
        ed_params_zero_grad(ed_model_params(m));
        CHECK_OK(st);
        ed_tensor_free(loss);
        ed_tensor_free(out);
        if (st != ED_OK) break;
    }
    ed_tensor_free(clean);
    ed_tensor_free(noisy);
    ed_optim_free(o);
    ed_model_free(m);
    ed_set_conv_precision(ED_PRECISION_F32);
}

static void test_bf16_training(void)
{
    enum { STEPS = 30 };
    double l32[STEPS], l16[STEPS], worst_d = 0;
    train_dae(ED_PRECISION_F32, l32, STEPS);
    train_dae(ED_PRECISION_BF16, l16, STEPS);
    for (int s = 0; s < STEPS; s++) worst_d = fmax(worst_d, fabs(l16[s] - l32[s]) / l32[s]);
    printf("test_onednn: dae loss f32 %.5f -> %.5f, bf16 %.5f -> %.5f, worst step difference %.2f%%\n", l32[0],
           l32[STEPS - 1], l16[0], l16[STEPS - 1], 100 * worst_d);
    CHECK_MSG(l32[STEPS - 1] < 0.5 * l32[0], "f32 training should learn: %g -> %g", l32[0], l32[STEPS - 1]);
    CHECK_MSG(worst_d <= 0.03, "bf16 loss curve off f32 by %.2f%% > 3%%", 100 * worst_d);
}

/* ---- weight cache: changed weights are never served stale --------------- */
static ed_tensor *conv_fwd(const ed_tensor *x, const ed_tensor *w, bool backend)
{
    ed_backend_set_enabled(backend);
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = 1;
    ed_tensor *y = NULL;
    CHECK_OK(ed_conv2d(x, w, NULL, &a, &y));
    ed_backend_set_enabled(true);
    return y;
}

static void expect_fresh(const char *what, const ed_tensor *x, const ed_tensor *w)
{
    ed_tensor *ref = conv_fwd(x, w, false), *got = conv_fwd(x, w, true);
    if (ref && got) {
        /* 1e-4 with the same floor as compare_cfg: stale weights would be
         * off by the size of the change, O(1). */
        double scale = 0;
        for (int64_t j = 0; j < ref->numel; j++) scale = fmax(scale, fabs(ed__get(ref, j)));
        double err = check_max_rel_err(got, ref, scale * 1e-2);
        CHECK_MSG(err <= 1e-4, "%s: max rel err %.3g > 1e-4", what, err);
    }
    ed_tensor_free(ref);
    ed_tensor_free(got);
}

static void test_weight_cache(void)
{
    odnn_lock();
    odnn_weight_cache_clear();
    odnn_unlock();
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 16, 9, 9), 50), *w = check_randn(ED_F32, SHAPE(16, 16, 3, 3), 51);
    int64_t h0, m0, h1, m1;
    expect_fresh("weight cache: first call", x, w);
    odnn_weight_cache_stats(&h0, &m0);
    expect_fresh("weight cache: same weights", x, w);
    odnn_weight_cache_stats(&h1, &m1);
    CHECK_MSG(h1 > h0 && m1 == m0, "unchanged weights should be served from the cache (hits %lld->%lld, misses "
              "%lld->%lld)", (long long)h0, (long long)h1, (long long)m0, (long long)m1);
    /* One element written through ed_tensor_data, then the last byte. */
    float *wd = ed_tensor_data(w);
    wd[77] += 0.5f;
    expect_fresh("weight cache: one element changed", x, w);
    wd[w->numel - 1] = -wd[w->numel - 1];
    expect_fresh("weight cache: last element changed", x, w);
    odnn_weight_cache_stats(&h1, &m1);
    CHECK(m1 >= m0 + 2);
    /* Precision switched on the same weights: a different copy (bf16). */
    ed_set_conv_precision(ED_PRECISION_BF16);
    ed_tensor *yb = conv_fwd(x, w, true);
    ed_set_conv_precision(ED_PRECISION_F32);
    ed_tensor_free(yb);
    expect_fresh("weight cache: back to f32", x, w);
    /* Freed and reallocated (often at the same address) with other values. */
    for (int i = 0; i < 4; i++) {
        ed_tensor_free(w);
        w = check_randn(ED_F32, SHAPE(16, 16, 3, 3), 60 + (uint64_t)i);
        expect_fresh("weight cache: reallocated weights", x, w);
    }
    /* Through an optimizer step on a model's parameters: the training test
     * above already steps; here, a load of other values into the same
     * buffer (memcpy, as ed_params_load does). */
    ed_tensor *w2 = check_randn(ED_F32, SHAPE(16, 16, 3, 3), 70);
    expect_fresh("weight cache: before overwrite", x, w);
    memcpy(ed_tensor_data(w), ed_tensor_data(w2), sizeof(float) * (size_t)w->numel);
    expect_fresh("weight cache: after overwrite", x, w);
    ed_tensor_free(w2);
    ed_tensor_free(w);
    ed_tensor_free(x);
    /* A weight fingerprinted in pieces (over 256 KiB: 590 KB here): a
     * change in a middle piece and in the last one are seen. */
    x = check_randn(ED_F32, SHAPE(1, 128, 6, 6), 80);
    w = check_randn(ED_F32, SHAPE(128, 128, 3, 3), 81);
    expect_fresh("weight cache (pieces): first call", x, w);
    odnn_weight_cache_stats(&h0, &m0);
    expect_fresh("weight cache (pieces): same weights", x, w);
    wd = ed_tensor_data(w);
    wd[70000] += 1.0f;
    expect_fresh("weight cache (pieces): middle piece changed", x, w);
    wd[w->numel - 1] += 1.0f;
    expect_fresh("weight cache (pieces): last piece changed", x, w);
    odnn_weight_cache_stats(&h1, &m1);
    CHECK_MSG(m1 == m0 + 2 && h1 >= h0 + 1, "pieces: misses %lld->%lld, hits %lld->%lld", (long long)m0, (long long)m1,
              (long long)h0, (long long)h1);
    ed_tensor_free(w);
    ed_tensor_free(x);
}

/* ---- folded weights (ed__conv2d_scaled) in the weight cache -------------- */
static ed_tensor *folded_fwd(const ed_tensor *x, const ed_tensor *w, const ed_tensor *s, bool explicit_fold)
{
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = 1;
    ed_tensor *y = NULL, *wf = NULL;
    if (explicit_fold) {
        CHECK_OK(ed_tensor_new(ED_F32, 4, w->shape, &wf));
        ed__conv_scale_weight(w->data, s->data, w->shape[0], w->numel / w->shape[0], wf->data);
        CHECK_OK(ed_conv2d(x, wf, NULL, &a, &y));
    } else {
        CHECK_OK(ed__conv2d_scaled(x, w, s, NULL, &a, &y));
    }
    ed_tensor_free(wf);
    return y;
}

static void expect_folded(const char *what, const ed_tensor *x, const ed_tensor *w, const ed_tensor *s)
{
    ed_tensor *want = folded_fwd(x, w, s, true), *got = folded_fwd(x, w, s, false);
    CHECK_MSG(want && got && memcmp(want->data, got->data, sizeof(float) * (size_t)want->numel) == 0,
              "%s: the folded weight should equal an explicit fold bit for bit", what);
    ed_tensor_free(want);
    ed_tensor_free(got);
}

static void test_folded_weight_cache(void)
{
    odnn_lock();
    odnn_weight_cache_clear();
    odnn_unlock();
    /* 20 x 7 x 3 x 3 floats: 5040 bytes, not a whole number of the
     * fingerprint's 256-byte steps. */
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 7, 9, 9), 90), *w = check_randn(ED_F32, SHAPE(20, 7, 3, 3), 91), *s = NULL;
    CHECK_OK(ed_tensor_new(ED_F64, 1, (int64_t[]){ 20 }, &s));
    double *sd = ed_tensor_data(s);
    for (int o = 0; o < 20; o++) sd[o] = 0.5 + 0.1 * o;
    const ed_kernel *k = ed_backend_find(ED_OP_CONV2D, ED_FORWARD, &(ed__conv_params){ .stride = { 1, 1 }, .pad_lo = { 1, 1 }, .pad_hi = { 1, 1 }, .dilation = { 1, 1 }, .groups = 1, .wscale = 1 },
                                         (ed_tensor *[]){ x, w, NULL, x, s });
    CHECK_MSG(k && strcmp(k->backend, "onednn") == 0, "a folded conv2d should run on oneDNN");
    expect_folded("folded: first call", x, w, s);
    int64_t h0, m0, h1, m1;
    odnn_weight_cache_stats(&h0, &m0);
    ed_tensor *y = folded_fwd(x, w, s, false);
    ed_tensor_free(y);
    odnn_weight_cache_stats(&h1, &m1);
    CHECK_MSG(h1 == h0 + 1 && m1 == m0, "the same folded weight should be a cache hit (hits %lld->%lld, misses %lld->%lld)",
              (long long)h0, (long long)h1, (long long)m0, (long long)m1);
    sd[3] = -sd[3];
    expect_folded("folded: one scale changed", x, w, s);
    expect_fresh("folded, then the same weight unfolded", x, w);
    expect_folded("unfolded, then folded again", x, w, s);
    float *wd = ed_tensor_data(w);
    wd[w->numel - 1] += 1.0f;
    expect_folded("folded: last weight changed", x, w, s);
    ed_tensor_free(s);
    ed_tensor_free(w);
    ed_tensor_free(x);
}

/* ---- the forward's converted input kept for the weight gradient ---------- */
/* Weight gradient of conv2d(x, w) for gy, with the kept copy (keep = 1) or
 * with it dropped before backward, so backward converts x itself. */
static ed_tensor *kept_grad(const ed_tensor *x, const ed_tensor *w0, const ed_tensor *gy, int keep)
{
    ed_tensor *w = NULL, *y = NULL, *gw = NULL;
    CHECK_OK(ed_tensor_clone(w0, &w));
    ed_tensor_set_requires_grad(w, 1);
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = 1;
    CHECK_OK(ed_conv2d(x, w, NULL, &a, &y));
    if (y && y->node) {
        CHECK_MSG(y->node->n_saved == 1 && y->node->saved[0]->dtype == ED_U8 && ((const uint64_t *)y->node->saved[0]->data)[0] > 0,
                  "a oneDNN conv2d in training should keep its converted input");
        if (!keep && y->node->n_saved == 1) {
            ed_tensor_free(y->node->saved[0]);
            y->node->n_saved = 0;
        }
    }
    CHECK_OK(ed_backward(y, gy));
    CHECK_OK(ed_tensor_clone(ed_tensor_grad(w), &gw));
    ed_tensor_free(y);
    ed_tensor_free(w);
    return gw;
}

static void test_kept_input(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 32, 12, 12), 95), *w = check_randn(ED_F32, SHAPE(32, 32, 3, 3), 96);
    ed_tensor *gy = check_randn(ED_F32, SHAPE(2, 32, 12, 12), 97);
    for (int bf = 0; bf < 2; bf++) {
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
        ed_tensor *kept = kept_grad(x, w, gy, 1), *fresh = kept_grad(x, w, gy, 0);
        CHECK_MSG(kept && fresh && memcmp(kept->data, fresh->data, sizeof(float) * (size_t)kept->numel) == 0,
                  "%s: the weight gradient from the kept input should equal a fresh conversion bit for bit", bf ? "bf16" : "f32");
        ed_tensor_free(kept);
        ed_tensor_free(fresh);
    }
    ed_set_conv_precision(ED_PRECISION_F32);
    /* Inference and a weight without gradient keep nothing. */
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    ed_tensor *xg = NULL, *y = NULL;
    CHECK_OK(ed_tensor_clone(x, &xg));
    ed_tensor_set_requires_grad(xg, 1);
    CHECK_OK(ed_conv2d(xg, w, NULL, &a, &y));
    CHECK_MSG(y && y->node && y->node->n_saved == 0, "no weight gradient: nothing kept");
    ed_tensor_free(y);
    ed_tensor_free(xg);
    ed_tensor_free(gy);
    ed_tensor_free(w);
    ed_tensor_free(x);
}

/* ---- relu (registered) --------------------------------------------------- */
static void test_relu(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(3, 5, 7, 9), 80), *gy = check_randn(ED_F32, SHAPE(3, 5, 7, 9), 81);
    ed_tensor *t2[2] = { x, x };
    const ed_kernel *k = ed_backend_find(ED_OP_ELTWISE, ED_FORWARD, "relu", t2);
    CHECK_MSG(k && strcmp(k->backend, "onednn") == 0, "relu float32 should run on oneDNN");
    ed_tensor *res[2][2] = { { 0 } };
    for (int b = 0; b < 2; b++) {
        ed_backend_set_enabled(b == 1);
        ed_tensor *xc = NULL, *y = NULL;
        ed_tensor_clone(x, &xc);
        ed_tensor_set_requires_grad(xc, 1);
        CHECK_OK(ed_relu(xc, &y));
        CHECK_OK(ed_backward(y, gy));
        CHECK_OK(ed_backward(y, gy));   /* twice: the second call must add */
        res[b][0] = y;
        ed_tensor_clone(ed_tensor_grad(xc), &res[b][1]);
        ed_tensor_free(xc);
    }
    ed_backend_set_enabled(true);
    CHECK_CLOSE("relu onednn forward", res[1][0], res[0][0], 0);
    CHECK_CLOSE("relu onednn backward (accumulated twice)", res[1][1], res[0][1], 0);
    ed_tensor *xd = check_randn(ED_F64, SHAPE(4), 1);
    ed_tensor *td[2] = { xd, xd };
    k = ed_backend_find(ED_OP_ELTWISE, ED_FORWARD, "relu", td);
    CHECK_MSG(!k || strcmp(k->backend, "onednn") != 0, "float64 relu must not go to oneDNN");
    ed_tensor *all[] = { x, gy, xd, res[0][0], res[0][1], res[1][0], res[1][1] };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
}

/* ---- batch_norm kernels (not registered; called directly) ---------------- */
static void bn_case(int N, int C, int H, int W, bool training, bool affine)
{
    char nm[128];
    snprintf(nm, sizeof nm, "bn N=%d C=%d %dx%d training=%d affine=%d", N, C, H, W, training, affine);
    ed_tensor *x = check_randn(ED_F32, SHAPE(N, C, H, W), 90), *gy = check_randn(ED_F32, SHAPE(N, C, H, W), 91);
    ed_tensor *w = affine ? check_randn(ED_F32, SHAPE(C), 92) : NULL, *b = affine ? check_randn(ED_F32, SHAPE(C), 93) : NULL;
    ed_tensor *rm[2], *rv[2];
    for (int i = 0; i < 2; i++) {
        rm[i] = check_randn(ED_F32, SHAPE(C), 94);
        rv[i] = check_randn(ED_F32, SHAPE(C), 95);
        float *v = ed_tensor_data(rv[i]);
        for (int c = 0; c < C; c++) v[c] = 0.5f + fabsf(v[c]);
    }
    /* Reference through the op, backends off. */
    ed_backend_set_enabled(false);
    ed_tensor *xr = NULL, *wr = NULL, *y = NULL;
    ed_tensor_clone(x, &xr);
    ed_tensor_set_requires_grad(xr, 1);
    if (w) {
        ed_tensor_clone(w, &wr);
        ed_tensor_set_requires_grad(wr, 1);
        ed_tensor_set_requires_grad(b, 1);
    }
    CHECK_OK(ed_batch_norm(xr, rm[0], rv[0], wr, b, training, 0.1, 1e-5, &y));
    CHECK_OK(ed_backward(y, gy));
    ed_backend_set_enabled(true);
    /* The kernels; gradients start from 1 to check they add. */
    bn_params p = { training, 0.1, 1e-5, N, C, (int64_t)H * W, 0 };
    ed_tensor *y2 = check_randn(ED_F32, SHAPE(N, C, H, W), 1), *sm = check_randn(ED_F64, SHAPE(C), 1),
              *si = check_randn(ED_F64, SHAPE(C), 1);
    ed_tensor *f[8] = { x, w, b, rm[1], rv[1], y2, sm, si };
    const ed_kernel *kf = odnn_bn_kernel(ED_FORWARD), *kb = odnn_bn_kernel(ED_BACKWARD);
    CHECK_MSG(kf->supports(&p, f), "%s: forward declined", nm);
    CHECK_OK(kf->run(&p, f));
    ed_tensor *gx = check_randn(ED_F32, SHAPE(N, C, H, W), 1), *gw = w ? check_randn(ED_F32, SHAPE(C), 1) : NULL,
              *gb = w ? check_randn(ED_F32, SHAPE(C), 1) : NULL;
    ed_tensor *pre[3];
    ed_tensor_clone(gx, &pre[0]);
    pre[1] = pre[2] = NULL;
    if (w) {
        ed_tensor_clone(gw, &pre[1]);
        ed_tensor_clone(gb, &pre[2]);
    }
    ed_tensor *bt[8] = { x, w, gy, sm, si, gx, gw, gb };
    CHECK_MSG(kb->supports(&p, bt), "%s: backward declined", nm);
    CHECK_OK(kb->run(&p, bt));
    char what[200];
    snprintf(what, sizeof what, "%s y", nm);
    CHECK_CLOSE(what, y2, y, 1e-4);
    snprintf(what, sizeof what, "%s running_mean", nm);
    CHECK_CLOSE(what, rm[1], rm[0], 1e-4);
    snprintf(what, sizeof what, "%s running_var", nm);
    CHECK_CLOSE(what, rv[1], rv[0], 1e-4);
    ed_tensor *got[3] = { gx, gw, gb }, *want[3] = { ed_tensor_grad(xr), wr ? ed_tensor_grad(wr) : NULL,
                                                     w ? ed_tensor_grad(b) : NULL };
    static const char *gn[3] = { "gx", "gw", "gb" };
    for (int i = 0; i < 3; i++) {
        if (!got[i]) continue;
        ed_tensor *d = NULL;
        ed_sub(got[i], pre[i], &d);
        snprintf(what, sizeof what, "%s %s (added)", nm, gn[i]);
        CHECK_CLOSE(what, d, want[i], 1e-4);
        ed_tensor_free(d);
    }
    ed_tensor *all[] = { x, gy, w, b, rm[0], rm[1], rv[0], rv[1], xr, wr, y, y2, sm, si, gx, gw, gb, pre[0], pre[1],
                         pre[2] };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) ed_tensor_free(all[i]);
}

static void test_bn(void)
{
    bn_case(4, 6, 5, 7, true, true);
    bn_case(4, 6, 5, 7, true, false);
    bn_case(3, 17, 4, 4, false, true);
    bn_case(8, 3, 1, 1, true, true);
    bn_case(2, 32, 16, 16, true, true);
}

/* dst of a oneDNN reorder from (dims, from_dt, from_tag) to (to_dt, to_tag). */
static bool onednn_reorder(const int64_t *dims, dnnl_data_type_t fdt, dnnl_format_tag_t ftag, dnnl_data_type_t tdt,
                           dnnl_format_tag_t ttag, const void *src, void *dst)
{
    dnnl_memory_desc_t a, b;
    odnn_md_dt(&a, 4, dims, fdt, ftag);
    odnn_md_dt(&b, 4, dims, tdt, ttag);
    dnnl_engine_t eng = odnn_engine();
    dnnl_stream_t st = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_memory_t ma = NULL, mb = NULL;
    bool ok = eng && dnnl_stream_create(&st, eng, dnnl_stream_default_flags) == dnnl_success &&
              dnnl_reorder_primitive_desc_create(&pd, &a, eng, &b, eng, NULL) == dnnl_success &&
              dnnl_primitive_create(&r, pd) == dnnl_success &&
              dnnl_memory_create(&ma, &a, eng, (void *)src) == dnnl_success && dnnl_memory_create(&mb, &b, eng, dst) == dnnl_success;
    if (ok) {
        dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, ma }, { DNNL_ARG_TO, mb } };
        ok = dnnl_primitive_execute(r, st, 2, args) == dnnl_success && dnnl_stream_wait(st) == dnnl_success;
    }
    if (ma) dnnl_memory_destroy(ma);
    if (mb) dnnl_memory_destroy(mb);
    if (r) dnnl_primitive_destroy(r);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (st) dnnl_stream_destroy(st);
    return ok;
}

static void layout_case(int N, int C, int H, int W)
{
    int64_t dims[4] = { N, C, H, W }, n = (int64_t)N * C * H * W;
    ed_tensor *x = check_rand(ED_F32, 4, dims, -3, 3, (uint64_t)(N * 1000 + C * 10 + H + W));
    float *xs = x->data;
    xs[0] = NAN;
    if (n > 3) { xs[1] = 1e-40f; xs[2] = -INFINITY; xs[3] = 1.00390625f; }   /* denormal, inf, a bf16 tie */
    float *f1 = malloc((size_t)n * 4), *f2 = malloc((size_t)n * 4), *back = malloc((size_t)n * 4);
    uint16_t *b1 = malloc((size_t)n * 2), *b2 = malloc((size_t)n * 2);
    odnn_to_nhwc(xs, f1, N, C, (int64_t)H * W, false);
    odnn_to_nhwc(xs, b1, N, C, (int64_t)H * W, true);
    CHECK(onednn_reorder(dims, dnnl_f32, dnnl_abcd, dnnl_f32, dnnl_acdb, xs, f2));
    CHECK(onednn_reorder(dims, dnnl_f32, dnnl_abcd, dnnl_bf16, dnnl_acdb, xs, b2));
    CHECK_MSG(!memcmp(f1, f2, (size_t)n * 4), "to_nhwc f32 %dx%dx%dx%d differs from oneDNN", N, C, H, W);
    CHECK_MSG(!memcmp(b1, b2, (size_t)n * 2), "to_nhwc bf16 %dx%dx%dx%d differs from oneDNN", N, C, H, W);
    /* Back: plain, then accumulated onto the original. */
    odnn_from_nhwc(f1, back, N, C, (int64_t)H * W, false);
    CHECK_MSG(!memcmp(back, xs, (size_t)n * 4), "from_nhwc %dx%dx%dx%d is not the inverse", N, C, H, W);
    for (int64_t i = 0; i < n; i++) back[i] = 0.5f;
    odnn_from_nhwc(f1, back, N, C, (int64_t)H * W, true);
    int bad = 0;
    for (int64_t i = 4; i < n; i++) bad += back[i] != 0.5f + xs[i];
    CHECK_MSG(!bad, "from_nhwc accumulate %dx%dx%dx%d: %d wrong", N, C, H, W, bad);
    if (C % 16 == 0) {   /* nChw16c is NHWC of (N * C / 16, 16, H, W) */
        odnn_to_nhwc(xs, f1, (int64_t)N * C / 16, 16, (int64_t)H * W, false);
        CHECK(onednn_reorder(dims, dnnl_f32, dnnl_abcd, dnnl_f32, dnnl_aBcd16b, xs, f2));
        CHECK_MSG(!memcmp(f1, f2, (size_t)n * 4), "to nChw16c %dx%dx%dx%d differs from oneDNN", N, C, H, W);
    }
    free(f1); free(f2); free(back); free(b1); free(b2);
    ed_tensor_free(x);
}

static void test_layout(void)
{
    layout_case(2, 64, 8, 8);     /* whole tiles */
    layout_case(3, 37, 5, 7);     /* ragged channels and positions */
    layout_case(1, 1, 40, 40);
    layout_case(2, 16, 1, 17);
    layout_case(2, 48, 7, 9);
    layout_case(1, 130, 3, 11);
}

int main(void)
{
    test_kept_input();
    test_folded_weight_cache();
    test_layout();
    test_relu();
    test_bn();
    test_weight_cache();
    test_bf16();
    test_bf16_training();
    test_corners();
    test_random(false, 30);
    test_random(true, 30);
    test_accumulates(false);
    test_accumulates(true);
    test_declines();
    printf("test_onednn: oneDNN ran %d of %d explicit-padding configurations (%d dilated transposed ones with "
           "output_padding left to the reference)\n", n_onednn, n_total, n_declined_ok);
    printf("test_onednn: worst rel err vs float64: oneDNN %.3g, float32 reference %.3g\n", worst, worst_ref);
    CHECK_MSG(n_onednn + n_declined_ok == n_total, "oneDNN declined %d configurations",
              n_total - n_onednn - n_declined_ok);
    return check_done();
}
#endif
