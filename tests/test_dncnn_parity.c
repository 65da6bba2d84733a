/* DnCNN trained for 50 steps (Adam, cosine schedule, BatchNorm in training
 * mode) from PyTorch's initial weights on PyTorch's batches: the loss curve
 * agrees with PyTorch's to 1e-3 relative (in practice far closer) and the
 * final weights closely. Also one inference forward of rednet, fsrcnn and
 * edsr and drunet against PyTorch modules with the same state_dict names
 * (tests/golden/gen_dncnn_parity.py). */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* Copy the golden tensors "<prefix><name>" into every f32 parameter. */
static int load_weights(golden *g, int k, const char *prefix, ed_model *m)
{
    ed_params *p = ed_model_params(m);
    for (int i = 0; i < ed_params_count(p); i++) {
        char what[256];
        snprintf(what, sizeof what, "%s%s", prefix, ed_params_name(p, i));
        ed_tensor *src = golden_tensor(g, k, what), *dst = ed_params_tensor(p, i);
        if (!CHECK_MSG(src != NULL, "golden lacks %s", what)) return 0;
        if (src->dtype != ED_F32) continue;   /* num_batches_tracked (int64) */
        if (!CHECK_MSG(src->numel == dst->numel, "%s: %lld values, model has %lld", what, (long long)src->numel, (long long)dst->numel)) return 0;
        memcpy(dst->data, src->data, (size_t)dst->numel * 4);
    }
    return 1;
}

static void check_training(golden *g)
{
    cJSON *a = golden_args(g, 0);
    int steps = golden_int(a, "steps", 50);
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"width\":%d,\"depth\":%d}", golden_int(a, "width", 16), golden_int(a, "depth", 5));
    ed_model *m = NULL;
    if (!CHECK_OK(ed_model_create("dncnn", cfg, &m))) return;
    if (!load_weights(g, 0, "init.", m)) { ed_model_free(m); return; }
    ed_params *p = ed_model_params(m);
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    oa.lr = golden_double(a, "lr", 1e-3);
    ed_schedule sched = { .kind = ED_SCHED_COSINE, .base_lr = oa.lr, .total_steps = steps, .eta_min = golden_double(a, "eta_min", 1e-4) };
    ed_optim *opt = NULL;
    CHECK_OK(ed_optim_new(p, &oa, &opt));
    ed_tensor *clean = golden_tensor(g, 0, "clean"), *noisy = golden_tensor(g, 0, "noisy"), *want = golden_tensor(g, 0, "losses");
    int nb = (int)clean->shape[0];
    int64_t bshape[4] = { clean->shape[1], clean->shape[2], clean->shape[3], clean->shape[4] };
    size_t per = (size_t)(bshape[0] * bshape[1] * bshape[2] * bshape[3]);
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    double worst = 0;
    int ok = 1;
    for (int s = 0; s < steps && ok; s++) {
        int b = s % nb;
        ed_optim_set_lr(opt, ed_schedule_lr(&sched, s));
        ed_arena_begin(ar);
        ed_tensor *x = NULL, *y = NULL, *out = NULL, *loss = NULL;
        ok = CHECK_OK(ed__alloc(ED_F32, 4, bshape, &x)) && CHECK_OK(ed__alloc(ED_F32, 4, bshape, &y));
        if (ok) {
            memcpy(x->data, (float *)noisy->data + per * (size_t)b, per * 4);
            memcpy(y->data, (float *)clean->data + per * (size_t)b, per * 4);
            ok = CHECK_OK(ed_model_forward(m, x, 1, &out)) && CHECK_OK(ed_mse_loss(out, y, NULL, &loss)) &&
                 CHECK_OK(ed_backward(loss, NULL));
        }
        if (ok) {
            double l = ed_tensor_item(loss), w = ((double *)want->data)[s], rel = fabs(l - w) / fabs(w);
            if (rel > worst) worst = rel;
        }
        ed_arena_end();
        ed_arena_reset(ar);
        if (ok) ok = CHECK_OK(ed_optim_step(opt));
        ed_params_zero_grad(p);
    }
    CHECK_MSG(ok && worst < 1e-3, "dncnn loss curve: worst relative difference %.3g over %d steps", worst, steps);
    printf("dncnn: %d-step loss curve within %.2g relative of PyTorch (first %.5f, last %.5f)\n", steps, worst,
           ((double *)want->data)[0], ((double *)want->data)[steps - 1]);
    /* Final weights and running statistics. */
    for (int i = 0; i < ed_params_count(p) && ok; i++) {
        char what[256];
        snprintf(what, sizeof what, "final.%s", ed_params_name(p, i));
        ed_tensor *e = golden_tensor(g, 0, what);
        if (e && e->dtype == ED_F32) CHECK_CLOSE(what, ed_params_tensor(p, i), e, 2e-3);
    }
    ed_tensor *nbt = ed_params_find(p, "dncnn.3.num_batches_tracked");
    CHECK(nbt && ed__get(nbt, 0) == steps);
    ed_arena_free(ar);
    ed_optim_free(opt);
    ed_model_free(m);
}

static void check_forward(golden *g, int k)
{
    cJSON *a = golden_args(g, k);
    const char *arch = golden_str(a, "arch", "?");
    ed_model *m = NULL;
    if (!CHECK_OK(ed_model_create(arch, golden_str(a, "config", "{}"), &m))) return;
    if (load_weights(g, k, "w.", m)) {
        ed_tensor *y = NULL;
        ed_no_grad_begin();
        if (CHECK_OK(ed_model_forward(m, golden_tensor(g, k, "x"), 0, &y))) {
            char name[64];
            snprintf(name, sizeof name, "%s forward", arch);
            CHECK_CLOSE(name, y, golden_tensor(g, k, "y"), 1e-4);
        }
        ed_no_grad_end();
        ed_tensor_free(y);
    }
    ed_model_free(m);
}

int main(void)
{
    ed_set_num_threads(2);
    golden *g = golden_open("dncnn_parity");
    if (!g) return check_done();
    check_training(g);
    for (int k = 1; k < golden_cases(g); k++) check_forward(g, k);
    golden_close(g);
    return check_done();
}
