/* cross_entropy(input, target): softmax cross-entropy over class indices.
 *
 *   input  (N, C) or (N, C, d1, ...) logits, or (C) for one sample;
 *   target I64 (N) or (N, d1, ...), or () for one sample;
 *   weight (C) per-class weight w (NULL: all 1), same dtype as input.
 *
 * Per target position m with class y = target[m] and log-probabilities
 * logp = log_softmax(input, dim 1), as PyTorch with label smoothing eps:
 *   loss_m = (1 - eps) * (-w_y logp_y) + eps / C * sum_c (-w_c logp_c)
 * and loss_m = 0 where y == ignore_index. Reductions:
 *   none: loss with target's shape (0 at ignored positions);
 *   sum:  sum_m loss_m;
 *   mean: sum_m loss_m / sum_m w_y over non-ignored m (PyTorch's weighted
 *         mean, smoothing term included).
 * A target outside 0..C-1 that is not ignore_index is ED_E_RANGE. With
 * every target ignored the mean is 0/0: PyTorch returns nan, encdec
 * ED_E_NAN saying why (the sum is 0). Only the input gets a gradient;
 * it is recomputed from the input in backward instead of saving C
 * probabilities per position. */
#include "ops/loss.h"
#include "ops/typed.h"

#include <math.h>
#include <stdio.h>

#define CE_BLOCK 64

#define T float
#define K(n) n##_f32
#include "loss_ce_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "loss_ce_kern.h"
#undef T
#undef K

static const char *OP = "cross_entropy";

typedef struct {
    ed_reduction red;
    int64_t ignore;
    double eps;
    double denom;        /* the mean's divisor, 1 otherwise */
    int64_t N, C, S;
    int has_weight;      /* weight is saved[0] */
} ce_ctx;

static ed_status check_shapes(const ed_tensor *x, const ed_tensor *t, int64_t *N, int64_t *C, int64_t *S)
{
    char b1[ED_SHAPE_BUF], b2[ED_SHAPE_BUF], b3[ED_SHAPE_BUF];
    if (x->ndim < 1)
        return ed__err(ED_E_SHAPE, "%s: input must be (N, C) or (N, C, d1, ...) logits, got shape %s", OP,
                       ed__shape_str(x, b1));
    ed_tensor want = { 0 };   /* the target shape that fits the input */
    if (x->ndim == 1) {
        *N = 1; *C = x->shape[0]; *S = 1;
    } else {
        *N = x->shape[0]; *C = x->shape[1]; *S = 1;
        want.ndim = x->ndim - 1;
        want.shape[0] = x->shape[0];
        for (int d = 2; d < x->ndim; d++) { want.shape[d - 1] = x->shape[d]; *S *= x->shape[d]; }
    }
    bool ok = t->ndim == want.ndim;
    for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == want.shape[d];
    if (!ok)
        return ed__err(ED_E_SHAPE, "%s: target shape %s does not fit input shape %s: expected target shape %s", OP,
                       ed__shape_str(t, b1), ed__shape_str(x, b2), ed__shape_str(&want, b3));
    if (*C == 0)
        return ed__err(ED_E_SHAPE, "%s: input shape %s has no classes (C = 0)", OP, ed__shape_str(x, b1));
    return ED_OK;
}

/* Range check of the labels; *valid counts the non-ignored ones. */
static ed_status check_targets(const ed_tensor *t, int64_t C, int64_t ignore, int64_t *valid)
{
    const int64_t *y = ed__ci64(t);
    int64_t cnt = 0;
    for (int64_t m = 0; m < t->numel; m++) {
        if (y[m] == ignore) continue;
        if (y[m] < 0 || y[m] >= C) {
            char pos[ED_SHAPE_BUF];
            return ed__err(ED_E_RANGE, "%s: target value %lld at %s is outside the classes 0..%lld (ignore_index is %lld)",
                           OP, (long long)y[m], ed__loss_pos(m, t->ndim, t->shape, pos), (long long)(C - 1),
                           (long long)ignore);
        }
        cnt++;
    }
    *valid = cnt;
    return ED_OK;
}

static ed_status ce_backward(ed_node *n)
{
    const ce_ctx *c = n->ctx;
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *x = n->in[0], *t = n->in[1], *gy = n->out->grad;
    const ed_tensor *w = c->has_weight ? n->saved[0] : NULL;
    const void *gyp = c->red == ED_REDUCTION_NONE ? gy->data : NULL;
    double gs = c->red == ED_REDUCTION_NONE ? 0.0 : ed__get(gy, 0) / c->denom;
    ED_DISPATCH_FLOAT(x->dtype, ce_bwd, x->data, ed__ci64(t), w ? w->data : NULL, c->N, c->C, c->S, c->ignore, c->eps,
                      gyp, gs, gx->data);
    return ED_OK;
}

ed_status ed_cross_entropy(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", OP);
    *out = NULL;
    ed_loss_args a;
    ED_TRY(ed__loss_args(args, OP, &a));
    ED_TRY(ed__check_float(input, OP, "input"));
    ED_TRY(ed__check_tensor(target, OP, "target"));
    if (target->dtype != ED_I64)
        return ed__err(ED_E_DTYPE, "%s: target must be int64 class indices, got %s (class probabilities are not supported)",
                       OP, ed_dtype_name(target->dtype));
    int64_t N = 0, C = 0, S = 0;
    ED_TRY(check_shapes(input, target, &N, &C, &S));
    const ed_tensor *w = a.weight;
    if (w) {
        char b[ED_SHAPE_BUF];
        ED_TRY(ed__check_float(w, OP, "weight"));
        if (w->dtype != input->dtype)
            return ed__err(ED_E_DTYPE, "%s: weight is %s but input is %s", OP, ed_dtype_name(w->dtype),
                           ed_dtype_name(input->dtype));
        if (w->ndim != 1 || w->shape[0] != C)
            return ed__err(ED_E_SHAPE, "%s: weight must have shape (%lld), one per class, got %s", OP, (long long)C,
                           ed__shape_str(w, b));
    }
    if (!(a.label_smoothing >= 0 && a.label_smoothing <= 1))
        return ed__err(ED_E_ARG, "%s: label_smoothing must be in [0, 1], got %g", OP, a.label_smoothing);
    int64_t valid = 0;
    ED_TRY(check_targets(target, C, a.ignore_index, &valid));
    if (a.reduction == ED_REDUCTION_MEAN && valid == 0)
        return target->numel == 0
                   ? ed__err(ED_E_NAN, "%s: loss is NaN: the mean over an empty target", OP)
                   : ed__err(ED_E_NAN, "%s: loss is NaN: all %lld targets are ignore_index (%lld), so the mean is 0/0 "
                             "(PyTorch returns nan); use reduction sum or check the labels", OP,
                             (long long)target->numel, (long long)a.ignore_index);

    int64_t M = N * S;
    double *loss = ed__scratch((size_t)(M > 0 ? M : 1) * 2 * sizeof(double));
    if (!loss) return ed__err(ED_E_NOMEM, "%s: cannot allocate %lld loss terms", OP, (long long)M);
    double *wy = loss + M;
    ED_DISPATCH_FLOAT(input->dtype, ce_fwd, input->data, ed__ci64(target), w ? w->data : NULL, N, C, S,
                      a.ignore_index, a.label_smoothing, loss, wy);
    double denom = 1.0;
    if (a.reduction == ED_REDUCTION_MEAN) {
        denom = ed__loss_sum(wy, M);
        if (denom == 0) {
            ed__scratch_free(loss);
            return ed__err(ED_E_NAN, "%s: loss is NaN: the class weights of the %lld non-ignored targets sum to 0, so "
                           "the mean divides by 0", OP, (long long)valid);
        }
    }
    ed_tensor *y;
    ed_status st = ed__loss_output(OP, input->dtype, a.reduction, loss, target->ndim, target->shape, denom, &y);
    ed__scratch_free(loss);
    ED_TRY(st);
    ce_ctx c = { a.reduction, a.ignore_index, a.label_smoothing, denom, N, C, S, w != NULL };
    const ed_tensor *in[2] = { input, target };
    ed_node *node;
    st = ed__record(y, OP, ce_backward, 2, in, &c, sizeof c, &node);
    if (st == ED_OK && node && w) st = ed__node_save(node, (ed_tensor *)w);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
