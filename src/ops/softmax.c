/* softmax and log_softmax along one dimension, as F.softmax / F.log_softmax.
 *   x any shape; dim in [-ndim, ndim - 1] (negative counts from the end; a
 *   0-d tensor takes 0 or -1 and gives 1, or 0 for log_softmax).
 *   softmax(x)_d = exp(x_d - m) / sum_e exp(x_e - m),
 *   log_softmax(x)_d = x_d - m - log(sum_e exp(x_e - m)), m = max_e x_e,
 *   so logits in the thousands neither overflow nor lose the answer.
 *   Sums are in double.
 * Backward: log_softmax's uses the output; softmax's recomputes the
 * probabilities in double from x (see softmax_kern.h). */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

#define T float
#define K(n) n##_f32
#include "softmax_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "softmax_kern.h"
#undef T
#undef K

typedef struct { int64_t O, D, I; int log; } sm_ctx;

static ed_status sm_backward(ed_node *n)
{
    const sm_ctx *c = n->ctx;
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *x = n->in[0], *y = n->out;
    ED_DISPATCH_FLOAT(y->dtype, softmax_bwd, x->data, y->data, y->grad->data, gx->data, c->O, c->D, c->I, c->log);
    return ED_OK;
}

static ed_status softmax_impl(const ed_tensor *x, int dim, int log, ed_tensor **out)
{
    const char *name = log ? "log_softmax" : "softmax";
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", name);
    *out = NULL;
    ED_TRY(ed__check_float(x, name, "input"));
    const int nd = x->ndim > 0 ? x->ndim : 1;
    if (dim < -nd || dim >= nd)
        return ed__err(ED_E_ARG, "%s: dimension out of range (expected to be in range of [%d, %d], but got %d)", name,
                       -nd, nd - 1, dim);
    if (dim < 0) dim += nd;
    sm_ctx c = { 1, 1, 1, log };
    if (x->ndim > 0) {
        for (int i = 0; i < dim; i++) c.O *= x->shape[i];
        c.D = x->shape[dim];
        for (int i = dim + 1; i < x->ndim; i++) c.I *= x->shape[i];
    }
    ed_tensor *y;
    ED_TRY(ed__alloc(x->dtype, x->ndim, x->shape, &y));
    ED_DISPATCH_FLOAT(x->dtype, softmax_fwd, x->data, y->data, c.O, c.D, c.I, log);
    ed_node *node;
    ed_status st = ed__record(y, name, sm_backward, 1, &x, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_softmax(const ed_tensor *x, int dim, ed_tensor **out) { return softmax_impl(x, dim, 0, out); }
ed_status ed_log_softmax(const ed_tensor *x, int dim, ed_tensor **out) { return softmax_impl(x, dim, 1, out); }
