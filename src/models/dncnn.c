/* "dncnn": DnCNN (Zhang et al. 2017, "Beyond a Gaussian Denoiser: Residual
 * Learning of Deep CNN for Image Denoising").
 *
 * depth layers of 3x3 convolutions: conv + ReLU, (depth - 2) x (conv +
 * BatchNorm + ReLU), conv. The network predicts the noise; the output is
 * the clean estimate  y = x - net(x)  (residual learning, section III.B).
 * Fixed-sigma (DnCNN-S) and blind (DnCNN-B) models differ only in the data:
 * a blind one is trained on a range of sigmas (encdec train --sigma-range).
 *
 * Equivalent PyTorch module (same state_dict names as cszn/DnCNN's
 * DnCNN-pytorch; BatchNorm at PyTorch's defaults eps 1e-5, momentum 0.1;
 * tests/golden/gen_dncnn_parity.py):
 *   layers = [Conv2d(c, w, 3, padding=1, bias=True), ReLU()]
 *   for _ in range(depth - 2):
 *       layers += [Conv2d(w, w, 3, padding=1, bias=False), BatchNorm2d(w), ReLU()]
 *   layers += [Conv2d(w, c, 3, padding=1, bias=False)]
 *   self.dncnn = Sequential(*layers);  forward: x - self.dncnn(x)
 * Config: channels 1|3 (1), width (64), depth 3..64 (17). Any input size. */
#include "models/chain.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct dncnn_state {
    int depth;
    ed_tensor *w[64], *b0;
    ed_bn bn[64];
} dncnn_state;

static ed_status dncnn_build(ed_model *m, cJSON *cfg)
{
    static const char *const keys[] = { "channels", "width", "depth", NULL };
    int c, w, d;
    ED_TRY(ed__cfg_known(cfg, "dncnn", keys));
    ED_TRY(ed__cfg_int(cfg, "dncnn", "channels", 1, 1, 3, &c));
    if (c == 2) return ed__err(ED_E_ARG, "dncnn: configuration 'channels' must be 1 (gray) or 3 (RGB), got 2");
    ED_TRY(ed__cfg_int(cfg, "dncnn", "width", 64, 1, 1024, &w));
    ED_TRY(ed__cfg_int(cfg, "dncnn", "depth", 17, 3, 64, &d));
    dncnn_state *s = calloc(1, sizeof *s);
    if (!s) return ed__err(ED_E_NOMEM, "dncnn: out of memory");
    m->state = s;
    s->depth = d;
    m->in_channels = m->out_channels = c;
    char name[64];
    ED_TRY(ed__layer_conv(m, "dncnn.0", c, w, 3, true, &s->w[0], &s->b0));
    for (int i = 1; i < d - 1; i++) {
        snprintf(name, sizeof name, "dncnn.%d", 3 * i - 1);
        ED_TRY(ed__layer_conv(m, name, w, w, 3, false, &s->w[i], NULL));
        snprintf(name, sizeof name, "dncnn.%d", 3 * i);
        ED_TRY(ed__layer_bn(m, name, w, &s->bn[i]));
    }
    snprintf(name, sizeof name, "dncnn.%d", 3 * (d - 1) - 1);
    return ed__layer_conv(m, name, w, c, 3, false, &s->w[d - 1], NULL);
}

static ed_status dncnn_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    const dncnn_state *s = m->state;
    if (!training && !ed_grad_enabled() && x->dtype == ED_F32) {
        /* Inference: the whole body as one chain (conv + ReLU, depth - 2
         * conv + BN + ReLU, conv). */
        const ed_tensor *b[64] = { s->b0 };
        const ed_bn *bn[64] = { NULL };
        int relu[64] = { 0 };
        for (int i = 0; i < s->depth; i++) {
            bn[i] = i > 0 && i < s->depth - 1 ? &s->bn[i] : NULL;
            relu[i] = i < s->depth - 1;
        }
        ed_tensor *h = NULL;
        ED_TRY(ed__conv_bn_relu_chain(x, s->depth, (const ed_tensor *const *)s->w, b, bn, relu, 1, &h));
        ed_status st = ed_sub(x, h, y);
        ed_tensor_free(h);
        return st;
    }
    ed_tensor *h = ed_tensor_retain((ed_tensor *)x);
    ed_status st = ed__chain_conv_relu(&h, s->w[0], s->b0, 1);
    for (int i = 1; i < s->depth - 1 && st == ED_OK; i++) {
        ed_tensor *t = NULL;
        st = ed__conv_bn_relu(h, s->w[i], NULL, &s->bn[i], 1, training, i < s->depth - 2, &t);
        st = ed__chain_set(&h, st, t);
    }
    if (st == ED_OK) st = ed__chain_conv(&h, s->w[s->depth - 1], NULL, 1);
    if (st == ED_OK) st = ed_sub(x, h, y);
    ed_tensor_free(h);
    return st;
}

const ed_arch ed_arch_dncnn = { "dncnn", "denoise", dncnn_build, dncnn_forward, NULL };
