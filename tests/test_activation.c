/* Elementwise ops (src/ops/elementwise.c) against torch
 * (tests/golden/gen_activation.py): add, sub, mul with broadcasting, relu,
 * leaky_relu, sigmoid, tanh, scale; outputs and gradients in float32 and
 * float64, the kinks at 0 and saturation included. Then gradient checks on
 * the golden shapes and errors. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>

static ed_tensor *leaf(const ed_tensor *t, ed_dtype dt, int grad)
{
    if (!t) return NULL;
    ed_tensor *c = NULL;
    if (!CHECK_OK(ed_tensor_to(t, dt, &c))) return NULL;
    if (grad) ed_tensor_set_requires_grad(c, 1);
    return c;
}

static double rel_err(const ed_tensor *a, const ed_tensor *e)
{
    double scale = 0;
    for (int64_t i = 0; e && i < e->numel; i++) scale = fmax(scale, fabs(ed__get(e, i)));
    return check_max_rel_err(a, e, fmax(scale * 1e-3, 1e-12));
}

/* float64 results match torch's float64 ones to 1e-9. float32 ones are
 * within 1e-5, or twice torch's own float32 error if larger, of both the
 * float64 truth and torch's float32 result: like torch, sigmoid and tanh
 * take their gradient from the float32 output, and y(1 - y) loses digits
 * where y is near 1 (see gen_activation.py). */
static void compare(const char *name, const char *what, const ed_tensor *a, golden *g, int k, const char *key)
{
    char k64[64], nm[160];
    snprintf(k64, sizeof k64, "%s64", key);
    snprintf(nm, sizeof nm, "%s %s", name, what);
    const ed_tensor *r32 = golden_tensor(g, k, key), *r64 = golden_tensor(g, k, k64);
    if (!r32 || !r64) { CHECK_MSG(0, "%s: golden file lacks %s or %s", nm, key, k64); return; }
    if (a && a->dtype == ED_F64) { CHECK_CLOSE(nm, a, r64, 1e-9); return; }
    double tol = fmax(1e-5, 2 * rel_err(r32, r64));
    CHECK_CLOSE(nm, a, r64, tol);
    CHECK_CLOSE(nm, a, r32, tol);
}

static ed_status run_op(const char *op, double alpha, const ed_tensor *a, const ed_tensor *b, ed_tensor **y)
{
    if (!strcmp(op, "add")) return ed_add(a, b, y);
    if (!strcmp(op, "sub")) return ed_sub(a, b, y);
    if (!strcmp(op, "mul")) return ed_mul(a, b, y);
    if (!strcmp(op, "relu")) return ed_relu(a, y);
    if (!strcmp(op, "leaky_relu")) return ed_leaky_relu(a, alpha, y);
    if (!strcmp(op, "sigmoid")) return ed_sigmoid(a, y);
    if (!strcmp(op, "tanh")) return ed_tanh(a, y);
    return ed_scale(a, alpha, y);
}

static void golden_case(golden *g, int k, ed_dtype dt)
{
    cJSON *args = golden_args(g, k);
    const char *op = golden_str(args, "op", "");
    double alpha = golden_double(args, "alpha", 0);
    char name[96];
    snprintf(name, sizeof name, "case %d %s(%g) %s", k, op, alpha, dt == ED_F64 ? "f64" : "f32");
    int binary = golden_tensor(g, k, "b") != NULL;
    ed_tensor *a = leaf(golden_tensor(g, k, binary ? "a" : "x"), dt, 1), *b = leaf(golden_tensor(g, k, "b"), dt, 1);
    ed_tensor *gy = leaf(golden_tensor(g, k, "gy"), dt, 0), *y = NULL;
    if (CHECK_OK(run_op(op, alpha, a, b, &y))) {
        compare(name, "y", y, g, k, "y");
        if (CHECK_OK(ed_backward(y, gy))) {
            compare(name, binary ? "ga" : "gx", ed_tensor_grad(a), g, k, binary ? "ga" : "gx");
            if (binary) compare(name, "gb", ed_tensor_grad(b), g, k, "gb");
        }
    }
    ed_tensor_free(y); ed_tensor_free(a); ed_tensor_free(b); ed_tensor_free(gy);
}

/* The gradient checks run on the golden cases' shapes and arguments. */
typedef struct { const char *op; double alpha; } op_args;

static ed_status f_op(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const op_args *o = ctx;
    return run_op(o->op, o->alpha, in[0], in[1], out);
}

static void gradcheck_case(golden *g, int k)
{
    cJSON *args = golden_args(g, k);
    op_args o = { golden_str(args, "op", ""), golden_double(args, "alpha", 0) };
    int binary = golden_tensor(g, k, "b") != NULL;
    ed_tensor *in[2] = { leaf(golden_tensor(g, k, binary ? "a" : "x"), ED_F64, 0), NULL };
    if (binary) in[1] = leaf(golden_tensor(g, k, "b"), ED_F64, 0);
    else {
        /* away from the kink at 0 */
        double *d = in[0]->data;
        for (int64_t i = 0; i < in[0]->numel; i++) if (fabs(d[i]) < 0.05) d[i] = 0.3;
    }
    check_gradcheck(o.op, f_op, &o, binary ? 2 : 1, in, NULL, 1e-6, 1e-6);
    ed_tensor_free(in[0]); ed_tensor_free(in[1]);
}

static void test_golden(void)
{
    golden *g = golden_open("activation");
    if (!g) return;
    for (int k = 0; k < golden_cases(g); k++) {
        golden_case(g, k, ED_F32);
        golden_case(g, k, ED_F64);
        gradcheck_case(g, k);
    }
    golden_close(g);
}

static void test_errors(void)
{
    ed_tensor *a = check_randn(ED_F32, SHAPE(2, 3), 1), *b = check_randn(ED_F32, SHAPE(4), 2);
    ed_tensor *d = check_randn(ED_F64, SHAPE(2, 3), 3), *u = NULL, *y = NULL;
    ed_tensor_new(ED_U8, SHAPE(2, 3), &u);
    CHECK_ERR(ed_add(a, b, &y), ED_E_SHAPE, "do not broadcast");
    CHECK_ERR(ed_mul(a, d, &y), ED_E_DTYPE, "dtypes differ");
    CHECK_ERR(ed_sub(a, u, &y), ED_E_DTYPE, "float32 or float64");
    CHECK_ERR(ed_add(NULL, a, &y), ED_E_ARG, "input is NULL");
    CHECK_ERR(ed_add(a, a, NULL), ED_E_ARG, "out is NULL");
    CHECK_ERR(ed_relu(u, &y), ED_E_DTYPE, "relu");
    CHECK_ERR(ed_sigmoid(NULL, &y), ED_E_ARG, "sigmoid: input is NULL");
    CHECK_ERR(ed_tanh(a, NULL), ED_E_ARG, "out is NULL");
    ed_tensor_free(a); ed_tensor_free(b); ed_tensor_free(d); ed_tensor_free(u);
}

int main(void)
{
    test_golden();
    test_errors();
    return check_done();
}
