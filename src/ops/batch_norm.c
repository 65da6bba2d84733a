/* Batch normalisation, as F.batch_norm.
 *   x (N, C) or (N, C, d1, ...); weight, bias, running_mean, running_var
 *   hold C elements each (any may be NULL; the running pair both or
 *   neither), same dtype as x. y has x's shape.
 *   training: mean and biased variance over (N, d1, ...) per channel
 *     normalise x; running stats, when given, are updated in place:
 *     r = (1 - momentum) r + momentum s, using the UNBIASED variance
 *     (var * M / (M - 1), M = N * d1 * ...). PyTorch refuses M == 1 and
 *     eps <= 0 in training; so do we. An empty batch leaves them alone.
 *   eval: the running stats normalise (they must be given).
 *   y = (x - mean) / sqrt(var + eps) * weight + bias.
 * Backward: x, weight and bias; in training the batch statistics' own
 * dependence on x is included. The running stats get no gradient.
 *
 * ed__batch_norm_relu (internal) is relu(batch_norm(...)): the same values
 * and gradients bit for bit, without the ReLU's extra activation and
 * gradient buffers (forward: the ReLU applied as y is written; backward:
 * gy is masked by y > 0 in place, then the BatchNorm backward runs).
 *
 * Statistics are computed in double whatever x's dtype and saved per
 * channel (mean, invstd) for backward; in eval they come from the running
 * stats as they were at the forward call.
 *
 * Backends (ED_OP_BATCH_NORM), params = const bn_params *:
 *   forward  tensors[] = { x, weight, bias, running_mean, running_var, y,
 *                          save_mean, save_invstd }
 *     weight..running_var may be NULL; save_* are F64 (C) the kernel fills
 *     with the mean and 1/sqrt(var + eps) it normalised with; in training
 *     it also updates the running stats as above.
 *   backward tensors[] = { x, weight, gy, save_mean, save_invstd, gx, gw, gb }
 *     weight may be NULL; gx, gw, gb are NULL when not wanted and are
 *     accumulated into (+=). */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

#define T float
#define K(n) n##_f32
#include "batch_norm_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "batch_norm_kern.h"
#undef T
#undef K

#include "ops/batch_norm_params.h"

static ed_status bn_backward(ed_node *n)
{
    const bn_params *p = n->ctx;
    ed_tensor *x = n->in[0], *w = n->in[1], *gy = n->out->grad;
    ed_tensor *gx, *gw, *gb;
    int ow = 0;
    ED_TRY(ed__grad_of_overwrite(n, 0, &gx, &ow));
    ED_TRY(ed__grad_of(n, 1, &gw));
    ED_TRY(ed__grad_of(n, 2, &gb));
    ed_tensor *mean = n->saved[0], *invstd = n->saved[1];
    ed_tensor *ts[8] = { x, w, gy, mean, invstd, gx, gw, gb };
    /* The fused ReLU: its mask is the output itself (y > 0). */
    if (p->relu) ED_DISPATCH_FLOAT(x->dtype, relu_mask, n->out->data, gy->data, gy->numel);
    const ed_kernel *k = ed_backend_find(ED_OP_BATCH_NORM, ED_BACKWARD, p, ts);
    if (k && ow) memset(gx->data, 0, (size_t)gx->numel * ed_dtype_size(gx->dtype));   /* backends add */
    if (k) return k->run(p, ts);
    double *part = ed__scratch(sizeof(double) * (size_t)(2 * p->N * p->C + 2 * p->C + 1));
    if (!part) return ed__err(ED_E_NOMEM, "batch_norm: cannot allocate backward scratch");
    double *sg = part + 2 * p->N * p->C, *sgx = sg + p->C;
    ED_DISPATCH_FLOAT(x->dtype, bn_backward, x->data, w ? w->data : NULL, gy->data, mean->data, invstd->data,
                      p->N, p->C, p->S, p->training, part, sg, sgx, gx ? gx->data : NULL, ow, gw ? gw->data : NULL,
                      gb ? gb->data : NULL);
    ed__scratch_free(part);
    return ED_OK;
}

/* The reference forward: statistics, output and the running-stat update. */
static ed_status bn_forward_ref(const bn_params *p, const ed_tensor *x, ed_tensor *rm, ed_tensor *rv,
                                const ed_tensor *w, const ed_tensor *b, ed_tensor *y, ed_tensor *mean,
                                ed_tensor *invstd)
{
    const int64_t C = p->C;
    double *mu = mean->data, *is = invstd->data;
    if (p->training) {
        double *part = ed__scratch(sizeof(double) * (size_t)(p->N * C + C + 1));
        if (!part) return ed__err(ED_E_NOMEM, "batch_norm: cannot allocate statistics scratch");
        double *var = part + p->N * C;
        ED_DISPATCH_FLOAT(x->dtype, bn_batch_stats, x->data, p->N, C, p->S, part, mu, var);
        for (int64_t c = 0; c < C; c++) is[c] = 1.0 / sqrt(var[c] + p->eps);
        const double M = (double)(p->N * p->S);
        if (rm && M > 0) ED_DISPATCH_FLOAT(x->dtype, bn_update_running, rm->data, rv->data, mu, var, C, M, p->momentum);
        ed__scratch_free(part);
    } else {
        for (int64_t c = 0; c < C; c++) {
            mu[c] = ed__get(rm, c);
            is[c] = 1.0 / sqrt(ed__get(rv, c) + p->eps);
        }
    }
    ED_DISPATCH_FLOAT(x->dtype, bn_apply, x->data, w ? w->data : NULL, b ? b->data : NULL, mu, is, p->N, C, p->S,
                      p->relu, y->data);
    return ED_OK;
}

static ed_status batch_norm(const ed_tensor *x, ed_tensor *running_mean, ed_tensor *running_var,
                            const ed_tensor *weight, const ed_tensor *bias, int training,
                            double momentum, double eps, int relu, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "batch_norm: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_float(x, "batch_norm", "input"));
    char sb[ED_SHAPE_BUF];
    if (x->ndim < 2)
        return ed__err(ED_E_SHAPE, "batch_norm: input must be (N, C) or (N, C, ...), got shape %s", ed__shape_str(x, sb));
    const int64_t N = x->shape[0], C = x->shape[1];
    int64_t S = 1;
    for (int i = 2; i < x->ndim; i++) S *= x->shape[i];
    ED_TRY(ed__check_channel_param(weight, x, C, "batch_norm", "weight"));
    ED_TRY(ed__check_channel_param(bias, x, C, "batch_norm", "bias"));
    ED_TRY(ed__check_channel_param(running_mean, x, C, "batch_norm", "running_mean"));
    ED_TRY(ed__check_channel_param(running_var, x, C, "batch_norm", "running_var"));
    if (!running_mean != !running_var)
        return ed__err(ED_E_ARG, "batch_norm: running_mean and running_var must either both be NULL or neither be NULL");
    if (!training && !running_mean)
        return ed__err(ED_E_ARG, "batch_norm: running_mean and running_var must be given in evaluation mode");
    if (training && N * S == 1)
        return ed__err(ED_E_SHAPE, "batch_norm: expected more than 1 value per channel when training, got input shape %s",
                       ed__shape_str(x, sb));
    if (training && !(eps > 0))
        return ed__err(ED_E_ARG, "batch_norm: eps must be positive during training, got %g", eps);
    if (!isfinite(momentum)) return ed__err(ED_E_ARG, "batch_norm: momentum must be finite, got %g", momentum);

    bn_params p = { training ? 1 : 0, momentum, eps, N, C, S, relu };
    ed_tensor *y = NULL, *mean = NULL, *invstd = NULL;
    ed_status st = ed__alloc(x->dtype, x->ndim, x->shape, &y);
    if (!st) st = ed__alloc(ED_F64, 1, &C, &mean);
    if (!st) st = ed__alloc(ED_F64, 1, &C, &invstd);
    if (!st) {
        ed_tensor *ts[8] = { (ed_tensor *)x, (ed_tensor *)weight, (ed_tensor *)bias, running_mean, running_var,
                             y, mean, invstd };
        const ed_kernel *k = relu ? NULL : ed_backend_find(ED_OP_BATCH_NORM, ED_FORWARD, &p, ts);
        st = k ? k->run(&p, ts) : bn_forward_ref(&p, x, running_mean, running_var, weight, bias, y, mean, invstd);
    }
    ed_node *node = NULL;
    const ed_tensor *in[3] = { x, weight, bias };
    if (!st) st = ed__record(y, relu ? "batch_norm_relu" : "batch_norm", bn_backward, 3, in, &p, sizeof p, &node);
    if (!st && node) st = ed__node_save(node, mean);
    if (!st && node) st = ed__node_save(node, invstd);
    ed_tensor_free(mean);
    ed_tensor_free(invstd);
    if (st) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_batch_norm(const ed_tensor *x, ed_tensor *running_mean, ed_tensor *running_var,
                        const ed_tensor *weight, const ed_tensor *bias, int training,
                        double momentum, double eps, ed_tensor **out)
{
    return batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, 0, out);
}

ed_status ed__batch_norm_relu(const ed_tensor *x, ed_tensor *running_mean, ed_tensor *running_var,
                              const ed_tensor *weight, const ed_tensor *bias, int training,
                              double momentum, double eps, ed_tensor **out)
{
    return batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps, 1, out);
}
