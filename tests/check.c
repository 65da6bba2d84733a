#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int check_passed, check_failed;

int check_report(int ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) { check_passed++; return 1; }
    check_failed++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 0;
}

int check_ok(ed_status s, const char *file, int line, const char *what)
{
    check_report(s == ED_OK, file, line, "%s -> %s: %s", what, ed_status_name(s), ed_last_error());
    return s == ED_OK;
}

int check_err(ed_status s, ed_status want, const char *substr, const char *file, int line, const char *what)
{
    const char *msg = ed_last_error();
    int ok = s == want && (!substr || strstr(msg, substr));
    check_report(ok, file, line, "%s -> %s (\"%s\"), wanted %s with \"%s\"", what, ed_status_name(s), msg,
                 ed_status_name(want), substr ? substr : "");
    return ok;
}

int check_done(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

double check_max_abs_err(const ed_tensor *a, const ed_tensor *e, double *scale)
{
    if (scale) *scale = 0;
    if (!a || !e || a->ndim != e->ndim) return INFINITY;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != e->shape[i]) return INFINITY;
    double s = 0, m = 0;
    bool nan = false;
    for (int64_t i = 0; i < e->numel; i++) {
        const double x = ed__get(a, i), y = ed__get(e, i);
        if (isnan(x) && isnan(y)) continue;
        s = fmax(s, fabs(y));
        const double d = fabs(x - y);
        if (isnan(d)) nan = true;   /* a NaN on one side only fails, whatever follows (fmax would drop it) */
        else if (d > m) m = d;
    }
    if (nan) m = NAN;
    if (scale) *scale = s;
    return m;
}

double check_max_rel_err(const ed_tensor *a, const ed_tensor *e, double floor)
{
    if (!a || !e || a->ndim != e->ndim) return INFINITY;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != e->shape[i]) return INFINITY;
    double m = 0;
    for (int64_t i = 0; i < a->numel; i++) {
        double x = ed__get(a, i), y = ed__get(e, i);
        if (isnan(x) && isnan(y)) continue;
        if (isinf(y) && x == y) continue;
        double d = fabs(x - y) / fmax(fabs(y), floor);
        if (isnan(d)) return NAN;   /* NaN on one side fails, whatever follows */
        if (d > m) m = d;
    }
    return m;
}

double check_err_of_scale(const ed_tensor *a, const ed_tensor *e)
{
    if (!a || !e) return INFINITY;
    double scale = 0;
    for (int64_t j = 0; j < e->numel; j++) scale = fmax(scale, fabs(ed__get(e, j)));
    return check_max_rel_err(a, e, fmax(scale, 1e-12));
}

void check_outputs(const char *name, ed_tensor *const *got, ed_tensor *const *want, const char *const *what, int n,
                   double tol, const char *file, int line)
{
    for (int i = 0; i < n; i++) {
        if (!got[i] && !want[i]) continue;
        if (!got[i] || !want[i]) {
            check_report(0, file, line, "%s %s: present in only one run", name, what[i]);
            continue;
        }
        const double e = want[i]->numel ? check_err_of_scale(got[i], want[i]) : 0;
        check_report(e <= tol, file, line, "%s %s: max err %.3g of scale > %.3g", name, what[i], e, tol);
    }
}

void check_identical(const char *name, ed_tensor *const *a, ed_tensor *const *b, const char *const *what, int n,
                     const char *file, int line)
{
    for (int i = 0; i < n; i++) {
        const bool same = a[i] && b[i] && a[i]->dtype == b[i]->dtype && a[i]->numel == b[i]->numel &&
                          memcmp(a[i]->data, b[i]->data, (size_t)a[i]->numel * ed_dtype_size(a[i]->dtype)) == 0;
        check_report(same, file, line, "%s: %s not bit-identical", name, what[i]);
    }
}

void check_threads_identical(check_run_fn run, const void *ctx, const char *const *what, int n, const char *file,
                             int line)
{
    enum { MAX_OUT = 16 };
    ed_tensor *one[MAX_OUT] = { 0 }, *two[MAX_OUT] = { 0 };
    if (n > MAX_OUT) n = MAX_OUT;
    const int saved = ed_get_num_threads();
    ed_set_num_threads(1);
    check_report(run(ctx, one) == ED_OK, file, line, "run with 1 thread: %s", ed_last_error());
    ed_set_num_threads(2);
    check_report(run(ctx, two) == ED_OK, file, line, "run with 2 threads: %s", ed_last_error());
    ed_set_num_threads(saved);
    check_identical("1 and 2 threads", one, two, what, n, file, line);
    for (int i = 0; i < n; i++) {
        ed_tensor_free(one[i]);
        ed_tensor_free(two[i]);
    }
}

int check_close(const char *name, const ed_tensor *a, const ed_tensor *e, double rtol, const char *file, int line)
{
    /* Relative error with a floor of 1e-3 of the reference's largest value:
     * near-zero entries are judged against the tensor's scale. */
    double scale = 0;
    if (e)
        for (int64_t i = 0; i < e->numel; i++) scale = fmax(scale, fabs(ed__get(e, i)));
    double err = check_max_rel_err(a, e, fmax(scale * 1e-3, 1e-12));
    char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
    check_report(err <= rtol, file, line, "%s: max rel err %.3g > %.3g (shapes %s vs %s)", name, err, rtol,
                 ed__shape_str(a, s1), ed__shape_str(e, s2));
    return err <= rtol;
}

ed_tensor *check_randn(ed_dtype dt, int ndim, const int64_t *shape, uint64_t seed)
{
    ed_tensor *t = NULL;
    if (ed_tensor_new(dt, ndim, shape, &t) != ED_OK) return NULL;
    ed_rng r;
    ed_rng_init(&r, seed);
    ed_rng_fill_normal(&r, t, 0, 1);
    return t;
}

ed_tensor *check_rand(ed_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed)
{
    ed_tensor *t = NULL;
    if (ed_tensor_new(dt, ndim, shape, &t) != ED_OK) return NULL;
    ed_rng r;
    ed_rng_init(&r, seed);
    ed_rng_fill_uniform(&r, t, lo, hi);
    return t;
}

static double weighted_sum(const ed_tensor *y, const ed_tensor *r)
{
    double s = 0;
    for (int64_t i = 0; i < y->numel; i++) s += ed__get(y, i) * ed__get(r, i);
    return s;
}

double check_gradcheck(const char *name, check_fn fn, void *ctx, int n, ed_tensor *const *inputs,
                       const int *no_grad, double h, double tol)
{
    for (int i = 0; i < n; i++) {
        if (inputs[i]->dtype != ED_F64) { CHECK_MSG(0, "%s: gradcheck inputs must be float64", name); return INFINITY; }
        ed_tensor_zero_grad(inputs[i]);
        ed_tensor_set_requires_grad(inputs[i], !(no_grad && no_grad[i]));
    }
    ed_tensor *y = NULL;
    if (!CHECK_OK(fn(inputs, ctx, &y))) return INFINITY;
    ed_tensor *r = check_randn(ED_F64, y->ndim, y->shape, 977);
    if (!CHECK_OK(ed_backward(y, r))) { ed_tensor_free(y); ed_tensor_free(r); return INFINITY; }
    ed_tensor_free(y);
    double worst = 0;
    ed_no_grad_begin();
    for (int i = 0; i < n; i++) {
        if (no_grad && no_grad[i]) continue;
        ed_tensor *x = inputs[i], *g = ed_tensor_grad(x);
        double *xd = x->data;
        for (int64_t j = 0; j < x->numel; j++) {
            double keep = xd[j], fp, fm;
            xd[j] = keep + h;
            ed_tensor *yp = NULL, *ym = NULL;
            ed_status s1 = fn(inputs, ctx, &yp);
            xd[j] = keep - h;
            ed_status s2 = fn(inputs, ctx, &ym);
            xd[j] = keep;
            if (s1 != ED_OK || s2 != ED_OK) { CHECK_MSG(0, "%s: forward failed in gradcheck: %s", name, ed_last_error()); worst = INFINITY; break; }
            fp = weighted_sum(yp, r);
            fm = weighted_sum(ym, r);
            ed_tensor_free(yp);
            ed_tensor_free(ym);
            double num = (fp - fm) / (2 * h), ana = g ? ed__get(g, j) : 0.0;
            double err = fabs(num - ana) / fmax(1.0, fabs(num));
            if (err > worst) worst = err;
            if (err > tol) {
                CHECK_MSG(0, "%s: input %d element %lld: analytic %.10g vs numeric %.10g", name, i, (long long)j, ana, num);
                break;
            }
        }
    }
    ed_no_grad_end();
    ed_tensor_free(r);
    CHECK_MSG(worst <= tol, "%s: gradcheck max error %.3g > %.3g", name, worst, tol);
    return worst;
}

/* ---- golden files ----------------------------------------------------------- */
struct golden {
    ed_safetensors *f;
    cJSON **args;
    int n;
};

golden *golden_open(const char *name)
{
    const char *dir = getenv("ED_GOLDEN_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s.safetensors", dir ? dir : "tests/golden", name);
    ed_safetensors *f = NULL;
    if (!CHECK_OK(ed_safetensors_load(path, &f))) return NULL;
    golden *g = calloc(1, sizeof *g);
    g->f = f;
    const char *nc = ed_safetensors_meta(f, "cases");
    g->n = nc ? atoi(nc) : 0;
    g->args = calloc((size_t)(g->n > 0 ? g->n : 1), sizeof *g->args);
    for (int k = 0; k < g->n; k++) {
        char key[32];
        snprintf(key, sizeof key, "%d", k);
        const char *js = ed_safetensors_meta(f, key);
        g->args[k] = js ? cJSON_Parse(js) : cJSON_CreateObject();
    }
    return g;
}

void golden_close(golden *g)
{
    if (!g) return;
    for (int k = 0; k < g->n; k++) cJSON_Delete(g->args[k]);
    free(g->args);
    ed_safetensors_free(g->f);
    free(g);
}

int golden_cases(const golden *g) { return g ? g->n : 0; }
cJSON *golden_args(golden *g, int k) { return g->args[k]; }

ed_tensor *golden_tensor(golden *g, int k, const char *what)
{
    char name[128];
    snprintf(name, sizeof name, "%d.%s", k, what);
    for (int i = 0; i < ed_safetensors_count(g->f); i++)
        if (!strcmp(ed_safetensors_name(g->f, i), name)) return ed_safetensors_get(g->f, name);
    return NULL;
}

int golden_int(const cJSON *a, const char *key, int def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    if (cJSON_IsBool(v)) return cJSON_IsTrue(v);
    return cJSON_IsNumber(v) ? v->valueint : def;
}

double golden_double(const cJSON *a, const char *key, double def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

const char *golden_str(const cJSON *a, const char *key, const char *def)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    return cJSON_IsString(v) ? v->valuestring : def;
}

void golden_pair(const cJSON *a, const char *key, int def, int out[2])
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, key);
    out[0] = out[1] = def;
    if (cJSON_IsNumber(v)) out[0] = out[1] = v->valueint;
    else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) == 2) {
        out[0] = cJSON_GetArrayItem(v, 0)->valueint;
        out[1] = cJSON_GetArrayItem(v, 1)->valueint;
    }
}

const struct ed_kernel *check_fast_kernel(int op, int pass, const void *params, ed_tensor *const *t)
{
    const ed_kernel *k = ed_backend_find((ed_op)op, (ed_pass)pass, params, t);
    return k && strcmp(k->backend, "fast") == 0 ? k : NULL;
}
