/* Parameters: names, packing (identity kept, one aligned block, gradients
 * written by autograd into the second block), zero_grad, clip_grad_norm
 * against torch (golden optim.safetensors), initialisers' fans and
 * distributions, checkpoint save/load and its errors. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void set_grad(ed_tensor *t, const ed_tensor *g)
{
    ed_tensor *y = NULL;
    if (!CHECK_OK(ed_scale(t, 1.0, &y))) return;
    CHECK_OK(ed_backward(y, g));
    ed_tensor_free(y);
}

static void test_names(void)
{
    ed_params *p = NULL;
    ed_tensor *t = NULL;
    CHECK_OK(ed_params_new(&p));
    CHECK_OK(ed_params_add(p, "encoder.0.weight", SHAPE(4, 3, 3, 3), 1, &t));
    CHECK_ERR(ed_params_add(p, "encoder.0.weight", SHAPE(4), 1, &t), ED_E_ARG, "already used");
    CHECK(t == NULL);
    CHECK_ERR(ed_params_add(p, "", SHAPE(4), 1, &t), ED_E_ARG, "empty");
    CHECK_ERR(ed_params_add(p, NULL, SHAPE(4), 1, &t), ED_E_ARG, "empty");
    CHECK_ERR(ed_params_add(p, "a b", SHAPE(4), 1, &t), ED_E_ARG, "invalid character");
    CHECK_ERR(ed_params_add(p, "a\"b", SHAPE(4), 1, &t), ED_E_ARG, "invalid character");
    CHECK_ERR(ed_params_add(p, "enc..w", SHAPE(4), 1, &t), ED_E_ARG, "empty component");
    CHECK_ERR(ed_params_add(p, ".w", SHAPE(4), 1, &t), ED_E_ARG, "empty component");
    CHECK_ERR(ed_params_add(p, "w.", SHAPE(4), 1, &t), ED_E_ARG, "empty component");
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_ERR(ed_params_add(p, longname, SHAPE(4), 1, &t), ED_E_ARG, "bytes long");
    CHECK_ERR(ed_params_add(p, "w", SHAPE(4, 0), 1, &t), ED_E_ARG, "sizes must be positive");
    CHECK_ERR(ed_params_add(p, "w", SHAPE(-2), 1, &t), ED_E_ARG, "sizes must be positive");
    CHECK_ERR(ed_params_add(p, "w", 9, (int64_t[9]){ 1, 1, 1, 1, 1, 1, 1, 1, 1 }, 1, &t), ED_E_ARG, "dimensions");
    CHECK(ed_params_count(p) == 1);
    CHECK_OK(ed_params_add(p, "bn.running_var", SHAPE(4), 0, &t));
    CHECK(ed_params_find(p, "bn.running_var") == t && ed_params_find(p, "nope") == NULL);
    CHECK(strstr(ed_last_error(), "nope") != NULL);
    CHECK(ed_params_name(p, 5) == NULL && ed_params_tensor(p, -1) == NULL);
    CHECK_OK(ed_params_pack(p));
    CHECK_ERR(ed_params_add(p, "late", SHAPE(2), 1, &t), ED_E_STATE, "already packed");
    ed_params_free(p);
    ed_params_free(NULL);
}

static void test_pack(void)
{
    ed_params *p = NULL;
    ed_tensor *w0 = NULL, *b0 = NULL, *rm = NULL, *w1 = NULL;
    CHECK_OK(ed_params_new(&p));
    CHECK_OK(ed_params_add(p, "conv.weight", SHAPE(2, 3, 3), 1, &w0));
    CHECK_OK(ed_params_add(p, "conv.bias", SHAPE(2), 1, &b0));
    CHECK_OK(ed_params_add(p, "bn.running_mean", SHAPE(5), 0, &rm));
    CHECK_OK(ed_params_add(p, "out.weight", SHAPE(7), 1, &w1));
    CHECK(ed_tensor_requires_grad(w0) && !ed_tensor_requires_grad(rm));
    CHECK(ed_params_trainable(p, 1) && !ed_params_trainable(p, 2));
    CHECK(ed_params_numel(p, 1) == 18 + 2 + 7 && ed_params_numel(p, 0) == 18 + 2 + 5 + 7);
    CHECK(ed__cf32(w0)[5] == 0.0f);   /* zero-filled */
    for (int i = 0; i < 18; i++) ed__f32(w0)[i] = (float)i;
    for (int i = 0; i < 7; i++) ed__f32(w1)[i] = -(float)i;
    ed_tensor_fill(rm, 3.0);
    /* A gradient made before packing moves with its tensor. */
    ed_tensor *g1 = check_randn(ED_F32, SHAPE(7), 3);
    set_grad(w1, g1);
    CHECK_OK(ed_params_pack(p));
    CHECK_OK(ed_params_pack(p));   /* idempotent */
    CHECK(ed_params_tensor(p, 0) == w0 && ed_params_find(p, "out.weight") == w1);   /* identity kept */
    CHECK(ed__cf32(w0)[17] == 17.0f && ed__cf32(w1)[6] == -6.0f && ed__cf32(rm)[4] == 3.0f);
    /* One block, slices 64-byte aligned, in order. */
    const float *base = ed__cf32(w0);
    CHECK(((uintptr_t)w0->data & 63) == 0 && ((uintptr_t)b0->data & 63) == 0 && ((uintptr_t)w1->data & 63) == 0);
    CHECK(ed__cf32(b0) - base == 32 && ed__cf32(w1) - base == 48);
    CHECK(ed_tensor_grad(w0) == NULL && ed_tensor_grad(b0) == NULL);
    CHECK(ed_tensor_grad(w1) != NULL);
    if (ed_tensor_grad(w1)) CHECK_CLOSE("grad kept by pack", ed_tensor_grad(w1), g1, 0);
    /* Gradients land in the second block, with the same layout, and accumulate. */
    ed_tensor *g0 = check_randn(ED_F32, SHAPE(2, 3, 3), 4), *g0x2 = NULL;
    set_grad(w0, g0);
    set_grad(w0, g0);
    CHECK_OK(ed_scale(g0, 2.0, &g0x2));
    ed_tensor *gw0 = ed_tensor_grad(w0), *gw1 = ed_tensor_grad(w1);
    CHECK(gw0 && gw1 && ed__cf32(gw1) - ed__cf32(gw0) == 48 && ((uintptr_t)gw0->data & 63) == 0);
    CHECK_CLOSE("accumulated grad", gw0, g0x2, 0);
    ed_params_zero_grad(p);
    CHECK(ed_tensor_grad(w0) == NULL && ed_tensor_grad(w1) == NULL);
    set_grad(w0, g0);
    CHECK(ed_tensor_grad(w0) == gw0);   /* the same wrapper over the block */
    CHECK_CLOSE("grad after zero_grad", ed_tensor_grad(w0), g0, 0);
    ed_tensor_free(g0); ed_tensor_free(g0x2); ed_tensor_free(g1);
    ed_params_free(p);

    /* An empty set packs too. */
    CHECK_OK(ed_params_new(&p));
    CHECK_OK(ed_params_pack(p));
    CHECK(ed_params_numel(p, 0) == 0);
    ed_params_free(p);
}

static void test_clip(void)
{
    golden *g = golden_open("optim");
    if (!g) return;
    int n = 0;
    for (int k = 0; k < golden_cases(g); k++) {
        cJSON *a = golden_args(g, k);
        if (strcmp(golden_str(a, "type", ""), "clip")) continue;
        n++;
        int np = golden_int(a, "nparams", 0);
        ed_params *p = NULL;
        CHECK_OK(ed_params_new(&p));
        ed_tensor *ts[8] = { 0 };
        for (int j = 0; j < np; j++) {
            char w[32], name[32];
            snprintf(w, sizeof w, "c_in%d", j);
            snprintf(name, sizeof name, "p%d", j);
            ed_tensor *gi = golden_tensor(g, k, w);
            ed_tensor *shape_of = gi ? gi : golden_tensor(g, 0, name);   /* optim case 0 has p<j> */
            CHECK_OK(ed_params_add(p, name, shape_of->ndim, shape_of->shape, 1, &ts[j]));
        }
        CHECK_OK(ed_params_pack(p));
        for (int j = 0; j < np; j++) {
            char w[32];
            snprintf(w, sizeof w, "c_in%d", j);
            ed_tensor *gi = golden_tensor(g, k, w);
            if (gi) set_grad(ts[j], gi);
        }
        double total = 0;
        CHECK_OK(ed_clip_grad_norm(p, golden_double(a, "max_norm", 0), &total));
        double want = ed_tensor_item(golden_tensor(g, k, "total"));
        CHECK_MSG(fabs(total - want) <= 1e-5 * want, "clip case %d: total norm %.8g vs torch %.8g", k, total, want);
        for (int j = 0; j < np; j++) {
            char w[32], name[48];
            snprintf(w, sizeof w, "c_out%d", j);
            snprintf(name, sizeof name, "clip case %d grad %d", k, j);
            ed_tensor *go = golden_tensor(g, k, w);
            CHECK((ed_tensor_grad(ts[j]) != NULL) == (go != NULL));
            if (go) CHECK_CLOSE(name, ed_tensor_grad(ts[j]), go, 1e-5);
        }
        ed_params_free(p);
    }
    CHECK(n == 3);
    golden_close(g);

    /* max_norm <= 0 only measures; a non-finite norm is an error. */
    ed_params *p = NULL;
    ed_tensor *w = NULL, *gr = NULL;
    CHECK_OK(ed_params_new(&p));
    CHECK_OK(ed_params_add(p, "w", SHAPE(2), 1, &w));
    CHECK_OK(ed_params_pack(p));
    double total = -1;
    CHECK_OK(ed_clip_grad_norm(p, 1.0, &total));
    CHECK(total == 0);
    CHECK_OK(ed_tensor_from_data(ED_F32, SHAPE(2), (float[]){ 3, 4 }, &gr));
    set_grad(w, gr);
    CHECK_OK(ed_clip_grad_norm(p, 0, &total));
    CHECK(fabs(total - 5) < 1e-12 && ed__cf32(ed_tensor_grad(w))[1] == 4.0f);
    ed__f32(ed_tensor_grad(w))[0] = INFINITY;
    CHECK_ERR(ed_clip_grad_norm(p, 1.0, &total), ED_E_NAN, "total norm");
    CHECK_ERR(ed_clip_grad_norm(p, NAN, &total), ED_E_ARG, "NaN");
    ed_tensor_free(gr);
    ed_params_free(p);
}

/* ---- initialisers --------------------------------------------------------- */

static void moments(const ed_tensor *t, double *mean, double *std, double *maxabs)
{
    double s = 0, s2 = 0, m = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        double v = ed__get(t, i);
        s += v;
        s2 += v * v;
        m = fmax(m, fabs(v));
    }
    *mean = s / (double)t->numel;
    *std = sqrt(s2 / (double)t->numel - *mean * *mean);
    *maxabs = m;
}

static void check_uniform(const char *name, const ed_tensor *t, double bound)
{
    double mean, std, mx;
    moments(t, &mean, &std, &mx);
    CHECK_MSG(mx <= bound * (1 + 1e-6) && mx >= 0.99 * bound, "%s: max |x| %.5g, bound %.5g", name, mx, bound);
    CHECK_MSG(fabs(std - bound / sqrt(3.0)) < 0.03 * bound / sqrt(3.0) && fabs(mean) < 0.03 * bound,
              "%s: mean %.4g std %.5g, want 0 and %.5g", name, mean, std, bound / sqrt(3.0));
}

static void check_normal(const char *name, const ed_tensor *t, double want_std)
{
    double mean, std, mx;
    moments(t, &mean, &std, &mx);
    CHECK_MSG(fabs(std - want_std) < 0.03 * want_std && fabs(mean) < 0.03 * want_std,
              "%s: mean %.4g std %.5g, want 0 and %.5g", name, mean, std, want_std);
}

static void test_init(void)
{
    /* Fans as torch.nn.init._calculate_fan_in_and_fan_out. */
    struct { int ndim; int64_t shape[4]; int64_t fi, fo; } fans[] = {
        { 2, { 10, 20 }, 20, 10 },                /* Linear(20, 10) */
        { 4, { 64, 32, 3, 3 }, 288, 576 },        /* Conv2d(32, 64, 3) */
        { 4, { 32, 16, 4, 4 }, 256, 512 },        /* ConvTranspose2d(32, 16, 4): weight (in, out, k, k) */
        { 3, { 8, 4, 5 }, 20, 40 },
    };
    for (size_t i = 0; i < sizeof fans / sizeof fans[0]; i++) {
        ed_tensor *t = NULL;
        CHECK_OK(ed_tensor_new(ED_F32, fans[i].ndim, fans[i].shape, &t));
        int64_t fi = 0, fo = 0;
        CHECK_OK(ed_init_fans(t, &fi, &fo));
        CHECK_MSG(fi == fans[i].fi && fo == fans[i].fo, "fans case %zu: %lld/%lld", i, (long long)fi, (long long)fo);
        ed_tensor_free(t);
    }
    ed_tensor *v = NULL, *w = NULL, *b = NULL, *w2 = NULL;
    ed_rng r;
    ed_rng_init(&r, 7);
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(5), &v));
    int64_t fi, fo;
    CHECK_ERR(ed_init_fans(v, &fi, &fo), ED_E_SHAPE, "fewer than 2 dimensions");
    CHECK_ERR(ed_init_kaiming_uniform(v, 0, ED_FAN_IN, ED_NL_RELU, &r), ED_E_SHAPE, "fewer than 2 dimensions");
    CHECK_ERR(ed_init_xavier_normal(v, 1, &r), ED_E_SHAPE, "fewer than 2 dimensions");
    CHECK_ERR(ed_init_uniform(v, 1, -1, &r), ED_E_ARG, "lo=1, hi=-1");
    CHECK_ERR(ed_init_normal(v, 0, -1, &r), ED_E_ARG, "std >= 0");
    CHECK_ERR(ed_init_uniform(v, 0, 1, NULL), ED_E_ARG, "rng");
    CHECK_OK(ed_init_constant(v, 0.5));
    CHECK(ed__cf32(v)[4] == 0.5f);
    ed_tensor *i64 = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(5, 5), &i64));
    CHECK_ERR(ed_init_kaiming_normal(i64, 0, ED_FAN_IN, ED_NL_RELU, &r), ED_E_DTYPE, NULL);
    ed_tensor_free(i64);

    /* (64, 32, 3, 3): fan_in 288, fan_out 576; 18432 samples. */
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(64, 32, 3, 3), &w));
    CHECK_OK(ed_init_kaiming_uniform(w, 0, ED_FAN_IN, ED_NL_RELU, &r));
    check_uniform("kaiming_uniform relu fan_in", w, sqrt(3.0) * sqrt(2.0) / sqrt(288.0));
    CHECK_OK(ed_init_kaiming_uniform(w, 0.2, ED_FAN_OUT, ED_NL_LEAKY_RELU, &r));
    check_uniform("kaiming_uniform leaky fan_out", w, sqrt(3.0) * sqrt(2.0 / 1.04) / sqrt(576.0));
    CHECK_OK(ed_init_kaiming_normal(w, 0, ED_FAN_OUT, ED_NL_RELU, &r));
    check_normal("kaiming_normal relu fan_out", w, sqrt(2.0) / sqrt(576.0));
    CHECK_OK(ed_init_kaiming_normal(w, 0, ED_FAN_IN, ED_NL_TANH, &r));
    check_normal("kaiming_normal tanh", w, (5.0 / 3.0) / sqrt(288.0));
    CHECK_OK(ed_init_xavier_uniform(w, 1.0, &r));
    check_uniform("xavier_uniform", w, sqrt(3.0) * sqrt(2.0 / (288 + 576)));
    CHECK_OK(ed_init_xavier_normal(w, 2.0, &r));
    check_normal("xavier_normal gain 2", w, 2.0 * sqrt(2.0 / (288 + 576)));
    CHECK_OK(ed_init_uniform(w, -0.5, 1.5, &r));
    double mean, std, mx;
    moments(w, &mean, &std, &mx);
    CHECK(fabs(mean - 0.5) < 0.02 && mx <= 1.5);
    CHECK_OK(ed_init_normal(w, 3.0, 0.5, &r));
    moments(w, &mean, &std, &mx);
    CHECK(fabs(mean - 3.0) < 0.02 && fabs(std - 0.5) < 0.015);

    /* torch's default for Conv2d: weight and bias bounded by 1/sqrt(fan_in). */
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(2048), &b));
    CHECK_OK(ed_init_torch_default(w, b, &r));
    check_uniform("torch default weight", w, 1.0 / sqrt(288.0));
    check_uniform("torch default bias", b, 1.0 / sqrt(288.0));
    CHECK_OK(ed_init_torch_default(w, NULL, &r));
    CHECK_ERR(ed_init_torch_default(w, w, &r), ED_E_SHAPE, "bias must be 1-D");
    /* Same seed, same values; f64 works too. */
    CHECK_OK(ed_tensor_new(ED_F64, SHAPE(64, 32, 3, 3), &w2));
    ed_rng r1, r2;
    ed_rng_init(&r1, 99);
    ed_rng_init(&r2, 99);
    CHECK_OK(ed_init_kaiming_uniform(w, sqrt(5.0), ED_FAN_IN, ED_NL_LEAKY_RELU, &r1));
    CHECK_OK(ed_init_kaiming_uniform(w2, sqrt(5.0), ED_FAN_IN, ED_NL_LEAKY_RELU, &r2));
    CHECK_CLOSE("same seed", w, w2, 1e-6);
    ed_tensor_free(v); ed_tensor_free(w); ed_tensor_free(b); ed_tensor_free(w2);
}

/* ---- checkpoints -------------------------------------------------------------- */

static ed_params *make_params(int variant, ed_tensor **w, ed_tensor **rm)
{
    ed_params *p = NULL;
    ed_tensor *b = NULL;
    CHECK_OK(ed_params_new(&p));
    CHECK_OK(ed_params_add(p, "enc.0.weight", SHAPE(4, 3, 3, 3), 1, w));
    if (variant != 1) CHECK_OK(ed_params_add(p, "enc.0.bias", SHAPE(variant == 2 ? 5 : 4), 1, &b));
    CHECK_OK(ed_params_add(p, "enc.1.running_mean", SHAPE(4), 0, rm));
    CHECK_OK(ed_params_pack(p));
    return p;
}

static void test_checkpoint(void)
{
    const char *path = "test_params_tmp.safetensors";
    ed_tensor *w = NULL, *rm = NULL, *w2 = NULL, *rm2 = NULL;
    ed_params *p = make_params(0, &w, &rm);
    ed_rng r;
    ed_rng_init(&r, 5);
    CHECK_OK(ed_init_torch_default(w, ed_params_find(p, "enc.0.bias"), &r));
    ed_tensor_fill(rm, 0.75);
    const char *keys[] = { "encdec.arch" }, *vals[] = { "dncnn" };
    CHECK_OK(ed_params_save(p, path, 1, keys, vals));
    CHECK_ERR(ed_params_save(p, path, 1, NULL, vals), ED_E_ARG, "metadata");
    CHECK_ERR(ed_params_save(p, "/nonexistent/dir/x.safetensors", 0, NULL, NULL), ED_E_IO, "cannot write");

    ed_safetensors *f = NULL;
    CHECK_OK(ed_safetensors_load(path, &f));
    CHECK(ed_safetensors_count(f) == 3);
    CHECK(ed_safetensors_meta(f, "encdec.arch") && !strcmp(ed_safetensors_meta(f, "encdec.arch"), "dncnn"));
    /* Round trip into a fresh set. */
    ed_params *q = make_params(0, &w2, &rm2);
    CHECK_OK(ed_params_load(q, f, 1));
    CHECK_CLOSE("loaded weight", w2, w, 0);
    CHECK_CLOSE("loaded bias", ed_params_find(q, "enc.0.bias"), ed_params_find(p, "enc.0.bias"), 0);
    CHECK_CLOSE("loaded buffer", rm2, rm, 0);
    ed_params_free(q);

    /* A set lacking enc.0.bias: extra names fail only a strict load. */
    q = make_params(1, &w2, &rm2);
    CHECK_ERR(ed_params_load(q, f, 1), ED_E_FORMAT, "unexpected tensor 'enc.0.bias'");
    CHECK(ed__cf32(w2)[0] == 0.0f);   /* nothing copied by a failed load */
    CHECK_OK(ed_params_load(q, f, 0));
    CHECK_CLOSE("non-strict load", w2, w, 0);
    ed_params_free(q);

    /* Shape mismatch names the tensor and both shapes; nothing is copied. */
    q = make_params(2, &w2, &rm2);
    CHECK_ERR(ed_params_load(q, f, 0), ED_E_SHAPE, "'enc.0.bias' has shape (4,) in the checkpoint but (5,) in the model");
    CHECK(ed__cf32(w2)[0] == 0.0f);
    ed_params_free(q);

    /* Missing name. */
    ed_tensor *extra = NULL;
    CHECK_OK(ed_params_new(&q));
    CHECK_OK(ed_params_add(q, "dec.weight", SHAPE(2, 2), 1, &extra));
    CHECK_ERR(ed_params_load(q, f, 0), ED_E_FORMAT, "'dec.weight' (shape (2, 2)) is missing");
    ed_params_free(q);
    ed_safetensors_free(f);

    /* Wrong dtype in the file. */
    ed_tensor *d = check_randn(ED_F64, SHAPE(2, 2), 1);
    const char *nm[] = { "dec.weight" };
    const ed_tensor *tv[] = { d };
    CHECK_OK(ed_safetensors_save(path, 1, nm, tv, 0, NULL, NULL));
    CHECK_OK(ed_safetensors_load(path, &f));
    CHECK_OK(ed_params_new(&q));
    CHECK_OK(ed_params_add(q, "dec.weight", SHAPE(2, 2), 1, &extra));
    CHECK_ERR(ed_params_load(q, f, 1), ED_E_DTYPE, "float64");
    ed_params_free(q);
    ed_safetensors_free(f);
    ed_tensor_free(d);

    /* A truncated checkpoint does not load. */
    CHECK_OK(ed_params_save(p, path, 0, NULL, NULL));
    FILE *fp = fopen(path, "rb");
    char buf[4096];
    size_t n = fp ? fread(buf, 1, sizeof buf, fp) : 0;
    if (fp) fclose(fp);
    CHECK(n > 100);
    fp = fopen(path, "wb");
    if (fp) { fwrite(buf, 1, n - 10, fp); fclose(fp); }
    f = NULL;
    CHECK_ERR(ed_safetensors_load(path, &f), ED_E_FORMAT, NULL);
    CHECK(f == NULL);
    CHECK_ERR(ed_params_load(p, NULL, 1), ED_E_ARG, NULL);
    remove(path);
    ed_params_free(p);
}

int main(void)
{
    ed_set_num_threads(2);
    test_names();
    test_pack();
    test_clip();
    test_init();
    test_checkpoint();
    return check_done();
}
