/* dropout and dropout2d, as F.dropout / F.dropout2d.
 *   dropout: each element is kept with probability 1 - p and scaled by
 *     1 / (1 - p), else zeroed: y = x * m, m in {0, 1/(1-p)}.
 *   dropout2d: one draw per (dim 0, dim 1) pair of an input with at least
 *     2 dims (PyTorch's feature_dropout): whole channels of (N, C, H, W)
 *     go together. A 3-D input is read as (N, C, L) and rows of L are
 *     dropped, which is what PyTorch does today (it warns that it may read
 *     it as (C, H, W) one day).
 *   p must lie in [0, 1] (checked even when not training). training == 0
 *   or p == 0 is the identity and draws nothing; p == 1 gives x * 0.
 * The mask is never stored: element j of the mask is the j-th uniform of
 * the global stream at the counter this call took (ed__global_rng_take),
 * kept when u >= p. Any thread computes any element, so the output does
 * not depend on the thread count, and backward recomputes the same mask.
 * PyTorch's own generator cannot be matched; the statistics can. */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

typedef struct {
    double p;
    uint64_t seed, base;
    int64_t group;   /* consecutive elements sharing one draw */
    int mode;        /* 0 identity, 1 masked, 2 all zero */
} do_ctx;

#define T float
#define K(n) n##_f32
#include "dropout_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "dropout_kern.h"
#undef T
#undef K

static ed_status do_backward(ed_node *n)
{
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *gy = n->out->grad;
    ED_DISPATCH_FLOAT(gx->dtype, do_apply, n->ctx, gy->data, gx->data, gx->numel, 1);
    return ED_OK;
}

static ed_status dropout_impl(const ed_tensor *x, double p, int training, int feature, ed_tensor **out)
{
    const char *name = feature ? "dropout2d" : "dropout";
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", name);
    *out = NULL;
    ED_TRY(ed__check_float(x, name, "input"));
    if (!(p >= 0 && p <= 1))
        return ed__err(ED_E_ARG, "%s: dropout probability has to be between 0 and 1, but got %g", name, p);
    if (feature && x->ndim < 2) {
        char b[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "%s: input must have at least 2 dimensions (N, C, ...), got shape %s", name,
                       ed__shape_str(x, b));
    }
    do_ctx c = { p, 0, 0, 1, 0 };
    if (training && p == 1) c.mode = 2;
    else if (training && p > 0 && x->numel > 0) c.mode = 1;
    if (feature && x->ndim >= 2) {
        c.group = 1;
        for (int i = 2; i < x->ndim; i++) c.group *= x->shape[i];
        if (c.group == 0) c.group = 1;   /* empty: no element reads it */
    }
    if (c.mode == 1) c.base = ed__global_rng_take((uint64_t)(x->numel / c.group), &c.seed);
    ed_tensor *y;
    ED_TRY(ed__alloc(x->dtype, x->ndim, x->shape, &y));
    ED_DISPATCH_FLOAT(x->dtype, do_apply, &c, x->data, y->data, x->numel, 0);
    ed_node *node;
    ed_status st = ed__record(y, name, do_backward, 1, &x, &c, sizeof c, &node);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_dropout(const ed_tensor *x, double p, int training, ed_tensor **out)
{
    return dropout_impl(x, p, training, 0, out);
}

ed_status ed_dropout2d(const ed_tensor *x, double p, int training, ed_tensor **out)
{
    return dropout_impl(x, p, training, 1, out);
}
