/* relu(batch_norm(conv2d(x, w, b, stride 1, padding pad), training)) as
 * one op with one autograd node: the encoder-decoder's conv-BN-ReLU block
 * in training (ed__conv_bn_relu_train, used by the models).
 *
 * A backend kernel (ED_OP_CONV_BN_RELU, backend/onednn/conv_bn_relu.c)
 * keeps the convolution's output in its own layout between the
 * convolution and the BatchNorm, and the BatchNorm's input gradient in the
 * layout the convolution's backward wants, so neither goes through the
 * library's NCHW: two layout passes and a ReLU-mask pass less per block,
 * each way. Where no kernel supports the call (float64, groups, other
 * channel counts, ENCDEC_ONEDNN=OFF) the op is exactly ed_conv2d followed
 * by ed__batch_norm_relu, which is also the oracle the tests compare with.
 * Same semantics either way (batch statistics, running stats updated with
 * momentum and the unbiased variance); the fused kernel sums in another
 * order, so results agree to float rounding, not bit for bit.
 *
 * Backends get params = ed__cbr_params and tensors[]:
 *   forward  {x, w, b, gamma, beta, running_mean, running_var, z, ysave,
 *             stats, keep, zcopy, xcopy}
 *            b, gamma, beta, running_* may be NULL (not both running
 *            stats); z (N, Cout, Ho, Wo) to write; ysave: a float32
 *            tensor of z's size the kernel keeps its convolution output
 *            in; stats: float64 (4 * Cout) it fills (mean, invstd, and room
 *            for the folded scale and shift); keep: a uint8 holder for the
 *            convolution's converted input (ops/conv_common.h), or just its
 *            header when xcopy is given; zcopy: NULL, or a holder of the
 *            same kind for z, filled in the layout the next block's
 *            convolution takes (feeds_block); xcopy: NULL, or x's own such
 *            copy from the op that made x (a block's zcopy, or
 *            ed__cat_feed's: that node's ed_node.copy_saved), used when
 *            it is in the right layout.
 *            params.defer: z is left unwritten (zcopy only; the op marks
 *            it deferred and writes it on demand, below); params
 *            .materialise: only z is written, from ysave and stats.
 *            A kernel declines an x that is deferred unless xcopy is
 *            in its layout (then x's data is never read).
 *   backward {x, w, gz, gamma, ysave, stats, keep, gx, gw, gb, ggamma,
 *             gbeta, xcopy}, gradients NULL when not wanted; gx stored when
 *            params.conv.gx_overwrite, gweight and gbias when params.conv
 *            .gw_overwrite, ggamma and gbeta when params.gg_overwrite /
 *            gbe_overwrite; else added.
 *            gz may be NHWC (gz->nhwc: written so by the next block's
 *            backward, the node being marked takes_nhwc_grad); a stored gx
 *            may be written NHWC (setting gx->nhwc) when x's own producer
 *            takes that, i.e. is such a block too, so a chain of blocks
 *            passes its gradients without layout passes. */
#include "core/ed_internal.h"
#include "encdec/precision.h"
#include "ops/conv_bn_relu_params.h"
#include "ops/conv_common.h"

#include <math.h>

/* Deferred z (feeds_block == 2: the model hands z to the next fused block
 * alone, which reads zcopy): written from ysave and stats when something
 * reads it after all (ed__materialise), with the values the forward would
 * have written. */
static ed_status cbr_materialise(ed_node *n)
{
    ed__cbr_params p = *(const ed__cbr_params *)n->ctx;
    p.defer = 0;
    p.materialise = 1;
    ed_tensor *t[13] = { n->in[0], n->in[1], n->in[2], n->in[3], n->in[4], NULL, NULL, n->out, n->saved[0],
                         n->saved[1], n->saved[2], NULL, NULL };
    const ed_kernel *k = ed_backend_find(ED_OP_CONV_BN_RELU, ED_FORWARD, &p, t);
    if (!k) return ed__err(ED_E_STATE, "conv_bn_relu: the fused kernel that ran forward cannot write its output");
    return k->run(&p, t);
}

static ed_status cbr_backward(ed_node *n)
{
    const ed__cbr_params *c = n->ctx;
    if (n->in[0]->deferred && !ed__producer_copy(n->in[0])) ED_TRY(ed__materialise(n->in[0]));
    ed_tensor *gx, *gw, *gb, *gg, *gbe;
    int ow = 0, ow_w = 0, ow_b = 0;
    ed__cbr_params p = *c;
    ED_TRY(ed__grad_of_overwrite(n, 0, &gx, &ow));
    ED_TRY(ed__grad_of_overwrite(n, 1, &gw, &ow_w));
    ED_TRY(ed__grad_of_overwrite(n, 2, &gb, &ow_b));
    ED_TRY(ed__grad_of_overwrite(n, 3, &gg, &p.gg_overwrite));
    ED_TRY(ed__grad_of_overwrite(n, 4, &gbe, &p.gbe_overwrite));
    /* One backward-weights primitive writes both the weight's and the
     * bias's gradient: it stores them only when both may be stored. */
    p.conv.gw_overwrite = (!gw || ow_w) && (!gb || ow_b) && (gw || gb);
    if (!p.conv.gw_overwrite) {
        if (gw && ow_w) memset(gw->data, 0, sizeof(float) * (size_t)gw->numel);
        if (gb && ow_b) memset(gb->data, 0, sizeof(float) * (size_t)gb->numel);
    }
    p.conv.gx_overwrite = ow;
    ed_tensor *t[13] = { n->in[0], n->in[1], n->out->grad, n->in[3], n->saved[0], n->saved[1], n->saved[2],
                         gx, gw, gb, gg, gbe, ed__producer_copy(n->in[0]) };
    const ed_kernel *k = ed_backend_find(ED_OP_CONV_BN_RELU, ED_BACKWARD, &p, t);
    if (!k) return ed__err(ED_E_STATE, "conv_bn_relu: the fused kernel that ran forward declines backward");
    return k->run(&p, t);
}

ed_status ed__conv_bn_relu_train(const ed_tensor *x, const ed_tensor *w, const ed_tensor *b, int pad,
                                 ed_tensor *running_mean, ed_tensor *running_var, const ed_tensor *gamma,
                                 const ed_tensor *beta, double momentum, double eps, int feeds_block, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "conv_bn_relu: out is NULL");
    *out = NULL;
    /* The fused kernel only takes plain, checked cases; anything else (and
     * every error message) is the two ops'. */
    const bool plain = x && w && x->dtype == ED_F32 && w->dtype == ED_F32 && x->ndim == 4 && w->ndim == 4 &&
                       w->shape[1] == x->shape[1] && w->shape[2] == 2 * pad + 1 && w->shape[3] == 2 * pad + 1 &&
                       pad >= 0 && x->shape[0] * x->shape[2] * x->shape[3] > 1 && eps > 0 && isfinite(momentum) &&
                       (!b || (b->dtype == ED_F32 && b->ndim == 1 && b->shape[0] == w->shape[0])) &&
                       !running_mean == !running_var;
    const ed_tensor *chan[4] = { gamma, beta, running_mean, running_var };
    bool chan_ok = plain;
    for (int i = 0; i < 4 && chan_ok; i++)
        chan_ok = !chan[i] || (chan[i]->dtype == ED_F32 && chan[i]->ndim == 1 && chan[i]->shape[0] == w->shape[0]);
    if (chan_ok && ed_grad_enabled()) {
        ed__cbr_params p;
        memset(&p, 0, sizeof p);
        p.conv.stride[0] = p.conv.stride[1] = 1;
        p.conv.dilation[0] = p.conv.dilation[1] = 1;
        p.conv.pad_lo[0] = p.conv.pad_lo[1] = p.conv.pad_hi[0] = p.conv.pad_hi[1] = pad;
        p.conv.groups = 1;
        p.momentum = momentum;
        p.eps = eps;
        p.defer = feeds_block == 2;
        const int64_t N = x->shape[0], C = w->shape[0], H = x->shape[2], W = x->shape[3], four = 4 * C;
        const bool bf16 = ed_get_conv_precision() == ED_PRECISION_BF16;
        ed_tensor *from = ed__producer_copy(x);
        if (!from) ED_TRY(ed__materialise(x));   /* a deferred x without its copy (not expected) */
        /* Room to keep x converted, unless its producer wrote it so. */
        const int64_t keep_bytes = from ? ED_CONV_KEEP_HEADER : ed__conv_keep_bytes(x, bf16);
        ed_tensor *z = NULL, *ys = NULL, *st = NULL, *keep = NULL, *zc = NULL;
        ed_status s = ed__alloc(ED_F32, 4, (int64_t[]){ N, C, H, W }, &z);
        const int64_t out_bytes = s == ED_OK ? ed__conv_keep_bytes(z, bf16) : 0;
        if (s == ED_OK) s = ed__alloc(ED_F32, 4, (int64_t[]){ N, C, H, W }, &ys);
        if (s == ED_OK) s = ed__alloc(ED_F64, 1, &four, &st);
        if (s == ED_OK) s = ed__alloc(ED_U8, 1, &keep_bytes, &keep);
        if (s == ED_OK && feeds_block) s = ed__alloc(ED_U8, 1, &out_bytes, &zc);
        const ed_kernel *k = NULL;
        ed_tensor *t[13] = { (ed_tensor *)x, (ed_tensor *)w, (ed_tensor *)b, (ed_tensor *)gamma, (ed_tensor *)beta,
                             running_mean, running_var, z, ys, st, keep, zc, from };
        if (s == ED_OK) k = ed_backend_find(ED_OP_CONV_BN_RELU, ED_FORWARD, &p, t);
        if (k) {
            s = k->run(&p, t);
            ed_node *node = NULL;
            const ed_tensor *in[5] = { x, w, b, gamma, beta };
            if (s == ED_OK) s = ed__record(z, "conv_bn_relu", cbr_backward, 5, in, &p, sizeof p, &node);
            if (node) node->takes_nhwc_grad = 1;   /* the kernel reads gz in either layout */
            if (s == ED_OK && p.defer) {
                if (node && zc && ((const uint64_t *)zc->data)[0]) {   /* the copy was made */
                    z->deferred = 1;
                    node->materialise = cbr_materialise;
                } else {   /* nothing recorded (no input wants a gradient), or no copy: z now */
                    ed__cbr_params pm = p;
                    pm.defer = 0;
                    pm.materialise = 1;
                    s = k->run(&pm, t);
                }
            }
            if (s == ED_OK && node) s = ed__node_save(node, ys);
            if (s == ED_OK && node) s = ed__node_save(node, st);
            if (s == ED_OK && node) s = ed__node_save(node, keep);
            if (s == ED_OK && node && zc) s = ed__node_save(node, zc);
            if (s == ED_OK && node && zc) node->copy_saved = 4;
        }
        ed_tensor_free(ys);
        ed_tensor_free(st);
        ed_tensor_free(keep);
        ed_tensor_free(zc);
        if (k && s == ED_OK) {
            *out = z;
            return ED_OK;
        }
        ed_tensor_free(z);
        if (k || s != ED_OK) return s;
    }
    ED_TRY(ed__materialise(x));   /* the two ops read x's data */
    ed_conv2d_args a;
    ed_conv2d_args_default(&a);
    a.padding[0] = a.padding[1] = pad;
    ed_tensor *c = NULL;
    ED_TRY(ed_conv2d(x, w, b, &a, &c));
    ed_status s = ed__batch_norm_relu(c, running_mean, running_var, gamma, beta, 1, momentum, eps, out);
    ed_tensor_free(c);
    return s;
}
