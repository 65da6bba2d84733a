/* conv2d and conv_transpose2d: golden comparisons with torch (outputs and
 * the gradients of x, weight and bias), direct-loop references on shapes
 * large enough to cross the kernels' blocking (several K blocks, position
 * chunks, channel blocks), the same bits for any thread count, float64
 * gradient checks, backend dispatch, arenas and error messages. The fused
 * ReLU (args.relu) equals conv2d then relu, outputs and all gradients, in
 * float32 (oneDNN's post-op where present) and float64. */
#include "check.h"
#include "core/ed_internal.h"
#include "ops/conv_common.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    int transposed;
    ed_conv2d_args c;
    ed_conv_transpose2d_args t;
} conv_call;

static ed_status run_conv(const conv_call *k, const ed_tensor *x, const ed_tensor *w, const ed_tensor *b, ed_tensor **y)
{
    return k->transposed ? ed_conv_transpose2d(x, w, b, &k->t, y) : ed_conv2d(x, w, b, &k->c, y);
}

static conv_call call_from_args(const cJSON *a)
{
    conv_call k;
    memset(&k, 0, sizeof k);
    k.transposed = !strcmp(golden_str(a, "op", "conv2d"), "conv_transpose2d");
    ed_conv2d_args_default(&k.c);
    ed_conv_transpose2d_args_default(&k.t);
    int s[2], p[2], d[2], op[2];
    golden_pair(a, "stride", 1, s);
    golden_pair(a, "padding", 0, p);
    golden_pair(a, "dilation", 1, d);
    golden_pair(a, "output_padding", 0, op);
    int groups = golden_int(a, "groups", 1);
    const char *pk = golden_str(a, "padding", NULL);
    for (int i = 0; i < 2; i++) {
        k.c.stride[i] = k.t.stride[i] = s[i];
        k.c.padding[i] = k.t.padding[i] = pk ? 0 : p[i];
        k.c.dilation[i] = k.t.dilation[i] = d[i];
        k.t.output_padding[i] = op[i];
    }
    k.c.groups = k.t.groups = groups;
    if (pk) k.c.padding_kind = !strcmp(pk, "same") ? ED_PADDING_SAME : ED_PADDING_VALID;
    return k;
}

static ed_tensor *leaf(const ed_tensor *t)
{
    ed_tensor *c = NULL;
    if (!t || ed_tensor_clone(t, &c) != ED_OK) return NULL;
    ed_tensor_set_requires_grad(c, 1);
    return c;
}

static void check_grad(const char *what, int k, const ed_tensor *t, const ed_tensor *want)
{
    char name[64];
    snprintf(name, sizeof name, "case %d %s", k, what);
    const ed_tensor *g = ed_tensor_grad(t);
    if (!g && ed_tensor_numel(want) == 0) return;   /* an empty input gets no gradient buffer */
    CHECK_CLOSE(name, g, want, 1e-4);
}

static void test_golden(void)
{
    golden *gf = golden_open("conv");
    if (!gf) return;
    CHECK(golden_cases(gf) >= 30);
    for (int k = 0; k < golden_cases(gf); k++) {
        conv_call call = call_from_args(golden_args(gf, k));
        int has_bias = golden_int(golden_args(gf, k), "bias", 1);
        ed_tensor *x = leaf(golden_tensor(gf, k, "x")), *w = leaf(golden_tensor(gf, k, "w"));
        ed_tensor *b = has_bias ? leaf(golden_tensor(gf, k, "b")) : NULL, *y = NULL;
        char name[64];
        snprintf(name, sizeof name, "case %d y", k);
        if (CHECK_OK(run_conv(&call, x, w, b, &y))) {
            CHECK_CLOSE(name, y, golden_tensor(gf, k, "y"), 1e-4);
            if (CHECK_OK(ed_backward(y, golden_tensor(gf, k, "gy")))) {
                check_grad("gx", k, x, golden_tensor(gf, k, "gx"));
                check_grad("gw", k, w, golden_tensor(gf, k, "gw"));
                if (b) check_grad("gb", k, b, golden_tensor(gf, k, "gb"));
            }
        }
        ed_tensor_free(y);
        ed_tensor_free(x);
        ed_tensor_free(w);
        ed_tensor_free(b);
    }
    golden_close(gf);
}

/* ---- direct loops ------------------------------------------------------------
 * Both ops pair an image-side pixel (c, ih, iw) with a position-side one
 * (m, oh, ow) through weight[g*M + m, c, i, j] when ih = oh*sh - ph + i*dh
 * (and likewise for w): conv2d has the image x and positions y, the
 * transposed convolution the other way round. All in double. */
typedef struct {
    int N, G, C, H, W, M, Ho, Wo, kh, kw, sh, sw, ph, pw, dh, dw;
} geom;

/* x, w, b, gy are float32; y, gx, gw, gb float64 and zero on entry. */
static void naive(const geom *q, int transposed, const ed_tensor *xt, const ed_tensor *wt, const ed_tensor *bt,
                  const ed_tensor *gyt, ed_tensor *yt, ed_tensor *gxt, ed_tensor *gwt, ed_tensor *gbt)
{
    const float *x = xt->data, *w = wt->data, *b = bt ? bt->data : NULL, *gy = gyt->data;
    double *y = yt->data, *gx = gxt->data, *gw = gwt->data, *gb = gbt ? gbt->data : NULL;
    int cout = transposed ? q->G * q->C : q->G * q->M;
    int64_t ohw = transposed ? (int64_t)q->H * q->W : (int64_t)q->Ho * q->Wo;
    for (int n = 0; n < q->N; n++)
        for (int o = 0; o < cout; o++)
            for (int64_t p = 0; p < ohw; p++) {
                int64_t at = ((int64_t)n * cout + o) * ohw + p;
                y[at] = b ? b[o] : 0.0;
                if (gb) gb[o] += gy[at];
            }
    for (int n = 0; n < q->N; n++)
        for (int g = 0; g < q->G; g++)
            for (int m = 0; m < q->M; m++)
                for (int c = 0; c < q->C; c++)
                    for (int i = 0; i < q->kh; i++)
                        for (int j = 0; j < q->kw; j++) {
                            int64_t wi = (((int64_t)(g * q->M + m) * q->C + c) * q->kh + i) * q->kw + j;
                            double wv = w[wi], gwv = 0;
                            for (int oh = 0; oh < q->Ho; oh++) {
                                int ih = oh * q->sh - q->ph + i * q->dh;
                                if (ih < 0 || ih >= q->H) continue;
                                for (int ow = 0; ow < q->Wo; ow++) {
                                    int iw = ow * q->sw - q->pw + j * q->dw;
                                    if (iw < 0 || iw >= q->W) continue;
                                    int64_t ii = (((int64_t)n * q->G * q->C + g * q->C + c) * q->H + ih) * q->W + iw;
                                    int64_t pi = (((int64_t)n * q->G * q->M + g * q->M + m) * q->Ho + oh) * q->Wo + ow;
                                    int64_t xi = transposed ? pi : ii, yi = transposed ? ii : pi;
                                    y[yi] += x[xi] * wv;
                                    gx[xi] += gy[yi] * wv;
                                    gwv += (double)gy[yi] * x[xi];
                                }
                            }
                            gw[wi] += gwv;
                        }
}

typedef struct {
    ed_tensor *y, *gx, *gw, *gb;
} conv_result;

static conv_result run_with_grads(const conv_call *k, ed_tensor *x, ed_tensor *w, ed_tensor *b, const ed_tensor *gy)
{
    conv_result r = { 0 };
    ed_tensor_zero_grad(x);
    ed_tensor_zero_grad(w);
    ed_tensor_zero_grad(b);
    ed_tensor *y = NULL;
    if (!CHECK_OK(run_conv(k, x, w, b, &y))) return r;
    CHECK_OK(ed_backward(y, gy));
    ed_tensor_detach(y, &r.y);
    ed_tensor_clone(ed_tensor_grad(x), &r.gx);
    ed_tensor_clone(ed_tensor_grad(w), &r.gw);
    if (b) ed_tensor_clone(ed_tensor_grad(b), &r.gb);
    ed_tensor_free(y);
    return r;
}

static void free_result(conv_result *r)
{
    ed_tensor_free(r->y);
    ed_tensor_free(r->gx);
    ed_tensor_free(r->gw);
    ed_tensor_free(r->gb);
}

static int same_bits(const ed_tensor *a, const ed_tensor *b)
{
    if (!a || !b) return a == b;
    return a->numel == b->numel && !memcmp(a->data, b->data, (size_t)a->numel * ed_dtype_size(a->dtype));
}

/* One large case against the direct loops, then the same bits with 1, 2
 * and 3 threads. */
static void check_large(const char *name, const geom *q, int transposed, int bias, int op_h, int op_w)
{
    conv_call k;
    memset(&k, 0, sizeof k);
    k.transposed = transposed;
    ed_conv2d_args_default(&k.c);
    ed_conv_transpose2d_args_default(&k.t);
    k.c.stride[0] = k.t.stride[0] = q->sh;
    k.c.stride[1] = k.t.stride[1] = q->sw;
    k.c.padding[0] = k.t.padding[0] = q->ph;
    k.c.padding[1] = k.t.padding[1] = q->pw;
    k.c.dilation[0] = k.t.dilation[0] = q->dh;
    k.c.dilation[1] = k.t.dilation[1] = q->dw;
    k.c.groups = k.t.groups = q->G;
    k.t.output_padding[0] = op_h;
    k.t.output_padding[1] = op_w;
    /* conv2d: x is the image; transposed: x holds the positions. */
    ed_tensor *x = transposed ? check_randn(ED_F32, SHAPE(q->N, q->G * q->M, q->Ho, q->Wo), 41)
                              : check_randn(ED_F32, SHAPE(q->N, q->G * q->C, q->H, q->W), 41);
    ed_tensor *w = transposed ? check_randn(ED_F32, SHAPE(q->G * q->M, q->C, q->kh, q->kw), 42)
                              : check_randn(ED_F32, SHAPE(q->G * q->M, q->C, q->kh, q->kw), 42);
    int cout = transposed ? q->G * q->C : q->G * q->M;
    ed_tensor *b = bias ? check_randn(ED_F32, SHAPE(cout), 43) : NULL;
    ed_tensor *gy = transposed ? check_randn(ED_F32, SHAPE(q->N, cout, q->H, q->W), 44)
                               : check_randn(ED_F32, SHAPE(q->N, cout, q->Ho, q->Wo), 44);
    ed_tensor_set_requires_grad(x, 1);
    ed_tensor_set_requires_grad(w, 1);
    if (b) ed_tensor_set_requires_grad(b, 1);

    ed_tensor *ry = NULL, *rgx = NULL, *rgw = NULL, *rgb = NULL;
    ed_tensor_new(ED_F64, gy->ndim, gy->shape, &ry);
    ed_tensor_new(ED_F64, x->ndim, x->shape, &rgx);
    ed_tensor_new(ED_F64, w->ndim, w->shape, &rgw);
    ed_tensor_new(ED_F64, 1, (int64_t[]){ cout }, &rgb);
    naive(q, transposed, x, w, b, gy, ry, rgx, rgw, b ? rgb : NULL);

    conv_result r[3];
    for (int t = 0; t < 3; t++) {
        ed_set_num_threads(t + 1);
        r[t] = run_with_grads(&k, x, w, b, gy);
    }
    ed_set_num_threads(0);
    /* The reference sums in double; float32 sums of several hundred unit
     * terms are off by ~1e-5 absolute, which the 1e-3-of-max floor of
     * CHECK_CLOSE turns into up to ~2e-4 relative. */
    const double tol = 5e-4;
    char s[96];
    snprintf(s, sizeof s, "%s y", name);
    CHECK_CLOSE(s, r[0].y, ry, tol);
    snprintf(s, sizeof s, "%s gx", name);
    CHECK_CLOSE(s, r[0].gx, rgx, tol);
    snprintf(s, sizeof s, "%s gw", name);
    CHECK_CLOSE(s, r[0].gw, rgw, tol);
    if (b) {
        snprintf(s, sizeof s, "%s gb", name);
        CHECK_CLOSE(s, r[0].gb, rgb, tol);
    }
    for (int t = 1; t < 3; t++) {
        CHECK_MSG(same_bits(r[t].y, r[0].y) && same_bits(r[t].gx, r[0].gx) && same_bits(r[t].gw, r[0].gw) &&
                      same_bits(r[t].gb, r[0].gb),
                  "%s: results with %d threads differ from 1 thread", name, t + 1);
    }
    for (int t = 0; t < 3; t++) free_result(&r[t]);
    ed_tensor_free(ry);
    ed_tensor_free(rgx);
    ed_tensor_free(rgw);
    ed_tensor_free(rgb);
    ed_tensor_free(x);
    ed_tensor_free(w);
    ed_tensor_free(b);
    ed_tensor_free(gy);
}

static void test_large(void)
{
    /* K = 360 (two reduction blocks), 380 positions (two chunks). */
    geom a = { .N = 2, .G = 1, .C = 40, .H = 20, .W = 19, .M = 24, .Ho = 20, .Wo = 19, .kh = 3, .kw = 3,
               .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1 };
    check_large("conv2d 3x3", &a, 0, 1, 0, 0);
    /* groups, stride 2, dilation 2, batch 3. */
    geom b = { .N = 3, .G = 3, .C = 4, .H = 23, .W = 21, .M = 6, .Ho = 12, .Wo = 11, .kh = 3, .kw = 3,
               .sh = 2, .sw = 2, .ph = 2, .pw = 2, .dh = 2, .dw = 2 };
    check_large("conv2d groups", &b, 0, 1, 0, 0);
    /* 1x1, K = 300 read in place. */
    geom c = { .N = 1, .G = 1, .C = 300, .H = 5, .W = 5, .M = 7, .Ho = 5, .Wo = 5, .kh = 1, .kw = 1,
               .sh = 1, .sw = 1, .ph = 0, .pw = 0, .dh = 1, .dw = 1 };
    check_large("conv2d 1x1", &c, 0, 0, 0, 0);
    /* Transposed 4x4 stride 2 upsampling, 272 input positions. */
    geom d = { .N = 2, .G = 1, .C = 10, .H = 34, .W = 32, .M = 24, .Ho = 17, .Wo = 16, .kh = 4, .kw = 4,
               .sh = 2, .sw = 2, .ph = 1, .pw = 1, .dh = 1, .dw = 1 };
    check_large("conv_transpose2d 4x4", &d, 1, 1, 0, 0);
    /* Transposed with groups, stride 3, dilation 2, output_padding 1:
     * Hout = (13-1)*3 + 2*2 + 1 + 1 = 42, Wout = (12-1)*3 + 4 + 1 + 1 = 39. */
    geom e = { .N = 1, .G = 2, .C = 3, .H = 42, .W = 39, .M = 4, .Ho = 13, .Wo = 12, .kh = 3, .kw = 3,
               .sh = 3, .sw = 3, .ph = 0, .pw = 0, .dh = 2, .dw = 2 };
    check_large("conv_transpose2d groups", &e, 1, 1, 1, 1);
}

/* ---- gradient checks in float64 ---------------------------------------------- */
static ed_status f_conv(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    return run_conv(ctx, in[0], in[1], in[2], out);
}

static void gradcheck_conv(const char *name, const conv_call *k, const int64_t *xs, const int64_t *ws, int64_t cout)
{
    ed_tensor *in[3] = { check_randn(ED_F64, 4, xs, 51), check_randn(ED_F64, 4, ws, 52), check_randn(ED_F64, 1, &cout, 53) };
    check_gradcheck(name, f_conv, (void *)k, 3, in, NULL, 1e-6, 1e-6);
    for (int i = 0; i < 3; i++) ed_tensor_free(in[i]);
}

static void test_gradcheck(void)
{
    conv_call k;
    memset(&k, 0, sizeof k);
    ed_conv2d_args_default(&k.c);
    k.c.stride[0] = 2;
    k.c.padding[0] = k.c.padding[1] = 1;
    k.c.dilation[1] = 2;
    k.c.groups = 2;
    gradcheck_conv("conv2d groups stride dilation", &k, (int64_t[]){ 2, 4, 5, 6 }, (int64_t[]){ 4, 2, 3, 3 }, 4);
    ed_conv2d_args_default(&k.c);
    k.c.padding_kind = ED_PADDING_SAME;
    k.c.dilation[0] = 2;
    gradcheck_conv("conv2d same even kernel", &k, (int64_t[]){ 1, 2, 5, 4 }, (int64_t[]){ 3, 2, 2, 4 }, 3);
    ed_conv2d_args_default(&k.c);
    k.c.stride[0] = k.c.stride[1] = 3;
    gradcheck_conv("conv2d stride > kernel", &k, (int64_t[]){ 2, 2, 7, 8 }, (int64_t[]){ 2, 2, 2, 2 }, 2);

    k.transposed = 1;
    ed_conv_transpose2d_args_default(&k.t);
    k.t.stride[0] = k.t.stride[1] = 2;
    k.t.padding[0] = 1;
    k.t.output_padding[0] = k.t.output_padding[1] = 1;
    gradcheck_conv("conv_transpose2d stride 2 output_padding", &k, (int64_t[]){ 2, 3, 3, 4 }, (int64_t[]){ 3, 2, 3, 3 }, 2);
    ed_conv_transpose2d_args_default(&k.t);
    k.t.groups = 2;
    k.t.dilation[0] = k.t.dilation[1] = 2;
    k.t.output_padding[1] = 1;
    k.t.padding[0] = k.t.padding[1] = 1;
    gradcheck_conv("conv_transpose2d groups dilation", &k, (int64_t[]){ 1, 4, 3, 3 }, (int64_t[]){ 4, 2, 3, 2 }, 4);
}

/* ---- backend dispatch ---------------------------------------------------------- */
static int fake_on, fake_calls, fake_list_ok;

static bool fake_supports(const void *params, ed_tensor *const *t)
{
    (void)params;
    (void)t;
    return fake_on;
}

static ed_status fake_fwd(const void *params, ed_tensor *const *t)
{
    (void)params;
    fake_calls++;
    /* {x, w, b, y}: this call has no bias. */
    fake_list_ok = t[0]->ndim == 4 && t[1]->ndim == 4 && t[2] == NULL && t[3]->shape[1] == t[1]->shape[0];
    return ed_tensor_fill(t[3], 42.0);
}

static ed_status fake_bwd(const void *params, ed_tensor *const *t)
{
    (void)params;
    fake_calls++;
    /* {x, w, gy, gx, gw, gb}: only the weight wants a gradient here. */
    fake_list_ok = fake_list_ok && t[3] == NULL && t[4] != NULL && t[5] == NULL && t[2]->ndim == 4;
    return ED_OK;
}

static void test_backend(void)
{
    static const ed_kernel kf = { ED_OP_CONV2D, ED_FORWARD, "fake", fake_supports, fake_fwd };
    static const ed_kernel kb = { ED_OP_CONV2D, ED_BACKWARD, "fake", fake_supports, fake_bwd };
    CHECK_OK(ed_backend_register(&kf));
    CHECK_OK(ed_backend_register(&kb));
    ed_tensor *x = check_randn(ED_F32, SHAPE(1, 2, 4, 4), 61), *w = check_randn(ED_F32, SHAPE(3, 2, 3, 3), 62), *y = NULL;
    ed_tensor_set_requires_grad(w, 1);
    fake_on = 1;
    if (CHECK_OK(ed_conv2d(x, w, NULL, NULL, &y))) {
        CHECK(ed__get(y, 0) == 42.0);
        ed_tensor *gy = check_randn(ED_F32, 4, y->shape, 63);
        CHECK_OK(ed_backward(y, gy));
        ed_tensor_free(gy);
    }
    CHECK(fake_calls == 2 && fake_list_ok);
    ed_tensor_free(y);
    fake_on = 0;   /* the reference again */
    CHECK_OK(ed_conv2d(x, w, NULL, NULL, &y));
    CHECK(y && ed__get(y, 0) != 42.0 && fake_calls == 2);
    ed_tensor_free(y);
    ed_tensor_free(x);
    ed_tensor_free(w);
}

/* ---- an arena step allocates its scratch from the arena ------------------------- */
static void test_arena(void)
{
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 3, 9, 9), 71), *w = check_randn(ED_F32, SHAPE(4, 3, 3, 3), 72);
    ed_tensor *wt = check_randn(ED_F32, SHAPE(4, 3, 2, 2), 73);
    ed_tensor_set_requires_grad(w, 1);
    ed_tensor_set_requires_grad(wt, 1);
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = 1;
    a.stride[0] = a.stride[1] = 2;
    ed_conv_transpose2d_args t;
    ed_conv_transpose2d_args_default(&t);
    t.stride[0] = t.stride[1] = 2;
    size_t peak = 0;
    for (int step = 0; step < 2; step++) {
        ed_arena_begin(ar);
        ed_tensor *y = NULL, *z = NULL;
        CHECK_OK(ed_conv2d(x, w, NULL, &a, &y));
        CHECK_OK(ed_conv_transpose2d(y, wt, NULL, &t, &z));
        ed_tensor *gz = NULL;
        CHECK_OK(ed__alloc(ED_F32, z->ndim, z->shape, &gz));
        ed_tensor_fill(gz, 1.0);
        CHECK_OK(ed_backward(z, gz));
        ed_arena_end();
        if (step == 0) peak = ed_arena_peak(ar);
        ed_arena_reset(ar);
    }
    CHECK(ed_arena_peak(ar) == peak);
    CHECK(ed_tensor_grad(w) && ed_tensor_grad(wt));
    ed_tensor_free(x);
    ed_tensor_free(w);
    ed_tensor_free(wt);
    ed_arena_free(ar);

    /* A full arena: the output fits, the im2col scratch does not. */
    CHECK_OK(ed_arena_new(65536, &ar));
    x = check_randn(ED_F32, SHAPE(1, 64, 32, 32), 74);
    w = check_randn(ED_F32, SHAPE(1, 64, 3, 3), 75);
    ed_tensor *y = NULL;
    ed_arena_begin(ar);
    ed_backend_set_enabled(false);   /* the reference kernel's scratch */
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, &y), ED_E_NOMEM, "scratch");
    ed_backend_set_enabled(true);
    ed_arena_end();
    CHECK(y == NULL);
    ed_tensor_free(x);
    ed_tensor_free(w);
    ed_arena_free(ar);
}

/* ---- errors ------------------------------------------------------------------------ */
static void test_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(2, 4, 5, 5), 81), *w = check_randn(ED_F32, SHAPE(6, 4, 3, 3), 82);
    ed_tensor *y = NULL, *t = NULL;
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, NULL), ED_E_ARG, "out is NULL");
    CHECK_ERR(ed_conv2d(NULL, w, NULL, &a, &y), ED_E_ARG, "input is NULL");
    t = check_randn(ED_F32, SHAPE(5, 5), 83);
    CHECK_ERR(ed_conv2d(t, w, NULL, &a, &y), ED_E_SHAPE, "3-D (C, H, W) or 4-D");
    ed_tensor_free(t);
    t = check_randn(ED_F32, SHAPE(6, 4, 3), 83);
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_SHAPE, "weight must be 4-D");
    ed_tensor_free(t);
    t = check_randn(ED_F64, SHAPE(6, 4, 3, 3), 83);
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_DTYPE, "input is float32 but weight is float64");
    ed_tensor_free(t);
    ed_tensor_new(ED_I64, 4, (int64_t[]){ 2, 4, 5, 5 }, &t);
    CHECK_ERR(ed_conv2d(t, w, NULL, &a, &y), ED_E_DTYPE, "float32 or float64");
    ed_tensor_free(t);
    t = check_randn(ED_F32, SHAPE(6, 3, 3, 3), 83);
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_SHAPE, "expect input with 3 channels");
    ed_tensor_free(t);
    t = check_randn(ED_F32, SHAPE(5, 2, 3, 3), 83);
    a.groups = 2;
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_SHAPE, "not divisible by groups=2");
    ed_tensor_free(t);
    t = check_randn(ED_F32, SHAPE(6, 2, 3, 3), 83);
    a.groups = 3;
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_SHAPE, "groups=3 and weight (6, 2, 3, 3) expect input with 6 channels");
    a.groups = 0;
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_ARG, "groups must be positive");
    ed_tensor_free(t);
    ed_conv2d_args_default(&a);
    t = check_randn(ED_F32, SHAPE(0, 4, 3, 3), 83);
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_SHAPE, "no output channels");
    ed_tensor_free(t);
    t = check_randn(ED_F32, SHAPE(6, 4, 0, 3), 83);
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_SHAPE, "empty kernel");
    ed_tensor_free(t);
    t = check_randn(ED_F32, SHAPE(6, 4, 7, 7), 83);
    CHECK_ERR(ed_conv2d(x, t, NULL, &a, &y), ED_E_SHAPE, "padded input size (5 x 5) is smaller than the dilated kernel (7 x 7)");
    a.padding[0] = a.padding[1] = 1;
    CHECK_OK(ed_conv2d(x, t, NULL, &a, &y));   /* 5 + 2 = 7: one output pixel */
    CHECK(y && y->shape[2] == 1 && y->shape[3] == 1);
    ed_tensor_free(y);
    ed_tensor_free(t);
    ed_conv2d_args_default(&a);
    a.dilation[0] = a.dilation[1] = 3;
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, &y), ED_E_SHAPE, "dilated kernel (7 x 7)");
    ed_tensor *e = check_randn(ED_F32, SHAPE(2, 4, 0, 5), 84);
    ed_conv2d_args_default(&a);
    CHECK_ERR(ed_conv2d(e, w, NULL, &a, &y), ED_E_SHAPE, "padded input size (0 x 5)");
    ed_tensor_free(e);
    t = check_randn(ED_F32, SHAPE(5), 83);
    CHECK_ERR(ed_conv2d(x, w, t, &a, &y), ED_E_SHAPE, "bias must be 1-D with 6 elements");
    ed_tensor_free(t);
    t = check_randn(ED_F64, SHAPE(6), 83);
    CHECK_ERR(ed_conv2d(x, w, t, &a, &y), ED_E_DTYPE, "bias is float64");
    ed_tensor_free(t);
    a.padding_kind = ED_PADDING_SAME;
    a.stride[0] = 2;
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, &y), ED_E_ARG, "padding='same' is not supported for strided convolutions");
    ed_conv2d_args_default(&a);
    a.stride[1] = 0;
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, &y), ED_E_ARG, "stride must be positive");
    ed_conv2d_args_default(&a);
    a.dilation[0] = 0;
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, &y), ED_E_ARG, "dilation must be positive");
    ed_conv2d_args_default(&a);
    a.padding[0] = -1;
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, &y), ED_E_ARG, "padding must be non-negative");
    ed_conv2d_args_default(&a);
    a.padding_kind = (ed_padding_kind)7;
    CHECK_ERR(ed_conv2d(x, w, NULL, &a, &y), ED_E_ARG, "padding_kind");
    /* Zero input channels per group: the output is just the bias. */
    ed_tensor *x0 = check_randn(ED_F32, SHAPE(2, 0, 5, 5), 85), *w0 = check_randn(ED_F32, SHAPE(3, 0, 3, 3), 86);
    ed_tensor *b0 = check_randn(ED_F32, SHAPE(3), 87);
    if (CHECK_OK(ed_conv2d(x0, w0, b0, NULL, &y))) CHECK(y->shape[2] == 3 && ed__get(y, 10) == ed__get(b0, 1));
    ed_tensor_free(y);
    ed_tensor_free(x0);
    ed_tensor_free(w0);
    ed_tensor_free(b0);

    /* conv_transpose2d */
    ed_conv_transpose2d_args ta;
    ed_conv_transpose2d_args_default(&ta);
    ed_tensor *wt = check_randn(ED_F32, SHAPE(4, 3, 3, 3), 88);
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, NULL), ED_E_ARG, "out is NULL");
    ta.stride[0] = ta.stride[1] = 2;
    ta.output_padding[0] = ta.output_padding[1] = 2;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_ARG,
              "output_padding (2, 2) must be smaller than either stride (2, 2) or dilation (1, 1)");
    ed_conv_transpose2d_args_default(&ta);
    ta.output_padding[0] = 1;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_ARG, "must be smaller than either stride");
    ta.dilation[0] = 2;
    CHECK_OK(ed_conv_transpose2d(x, wt, NULL, &ta, &y));   /* 1 < dilation 2 */
    CHECK(y && y->shape[2] == 10 && y->shape[3] == 7);
    ed_tensor_free(y);
    ed_conv_transpose2d_args_default(&ta);
    ta.output_padding[1] = -1;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_ARG, "output_padding must be non-negative");
    ed_conv_transpose2d_args_default(&ta);
    ta.padding[0] = -1;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_ARG, "padding must be non-negative");
    ed_conv_transpose2d_args_default(&ta);
    ta.stride[0] = 0;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_ARG, "stride must be positive");
    ed_conv_transpose2d_args_default(&ta);
    ta.groups = 3;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_SHAPE, "in channels 4 (weight (4, 3, 3, 3)) are not divisible by groups=3");
    ta.groups = -1;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_ARG, "groups must be positive");
    ed_conv_transpose2d_args_default(&ta);
    CHECK_ERR(ed_conv_transpose2d(x, w, NULL, &ta, &y), ED_E_SHAPE, "weight (6, 4, 3, 3) expects input with 6 channels");
    ta.padding[0] = ta.padding[1] = 4;
    CHECK_ERR(ed_conv_transpose2d(x, wt, NULL, &ta, &y), ED_E_SHAPE, "output size (-1 x -1) is empty");
    ed_conv_transpose2d_args_default(&ta);
    t = check_randn(ED_F32, SHAPE(4), 83);
    CHECK_ERR(ed_conv_transpose2d(x, wt, t, &ta, &y), ED_E_SHAPE, "bias must be 1-D with 3 elements");
    ed_tensor_free(t);
    t = check_randn(ED_F32, SHAPE(4, 0, 3, 3), 83);
    CHECK_ERR(ed_conv_transpose2d(x, t, NULL, &ta, &y), ED_E_SHAPE, "no output channels");
    ed_tensor_free(t);
    t = check_randn(ED_F64, SHAPE(4, 3, 3, 3), 83);
    CHECK_ERR(ed_conv_transpose2d(x, t, NULL, &ta, &y), ED_E_DTYPE, "weight is float64");
    ed_tensor_free(t);
    e = check_randn(ED_F32, SHAPE(2, 4, 0, 5), 84);
    CHECK_ERR(ed_conv_transpose2d(e, wt, NULL, &ta, &y), ED_E_SHAPE, "empty spatial size");
    ed_tensor_free(e);
    ed_tensor_free(wt);
    ed_tensor_free(x);
    ed_tensor_free(w);
}

/* conv2d(relu = 1) against conv2d then ed_relu: y, gx, gw, gb. float32
 * runs the backend's post-op; the sums are the same, so the results agree
 * to rounding (tight bound), float64 (reference) to the last bits. */
static void fused_case(ed_dtype dt, int N, int C, int H, int W, int M, int k, int stride, int pad, int bias)
{
    int64_t xs[4] = { N, C, H, W }, ws[4] = { M, C, k, k }, bs = M;
    ed_tensor *x0 = check_randn(dt, 4, xs, 61), *w0 = check_randn(dt, 4, ws, 62), *b0 = bias ? check_randn(dt, 1, &bs, 63) : NULL;
    ed_tensor *x = leaf(x0), *w = leaf(w0), *b = leaf(b0);
    ed_tensor_free(x0);
    ed_tensor_free(w0);
    ed_tensor_free(b0);
    conv_call plain, fused;
    memset(&plain, 0, sizeof plain);
    ed_conv2d_args_default(&plain.c);
    plain.c.stride[0] = plain.c.stride[1] = stride;
    plain.c.padding[0] = plain.c.padding[1] = pad;
    fused = plain;
    fused.c.relu = 1;
    ed_tensor *y = NULL, *r = NULL;
    CHECK_OK(run_conv(&plain, x, w, b, &y));
    CHECK_OK(ed_relu(y, &r));
    ed_tensor *gy = check_randn(dt, 4, ed_tensor_shape(r), 64);
    CHECK_OK(ed_backward(r, gy));
    conv_result want = { 0 };
    ed_tensor_detach(r, &want.y);
    ed_tensor_clone(ed_tensor_grad(x), &want.gx);
    ed_tensor_clone(ed_tensor_grad(w), &want.gw);
    if (b) ed_tensor_clone(ed_tensor_grad(b), &want.gb);
    ed_tensor_free(y);
    ed_tensor_free(r);
    conv_result got = run_with_grads(&fused, x, w, b, gy);
    double tol = dt == ED_F32 ? 1e-5 : 1e-12;
    char name[96];
    snprintf(name, sizeof name, "fused relu %s %dx%dx%dx%d k%d s%d: ", dt == ED_F32 ? "f32" : "f64", N, C, H, W, k, stride);
    size_t l = strlen(name);
    snprintf(name + l, sizeof name - l, "y");
    if (got.y) CHECK_CLOSE(name, got.y, want.y, tol);
    snprintf(name + l, sizeof name - l, "gx");
    if (got.gx) CHECK_CLOSE(name, got.gx, want.gx, tol);
    snprintf(name + l, sizeof name - l, "gw");
    if (got.gw) CHECK_CLOSE(name, got.gw, want.gw, tol);
    snprintf(name + l, sizeof name - l, "gb");
    if (got.gb) CHECK_CLOSE(name, got.gb, want.gb, tol);
    const float *yv = got.y && dt == ED_F32 ? ed_tensor_cdata(got.y) : NULL;
    int neg = 0;
    for (int64_t i = 0; yv && i < ed_tensor_numel(got.y); i++) neg += yv[i] < 0;
    CHECK_MSG(neg == 0, "%s: %d negative outputs", name, neg);
    free_result(&got);
    free_result(&want);
    ed_tensor_free(gy);
    ed_tensor_free(x);
    ed_tensor_free(w);
    ed_tensor_free(b);
}

static void test_fused_relu(void)
{
    fused_case(ED_F32, 2, 16, 12, 10, 32, 3, 1, 1, 1);
    fused_case(ED_F32, 3, 5, 9, 7, 6, 3, 2, 1, 0);
    fused_case(ED_F32, 1, 64, 16, 16, 64, 3, 1, 1, 0);
    fused_case(ED_F64, 2, 3, 7, 6, 4, 3, 1, 1, 1);
    conv_call k;
    memset(&k, 0, sizeof k);
    ed_conv2d_args_default(&k.c);
    k.c.padding[0] = k.c.padding[1] = 1;
    k.c.relu = 1;
    gradcheck_conv("conv2d fused relu", &k, (int64_t[]){ 2, 3, 5, 4 }, (int64_t[]){ 4, 3, 3, 3 }, 4);
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 1, 2, 4, 4 }, 1), *w = check_randn(ED_F32, 4, (int64_t[]){ 2, 2, 3, 3 }, 2), *y = NULL;
    k.c.relu = 2;
    CHECK_ERR(ed_conv2d(x, w, NULL, &k.c, &y), ED_E_ARG, "relu must be 0 or 1");
    ed_tensor_free(x);
    ed_tensor_free(w);
}

/* The input gradient of a non-leaf is stored, not added, by the first
 * backward that reaches it (ed__grad_of_overwrite): check both orders of a
 * fresh and an accumulating write. h = 2 * x feeds two convolutions and a
 * BatchNorm; the gradient of x must be 2 * (the sum of the three input
 * gradients taken one at a time). Sizes large enough for oneDNN. */
static void test_grad_store_then_add(void)
{
    const int64_t xs[4] = { 2, 16, 12, 12 }, ws[4] = { 16, 16, 3, 3 };
    ed_tensor *x = check_randn(ED_F32, 4, xs, 71), *w1 = check_randn(ED_F32, 4, ws, 72), *w2 = check_randn(ED_F32, 4, ws, 73);
    ed_tensor *g1 = check_randn(ED_F32, 4, xs, 74), *g2 = check_randn(ED_F32, 4, xs, 75), *g3 = check_randn(ED_F32, 4, xs, 76);
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = 1;
    ed_tensor_set_requires_grad(x, 1);
    /* One at a time: gx_k = d<g_k, f_k(2x)>/dx. */
    ed_tensor *sep[3] = { NULL, NULL, NULL };
    for (int k = 0; k < 3; k++) {
        ed_tensor *h = NULL, *y = NULL;
        CHECK_OK(ed_scale(x, 2.0, &h));
        if (k < 2) CHECK_OK(ed_conv2d(h, k ? w2 : w1, NULL, &a, &y));
        else CHECK_OK(ed_batch_norm(h, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &y));
        CHECK_OK(ed_backward(y, k == 0 ? g1 : k == 1 ? g2 : g3));
        CHECK_OK(ed_tensor_clone(ed_tensor_grad(x), &sep[k]));
        ed_tensor_zero_grad(x);
        ed_tensor_free(h);
        ed_tensor_free(y);
    }
    /* All three from one h, in the two orders the tape may run them. */
    for (int order = 0; order < 2; order++) {
        ed_tensor *h = NULL, *y[3] = { NULL, NULL, NULL }, *s = NULL, *t = NULL, *l = NULL, *p[3] = { NULL, NULL, NULL };
        CHECK_OK(ed_scale(x, 2.0, &h));
        CHECK_OK(ed_conv2d(h, w1, NULL, &a, &y[0]));
        CHECK_OK(ed_conv2d(h, w2, NULL, &a, &y[1]));
        CHECK_OK(ed_batch_norm(h, NULL, NULL, NULL, NULL, 1, 0.1, 1e-5, &y[2]));
        const ed_tensor *gs[3] = { g1, g2, g3 };
        for (int k = 0; k < 3; k++) CHECK_OK(ed_mul(y[order ? 2 - k : k], gs[order ? 2 - k : k], &p[k]));
        CHECK_OK(ed_add(p[0], p[1], &s));
        CHECK_OK(ed_add(s, p[2], &t));
        CHECK_OK(ed_sum(t, NULL, 0, 0, &l));
        CHECK_OK(ed_backward(l, NULL));
        ed_tensor *want = NULL, *w01 = NULL;
        CHECK_OK(ed_add(sep[0], sep[1], &w01));
        CHECK_OK(ed_add(w01, sep[2], &want));
        CHECK_CLOSE(order ? "store then add (reversed)" : "store then add", ed_tensor_grad(x), want, 1e-4);   /* float sums in another order; a lost or doubled term is off by O(1) */
        ed_tensor_zero_grad(x);
        ed_tensor *all[] = { h, y[0], y[1], y[2], s, t, l, p[0], p[1], p[2], want, w01 };
        for (int i = 0; i < 12; i++) ed_tensor_free(all[i]);
    }
    ed_tensor *all[] = { x, w1, w2, g1, g2, g3, sep[0], sep[1], sep[2] };
    for (int i = 0; i < 9; i++) ed_tensor_free(all[i]);
}

/* ed__conv2d_scaled (a BatchNorm folded for inference): bit-equal to
 * ed_conv2d on the weight folded beforehand, on the backend and the
 * reference kernel; bad scales and gradients are refused. */
static void test_scaled_weight(void)
{
    ed_tensor *x = check_randn(ED_F32, 4, (int64_t[]){ 2, 7, 9, 9 }, 81), *w = check_randn(ED_F32, 4, (int64_t[]){ 20, 7, 3, 3 }, 82);
    ed_tensor *b = check_randn(ED_F32, 1, (int64_t[]){ 20 }, 83), *s = NULL, *wf = NULL;
    CHECK_OK(ed_tensor_new(ED_F64, 1, (int64_t[]){ 20 }, &s));
    CHECK_OK(ed_tensor_new(ED_F32, 4, w->shape, &wf));
    double *sd = ed_tensor_data(s);
    for (int o = 0; o < 20; o++) sd[o] = (o % 3 == 0 ? -1.0 : 1.0) * (0.3 + 0.17 * o) / 3.0;   /* not exact in float */
    ed__conv_scale_weight(ed_tensor_data(w), sd, 20, w->numel / 20, ed_tensor_data(wf));
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = 1;
    a.relu = 1;
    for (int be = 0; be < 2; be++) {
        ed_backend_set_enabled(be == 1);
        ed_tensor *want = NULL, *got = NULL;
        CHECK_OK(ed_conv2d(x, wf, b, &a, &want));
        CHECK_OK(ed__conv2d_scaled(x, w, s, b, &a, &got));
        CHECK_MSG(want && got && memcmp(ed_tensor_data(want), ed_tensor_data(got), sizeof(float) * (size_t)want->numel) == 0,
                  "folded weight (%s) should equal conv2d on the folded copy bit for bit", be ? "backend" : "reference");
        ed_tensor_free(want);
        ed_tensor_free(got);
    }
    ed_backend_set_enabled(true);
    ed_tensor *y = NULL, *s32 = NULL, *s5 = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, 1, (int64_t[]){ 20 }, &s32));
    CHECK_OK(ed_tensor_new(ED_F64, 1, (int64_t[]){ 5 }, &s5));
    CHECK_ERR(ed__conv2d_scaled(x, w, s32, b, &a, &y), ED_E_ARG, "float64 scales");
    CHECK_ERR(ed__conv2d_scaled(x, w, s5, b, &a, &y), ED_E_ARG, "float64 scales");
    CHECK_ERR(ed__conv2d_scaled(x, w, NULL, b, &a, &y), ED_E_ARG, "NULL");
    ed_tensor_set_requires_grad(w, 1);
    CHECK_ERR(ed__conv2d_scaled(x, w, s, b, &a, &y), ED_E_ARG, "without gradients");
    ed_tensor *all[] = { x, w, b, s, wf, s32, s5 };
    for (int i = 0; i < 7; i++) ed_tensor_free(all[i]);
}

int main(void)
{
    test_scaled_weight();
    test_grad_store_then_add();
    test_fused_relu();
    test_golden();
    test_large();
    test_gradcheck();
    test_backend();
    test_arena();
    test_errors();
    return check_done();
}
