/* A chain of stride-1 convolutions for inference (ed__conv_chain_infer):
 * y = f_n(...f_1(x)), f_i(h) = relu_i(conv2d(h, w_i * s_i, b_i, padding
 * pad)), each optionally with a folded BatchNorm (s_i, per output channel,
 * as ed__conv2d_scaled) and a ReLU. The U-Net's double convolutions and
 * DnCNN's body in evaluation.
 *
 * A backend kernel (ED_OP_CONV_CHAIN, backend/onednn/conv_chain.c) keeps the
 * activations between the convolutions in its own layout and type (bf16
 * NHWC under --precision bf16, which the next convolution would round its
 * input to anyway), so only x and y cross the library's NCHW. Otherwise,
 * and for the chain's errors, it is the convolutions one by one. No
 * autograd: refused when an input needs a gradient.
 *
 * Backends get params = ed__chain_params and tensors[] = {x, y, w_1, b_1,
 * s_1, ..., w_n, b_n, s_n} (b_i, s_i may be NULL; y allocated). */
#include "core/ed_internal.h"
#include "ops/conv_chain_params.h"

static ed_status one(const ed_tensor *h, const ed__conv_step *c, int pad, ed_tensor **out)
{
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = pad;
    a.relu = c->relu ? 1 : 0;
    return c->s ? ed__conv2d_scaled(h, c->w, c->s, c->b, &a, out) : ed_conv2d(h, c->w, c->b, &a, out);
}

/* The convolutions one by one (the reference, and every error). */
static ed_status sequential(const ed_tensor *x, int n, const ed__conv_step *convs, int pad, ed_tensor **out)
{
    ed_tensor *h = NULL;
    for (int i = 0; i < n; i++) {
        ed_tensor *t = NULL;
        ed_status st = one(i ? h : x, &convs[i], pad, &t);
        ed_tensor_free(h);
        if (st != ED_OK) return st;
        h = t;
    }
    *out = h;
    return ED_OK;
}

static bool plain_f32(const ed_tensor *t, int ndim) { return t && t->dtype == ED_F32 && t->ndim == ndim; }

ed_status ed__conv_chain_infer(const ed_tensor *x, int n, const ed__conv_step *convs, int pad, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "conv chain: out is NULL");
    *out = NULL;
    if (n <= 0 || !convs) return ed__err(ED_E_ARG, "conv chain: no convolutions");
    for (int i = 0; i < n; i++)
        if (ed__any_needs_grad(3, (const ed_tensor *const[]){ i ? NULL : x, convs[i].w, convs[i].b }))
            return ed__err(ED_E_ARG, "conv chain: inference only, but an input needs a gradient");
    /* Chunks the kernel takes: checked shapes, float32, at most ED_CHAIN_MAX. */
    bool ok = n >= 2 && plain_f32(x, 4) && pad >= 0;
    int64_t c = ok ? x->shape[1] : 0;
    for (int i = 0; i < n && ok; i++) {
        const ed__conv_step *k = &convs[i];
        ok = plain_f32(k->w, 4) && k->w->shape[1] == c && k->w->shape[2] == 2 * pad + 1 && k->w->shape[3] == 2 * pad + 1 &&
             (!k->b || (plain_f32(k->b, 1) && k->b->shape[0] == k->w->shape[0])) &&
             (!k->s || (k->s->dtype == ED_F64 && k->s->ndim == 1 && k->s->shape[0] == k->w->shape[0]));
        c = ok ? k->w->shape[0] : 0;
    }
    if (!ok) return sequential(x, n, convs, pad, out);
    ed_tensor *h = (ed_tensor *)x;
    for (int i0 = 0; i0 < n;) {
        int m = n - i0 < ED_CHAIN_MAX ? n - i0 : ED_CHAIN_MAX;
        ed_tensor *y = NULL;
        ed_status st = ED_OK;
        const ed_kernel *k = NULL;
        if (m >= 2) {
            ed__chain_params p = { .n = m, .pad = pad };
            ed_tensor *t[2 + 3 * ED_CHAIN_MAX] = { h, NULL };
            for (int i = 0; i < m; i++) {
                p.relu[i] = convs[i0 + i].relu ? 1 : 0;
                t[2 + 3 * i] = (ed_tensor *)convs[i0 + i].w;
                t[3 + 3 * i] = (ed_tensor *)convs[i0 + i].b;
                t[4 + 3 * i] = (ed_tensor *)convs[i0 + i].s;
            }
            st = ed__alloc(ED_F32, 4, (int64_t[]){ h->shape[0], convs[i0 + m - 1].w->shape[0], h->shape[2], h->shape[3] }, &y);
            t[1] = y;
            if (st == ED_OK) k = ed_backend_find(ED_OP_CONV_CHAIN, ED_FORWARD, &p, t);
            if (k) st = k->run(&p, t);
            if (!k) ed_tensor_free(y), y = NULL;
        }
        /* Declined (oneDNN's layouts do not line up, typically after a
         * first convolution with few input channels): that one alone, then
         * the rest as a chain again. */
        if (st == ED_OK && !k) m = 1, st = sequential(h, 1, convs + i0, pad, &y);
        if (h != x) ed_tensor_free(h);
        if (st != ED_OK) {
            ed_tensor_free(y);
            return st;
        }
        h = y;
        i0 += m;
    }
    *out = h;
    return ED_OK;
}
