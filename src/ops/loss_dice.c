/* dice_loss(input, target): soft Dice on class maps (no torch.nn.functional
 * equivalent; tests/golden/gen_loss.py holds its torch reference).
 *
 *   input  (N, C, d1, ...) logits; p = softmax over C, or sigmoid when C == 1;
 *   target I64 (N, d1, ...): a class in 0..C-1, or 0/1 when C == 1; t is
 *          its one-hot map (the target itself when C == 1).
 *
 * Per (n, c), over the positions whose target is not ignore_index:
 *   loss_nc = 1 - (2 sum p t + smooth) / (sum p + sum t + smooth)
 * Reductions: mean over (n, c) (the default), sum, or none ((N, C)).
 * Ignored positions add nothing to any sum and get no gradient; a sample
 * with every position ignored gives 1 - smooth / smooth = 0 (NaN when smooth
 * is 0, which is ED_E_NAN). Only the input gets a gradient. Per-(n, c) sums
 * run in fixed chunks of positions added in order (deterministic). */
#include "ops/loss.h"
#include "ops/typed.h"

#include <math.h>
#include <stdio.h>

#define DICE_BLOCK 64
#define DICE_CHUNK 4096   /* a multiple of DICE_BLOCK */

#define T float
#define K(n) n##_f32
#include "loss_dice_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "loss_dice_kern.h"
#undef T
#undef K

static const char *OP = "dice_loss";

typedef struct {
    ed_reduction red;
    int64_t ignore;
    double denom;
    int64_t N, C, S;
} dice_ctx;

static ed_status check_args(const ed_tensor *x, const ed_tensor *t, int64_t ignore, int64_t *N, int64_t *C, int64_t *S)
{
    char b1[ED_SHAPE_BUF], b2[ED_SHAPE_BUF], b3[ED_SHAPE_BUF];
    if (x->ndim < 2)
        return ed__err(ED_E_SHAPE, "%s: input must be (N, C, d1, ...) logits, got shape %s", OP, ed__shape_str(x, b1));
    ed_tensor want = { 0 };
    want.ndim = x->ndim - 1;
    want.shape[0] = x->shape[0];
    *N = x->shape[0]; *C = x->shape[1]; *S = 1;
    for (int d = 2; d < x->ndim; d++) { want.shape[d - 1] = x->shape[d]; *S *= x->shape[d]; }
    bool ok = t->ndim == want.ndim;
    for (int d = 0; ok && d < t->ndim; d++) ok = t->shape[d] == want.shape[d];
    if (!ok)
        return ed__err(ED_E_SHAPE, "%s: target shape %s does not fit input shape %s: expected target shape %s", OP,
                       ed__shape_str(t, b1), ed__shape_str(x, b2), ed__shape_str(&want, b3));
    if (*C == 0)
        return ed__err(ED_E_SHAPE, "%s: input shape %s has no classes (C = 0)", OP, ed__shape_str(x, b1));
    int64_t hi = *C == 1 ? 1 : *C - 1;
    const int64_t *y = ed__ci64(t);
    for (int64_t m = 0; m < t->numel; m++) {
        if (y[m] == ignore || (y[m] >= 0 && y[m] <= hi)) continue;
        return ed__err(ED_E_RANGE, "%s: target value %lld at %s is outside %s0..%lld (ignore_index is %lld)", OP,
                       (long long)y[m], ed__loss_pos(m, t->ndim, t->shape, b1),
                       *C == 1 ? "the binary labels " : "the classes ", (long long)hi, (long long)ignore);
    }
    return ED_OK;
}

static ed_status dice_backward(ed_node *n)
{
    const dice_ctx *c = n->ctx;
    ed_tensor *gx;
    ED_TRY(ed__grad_of(n, 0, &gx));
    if (!gx) return ED_OK;
    const ed_tensor *x = n->in[0], *t = n->in[1], *gy = n->out->grad;
    const double *dsd = ed__cf64(n->saved[0]);   /* (N, C, 2): D = 2 sum p t + smooth, Sd = sum p + sum t + smooth */
    int64_t NC = c->N * c->C;
    double *ab = ed__scratch((size_t)(NC > 0 ? NC : 1) * 2 * sizeof(double));
    if (!ab) return ed__err(ED_E_NOMEM, "%s: backward: out of memory", OP);
    for (int64_t i = 0; i < NC; i++) {
        double g = c->red == ED_REDUCTION_NONE ? ed__get(gy, i) : ed__get(gy, 0) / c->denom;
        double D = dsd[2 * i], Sd = dsd[2 * i + 1];
        ab[2 * i] = g * D / (Sd * Sd);
        ab[2 * i + 1] = 2 * g / Sd;
    }
    ED_DISPATCH_FLOAT(x->dtype, dice_bwd, x->data, ed__ci64(t), c->N, c->C, c->S, c->ignore, ab, gx->data);
    ed__scratch_free(ab);
    return ED_OK;
}

ed_status ed_dice_loss(const ed_tensor *input, const ed_tensor *target, const ed_loss_args *args, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "%s: out is NULL", OP);
    *out = NULL;
    ed_loss_args a;
    ED_TRY(ed__loss_args(args, OP, &a));
    ED_TRY(ed__check_float(input, OP, "input"));
    ED_TRY(ed__check_tensor(target, OP, "target"));
    if (target->dtype != ED_I64)
        return ed__err(ED_E_DTYPE, "%s: target must be an int64 class map, got %s", OP, ed_dtype_name(target->dtype));
    int64_t N = 0, C = 0, S = 0;
    ED_TRY(check_args(input, target, a.ignore_index, &N, &C, &S));
    if (!isfinite(a.smooth) || a.smooth < 0)
        return ed__err(ED_E_ARG, "%s: smooth must be finite and >= 0, got %g", OP, a.smooth);

    int64_t nch = (S + DICE_CHUNK - 1) / DICE_CHUNK, NC = N * C;
    ed_tensor *dsd;
    ED_TRY(ed__alloc(ED_F64, 3, (int64_t[]){ N, C, 2 }, &dsd));
    size_t nbuf = (size_t)(N * nch * C * 3 + NC);
    double *part = ed__scratch((nbuf > 0 ? nbuf : 1) * sizeof(double));
    if (!part) { ed_tensor_free(dsd); return ed__err(ED_E_NOMEM, "%s: out of memory", OP); }
    double *loss = part + N * nch * C * 3;
    ED_DISPATCH_FLOAT(input->dtype, dice_sums, input->data, ed__ci64(target), N, C, S, a.ignore_index, part);
    double *ds = ed__f64(dsd);
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++) {
            double si = 0, sp = 0, st = 0;
            for (int64_t k = 0; k < nch; k++) {   /* chunks in order */
                const double *p = part + ((n * nch + k) * C + c) * 3;
                si += p[0]; sp += p[1]; st += p[2];
            }
            double D = 2 * si + a.smooth, Sd = sp + st + a.smooth;
            if (Sd == 0) {
                ed__scratch_free(part);
                ed_tensor_free(dsd);
                return ed__err(ED_E_NAN, "%s: loss is NaN: sample %lld, class %lld has sum p + sum t + smooth = 0 "
                               "(every position ignored, and smooth is 0)", OP, (long long)n, (long long)c);
            }
            ds[(n * C + c) * 2] = D;
            ds[(n * C + c) * 2 + 1] = Sd;
            loss[n * C + c] = 1 - D / Sd;
        }
    double denom = a.reduction == ED_REDUCTION_MEAN ? (double)NC : 1.0;
    ed_tensor *y;
    ed_status st = ed__loss_output(OP, input->dtype, a.reduction, loss, 2, (int64_t[]){ N, C }, denom, &y);
    ed__scratch_free(part);
    if (st != ED_OK) { ed_tensor_free(dsd); return st; }
    dice_ctx c = { a.reduction, a.ignore_index, denom, N, C, S };
    const ed_tensor *in[2] = { input, target };
    ed_node *node;
    st = ed__record(y, OP, dice_backward, 2, in, &c, sizeof c, &node);
    if (st == ED_OK && node) st = ed__node_save(node, dsd);
    ed_tensor_free(dsd);   /* the node holds its own reference */
    if (st != ED_OK) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
