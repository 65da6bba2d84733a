/* Elementwise losses between input x and target t of the same shape and
 * float dtype, as torch.nn.functional (d = x - t):
 *   mse_loss:        d^2
 *   l1_loss:         |d|
 *   smooth_l1_loss:  0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta;
 *                    beta = 0 is l1_loss (as torch); beta < 0 is an error
 *   binary_cross_entropy_with_logits:
 *                    w * ((1 - t) x - (1 + (pw - 1) t) log sigmoid(x)),
 *                    with log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)) so
 *                    no exp overflows; weight w and pos_weight pw broadcast
 *                    to the input's shape (PyTorch rules: trailing dims, a
 *                    pos_weight (C) acts on the last dim); the mean divides
 *                    by the element count, not by the weights.
 * Reductions: none (input's shape), sum, mean (sum / numel).
 * Both x and t get gradients (torch differentiates the target of all
 * four); l1's gradient at d = 0 is 0 (torch's sgn). Weights get none. */
#include "ops/loss.h"
#include "ops/typed.h"

#include <math.h>
#include <stdio.h>

enum { REG_MSE, REG_L1, REG_SMOOTH_L1, REG_BCE };

/* Parameters of one call; ws/ps are the strides of weight/pos_weight over
 * the input's dims, 0 where they are stretched. */
typedef struct {
    int op;
    ed_reduction red;
    double beta;
    double denom;        /* numel for the mean, 1 otherwise */
    int ndim;
    int64_t shape[ED_MAX_DIMS];
    int64_t ws[ED_MAX_DIMS], ps[ED_MAX_DIMS];
    int w_slot, pw_slot; /* index in the node's saved tensors, or -1 */
} reg_par;

static inline int64_t bc_off(const reg_par *p, const int64_t *bs, int64_t i)
{
    int64_t off = 0;
    for (int d = p->ndim - 1; d >= 0 && i; d--) {
        off += (i % p->shape[d]) * bs[d];
        i /= p->shape[d];
    }
    return off;
}

static inline double log_sigmoid(double x) { return fmin(x, 0.0) - log1p(exp(-fabs(x))); }

#define T float
#define K(n) n##_f32
#include "loss_regression_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "loss_regression_kern.h"
#undef T
#undef K

/* A weight that broadcasts to x's shape without growing it; bs gets its
 * strides over x's dims. */
static ed_status check_bcast(const ed_tensor *b, const ed_tensor *x, const char *op, const char *what, int64_t *bs)
{
    char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
    ED_TRY(ed__check_float(b, op, what));
    if (b->dtype != x->dtype)
        return ed__err(ED_E_DTYPE, "%s: %s is %s but input is %s", op, what, ed_dtype_name(b->dtype), ed_dtype_name(x->dtype));
    bool ok = b->ndim <= x->ndim;
    int64_t stride = 1;
    for (int d = x->ndim - 1; ok && d >= 0; d--) {
        int bd = b->ndim - x->ndim + d;
        int64_t sz = bd >= 0 ? b->shape[bd] : 1;
        ok = sz == x->shape[d] || sz == 1;
        bs[d] = sz == 1 ? 0 : stride;
        stride *= sz;
    }
    if (!ok)
        return ed__err(ED_E_SHAPE, "%s: %s shape %s does not broadcast to input shape %s", op, what,
                       ed__shape_str(b, s1), ed__shape_str(x, s2));
    return ED_OK;
}

static ed_status reg_backward(ed_node *n)
{
    const reg_par *p = n->ctx;
    ed_tensor *gx, *gt;
    ED_TRY(ed__grad_of(n, 0, &gx));
    ED_TRY(ed__grad_of(n, 1, &gt));
    if (!gx && !gt) return ED_OK;
    const ed_tensor *x = n->in[0], *t = n->in[1], *gy = n->out->grad;
    const void *w = p->w_slot >= 0 ? n->saved[p->w_slot]->data : NULL;
    const void *pw = p->pw_slot >= 0 ? n->saved[p->pw_slot]->data : NULL;
    const void *gyp = p->red == ED_REDUCTION_NONE ? gy->data : NULL;
    double gs = p->red == ED_REDUCTION_NONE ? 0.0 : ed__get(gy, 0) / p->denom;
    ED_DISPATCH_FLOAT(x->dtype, reg_bwd, p, x->data, t->data, w, pw, gyp, gs, gx ? gx->data : NULL,
                      gt ? gt->data : NULL, x->numel);
    return ED_OK;
}

static ed_status reg_loss(int op, const char *name, const ed_tensor *x, const ed_tensor *t, const ed_loss_args *args,
                          ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", name);
    *out = NULL;
    ed_loss_args a;
    ED_TRY(ed__loss_args(args, name, &a));
    ED_TRY(ed__check_float(x, name, "input"));
    ED_TRY(ed__check_tensor(t, name, "target"));
    if (t->dtype != x->dtype)
        return ed__err(ED_E_DTYPE, "%s: target must be %s like the input, got %s", name, ed_dtype_name(x->dtype),
                       ed_dtype_name(t->dtype));
    bool same = x->ndim == t->ndim;
    for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == t->shape[d];
    if (!same) {
        char s1[ED_SHAPE_BUF], s2[ED_SHAPE_BUF];
        return ed__err(ED_E_SHAPE, "%s: target shape %s must equal input shape %s", name, ed__shape_str(t, s1),
                       ed__shape_str(x, s2));
    }
    reg_par p;
    memset(&p, 0, sizeof p);
    p.op = op;
    p.red = a.reduction;
    p.beta = a.beta;
    p.ndim = x->ndim;
    memcpy(p.shape, x->shape, sizeof p.shape);
    p.w_slot = p.pw_slot = -1;
    const ed_tensor *saved[2];
    int nsaved = 0;
    if (op == REG_SMOOTH_L1) {
        if (!(a.beta >= 0))
            return ed__err(ED_E_ARG, "%s: beta must be >= 0, got %g", name, a.beta);
        if (a.beta == 0) p.op = REG_L1;
    }
    if (op == REG_BCE) {
        if (a.weight) {
            ED_TRY(check_bcast(a.weight, x, name, "weight", p.ws));
            p.w_slot = nsaved;
            saved[nsaved++] = a.weight;
        }
        if (a.pos_weight) {
            ED_TRY(check_bcast(a.pos_weight, x, name, "pos_weight", p.ps));
            p.pw_slot = nsaved;
            saved[nsaved++] = a.pos_weight;
        }
    }
    p.denom = a.reduction == ED_REDUCTION_MEAN ? (double)x->numel : 1.0;

    double *v = ed__scratch((size_t)(x->numel > 0 ? x->numel : 1) * sizeof(double));
    if (!v) return ed__err(ED_E_NOMEM, "%s: cannot allocate %lld loss terms", name, (long long)x->numel);
    const void *w = p.w_slot >= 0 ? saved[p.w_slot]->data : NULL;
    const void *pw = p.pw_slot >= 0 ? saved[p.pw_slot]->data : NULL;
    ED_DISPATCH_FLOAT(x->dtype, reg_fwd, &p, x->data, t->data, w, pw, v, x->numel);
    ed_tensor *y;
    ed_status st = ed__loss_output(name, x->dtype, a.reduction, v, x->ndim, x->shape, p.denom, &y);
    ed__scratch_free(v);
    ED_TRY(st);
    const ed_tensor *in[2] = { x, t };
    ed_node *node;
    st = ed__record(y, name, reg_backward, 2, in, &p, sizeof p, &node);
    for (int i = 0; st == ED_OK && node && i < nsaved; i++) st = ed__node_save(node, (ed_tensor *)saved[i]);
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}

ed_status ed_mse_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out)
{ return reg_loss(REG_MSE, "mse_loss", input, target, args, out); }
ed_status ed_l1_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out)
{ return reg_loss(REG_L1, "l1_loss", input, target, args, out); }
ed_status ed_smooth_l1_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out)
{ return reg_loss(REG_SMOOTH_L1, "smooth_l1_loss", input, target, args, out); }
ed_status ed_binary_cross_entropy_with_logits(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args,
                                              ed_tensor **out)
{ return reg_loss(REG_BCE, "binary_cross_entropy_with_logits", input, target, args, out); }
