/* Group normalisation, as F.group_norm (Wu & He, "Group Normalization",
 * ECCV 2018).
 *   x (N, C) or (N, C, d1, ...); num_groups G > 0 must divide C; weight,
 *   bias hold C elements each or are NULL. y has x's shape.
 *   The C channels split into G groups of C/G consecutive channels; each
 *   (n, g) is normalised by its own mean and biased variance over its
 *   (C/G) * d1 * ... elements, then y = xhat * weight[c] + bias[c].
 * Backward: x, weight, bias. Unlike batch_norm there are no running stats
 * and training and eval behave the same. Statistics are in double. */
#include "core/ed_internal.h"
#include "ops/typed.h"

#include <math.h>

#define T float
#define K(n) n##_f32
#include "group_norm_kern.h"
#undef T
#undef K
#define T double
#define K(n) n##_f64
#include "group_norm_kern.h"
#undef T
#undef K

typedef struct { int64_t N, C, G, S; } gn_ctx;

static ed_status gn_backward(ed_node *n)
{
    const gn_ctx *c = n->ctx;
    ed_tensor *x = n->in[0], *w = n->in[1], *gy = n->out->grad;
    ed_tensor *gx, *gw, *gb;
    ED_TRY(ed__grad_of(n, 0, &gx));
    ED_TRY(ed__grad_of(n, 1, &gw));
    ED_TRY(ed__grad_of(n, 2, &gb));
    ED_DISPATCH_FLOAT(x->dtype, gn_backward, x->data, w ? w->data : NULL, gy->data, n->saved[0]->data,
                      n->saved[1]->data, c->N, c->C, c->G, c->S, gx ? gx->data : NULL, gw ? gw->data : NULL,
                      gb ? gb->data : NULL);
    return ED_OK;
}

ed_status ed_group_norm(const ed_tensor *x, int num_groups, const ed_tensor *weight,
                        const ed_tensor *bias, double eps, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "group_norm: out is NULL");
    *out = NULL;
    ED_TRY(ed__check_float(x, "group_norm", "input"));
    char sb[ED_SHAPE_BUF];
    if (x->ndim < 2)
        return ed__err(ED_E_SHAPE, "group_norm: input must be (N, C) or (N, C, ...), got shape %s", ed__shape_str(x, sb));
    const int64_t N = x->shape[0], C = x->shape[1], G = num_groups;
    if (num_groups <= 0) return ed__err(ED_E_ARG, "group_norm: num_groups must be positive, got %d", num_groups);
    if (C % G)
        return ed__err(ED_E_ARG, "group_norm: the channel count must be divisible by num_groups, got input shape %s and num_groups=%d",
                       ed__shape_str(x, sb), num_groups);
    ED_TRY(ed__check_channel_param(weight, x, C, "group_norm", "weight"));
    ED_TRY(ed__check_channel_param(bias, x, C, "group_norm", "bias"));
    int64_t S = 1;
    for (int i = 2; i < x->ndim; i++) S *= x->shape[i];

    const int64_t NG = N * G;
    ed_tensor *y = NULL, *mean = NULL, *rstd = NULL;
    ed_status st = ed__alloc(x->dtype, x->ndim, x->shape, &y);
    if (!st) st = ed__alloc(ED_F64, 1, &NG, &mean);
    if (!st) st = ed__alloc(ED_F64, 1, &NG, &rstd);
    if (!st) {
        ED_DISPATCH_FLOAT(x->dtype, gn_stats, x->data, NG, C / G * S, eps, mean->data, rstd->data);
        ED_DISPATCH_FLOAT(x->dtype, gn_apply, x->data, weight ? weight->data : NULL, bias ? bias->data : NULL,
                          mean->data, rstd->data, N, C, G, S, y->data);
    }
    gn_ctx c = { N, C, G, S };
    ed_node *node = NULL;
    const ed_tensor *in[3] = { x, weight, bias };
    if (!st) st = ed__record(y, "group_norm", gn_backward, 3, in, &c, sizeof c, &node);
    if (!st && node) st = ed__node_save(node, mean);
    if (!st && node) st = ed__node_save(node, rstd);
    ed_tensor_free(mean);
    ed_tensor_free(rstd);
    if (st) { ed_tensor_free(y); return st; }
    *out = y;
    return ED_OK;
}
