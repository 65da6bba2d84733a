/* The training step shared by `encdec demo` (cli/denoise.c) and
 * `encdec train` (cli/trainer.c); see cli.h. */
#include "cli.h"
#include "core/ed_internal.h"

#include <math.h>

ed_status cli_train_step(ed_model *m, ed_optim *opt, ed_arena *ar, const float *xb, const int64_t xs[4], const float *yb,
                         const int64_t ys[4], const ed_loss_args *la, bool l1, double *loss)
{
    ed_arena_begin(ar);
    ed_tensor *x = NULL, *y = NULL, *out = NULL, *l = NULL;
    ed_status st = ed__alloc(ED_F32, 4, xs, &x);
    if (st == ED_OK) {
        memcpy(x->data, xb, sizeof(float) * (size_t)x->numel);
        st = ed__alloc(ED_F32, 4, ys, &y);
    }
    if (st == ED_OK) {
        memcpy(y->data, yb, sizeof(float) * (size_t)y->numel);
        st = ed_model_forward(m, x, 1, &out);
    }
    if (st == ED_OK) st = l1 ? ed_l1_loss(out, y, la, &l) : ed_mse_loss(out, y, la, &l);
    if (st == ED_OK) st = ed_backward(l, NULL);
    *loss = st == ED_OK ? ed_tensor_item(l) : NAN;
    ed_arena_end();
    ed_arena_reset(ar);
    if (st == ED_OK) st = ed_optim_step(opt);
    ed_params_zero_grad(ed_model_params(m));
    return st;
}
