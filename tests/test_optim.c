/* Optimizers and learning-rate schedules against torch (golden file
 * tests/golden/optim.safetensors from gen_optim.py): for each optimizer
 * config the same start, the same 10 gradient sets (some None) and the
 * parameters after every step; every schedule kind, with and without
 * warm-up, for 30 steps; argument errors. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Give t the gradient g through the tape (y = t * 1, backward with g), so the
 * gradient lands where autograd writes it: the packed block. */
static void set_grad(ed_tensor *t, const ed_tensor *g)
{
    ed_tensor *y = NULL;
    if (!CHECK_OK(ed_scale(t, 1.0, &y))) return;
    CHECK_OK(ed_backward(y, g));
    ed_tensor_free(y);
}

static ed_optim_kind kind_of(const char *s)
{
    return !strcmp(s, "sgd") ? ED_OPTIM_SGD : !strcmp(s, "adam") ? ED_OPTIM_ADAM : ED_OPTIM_ADAMW;
}

static void run_optim_case(golden *g, int k)
{
    cJSON *a = golden_args(g, k);
    int np = golden_int(a, "nparams", 0), steps = golden_int(a, "steps", 0);
    const char *kind = golden_str(a, "kind", "sgd");
    ed_params *p = NULL;
    CHECK_OK(ed_params_new(&p));
    ed_tensor *buffer = NULL;
    CHECK_OK(ed_params_add(p, "bn.running_mean", SHAPE(3), 0, &buffer));   /* untouched by the optimizer */
    ed_tensor_fill(buffer, 0.25);
    ed_tensor *ts[8] = { 0 };
    for (int j = 0; j < np; j++) {
        char w[32], name[32];
        snprintf(w, sizeof w, "p%d", j);
        snprintf(name, sizeof name, "layer.%d.weight", j);
        ed_tensor *init = golden_tensor(g, k, w);
        CHECK_OK(ed_params_add(p, name, init->ndim, init->shape, 1, &ts[j]));
        memcpy(ts[j]->data, init->data, (size_t)init->numel * sizeof(float));
    }
    CHECK_OK(ed_params_pack(p));
    ed_optim_args oa;
    ed_optim_args_default(&oa, kind_of(kind));
    oa.lr = golden_double(a, "lr", oa.lr);
    oa.momentum = golden_double(a, "momentum", 0);
    oa.dampening = golden_double(a, "dampening", 0);
    oa.nesterov = golden_int(a, "nesterov", 0);
    oa.beta1 = golden_double(a, "beta1", 0.9);
    oa.beta2 = golden_double(a, "beta2", 0.999);
    oa.eps = golden_double(a, "eps", 1e-8);
    oa.weight_decay = golden_double(a, "weight_decay", 0);
    ed_optim *o = NULL;
    if (!CHECK_OK(ed_optim_new(p, &oa, &o))) { ed_params_free(p); return; }
    const cJSON *lrs = cJSON_GetObjectItemCaseSensitive(a, "lrs");
    double worst = 0;
    for (int s = 0; s < steps; s++) {
        if (lrs) ed_optim_set_lr(o, cJSON_GetArrayItem(lrs, s)->valuedouble);
        ed_params_zero_grad(p);
        for (int j = 0; j < np; j++) {
            char w[32];
            snprintf(w, sizeof w, "g%d.%d", s, j);
            ed_tensor *gr = golden_tensor(g, k, w);
            if (gr) set_grad(ts[j], gr);
            CHECK((ed_tensor_grad(ts[j]) != NULL) == (gr != NULL));
        }
        CHECK_OK(ed_optim_step(o));
        for (int j = 0; j < np; j++) {
            char w[32], name[64];
            snprintf(w, sizeof w, "out%d.%d", s, j);
            snprintf(name, sizeof name, "case %d (%s) step %d param %d", k, kind, s, j);
            ed_tensor *want = golden_tensor(g, k, w);
            double e = check_max_rel_err(ts[j], want, 1e-6);
            if (e > worst) worst = e;
            CHECK_CLOSE(name, ts[j], want, 1e-5);
        }
    }
    CHECK(ed_optim_steps(o) == steps);
    CHECK(ed__cf32(buffer)[0] == 0.25f && ed__cf32(buffer)[2] == 0.25f);
    if (getenv("ED_VERBOSE")) printf("optim case %d (%s): max rel err %.3g\n", k, kind, worst);
    ed_optim_free(o);
    ed_params_free(p);
}

static void run_sched_case(golden *g, int k)
{
    cJSON *a = golden_args(g, k);
    ed_schedule s;
    memset(&s, 0, sizeof s);
    const char *kind = golden_str(a, "kind", "constant");
    s.kind = !strcmp(kind, "step") ? ED_SCHED_STEP : !strcmp(kind, "multistep") ? ED_SCHED_MULTISTEP
           : !strcmp(kind, "poly") ? ED_SCHED_POLY : !strcmp(kind, "cosine") ? ED_SCHED_COSINE : ED_SCHED_CONSTANT;
    s.base_lr = golden_double(a, "base_lr", 0);
    s.step_size = golden_int(a, "step_size", 1);
    s.gamma = golden_double(a, "gamma", 0.1);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(a, "milestones");
    s.n_milestones = cJSON_GetArraySize(ms);
    for (int i = 0; i < s.n_milestones; i++) s.milestones[i] = cJSON_GetArrayItem(ms, i)->valueint;
    s.total_steps = golden_int(a, "total_steps", 1);
    s.power = golden_double(a, "power", 1);
    s.eta_min = golden_double(a, "eta_min", 0);
    s.warmup_steps = golden_int(a, "warmup_steps", 0);
    s.warmup_start_factor = golden_double(a, "warmup_start_factor", 0.1);
    ed_tensor *want = golden_tensor(g, k, "lr");
    double worst = 0;
    for (int64_t t = 0; t < want->numel; t++) {
        double x = ed_schedule_lr(&s, t), y = ed__cf64(want)[t];
        double e = fabs(x - y) / fmax(fabs(y), 1e-12);
        if (!(e <= worst)) worst = e;
    }
    CHECK_MSG(worst <= 1e-9, "schedule case %d (%s, warm-up %lld): max rel err %.3g", k, kind,
              (long long)s.warmup_steps, worst);
}

static void test_golden(void)
{
    golden *g = golden_open("optim");
    if (!g) return;
    int n_optim = 0, n_sched = 0;
    for (int k = 0; k < golden_cases(g); k++) {
        const char *type = golden_str(golden_args(g, k), "type", "");
        if (!strcmp(type, "optim")) { run_optim_case(g, k); n_optim++; }
        if (!strcmp(type, "sched")) { run_sched_case(g, k); n_sched++; }
    }
    CHECK(n_optim >= 5 && n_sched >= 10);
    golden_close(g);
}

static void test_errors(void)
{
    ed_params *p = NULL;
    ed_tensor *w = NULL;
    CHECK_OK(ed_params_new(&p));
    CHECK_OK(ed_params_add(p, "w", SHAPE(3), 1, &w));
    ed_optim_args a;
    ed_optim_args_default(&a, ED_OPTIM_SGD);
    CHECK(a.lr == 0.01 && a.weight_decay == 0);
    ed_optim *o = NULL;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_STATE, "not packed");
    CHECK_OK(ed_params_pack(p));
    a.lr = -1;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "learning rate");
    ed_optim_args_default(&a, ED_OPTIM_SGD);
    a.nesterov = 1;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "Nesterov");
    a.momentum = 0.9;
    a.dampening = 0.1;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "dampening");
    ed_optim_args_default(&a, ED_OPTIM_SGD);
    a.momentum = -0.5;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "momentum");
    ed_optim_args_default(&a, ED_OPTIM_ADAMW);
    CHECK(a.lr == 1e-3 && a.weight_decay == 1e-2 && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8);
    a.beta2 = 1.0;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "beta parameter at index 1");
    ed_optim_args_default(&a, ED_OPTIM_ADAM);
    a.eps = -1;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "epsilon");
    ed_optim_args_default(&a, ED_OPTIM_ADAM);
    a.weight_decay = -1e-4;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "weight_decay");
    a.kind = (ed_optim_kind)7;
    CHECK_ERR(ed_optim_new(p, &a, &o), ED_E_ARG, "unknown optimizer");
    CHECK(o == NULL);

    /* No gradient anywhere: a step changes nothing but still counts. */
    ed_optim_args_default(&a, ED_OPTIM_ADAM);
    CHECK_OK(ed_optim_new(p, &a, &o));
    ed_tensor_fill(w, 2.0);
    CHECK_OK(ed_optim_step(o));
    CHECK(ed__cf32(w)[1] == 2.0f && ed_optim_steps(o) == 1);
    ed_optim_set_lr(o, 0.5);
    CHECK(ed_optim_get_lr(o) == 0.5);
    ed_optim_free(o);
    ed_params_free(p);
}

static void test_schedule_corners(void)
{
    ed_schedule s;
    memset(&s, 0, sizeof s);
    s.kind = ED_SCHED_STEP;
    s.base_lr = 1;
    s.step_size = 0;
    CHECK(isnan(ed_schedule_lr(&s, 3)));
    s.step_size = 2;
    s.gamma = 0.5;
    CHECK(ed_schedule_lr(&s, 5) == 0.25);
    CHECK(isnan(ed_schedule_lr(&s, -1)));
    s.kind = ED_SCHED_POLY;
    s.total_steps = 0;
    CHECK(isnan(ed_schedule_lr(&s, 1)));
    s.total_steps = 4;
    s.power = 1;
    CHECK(ed_schedule_lr(&s, 4) == 0 && ed_schedule_lr(&s, 9) == 0);   /* stays at 0 after the end */
    s.kind = ED_SCHED_MULTISTEP;
    s.n_milestones = 17;
    CHECK(isnan(ed_schedule_lr(&s, 1)));
    s.kind = (ed_sched_kind)42;
    CHECK(isnan(ed_schedule_lr(&s, 1)));
    CHECK(isnan(ed_schedule_lr(NULL, 1)));
    /* warm-up from 0: lr 0 at step 0, full lr once it ends */
    memset(&s, 0, sizeof s);
    s.base_lr = 0.2;
    s.warmup_steps = 4;
    CHECK(ed_schedule_lr(&s, 0) == 0 && fabs(ed_schedule_lr(&s, 2) - 0.1) < 1e-15 && ed_schedule_lr(&s, 7) == 0.2);
}

/* The update is elementwise: any thread count gives the same bits, on a
 * block large enough to run in parallel. */
static void run_big(int threads, ed_optim_kind kind, ed_tensor **result)
{
    ed_set_num_threads(threads);
    ed_params *p = NULL;
    ed_tensor *a = NULL, *b = NULL;
    CHECK_OK(ed_params_new(&p));
    CHECK_OK(ed_params_add(p, "a", SHAPE(300, 250), 1, &a));
    CHECK_OK(ed_params_add(p, "b", SHAPE(77), 1, &b));
    CHECK_OK(ed_params_pack(p));
    ed_rng r;
    ed_rng_init(&r, 11);
    ed_rng_fill_normal(&r, a, 0, 1);
    ed_rng_fill_normal(&r, b, 0, 1);
    ed_optim_args oa;
    ed_optim_args_default(&oa, kind);
    oa.momentum = kind == ED_OPTIM_SGD ? 0.9 : 0;
    ed_optim *o = NULL;
    CHECK_OK(ed_optim_new(p, &oa, &o));
    ed_tensor *ga = check_randn(ED_F32, SHAPE(300, 250), 12), *gb = check_randn(ED_F32, SHAPE(77), 13);
    for (int s = 0; s < 3; s++) {
        ed_params_zero_grad(p);
        set_grad(a, ga);
        if (s != 1) set_grad(b, gb);
        CHECK_OK(ed_optim_step(o));
    }
    CHECK_OK(ed_tensor_clone(a, result));
    ed_tensor_free(ga); ed_tensor_free(gb);
    ed_optim_free(o);
    ed_params_free(p);
}

static void test_threads(void)
{
    for (int kind = 0; kind < 3; kind++) {
        ed_tensor *one = NULL, *two = NULL;
        run_big(1, (ed_optim_kind)kind, &one);
        run_big(2, (ed_optim_kind)kind, &two);
        CHECK_CLOSE("1 vs 2 threads", two, one, 0);
        ed_tensor_free(one); ed_tensor_free(two);
    }
    ed_set_num_threads(2);
}

int main(void)
{
    ed_set_num_threads(2);
    test_golden();
    test_errors();
    test_schedule_corners();
    test_threads();
    return check_done();
}
