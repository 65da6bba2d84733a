/* Resampling: interpolate (nearest, bilinear with align_corners both ways,
 * by size and by scale_factor) and pixel_shuffle. Golden cases against
 * torch (tests/golden/gen_interpolate.py) in float32 and float64, gradient
 * checks in float64, error cases and the backend dispatch hook. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>

static void interp_args_from(const cJSON *a, ed_interpolate_args *p)
{
    memset(p, 0, sizeof *p);
    p->mode = strcmp(golden_str(a, "mode", "nearest"), "bilinear") ? ED_INTERP_NEAREST : ED_INTERP_BILINEAR;
    p->align_corners = golden_int(a, "align_corners", 0);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "size");
    if (cJSON_IsArray(s)) {
        p->size[0] = cJSON_GetArrayItem(s, 0)->valueint;
        p->size[1] = cJSON_GetArrayItem(s, 1)->valueint;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(a, "scale_factor");
    if (cJSON_IsArray(f)) {
        p->scale_factor[0] = cJSON_GetArrayItem(f, 0)->valuedouble;
        p->scale_factor[1] = cJSON_GetArrayItem(f, 1)->valuedouble;
    }
}

/* float32 runs are held to 1e-5. float64 runs are a looser check (1e-3)
 * against the same float32 reference: torch maps coordinates in float32,
 * and the weights' 1e-7 differences grow where signed gradients cancel. */
static void run_golden_case(golden *g, int k, ed_dtype dt)
{
    double tol = dt == ED_F32 ? 1e-5 : 1e-3;
    cJSON *a = golden_args(g, k);
    const char *op = golden_str(a, "op", "");
    ed_tensor *x = NULL, *gy = NULL, *y = NULL;
    if (!CHECK_OK(ed_tensor_to(golden_tensor(g, k, "x"), dt, &x)) ||
        !CHECK_OK(ed_tensor_to(golden_tensor(g, k, "gy"), dt, &gy)))
        return;
    ed_tensor_set_requires_grad(x, 1);
    ed_status st;
    if (!strcmp(op, "interpolate")) {
        ed_interpolate_args p;
        interp_args_from(a, &p);
        st = ed_interpolate(x, &p, &y);
    } else {
        st = ed_pixel_shuffle(x, golden_int(a, "r", 1), &y);
    }
    char name[200];
    snprintf(name, sizeof name, "interpolate case %d (%s %s%s, %s)", k, op, golden_str(a, "mode", ""),
             golden_int(a, "align_corners", 0) ? " align_corners" : "", ed_dtype_name(dt));
    if (CHECK_OK(st)) {
        char n2[240];
        snprintf(n2, sizeof n2, "%s y", name);
        CHECK_CLOSE(n2, y, golden_tensor(g, k, "y"), tol);
        if (CHECK_OK(ed_backward(y, gy))) {
            snprintf(n2, sizeof n2, "%s gx", name);
            CHECK_CLOSE(n2, ed_tensor_grad(x), golden_tensor(g, k, "gx"), tol);
        }
    }
    ed_tensor_free(y); ed_tensor_free(x); ed_tensor_free(gy);
}

static void test_golden(void)
{
    golden *g = golden_open("interpolate");
    if (!g) return;
    CHECK(golden_cases(g) >= 30);
    for (int k = 0; k < golden_cases(g); k++) {
        run_golden_case(g, k, ED_F32);
        run_golden_case(g, k, ED_F64);
    }
    golden_close(g);
}

/* ---- gradient checks ---------------------------------------------------------- */

typedef struct { int shuffle; ed_interpolate_args p; } interp_ctx;

static ed_status f_interp(ed_tensor *const *in, void *ctx, ed_tensor **out)
{
    const interp_ctx *c = ctx;
    return c->shuffle ? ed_pixel_shuffle(in[0], c->shuffle, out) : ed_interpolate(in[0], &c->p, out);
}

static void test_gradcheck(void)
{
    ed_tensor *x = check_randn(ED_F64, SHAPE(2, 2, 4, 5), 3);
    interp_ctx c = { 0 };
    c.p.size[0] = 7;
    c.p.size[1] = 3;
    check_gradcheck("interpolate nearest size", f_interp, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.mode = ED_INTERP_BILINEAR;
    check_gradcheck("interpolate bilinear size", f_interp, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.align_corners = 1;
    check_gradcheck("interpolate bilinear align_corners size", f_interp, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.size[0] = c.p.size[1] = 0;
    c.p.scale_factor[0] = 1.7;
    c.p.scale_factor[1] = 0.6;
    check_gradcheck("interpolate bilinear align_corners scale", f_interp, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.align_corners = 0;
    check_gradcheck("interpolate bilinear scale", f_interp, &c, 1, &x, NULL, 1e-6, 1e-6);
    c.p.mode = ED_INTERP_NEAREST;
    check_gradcheck("interpolate nearest scale", f_interp, &c, 1, &x, NULL, 1e-6, 1e-6);
    ed_tensor *s = check_randn(ED_F64, SHAPE(2, 8, 3, 2), 4);
    c.shuffle = 2;
    check_gradcheck("pixel_shuffle r=2", f_interp, &c, 1, &s, NULL, 1e-6, 1e-6);
    ed_tensor_free(s);
    s = check_randn(ED_F64, SHAPE(9, 2, 3), 5);
    c.shuffle = 3;
    check_gradcheck("pixel_shuffle r=3 3-D", f_interp, &c, 1, &s, NULL, 1e-6, 1e-6);
    ed_tensor_free(s);
    ed_tensor_free(x);
}

/* ---- errors ------------------------------------------------------------------- */

static void test_errors(void)
{
    ed_tensor *x = check_randn(ED_F32, SHAPE(1, 2, 5, 5), 1), *y = NULL;
    ed_tensor *x3 = check_randn(ED_F32, SHAPE(2, 5, 5), 1), *xi = NULL, *xe = NULL;
    CHECK_OK(ed_tensor_new(ED_I64, SHAPE(1, 2, 5, 5), &xi));
    CHECK_OK(ed_tensor_new(ED_F32, SHAPE(1, 2, 0, 5), &xe));
    ed_interpolate_args p = { 0 };
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "either size or scale_factor");
    CHECK_ERR(ed_interpolate(x, NULL, &y), ED_E_ARG, "args is NULL");
    CHECK_ERR(ed_interpolate(x, &p, NULL), ED_E_ARG, "out is NULL");
    p.size[0] = p.size[1] = 4;
    CHECK_ERR(ed_interpolate(x3, &p, &y), ED_E_SHAPE, "4-D (N, C, H, W)");
    CHECK_ERR(ed_interpolate(xi, &p, &y), ED_E_DTYPE, "int64");
    CHECK_ERR(ed_interpolate(xe, &p, &y), ED_E_SHAPE, "empty dimension 2");
    p.scale_factor[0] = 2;
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "only one of size or scale_factor");
    p.scale_factor[0] = 0;
    p.size[1] = 0;
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "size must be positive, got (4, 0)");
    p.size[1] = -3;
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "size must be positive");
    p.size[0] = p.size[1] = 4;
    p.align_corners = 1;
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "align_corners can only be set");
    p.align_corners = 0;
    p.mode = (ed_interp_mode)7;
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "unknown mode 7");
    p.mode = ED_INTERP_BILINEAR;
    p.size[0] = p.size[1] = 0;
    p.scale_factor[0] = 2;
    p.scale_factor[1] = -1;
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "positive and finite");
    p.scale_factor[1] = INFINITY;
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_ARG, "positive and finite");
    p.scale_factor[1] = 0.1;   /* 5 * 0.1 floors to 0 */
    CHECK_ERR(ed_interpolate(x, &p, &y), ED_E_SHAPE, "output size of 0");
    CHECK(y == NULL);

    CHECK_ERR(ed_pixel_shuffle(x, 2, &y), ED_E_SHAPE, "divide by upscale_factor^2 = 4");
    CHECK_ERR(ed_pixel_shuffle(x, 0, &y), ED_E_ARG, "upscale_factor must be positive");
    ed_tensor *x2 = check_randn(ED_F32, SHAPE(4, 4), 2);
    CHECK_ERR(ed_pixel_shuffle(x2, 2, &y), ED_E_SHAPE, "at least 3-D");
    CHECK_ERR(ed_pixel_shuffle(xi, 1, &y), ED_E_DTYPE, "float32 or float64");
    CHECK_OK(ed_pixel_shuffle(x, 1, &y));   /* r = 1 is the identity */
    CHECK(y && memcmp(y->data, x->data, (size_t)x->numel * 4) == 0);
    ed_tensor_free(y);
    ed_tensor_free(x2); ed_tensor_free(x); ed_tensor_free(x3); ed_tensor_free(xi); ed_tensor_free(xe);
}

/* ---- backend dispatch --------------------------------------------------------- */

static int fake_on, fake_calls;
static bool fake_supports(const void *params, ed_tensor *const *t)
{
    (void)params; (void)t;
    return fake_on;
}
static ed_status fake_run(const void *params, ed_tensor *const *t)
{
    const ed_interpolate_args *p = params;
    fake_calls++;
    /* forward {x, y} / backward {gy, gx}; size arrives resolved */
    CHECK(p->size[0] == 6 && p->size[1] == 9 && p->scale_factor[0] == 2.0);
    CHECK(t[0] && t[1] && t[0]->ndim == 4 && t[1]->ndim == 4);
    return ED_OK;
}

static void test_dispatch(void)
{
    static const ed_kernel kf = { ED_OP_INTERPOLATE, ED_FORWARD, "fake", fake_supports, fake_run };
    static const ed_kernel kb = { ED_OP_INTERPOLATE, ED_BACKWARD, "fake", fake_supports, fake_run };
    CHECK_OK(ed_backend_register(&kf));
    CHECK_OK(ed_backend_register(&kb));
    ed_tensor *x = check_randn(ED_F32, SHAPE(1, 1, 3, 3), 8), *y = NULL;
    ed_tensor_set_requires_grad(x, 1);
    ed_interpolate_args p = { .scale_factor = { 2.0, 3.0 }, .mode = ED_INTERP_BILINEAR };
    fake_on = 1;
    CHECK_OK(ed_interpolate(x, &p, &y));
    CHECK_OK(ed_backward(y, y));
    CHECK(fake_calls == 2);
    fake_on = 0;
    ed_tensor_free(y); ed_tensor_free(x);
}

int main(void)
{
    test_golden();
    test_gradcheck();
    test_errors();
    test_dispatch();
    return check_done();
}
