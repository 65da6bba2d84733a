/* The demo's auto-encoder trained for 20 Adam steps from PyTorch's initial
 * weights on PyTorch's batches: the loss curve agrees to 1e-4 relative and
 * the final weights closely; and two runs with the same seed and thread
 * count give bit-identical loss curves. */
#include "check.h"
#include "core/ed_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int train(golden *g, int steps, double *losses, ed_model **out_model)
{
    cJSON *a = golden_args(g, 0);
    char cfg[128];
    snprintf(cfg, sizeof cfg, "{\"in_channels\":%d,\"width\":%d}", golden_int(a, "in_channels", 3), golden_int(a, "width", 8));
    ed_model *m = NULL;
    if (!CHECK_OK(ed_model_create("dae", cfg, &m))) return 0;
    ed_params *p = ed_model_params(m);
    for (int i = 0; i < ed_params_count(p); i++) {
        char what[256];
        snprintf(what, sizeof what, "init.%s", ed_params_name(p, i));
        ed_tensor *src = golden_tensor(g, 0, what), *dst = ed_params_tensor(p, i);
        if (!CHECK_MSG(src && src->numel == dst->numel, "initial weight %s", what)) { ed_model_free(m); return 0; }
        memcpy(dst->data, src->data, (size_t)dst->numel * 4);
    }
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    oa.lr = golden_double(a, "lr", 1e-3);
    ed_optim *opt = NULL;
    CHECK_OK(ed_optim_new(p, &oa, &opt));
    ed_tensor *clean = golden_tensor(g, 0, "clean"), *noisy = golden_tensor(g, 0, "noisy");
    int nb = (int)clean->shape[0];
    int64_t bshape[4] = { clean->shape[1], clean->shape[2], clean->shape[3], clean->shape[4] };
    size_t per = (size_t)(bshape[0] * bshape[1] * bshape[2] * bshape[3]);
    ed_arena *ar = NULL;
    CHECK_OK(ed_arena_new(0, &ar));
    int ok = 1;
    for (int s = 0; s < steps && ok; s++) {
        int b = s % nb;
        ed_arena_begin(ar);
        ed_tensor *x = NULL, *y = NULL, *out = NULL, *loss = NULL;
        ok = CHECK_OK(ed__alloc(ED_F32, 4, bshape, &x)) && CHECK_OK(ed__alloc(ED_F32, 4, bshape, &y));
        if (ok) {
            memcpy(x->data, (float *)noisy->data + per * (size_t)b, per * 4);
            memcpy(y->data, (float *)clean->data + per * (size_t)b, per * 4);
            ok = CHECK_OK(ed_model_forward(m, x, 1, &out)) && CHECK_OK(ed_mse_loss(out, y, NULL, &loss)) &&
                 CHECK_OK(ed_backward(loss, NULL));
        }
        if (ok) losses[s] = ed_tensor_item(loss);
        ed_arena_end();
        ed_arena_reset(ar);
        if (ok) ok = CHECK_OK(ed_optim_step(opt));
        ed_params_zero_grad(p);
    }
    ed_arena_free(ar);
    ed_optim_free(opt);
    *out_model = m;
    return ok;
}

int main(void)
{
    golden *g = golden_open("parity");
    if (!g) return check_done();
    ed_tensor *ref = golden_tensor(g, 0, "losses");
    int steps = (int)ref->numel;
    double l1[64], l2[64];
    ed_model *m1 = NULL, *m2 = NULL;
    ed_set_num_threads(2);
    if (train(g, steps, l1, &m1)) {
        double worst = 0;
        for (int s = 0; s < steps; s++) {
            double e = fabs(l1[s] - ed__get(ref, s)) / fabs(ed__get(ref, s));
            if (e > worst) worst = e;
        }
        printf("loss curve: step 1 %.6f -> step %d %.6f (torch %.6f -> %.6f), max rel err %.2e\n", l1[0], steps, l1[steps - 1],
               ed__get(ref, 0), ed__get(ref, steps - 1), worst);
        CHECK_MSG(worst <= 1e-4, "20-step loss curve differs from PyTorch's: max rel err %.3g", worst);
        ed_params *p = ed_model_params(m1);
        for (int i = 0; i < ed_params_count(p); i++) {
            char what[256];
            snprintf(what, sizeof what, "final.%s", ed_params_name(p, i));
            ed_tensor *want = golden_tensor(g, 0, what);
            if (want) CHECK_CLOSE(what, ed_params_tensor(p, i), want, 1e-3);
        }
        /* Same seed and thread count: bit-identical. */
        if (train(g, steps, l2, &m2)) CHECK_MSG(memcmp(l1, l2, sizeof(double) * (size_t)steps) == 0, "two identical runs differ");
    }
    ed_model_free(m1);
    ed_model_free(m2);
    golden_close(g);
    return check_done();
}
