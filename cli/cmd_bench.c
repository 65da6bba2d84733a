/* encdec bench: time one op or one model step on this machine.
 *
 *   encdec bench op conv2d|conv_transpose2d|max_pool2d [--batch B] [--size S]
 *        [--cin C] [--cout C] [--threads T] [--reps R]
 *   encdec bench model unet32 --batch B --size S --train|--infer --threads T
 *        --precision f32|bf16 [--reps R]
 *
 * Each run: warm-up steps (the first builds oneDNN primitives and grows the
 * arena), then R timed steps; prints the median (and min) ms per step,
 * images/s, GFLOP/s and % of the machine's peak, and ends with one JSON line
 * of those figures and the peak RSS. Defaults are the workloads of the
 * performance targets (docs/PERFORMANCE.md).
 *
 * Peak: cpuid decides the class of machine. With AMX-BF16 (Sapphire Rapids
 * class) the figures measured on 2 cores are used, 477 GFLOP/s fp32 and
 * 7000 bf16; with AVX512-BF16 but no AMX (Zen 5 class) 430 fp32 and 860
 * bf16; otherwise cores x clock x FMA width (AVX-512: 64 flop/cycle/core,
 * AVX2: 32). All are scaled to the threads used (of 2 cores). */
#include "cli.h"
#include "core/ed_internal.h"

#include <cpuid.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* ---- the machine ------------------------------------------------------------ */

typedef struct peak { const char *isa; double f32, bf16; } peak;

static double cpu_mhz(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "cpu MHz", 7)) {
            const char *c = strchr(line, ':');
            if (c) mhz = atof(c + 1);
            break;
        }
    if (f) fclose(f);
    return mhz > 0 ? mhz : 2000;
}

static peak machine_peak(int threads)
{
    unsigned a = 0, b = 0, c = 0, d = 0;
    bool avx2 = false, avx512 = false, amx = false, avx512bf16 = false;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        avx2 = b & (1u << 5);
        avx512 = b & (1u << 16);
        amx = d & (1u << 22);
    }
    if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) avx512bf16 = a & (1u << 5);
    double share = (threads < 2 ? threads : 2) / 2.0;
    if (amx) return (peak){ "AMX-BF16 (Sapphire Rapids class)", 477 * share, 7000 * share };
    if (avx512bf16) return (peak){ "AVX512-BF16 (Zen 5 class)", 430 * share, 860 * share };
    double per_cycle = avx512 ? 64 : avx2 ? 32 : 8;
    double f32 = 2 * share * cpu_mhz() * 1e-3 * per_cycle;
    return (peak){ avx512 ? "AVX-512" : avx2 ? "AVX2" : "SSE", f32, f32 };
}

static double peak_rss_mb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024.0;
}

static const char *backend_name(void)
{
#ifdef ENCDEC_HAVE_ONEDNN
    return "onednn";
#else
    return "reference";
#endif
}

/* ---- timing ------------------------------------------------------------------ */

typedef int (*step_fn)(void *ctx);

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median and min of reps timed calls after warm-up; ms. */
static int time_steps(step_fn f, void *ctx, int warm, int reps, double *med, double *mn)
{
    for (int i = 0; i < warm; i++)
        if (f(ctx)) return 1;
    double *t = malloc(sizeof(double) * (size_t)reps);
    if (!t) return cli_error("out of memory");
    for (int i = 0; i < reps; i++) {
        double t0 = cli_now();
        if (f(ctx)) {
            free(t);
            return 1;
        }
        t[i] = (cli_now() - t0) * 1e3;
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_d);
    *med = reps % 2 ? t[reps / 2] : 0.5 * (t[reps / 2 - 1] + t[reps / 2]);
    *mn = t[0];
    free(t);
    return 0;
}

static ed_tensor *randn(int ndim, const int64_t *shape, uint64_t seed)
{
    ed_tensor *t = NULL;
    if (ed_tensor_new(ED_F32, ndim, shape, &t)) return NULL;
    ed_rng r;
    ed_rng_init(&r, seed);
    ed_rng_fill_normal(&r, t, 0, 1);
    return t;
}

/* ---- op benchmarks ------------------------------------------------------------ */

typedef enum { OP_CONV, OP_CONVT, OP_POOL } op_kind;

typedef struct op_ctx {
    op_kind kind;
    bool backward;
    ed_arena *ar;
    ed_tensor *x, *w, *b, *gy;
} op_ctx;

static int op_step(void *vc)
{
    op_ctx *c = vc;
    ed_arena_begin(c->ar);
    if (!c->backward) ed_no_grad_begin();
    ed_tensor *y = NULL, *idx = NULL, *p = NULL;
    ed_status st;
    if (c->kind == OP_CONV) {
        ed_conv2d_args a;
        ed_conv2d_args_default(&a);
        a.padding[0] = a.padding[1] = 1;
        st = ed_conv2d(c->x, c->w, c->b, &a, &y);
    } else if (c->kind == OP_CONVT) {
        ed_conv_transpose2d_args a;
        ed_conv_transpose2d_args_default(&a);
        a.stride[0] = a.stride[1] = 2;
        st = ed_conv_transpose2d(c->x, c->w, c->b, &a, &y);
    } else {
        ed_pool2d_args a;
        ed_pool2d_args_default(&a, 2);
        st = ed_max_pool2d(c->x, &a, &p, &idx);
        if (st == ED_OK) st = ed_max_unpool2d(p, idx, &a, c->x->shape + 2, &y);
    }
    if (st == ED_OK && c->backward) st = ed_backward(y, c->gy);
    if (!c->backward) ed_no_grad_end();
    ed_arena_end();
    ed_arena_reset(c->ar);
    if (st != ED_OK) return cli_lib_error("bench step");
    return 0;
}

/* --precision: bf16 sets ED_PRECISION_BF16 (convolutions in bf16, AMX where
 * present) and compares with the bf16 peak. */
static const char *bench_prec = "f32";
static bool bench_bf16;

static void print_result(const char *kind, const char *name, const char *mode, int batch, int size, int threads,
                         const char *prec, double med, double mn, double gflop, const peak *pk, bool bf16)
{
    double gflops = gflop > 0 ? gflop / (med * 1e-3) : 0, pk_v = bf16 ? pk->bf16 : pk->f32;
    const char *algo = ed_get_conv_algo() == ED_CONV_ALGO_WINOGRAD ? "winograd" : "direct";
    printf("%s %s %s%s: %.2f ms/step (min %.2f), %.1f images/s", name, mode, prec,
           strcmp(algo, "direct") ? " winograd" : "", med, mn, batch / (med * 1e-3));
    if (gflop > 0)
        printf(", %.1f GFLOP/s = %.1f%% of %.0f GFLOP/s peak (%s, %d threads)%s", gflops, 100 * gflops / pk_v, pk_v,
               pk->isa, threads, strcmp(algo, "direct") ? " [GFLOP of direct convolution: Winograd's rate is effective]" : "");
    printf("\n{\"bench\":\"%s\",\"name\":\"%s\",\"mode\":\"%s\",\"batch\":%d,\"size\":%d,\"threads\":%d,"
           "\"precision\":\"%s\",\"conv_algo\":\"%s\",\"backend\":\"%s\",\"ms\":%.3f,\"ms_min\":%.3f,\"images_per_s\":%.2f,"
           "\"gflop\":%.3f,\"gflops\":%.2f,\"peak_gflops\":%.1f,\"peak_pct\":%.2f,\"cpu\":\"%s\","
           "\"peak_rss_mb\":%.1f}\n",
           kind, name, mode, batch, size, threads, prec, algo, backend_name(), med, mn, batch / (med * 1e-3), gflop, gflops,
           pk_v, gflop > 0 ? 100 * gflops / pk_v : 0, pk->isa, peak_rss_mb());
    fflush(stdout);
}

static int bench_op(const char *name, int batch, int size, int cin, int cout, int reps, int threads)
{
    op_ctx c = { 0 };
    double flop;
    if (!strcmp(name, "conv2d")) {
        c.kind = OP_CONV;
        if (!size) size = 128;
        if (!cin) cin = 64;
        if (!cout) cout = 64;
        c.x = randn(4, (int64_t[]){ batch, cin, size, size }, 1);
        c.w = randn(4, (int64_t[]){ cout, cin, 3, 3 }, 2);
        c.b = randn(1, (int64_t[]){ cout }, 3);
        c.gy = randn(4, (int64_t[]){ batch, cout, size, size }, 4);
        flop = 2.0 * batch * cout * size * size * cin * 9;
    } else if (!strcmp(name, "conv_transpose2d")) {
        c.kind = OP_CONVT;
        if (!size) size = 64;
        if (!cin) cin = 128;
        if (!cout) cout = 64;
        c.x = randn(4, (int64_t[]){ batch, cin, size, size }, 1);
        c.w = randn(4, (int64_t[]){ cin, cout, 2, 2 }, 2);
        c.b = randn(1, (int64_t[]){ cout }, 3);
        c.gy = randn(4, (int64_t[]){ batch, cout, 2 * size, 2 * size }, 4);
        flop = 2.0 * batch * cin * size * size * cout * 4;
    } else if (!strcmp(name, "max_pool2d")) {
        c.kind = OP_POOL;
        if (!size) size = 128;
        if (!cin) cin = 64;
        c.x = randn(4, (int64_t[]){ batch, cin, size, size }, 1);
        c.gy = randn(4, (int64_t[]){ batch, cin, size, size }, 4);
        flop = 0;
    } else {
        return cli_usage("bench", "unknown op '%s' (conv2d, conv_transpose2d, max_pool2d)", name);
    }
    if (!c.x || !c.gy || (c.kind != OP_POOL && (!c.w || !c.b))) return cli_error("out of memory");
    ed_tensor_set_requires_grad(c.x, 1);
    if (c.w) ed_tensor_set_requires_grad(c.w, 1);
    if (c.b) ed_tensor_set_requires_grad(c.b, 1);
    int rc = ed_arena_new(0, &c.ar) ? cli_lib_error("arena") : 0;
    peak pk = machine_peak(threads);
    for (int pass = 0; pass < 2 && !rc; pass++) {
        c.backward = pass == 1;
        double med = 0, mn = 0;
        rc = time_steps(op_step, &c, 2, reps, &med, &mn);
        if (!rc)
            print_result("op", name, c.backward ? "forward+backward" : "forward", batch, size, threads, bench_prec, med,
                         mn, flop * 1e-9 * (c.backward ? 3 : 1), &pk, bench_bf16);
    }
    ed_arena_free(c.ar);
    ed_tensor *all[] = { c.x, c.w, c.b, c.gy };
    for (int i = 0; i < 4; i++) ed_tensor_free(all[i]);
    return rc;
}

/* ---- model benchmarks --------------------------------------------------------- */

/* Convolution FLOPs of one forward pass of a U-Net (models/unet.c). */
static double unet_flop(int n, int s, int cin, int classes, int base, int depth)
{
    double mac = 0, c = cin;
    for (int k = 0; k <= depth; k++) {
        double r = (double)(s >> k), w = (double)base * (1 << k);
        mac += 9.0 * n * r * r * (c * w + w * w);
        c = w;
    }
    for (int k = 0; k < depth; k++) {
        double r = (double)(s >> k), w = (double)base * (1 << k);
        mac += n * r * r * 2 * w * w + 9.0 * n * r * r * (3 * w * w);
    }
    mac += (double)n * s * s * base * classes;
    return 2 * mac;
}

typedef struct model_ctx {
    ed_model *m;
    ed_optim *opt;
    ed_arena *ar;
    ed_tensor *x, *labels;
    bool train;
} model_ctx;

static int model_step(void *vc)
{
    model_ctx *c = vc;
    ed_arena_begin(c->ar);
    ed_tensor *y = NULL, *loss = NULL;
    ed_status st;
    if (c->train) {
        st = ed_model_forward(c->m, c->x, 1, &y);
        if (st == ED_OK) st = ed_cross_entropy(y, c->labels, NULL, &loss);
        if (st == ED_OK) st = ed_backward(loss, NULL);
    } else {
        ed_no_grad_begin();
        st = ed_model_forward(c->m, c->x, 0, &y);
        ed_no_grad_end();
    }
    ed_arena_end();
    ed_arena_reset(c->ar);
    if (st == ED_OK && c->train) {
        st = ed_optim_step(c->opt);
        ed_params_zero_grad(ed_model_params(c->m));
    }
    if (st != ED_OK) return cli_lib_error("bench step");
    return 0;
}

static int bench_model(const char *arch, int batch, int size, bool train, int reps, int threads)
{
    if (strcmp(arch, "unet32")) return cli_usage("bench", "unknown model '%s' (available: unet32)", arch);
    const int cin = 3, classes = 4, base = 32, depth = 4;
    if (!size) size = 128;
    if (size % (1 << depth)) return cli_usage("bench", "--size must be a multiple of %d for unet32", 1 << depth);
    model_ctx c = { .train = train };
    char cfg[160];
    snprintf(cfg, sizeof cfg, "{\"in_channels\":%d,\"num_classes\":%d,\"base_width\":%d,\"depth\":%d}", cin, classes,
             base, depth);
    ed_status st = ed_model_create("unet", cfg, &c.m);
    ed_rng r;
    ed_rng_init(&r, 0);
    if (st == ED_OK) st = ed_model_init(c.m, &r);
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    if (st == ED_OK && train) st = ed_optim_new(ed_model_params(c.m), &oa, &c.opt);
    if (st == ED_OK && !train) st = ed_model_freeze(c.m, 1);   /* a deployed model (include/encdec/models.h) */
    if (st == ED_OK) st = ed_arena_new(0, &c.ar);
    if (st != ED_OK) return cli_lib_error("building unet32");
    c.x = randn(4, (int64_t[]){ batch, cin, size, size }, 5);
    if (ed_tensor_new(ED_I64, 3, (int64_t[]){ batch, size, size }, &c.labels)) return cli_lib_error("labels");
    int64_t *lab = ed_tensor_data(c.labels);
    for (int64_t i = 0; i < (int64_t)batch * size * size; i++) lab[i] = ed_rng_u32(&r) % classes;
    double med = 0, mn = 0;
    int rc = c.x ? time_steps(model_step, &c, 2, reps, &med, &mn) : cli_error("out of memory");
    peak pk = machine_peak(threads);
    if (!rc)
        print_result("model", arch, train ? "train" : "infer", batch, size, threads, bench_prec, med, mn,
                     unet_flop(batch, size, cin, classes, base, depth) * 1e-9 * (train ? 3 : 1), &pk, bench_bf16);
    ed_tensor_free(c.x);
    ed_tensor_free(c.labels);
    ed_arena_free(c.ar);
    ed_optim_free(c.opt);
    ed_model_free(c.m);
    return rc;
}

static void help(void)
{
    printf("usage: encdec bench op NAME [--batch B] [--size S] [--cin C] [--cout C] [--threads T] [--reps R]\n"
           "       encdec bench model unet32 [--batch B] [--size S] [--train|--infer] [--threads T]\n"
           "                                 [--precision f32|bf16] [--conv-algo direct|winograd] [--reps R]\n\n"
           "Times warm-up + R steps (median). op NAME: conv2d (3x3, padding 1; default 8x64x128x128 -> 64),\n"
           "conv_transpose2d (2x2 stride 2; default 8x128x64x64 -> 64), max_pool2d (2x2 with indices +\n"
           "max_unpool2d; default 8x64x128x128), each forward and forward+backward. model unet32: U-Net\n"
           "(base 32, depth 4, 4 classes, 3x128x128 input); --train = forward, cross-entropy, backward,\n"
           "Adam step; --infer = forward without gradients. Ends with one JSON line per measurement.\n");
}

int cmd_bench(int argc, char **argv)
{
    if (cli_wants_help(argc, argv) || argc < 3) {
        if (argc < 3 && !cli_wants_help(argc, argv)) return cli_usage("bench", "expected 'op NAME' or 'model ARCH'");
        help();
        return 0;
    }
    const char *what = argv[1], *name = argv[2], *prec = "f32";
    long batch = 8, size = 0, cin = 0, cout = 0, reps = 5, threads = 0;
    bool train = true;
    for (int i = 3; i < argc; i++) {
        const char *v;
        bool missing = false;
        long *dst = NULL;
        long lo = 1, hi = 1 << 20;
        if (cli_flag(argv, &i, "--train")) { train = true; continue; }
        if (cli_flag(argv, &i, "--infer")) { train = false; continue; }
        if ((v = cli_value(argc, argv, &i, "--precision", &missing))) {
            if (strcmp(v, "f32") && strcmp(v, "bf16"))
                return cli_usage("bench", "--precision takes f32 or bf16, got '%s'", v);
            prec = v;
            continue;
        }
        if ((v = cli_value(argc, argv, &i, "--conv-algo", &missing))) {
            int rc = cli_conv_algo("bench", v);
            if (rc) return rc;
            continue;
        }
        if ((v = cli_value(argc, argv, &i, "--batch", &missing))) dst = &batch;
        else if ((v = cli_value(argc, argv, &i, "--size", &missing))) dst = &size;
        else if ((v = cli_value(argc, argv, &i, "--cin", &missing))) dst = &cin;
        else if ((v = cli_value(argc, argv, &i, "--cout", &missing))) dst = &cout;
        else if ((v = cli_value(argc, argv, &i, "--reps", &missing))) { dst = &reps; hi = 1000; }
        else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) { dst = &threads; hi = 1024; }
        else if (missing) return cli_usage("bench", "%s needs a value", argv[i]);
        else return cli_usage("bench", "unknown option '%s'", argv[i]);
        if (!cli_parse_int(v, lo, hi, dst)) return cli_usage("bench", "%s takes a positive integer, got '%s'", argv[i], v);
    }
    if (threads) ed_set_num_threads((int)threads);
    int t = ed_get_num_threads();
    if (!strcmp(prec, "bf16")) {
#ifndef ENCDEC_HAVE_ONEDNN
        return cli_error("--precision bf16 needs the oneDNN backend; this build has only the float32 reference kernels");
#endif
        if (ed_set_conv_precision(ED_PRECISION_BF16) != ED_OK) return cli_lib_error("--precision bf16");
        bench_prec = "bf16";
        bench_bf16 = true;
    }
    if (!strcmp(what, "op")) return bench_op(name, (int)batch, (int)size, (int)cin, (int)cout, (int)reps, t);
    if (!strcmp(what, "model")) return bench_model(name, (int)batch, (int)size, train, (int)reps, t);
    return cli_usage("bench", "expected 'op NAME' or 'model ARCH', got '%s'", what);
}
