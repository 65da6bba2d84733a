/* The inference graph (ed__infer_graph) against the same steps run one by
 * one through the public ops: float32 against the reference kernels,
 * bfloat16 against the backends' own ops one by one (the graph keeps its
 * values in bf16 where the next convolution would round them anyway).
 * U-Net-like graphs (convolutions with biases and folded BatchNorm scales,
 * 2x2 max-pools, 2x2 stride-2 transposed convolutions, skip
 * concatenations), with channel counts the oneDNN kernel takes (and a check
 * that it does) and counts it declines; the U-Net model's evaluation
 * forward (the graph) against its per-op forward; errors; refused
 * gradients. */
#include "check.h"
#include "core/ed_internal.h"
#include "encdec/precision.h"
#include "ops/infer_graph_params.h"

#include <math.h>
#include <string.h>

#define MAXS 40

typedef struct {
    ed__gstep g[MAXS];
    ed_tensor *own[3 * MAXS];
    int n, nown;
} graph;

static ed_tensor *keep(graph *gr, ed_tensor *t) { return gr->own[gr->nown++] = t; }

/* A weight of order 1 / sqrt(fan-in), so values stay of order 1. */
static ed_tensor *weight(graph *gr, int64_t a, int64_t b, int64_t k, int64_t fan, uint64_t seed)
{
    ed_tensor *w = keep(gr, check_randn(ED_F32, 4, (int64_t[]){ a, b, k, k }, seed));
    float *d = ed_tensor_data(w);
    for (int64_t i = 0; i < w->numel; i++) d[i] *= (float)(1.5 / sqrt((double)fan));
    return w;
}

static int conv(graph *gr, int in, int64_t cin, int64_t cout, int k, int relu, int scaled, uint64_t seed)
{
    ed__gstep *g = &gr->g[gr->n++];
    *g = (ed__gstep){ .kind = ED_GSTEP_CONV, .in = in, .pad = k / 2, .relu = relu };
    g->w = weight(gr, cout, cin, k, cin * k * k, seed);
    if (seed % 3) g->b = keep(gr, check_randn(ED_F32, 1, (int64_t[]){ cout }, seed + 1));
    if (scaled) {
        ed_tensor *s = NULL;
        CHECK_OK(ed_tensor_new(ED_F64, 1, (int64_t[]){ cout }, &s));
        double *sd = ed_tensor_data(s);
        for (int64_t o = 0; o < cout; o++) sd[o] = 0.6 + 0.05 * (double)(o % 9);
        g->s = keep(gr, s);
    }
    return gr->n;
}

static int step(graph *gr, int kind, int in, int in2) { gr->g[gr->n++] = (ed__gstep){ .kind = kind, .in = in, .in2 = in2 }; return gr->n; }

static int up(graph *gr, int in, int64_t cin, int64_t cout, uint64_t seed)
{
    ed__gstep *g = &gr->g[gr->n++];
    *g = (ed__gstep){ .kind = ED_GSTEP_UP2, .in = in };
    g->w = weight(gr, cin, cout, 2, cin, seed);
    if (seed % 2) g->b = keep(gr, check_randn(ED_F32, 1, (int64_t[]){ cout }, seed + 1));
    return gr->n;
}

/* U-Net of the given depth, widths c0 << k, double convolutions (the
 * first of each scaled), classes outputs. */
static void unet_graph(graph *gr, int64_t cin, int64_t c0, int depth, int64_t classes, uint64_t seed)
{
    memset(gr, 0, sizeof *gr);
    int skip[4], h = 0;
    int64_t c = cin;
    for (int k = 0; k <= depth; k++) {
        if (k) h = step(gr, ED_GSTEP_POOL2, h, 0);
        h = conv(gr, h, c, c0 << k, 3, 1, 1, seed + 10 * (uint64_t)k);
        h = conv(gr, h, c0 << k, c0 << k, 3, 1, 0, seed + 10 * (uint64_t)k + 5);
        c = c0 << k;
        if (k < depth) skip[k] = h;
    }
    for (int k = depth - 1; k >= 0; k--) {
        h = up(gr, h, c0 << (k + 1), c0 << k, seed + 100 + (uint64_t)k);
        h = step(gr, ED_GSTEP_CAT, skip[k], h);
        h = conv(gr, h, c0 << (k + 1), c0 << k, 3, 1, 1, seed + 200 + 10 * (uint64_t)k);
        h = conv(gr, h, c0 << k, c0 << k, 3, 1, 0, seed + 205 + 10 * (uint64_t)k);
    }
    conv(gr, h, c0, classes, 1, 0, 0, seed + 300);
}

static void graph_free(graph *gr)
{
    for (int i = 0; i < gr->nown; i++) ed_tensor_free(gr->own[i]);
}

/* The steps one by one through the public ops. */
static ed_tensor *one_by_one(const ed_tensor *x, const graph *gr)
{
    ed_tensor *v[MAXS + 1] = { (ed_tensor *)x };
    for (int i = 0; i < gr->n; i++) {
        const ed__gstep *g = &gr->g[i];
        ed_status st;
        if (g->kind == ED_GSTEP_CONV) {
            ed_conv2d_args a;
            ed_conv2d_args_default(&a);
            a.padding[0] = a.padding[1] = g->pad;
            a.relu = g->relu;
            st = g->s ? ed__conv2d_scaled(v[g->in], g->w, g->s, g->b, &a, &v[i + 1]) : ed_conv2d(v[g->in], g->w, g->b, &a, &v[i + 1]);
        } else if (g->kind == ED_GSTEP_POOL2) {
            ed_pool2d_args a;
            ed_pool2d_args_default(&a, 2);
            st = ed_max_pool2d(v[g->in], &a, &v[i + 1], NULL);
        } else if (g->kind == ED_GSTEP_UP2) {
            ed_conv_transpose2d_args a;
            ed_conv_transpose2d_args_default(&a);
            a.stride[0] = a.stride[1] = 2;
            st = ed_conv_transpose2d(v[g->in], g->w, g->b, &a, &v[i + 1]);
        } else {
            const ed_tensor *pair[2] = { v[g->in], v[g->in2] };
            st = ed_cat(pair, 2, 1, &v[i + 1]);
        }
        CHECK_OK(st);
    }
    for (int i = 1; i < gr->n; i++) ed_tensor_free(v[i]);
    return v[gr->n];
}

static double max_err(const ed_tensor *got, const ed_tensor *want, double *scale)
{
    return check_max_abs_err(got, want, scale) / fmax(*scale, 1e-30);
}

/* Whether the oneDNN kernel takes the graph (shapes and last uses as the
 * op computes them). */
static bool kernel_takes(const ed_tensor *x, const graph *gr)
{
    int64_t shape[MAXS + 1][4];
    int last[MAXS + 1] = { 0 };
    memcpy(shape[0], x->shape, sizeof shape[0]);
    for (int i = 0; i < gr->n; i++) {
        const ed__gstep *g = &gr->g[i];
        memcpy(shape[i + 1], shape[g->in], sizeof shape[0]);
        last[g->in] = i;
        if (g->kind == ED_GSTEP_CONV) shape[i + 1][1] = g->w->shape[0];
        if (g->kind == ED_GSTEP_POOL2) shape[i + 1][2] /= 2, shape[i + 1][3] /= 2;
        if (g->kind == ED_GSTEP_UP2) shape[i + 1][1] = g->w->shape[1], shape[i + 1][2] *= 2, shape[i + 1][3] *= 2;
        if (g->kind == ED_GSTEP_CAT) shape[i + 1][1] += shape[g->in2][1], last[g->in2] = i;
        if (g->kind == ED_GSTEP_ADD) last[g->in2] = i;
        if (g->kind == ED_GSTEP_SHUFFLE)
            shape[i + 1][1] /= g->factor * g->factor, shape[i + 1][2] *= g->factor, shape[i + 1][3] *= g->factor;
    }
    ed_tensor *y = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, 4, shape[gr->n], &y));
    ed__graph_params p = { .n = gr->n, .steps = gr->g, .shape = (const int64_t(*)[4])shape, .last_use = last };
    ed_tensor *t[2] = { (ed_tensor *)x, y };
    const bool ok = ed_backend_find(ED_OP_INFER_GRAPH, ED_FORWARD, &p, t) != NULL;
    ed_tensor_free(y);
    return ok;
}

static void one_case(const char *name, int64_t N, int64_t cin, int64_t c0, int depth, int64_t classes, int64_t H,
                     int64_t W, bool kernel_expected, bool kernel_expected_bf16, uint64_t seed)
{
    graph gr;
    unet_graph(&gr, cin, c0, depth, classes, seed);
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ N, cin, H, W }, seed + 1000);
#ifdef ENCDEC_HAVE_ONEDNN
    CHECK_MSG(kernel_takes(x, &gr) == kernel_expected, "%s: the oneDNN kernel %s the graph", name,
              kernel_expected ? "declines" : "takes");
#else
    (void)kernel_expected, (void)kernel_expected_bf16;
    CHECK_MSG(!kernel_takes(x, &gr), "%s: a kernel takes the graph without oneDNN", name);
#endif
    for (int bf = 0; bf < 2; bf++) {
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
#ifdef ENCDEC_HAVE_ONEDNN
        if (bf) CHECK_MSG(kernel_takes(x, &gr) == kernel_expected_bf16, "%s (bf16): the oneDNN kernel %s the graph", name,
                          kernel_expected_bf16 ? "declines" : "takes");
#endif
        ed_tensor *got = NULL;
        CHECK_OK(ed__infer_graph(x, gr.n, gr.g, &got));
        ed_backend_set_enabled(bf == 1);
        ed_tensor *want = one_by_one(x, &gr);
        ed_backend_set_enabled(true);
        ed_set_conv_precision(ED_PRECISION_F32);
        double scale = 0, err = got && want && got->numel == want->numel ? max_err(got, want, &scale) : INFINITY;
        CHECK_MSG(err <= (bf ? 1e-3 : 1e-5), "%s (%s): error %.3g of the scale %.3g", name, bf ? "bf16" : "f32", err,
                  scale);
        ed_tensor_free(got);
        ed_tensor_free(want);
    }
    ed_tensor_free(x);
    graph_free(&gr);
}

/* The model's evaluation forward without gradients (the graph) against
 * the same forward with gradients enabled (ops one by one): float32 to
 * rounding; in bf16 both are compared with float32, and the graph must be
 * as close to it as the ops one by one (their bf16 convolutions sum in
 * other orders, so the two differ by bf16 rounding, ~3e-3 here). */
static void test_model(void)
{
    ed_model *m = NULL;
    if (!CHECK_OK(ed_model_create("unet", "{\"in_channels\":3,\"num_classes\":5,\"base_width\":16,\"depth\":2}", &m))) return;
    ed_rng r;
    ed_rng_init(&r, 7);
    CHECK_OK(ed_model_init(m, &r));
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 3, 16, 12 }, 8), *y = NULL;
    /* training forwards move the running statistics away from 0 and 1 */
    for (int i = 0; i < 3; i++) {
        CHECK_OK(ed_model_forward(m, x, 1, &y));
        ed_tensor_free(y);
    }
    ed_tensor *got[2] = { NULL }, *want[2] = { NULL };
    for (int bf = 0; bf < 2; bf++) {
        ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
        ed_no_grad_begin();
        CHECK_OK(ed_model_forward(m, x, 0, &got[bf]));
        ed_no_grad_end();
        CHECK_OK(ed_model_forward(m, x, 0, &want[bf]));
        ed_set_conv_precision(ED_PRECISION_F32);
    }
    if (got[0] && want[0] && got[1] && want[1]) {
        double scale = 0, err = max_err(got[0], want[0], &scale);
        CHECK_MSG(err <= 1e-5, "unet model (f32): error %.3g of the scale %.3g", err, scale);
        const double eg = max_err(got[1], want[0], &scale), eo = max_err(want[1], want[0], &scale);
        CHECK_MSG(eg <= 1e-2 && eg <= 2 * eo + 1e-4, "unet model (bf16): the graph is %.3g from float32, the ops one by one %.3g",
                  eg, eo);
    }
    for (int i = 0; i < 2; i++) ed_tensor_free(got[i]), ed_tensor_free(want[i]);
    ed_tensor_free(x);
    ed_model_free(m);
}

/* DRUNet's and EDSR's evaluation forwards (graphs with residual
 * additions, strided convolutions, up-samplings read by convolutions and
 * pixel shuffles) against the same forwards with gradients enabled (the
 * ops one by one), in float32; in bf16 the additions keep the graphs to
 * the ops one by one (a bf16 value would round the sum again), so both
 * paths must agree there too. */
static void test_models_graph(void)
{
    static const struct { const char *arch, *cfg; int64_t h, w; } cases[] = {
        { "drunet", "{\"width\":16,\"levels\":2,\"blocks\":1}", 32, 24 },
        { "drunet", "{\"width\":8,\"levels\":1,\"blocks\":2,\"residual\":0}", 32, 24 },
        { "edsr", "{\"scale\":2,\"width\":16,\"blocks\":2}", 12, 10 },
        { "edsr", "{\"scale\":3,\"width\":32,\"blocks\":1}", 9, 11 },
        { "edsr", "{\"scale\":4,\"width\":16,\"blocks\":1,\"residual\":0}", 8, 8 },
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ed_model *m = NULL;
        if (!CHECK_OK(ed_model_create(cases[k].arch, cases[k].cfg, &m))) continue;
        ed_rng r;
        ed_rng_init(&r, 11);
        CHECK_OK(ed_model_init(m, &r));
        /* residual models' last layer starts at zero: give it values */
        ed_params *ps = ed_model_params(m);
        for (int i = 0; i < ed_params_count(ps); i++) {
            ed_tensor *t = ed_params_tensor(ps, i);
            float *d = ed_tensor_data(t);
            for (int64_t j = 0; j < t->numel; j++)
                if (d[j] == 0.0f) d[j] = 0.01f * (float)((j * 7 + i) % 13 - 6);
        }
        ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 1, cases[k].h, cases[k].w }, 12);
        for (int bf = 0; bf < 2; bf++) {
            ed_set_conv_precision(bf ? ED_PRECISION_BF16 : ED_PRECISION_F32);
            ed_tensor *got = NULL, *want = NULL;
            ed_no_grad_begin();
            CHECK_OK(ed_model_forward(m, x, 0, &got));
            ed_no_grad_end();
            CHECK_OK(ed_model_forward(m, x, 0, &want));
            ed_set_conv_precision(ED_PRECISION_F32);
            double scale = 0, err = got && want && got->numel == want->numel ? max_err(got, want, &scale) : INFINITY;
            CHECK_MSG(err <= (bf ? 1e-3 : 1e-5), "%s %s (%s): error %.3g of the scale %.3g", cases[k].arch, cases[k].cfg,
                      bf ? "bf16" : "f32", err, scale);
            ed_tensor_free(got);
            ed_tensor_free(want);
        }
        ed_tensor_free(x);
        ed_model_free(m);
    }
}

/* The pixel shuffle step against ed_pixel_shuffle, factors 2 and 3, in a
 * graph the kernel takes (checked). */
static void test_shuffle(void)
{
    for (int r = 2; r <= 3; r++) {
        graph gr;
        memset(&gr, 0, sizeof gr);
        const int64_t C = 16;
        int h = conv(&gr, 0, 3, C * r * r, 3, 1, 0, 70 + (uint64_t)r);
        gr.g[gr.n++] = (ed__gstep){ .kind = ED_GSTEP_SHUFFLE, .in = h, .factor = r };
        conv(&gr, gr.n, C, 16, 3, 0, 0, 80 + (uint64_t)r);
        ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 3, 7, 9 }, 90);
#ifdef ENCDEC_HAVE_ONEDNN
        CHECK_MSG(kernel_takes(x, &gr), "shuffle x%d: the oneDNN kernel declines the graph", r);
#endif
        ed_tensor *got = NULL, *want = NULL;
        CHECK_OK(ed__infer_graph(x, gr.n, gr.g, &got));
        ed_backend_set_enabled(false);
        CHECK_OK(ed__infer_graph(x, gr.n, gr.g, &want));
        ed_backend_set_enabled(true);
        double scale = 0, err = got && want && got->numel == want->numel ? max_err(got, want, &scale) : INFINITY;
        CHECK_MSG(err <= 1e-5, "shuffle x%d: error %.3g of the scale %.3g", r, err, scale);
        ed_tensor_free(got);
        ed_tensor_free(want);
        ed_tensor_free(x);
        graph_free(&gr);
    }
}

static void test_errors(void)
{
    graph gr;
    unet_graph(&gr, 3, 16, 1, 2, 900);
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 1, 4, 8, 8 }, 901), *y = NULL;
    CHECK_ERR(ed__infer_graph(x, gr.n, gr.g, &y), ED_E_SHAPE, "channels");   /* 4 channels for a 3-channel weight */
    ed_tensor *x3 = check_randn(ED_F32, 4, (int64_t[]){ 1, 3, 8, 8 }, 902);
    CHECK_ERR(ed__infer_graph(x3, 0, gr.g, &y), ED_E_ARG, "no input or no steps");
    CHECK_ERR(ed__infer_graph(x3, gr.n, gr.g, NULL), ED_E_ARG, "out is NULL");
    ed__gstep bad[2] = { gr.g[0], gr.g[1] };
    bad[1].in = 5;
    CHECK_ERR(ed__infer_graph(x3, 2, bad, &y), ED_E_ARG, "not computed before");
    bad[1].in = 1, bad[1].kind = 9;
    CHECK_ERR(ed__infer_graph(x3, 2, bad, &y), ED_E_ARG, "unknown kind");
    ed_tensor_set_requires_grad((ed_tensor *)gr.g[1].w, 1);
    CHECK_ERR(ed__infer_graph(x3, gr.n, gr.g, &y), ED_E_ARG, "gradient");
    CHECK_MSG(y == NULL, "an error leaves no output");
    ed_tensor_free(x);
    ed_tensor_free(x3);
    graph_free(&gr);
}

int main(void)
{
    /* Channels multiples of 16: the oneDNN kernel, nChw16c / NHWC throughout. */
    one_case("unet depth 2", 2, 3, 16, 2, 4, 32, 24, true, true, 10);
    one_case("unet depth 3, batch 1, odd input", 1, 5, 32, 3, 3, 48, 32, true, true, 20);
    /* A 3x2 bottleneck: under bf16 convolutions of under 16 positions stay
     * float32 (conv.c), so the layouts no longer line up there and the bf16
     * graph runs as the ops one by one. */
    one_case("unet depth 3, tiny bottleneck", 1, 5, 32, 3, 3, 24, 16, true, false, 25);
    /* 8 channels: the concatenation's up half is not 16 wide; the ops one by one. */
    one_case("unet width 8", 2, 3, 8, 2, 2, 8, 8, false, false, 30);
    test_model();
    test_models_graph();
    test_shuffle();
    test_errors();
    return check_done();
}
