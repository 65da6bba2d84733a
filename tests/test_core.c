/* Core: tensors, arenas, autograd bookkeeping, RNG, safetensors round trip. */
#include "check.h"
#include "core/ed_internal.h"
#include "core/tile16.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static ed_status f_chain(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    (void)ctx;
    ed_tensor *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    ed_status s = ed_mul(in[0], in[1], &a);
    if (!s) s = ed_sigmoid(a, &b);
    if (!s) s = ed_add(b, in[0], &c);
    if (!s) s = ed_tanh(c, &d);
    ed_tensor_free(a); ed_tensor_free(b); ed_tensor_free(c);
    *out = d;
    return s;
}

static ed_status f_bcast(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    int op = *(int *)ctx;
    return op == 0 ? ed_add(in[0], in[1], out) : op == 1 ? ed_sub(in[0], in[1], out) : ed_mul(in[0], in[1], out);
}

static ed_status f_unary(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    int op = *(int *)ctx;
    switch (op) {
    case 0: return ed_relu(in[0], out);
    case 1: return ed_leaky_relu(in[0], 0.2, out);
    case 2: return ed_sigmoid(in[0], out);
    case 3: return ed_tanh(in[0], out);
    default: return ed_scale(in[0], -1.5, out);
    }
}

static void test_tensor_basics(void)
{
    ed_tensor *t = NULL;
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(2, 3), &t));
    CHECK(ed_tensor_numel(t) == 6);
    CHECK(ed_tensor_ndim(t) == 2 && ed_tensor_shape(t)[1] == 3);
    ed_tensor_free(t);
    CHECK_ERR(ed_tensor_new(ED_F32, SHAPE(2, -3), &t), ED_E_ARG, "negative size");
    CHECK_ERR(ed_tensor_new(ED_F32, 9, (int64_t[9]){ 1 }, &t), ED_E_ARG, "dimensions");
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(0, 3), &t));   /* empty is fine */
    CHECK(ed_tensor_numel(t) == 0);
    ed_tensor_free(t);
    ed_tensor *x = check_randn(ED_F32, SHAPE(4), 1), *y = NULL;
    CHECK_ERR(ed_reshape(x, SHAPE(3), &y), ED_E_SHAPE, "invalid for input");
    CHECK_OK(ed_reshape(x, SHAPE(2, -1), &y));
    CHECK(y && y->shape[1] == 2);
    ed_tensor_free(y);
    ed_tensor *i64 = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(4), &i64));
    CHECK_ERR(ed_add(x, i64, &y), ED_E_DTYPE, "float32");
    CHECK_ERR(ed_tensor_set_requires_grad(i64, 1), ED_E_DTYPE, "float");
    ed_tensor *z = check_randn(ED_F32, SHAPE(3), 2);
    CHECK_ERR(ed_add(x, z, &y), ED_E_SHAPE, "broadcast");
    ed_tensor_free(z); ed_tensor_free(i64); ed_tensor_free(x);
}

static void test_autograd(void)
{
    /* y = x*x + x: dy/dx = 2x + 1, accumulated over two backward calls. */
    ed_tensor *x = NULL, *a = NULL, *y = NULL, *s = NULL;
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(1), (float[]){ 3.0f }, &x));
    CHECK_ERR(ed_backward(x, NULL), ED_E_STATE, "does not require grad");
    ed_tensor_set_requires_grad(x, 1);
    for (int rep = 0; rep < 2; rep++) {
        CHECK_OK(ed_mul(x, x, &a));
        CHECK_OK(ed_add(a, x, &y));
        CHECK_OK(ed_backward(y, NULL));
        ed_tensor_free(a); ed_tensor_free(y);
    }
    CHECK(ed_tensor_grad(x) && fabs(ed_tensor_item(ed_tensor_grad(x)) - 14.0) < 1e-6);
    ed_tensor_zero_grad(x);
    CHECK(ed_tensor_grad(x) == NULL);
    /* No-grad scope records nothing. */
    ed_no_grad_begin();
    CHECK_OK(ed_mul(x, x, &a));
    ed_no_grad_end();
    CHECK(!ed_tensor_requires_grad(a));
    CHECK_ERR(ed_backward(a, NULL), ED_E_STATE, "grad");
    ed_tensor_free(a);
    /* A non-scalar root needs an explicit gradient. */
    ed_tensor *v = check_randn(ED_F32, SHAPE(3), 5);
    ed_tensor_set_requires_grad(v, 1);
    CHECK_OK(ed_relu(v, &s));
    CHECK_ERR(ed_backward(s, NULL), ED_E_ARG, "scalar");
    ed_tensor_free(s); ed_tensor_free(v); ed_tensor_free(x);

    /* An explicit gradient seeds a non-leaf root by being written into its
     * buffer, not added to it: in an arena whose memory held other values
     * the step before, x.grad is exactly 2x * g, in float32 and float64. */
    for (int dt = 0; dt < 2; dt++) {
        ed_arena *ar = NULL;
        CHECK_OK(ed_arena_new(0, &ar));
        ed_tensor *xs = check_randn(dt ? ED_F64 : ED_F32, SHAPE(2, 3), 7), *gs = check_randn(dt ? ED_F64 : ED_F32, SHAPE(2, 3), 8);
        ed_tensor_set_requires_grad(xs, 1);
        for (int step = 0; step < 3; step++) {
            ed_arena_begin(ar);
            ed_tensor *sq = NULL, *junk = NULL;
            if (step == 0) {   /* leave non-zero values where the next step's gradient goes */
                CHECK_OK(ed__alloc(ED_F32, 1, (int64_t[]){ 4096 }, &junk));
                ed_tensor_fill(junk, 1e9);
            }
            CHECK_OK(ed_mul(xs, xs, &sq));
            CHECK_OK(ed_backward(sq, gs));
            ed_arena_end();
            double worst = 0;
            for (int64_t i = 0; i < 6; i++)
                worst = fmax(worst, fabs(ed__get(ed_tensor_grad(xs), i) - 2 * ed__get(xs, i) * ed__get(gs, i)));
            CHECK_MSG(worst < 1e-5, "seeded gradient, dtype %d step %d: off by %g", dt, step, worst);
            ed_tensor_zero_grad(xs);
            ed_arena_reset(ar);
        }
        ed_tensor_free(xs); ed_tensor_free(gs);
        ed_arena_free(ar);
    }
}

static void test_gradchecks(void)
{
    ed_tensor *in[2] = { check_randn(ED_F64, SHAPE(2, 3, 4), 11), check_randn(ED_F64, SHAPE(2, 3, 4), 12) };
    check_gradcheck("chain", f_chain, NULL, 2, in, NULL, 1e-6, 1e-6);
    ed_tensor_free(in[1]);
    in[1] = check_randn(ED_F64, SHAPE(3, 1), 13);
    for (int op = 0; op < 3; op++) check_gradcheck("broadcast", f_bcast, &op, 2, in, NULL, 1e-6, 1e-6);
    for (int op = 0; op < 5; op++) {
        /* keep away from the kink at 0 */
        double *d = in[0]->data;
        for (int64_t i = 0; i < in[0]->numel; i++) if (fabs(d[i]) < 0.05) d[i] = 0.3;
        check_gradcheck("unary", f_unary, &op, 1, in, NULL, 1e-6, 1e-6);
    }
    ed_tensor_free(in[0]); ed_tensor_free(in[1]);
}

static void test_arena(void)
{
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    ed_tensor *w = check_randn(ED_F32, SHAPE(16, 16), 3);
    ed_tensor_set_requires_grad(w, 1);
    size_t peak1 = 0;
    for (int step = 0; step < 3; step++) {
        ed_arena_begin(ar);
        ed_tensor *a = NULL, *b = NULL;
        CHECK_OK(ed_mul(w, w, &a));
        CHECK_OK(ed_tanh(a, &b));
        ed_tensor *g = NULL;
        CHECK_OK(ed__alloc(ED_F32, b->ndim, b->shape, &g));
        ed_tensor_fill(g, 1.0);
        CHECK_OK(ed_backward(b, g));
        ed_arena_end();
        if (step == 0) peak1 = ed_arena_peak(ar);
        ed_arena_reset(ar);
    }
    CHECK(ed_arena_peak(ar) == peak1);   /* same work, same memory */
    CHECK(ed_tensor_grad(w) != NULL);    /* the leaf's gradient survives the reset */
    ed_tensor_free(w);
    ed_arena_free(ar);
    /* A fixed-capacity arena reports running out instead of crashing. */
    CHECK_OK(ed_arena_new(4096, &ar));
    ed_arena_begin(ar);
    ed_tensor *big = NULL;
    CHECK_ERR(ed__alloc(ED_F32, SHAPE(4096), &big), ED_E_NOMEM, "arena full");
    ed_arena_end();
    ed_arena_free(ar);
}

static void test_rng(void)
{
    ed_rng r1, r2;
    ed_rng_init(&r1, 42);
    ed_rng_init(&r2, 42);
    ed_tensor *a = check_randn(ED_F32, SHAPE(1000), 7), *b = NULL;
    ed_set_num_threads(1);
    ed_rng_fill_normal(&r1, a, 0, 1);
    ed_set_num_threads(2);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(1000), &b));
    ed_rng_fill_normal(&r2, b, 0, 1);
    CHECK(memcmp(a->data, b->data, 4000) == 0);
    double m = 0, v = 0;
    for (int i = 0; i < 1000; i++) m += ed__get(a, i) / 1000;
    for (int i = 0; i < 1000; i++) v += (ed__get(a, i) - m) * (ed__get(a, i) - m) / 1000;
    CHECK_MSG(fabs(m) < 0.1 && fabs(v - 1) < 0.15, "normal draws: mean %g var %g", m, v);
    ed_tensor_free(a); ed_tensor_free(b);
}

static void test_safetensors(void)
{
    const char *path = "test_core_tmp.safetensors";
    ed_tensor *a = check_randn(ED_F32, SHAPE(2, 3), 1), *b = NULL;
    CHECK_OK(ed_tensor_from_data(ED_I64, SHAPE(3), (int64_t[]){ 5, -1, 7 }, &b));
    const char *names[] = { "enc.weight", "idx" };
    const ed_tensor *ts[] = { a, b };
    const char *mk[] = { "encdec.arch" }, *mv[] = { "autoencoder" };
    CHECK_OK(ed_safetensors_save(path, 2, names, ts, 1, mk, mv));
    ed_safetensors *f = NULL;
    CHECK_OK(ed_safetensors_load(path, &f));
    CHECK(ed_safetensors_count(f) == 2);
    CHECK(f && ed_safetensors_meta(f, "encdec.arch") && !strcmp(ed_safetensors_meta(f, "encdec.arch"), "autoencoder"));
    ed_tensor *a2 = ed_safetensors_get(f, "enc.weight"), *b2 = ed_safetensors_get(f, "idx");
    CHECK(a2 && memcmp(a2->data, a->data, 24) == 0);
    CHECK(b2 && ((int64_t *)b2->data)[1] == -1);
    ed_safetensors_free(f);
    /* Truncated and corrupt files are refused with a reason. */
    FILE *fp = fopen(path, "rb");
    unsigned char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    CHECK_ERR(ed_safetensors_load_memory(buf, n - 5, &f), ED_E_FORMAT, "outside");
    CHECK_ERR(ed_safetensors_load_memory(buf, 6, &f), ED_E_FORMAT, "truncated");
    unsigned char bad[16] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0 };
    CHECK_ERR(ed_safetensors_load_memory(bad, sizeof bad, &f), ED_E_FORMAT, "limit");
    const char *js = "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}";
    unsigned char m[128] = { 0 };
    size_t jl = strlen(js);
    m[0] = (unsigned char)jl;
    memcpy(m + 8, js, jl);
    CHECK_ERR(ed_safetensors_load_memory(m, 8 + jl + 8, &f), ED_E_FORMAT, "need");
    CHECK_ERR(ed_safetensors_load("/nonexistent/x.safetensors", &f), ED_E_IO, "cannot open");
    remove(path);
    ed_tensor_free(a); ed_tensor_free(b);
}

/* bfloat16 rounding (core/tile16.h): round to nearest even on ties, NaN
 * stays a quiet NaN, denormals become signed zero; the 16-lane version
 * (vcvtneps2bf16 where the CPU has it, integer steps elsewhere) gives the
 * scalar's bits for random patterns, ties, denormals, infinities and NaNs. */
static void test_bf16_rounding(void)
{
    CHECK(ed__bf16_rne(1.0f) == 0x3f80);
    CHECK(ed__bf16_rne(ed__bf16_f(0x3f80) + 0x1p-8f) == 0x3f80);   /* tie, even kept */
    CHECK(ed__bf16_rne(ed__bf16_f(0x3f81) + 0x1p-8f) == 0x3f82);   /* tie, up to even */
    CHECK(ed__bf16_rne(-0x1p-140f) == 0x8000);
    CHECK((ed__bf16_rne(NAN) & 0x7fc0) == 0x7fc0);
#if defined(__AVX512F__)
    uint32_t state = 12345;
    int64_t bad = 0;
    for (int it = 0; it < 20000; it++) {
        float v[16], r[16];
        for (int i = 0; i < 16; i++) {
            state = state * 1664525u + 1013904223u;
            uint32_t u = state;
            if (it % 7 == 0) u &= 0x807fffffu;                       /* denormals */
            if (it % 11 == 0) u |= 0x7f800000u;                      /* infinities and NaNs */
            if (it % 13 == 0) u = (u & 0xffff0000u) | 0x8000u;       /* ties */
            memcpy(&v[i], &u, 4);
        }
        _mm512_storeu_ps(r, ed__round_bf16x16(_mm512_loadu_ps(v)));
        for (int i = 0; i < 16; i++) {
            const float e = ed__bf16_f(ed__bf16_rne(v[i]));
            bad += memcmp(&r[i], &e, 4) != 0;
        }
    }
    CHECK_MSG(bad == 0, "16-lane bfloat16 rounding differs from the scalar in %lld lanes", (long long)bad);
#endif
}

int main(void)
{
    test_bf16_rounding();
    test_tensor_basics();
    test_autograd();
    test_gradchecks();
    test_arena();
    test_rng();
    test_safetensors();
    return check_done();
}
