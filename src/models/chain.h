/* Layer steps for the enhancement models (dncnn, rednet, fsrcnn, edsr).
 *
 * Each step replaces *h with the layer's output and drops the caller's
 * reference to the old *h: the autograd graph retains what backward needs,
 * so deep networks hold no more than the graph requires and, under no-grad
 * (inference on large tiles), only a couple of activations are alive at a
 * time. Inside an arena freeing is a no-op, so training is unaffected.
 * On failure *h is left as it was; the caller frees it. */
#ifndef ED_MODELS_CHAIN_H
#define ED_MODELS_CHAIN_H

#include "models/model_internal.h"

/* Call as  st = op(*h, ..., &y); ed__chain_set(h, st, y)  -- never with the
 * op inside the argument list, whose evaluation order C leaves open. */
static inline ed_status ed__chain_set(ed_tensor **h, ed_status st, ed_tensor *y)
{
    if (st != ED_OK) return st;
    ed_tensor_free(*h);
    *h = y;
    return ED_OK;
}

/* Convolution with padding pad ('same' for odd k: (k - 1) / 2), with the
 * ReLU fused in when relu = 1 (conv2d's relu). */
static inline ed_status ed__chain_conv_act(ed_tensor **h, const ed_tensor *w, const ed_tensor *b, int pad, int relu)
{
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = pad;
    a.relu = relu;
    ed_tensor *y = NULL;
    ed_status st = ed_conv2d(*h, w, b, &a, &y);
    return ed__chain_set(h, st, y);
}

static inline ed_status ed__chain_conv(ed_tensor **h, const ed_tensor *w, const ed_tensor *b, int pad)
{
    return ed__chain_conv_act(h, w, b, pad, 0);
}

static inline ed_status ed__chain_conv_relu(ed_tensor **h, const ed_tensor *w, const ed_tensor *b, int pad)
{
    return ed__chain_conv_act(h, w, b, pad, 1);
}

static inline ed_status ed__chain_relu(ed_tensor **h)
{
    ed_tensor *y = NULL;
    ed_status st = ed_relu(*h, &y);
    return ed__chain_set(h, st, y);
}

static inline ed_status ed__chain_bn(ed_tensor **h, const ed_bn *bn, int training)
{
    ed_tensor *y = NULL;
    ed_status st = ed__bn_forward(bn, *h, training, &y);
    return ed__chain_set(h, st, y);
}

/* *h + other (same shape), other is borrowed. */
static inline ed_status ed__chain_add(ed_tensor **h, const ed_tensor *other)
{
    ed_tensor *y = NULL;
    ed_status st = ed_add(*h, other, &y);
    return ed__chain_set(h, st, y);
}

/* PReLU with one slope per channel, as torch.nn.PReLU(C):
 * max(0, x) + a * min(0, x) = relu(x) - a * relu(-x), built from the public
 * ops (encdec has no prelu kernel) so autograd reaches the slopes a (C). */
static inline ed_status ed__chain_prelu(ed_tensor **h, const ed_tensor *a)
{
    ed_tensor *pos = NULL, *neg = NULL, *nrelu = NULL, *a3 = NULL, *an = NULL, *y = NULL;
    ed_status st = ed_relu(*h, &pos);
    if (st == ED_OK) st = ed_scale(*h, -1.0, &neg);
    if (st == ED_OK) st = ed_relu(neg, &nrelu);
    if (st == ED_OK) st = ed_reshape(a, 3, (int64_t[]){ a->shape[0], 1, 1 }, &a3);
    if (st == ED_OK) st = ed_mul(nrelu, a3, &an);
    if (st == ED_OK) st = ed_sub(pos, an, &y);
    ed_tensor_free(pos); ed_tensor_free(neg); ed_tensor_free(nrelu); ed_tensor_free(a3); ed_tensor_free(an);
    return ed__chain_set(h, st, y);
}

/* Free a NULL-terminated handful of tensors (skip features). */
static inline void ed__chain_free(ed_tensor **ts, int n)
{
    for (int i = 0; i < n; i++) { ed_tensor_free(ts[i]); ts[i] = NULL; }
}

#endif
