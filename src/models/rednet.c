/* "rednet": RED-Net (Mao, Shen and Yang 2016, "Image Restoration Using Very
 * Deep Convolutional Encoder-Decoder Networks with Symmetric Skip
 * Connections").
 *
 * n = depth / 2 encoder layers of 3x3 convolutions without padding (each
 * shrinks the map by 2 pixels, so the encoder removes noise while keeping
 * the structure) and n decoder layers of 3x3 transposed convolutions without
 * padding (each grows it back by 2). Every second decoder layer receives the
 * symmetric encoder feature map by addition before its ReLU (the paper's
 * skip connections "every two layers"), and the last layer adds the input
 * image, so the network learns the residual:
 *   e0 = x;  e_i = relu(conv_i(e_{i-1}))                      i = 1..n
 *   d0 = e_n; t_k = deconv_k(d_{k-1})                        k = 1..n
 *   d_k = relu(t_k + e_{n-k}) if k even,  relu(t_k) if k odd  (k < n)
 *   y  = t_n + x
 * Equivalent PyTorch module (same state_dict names):
 *   encoder = ModuleList(Conv2d(c if i == 0 else w, w, 3) for i in range(n))
 *   decoder = ModuleList(ConvTranspose2d(w, c if k == n - 1 else w, 3) for k in range(n))
 * Config: channels 1..4 (1), width (64), depth even 2..60 (10 = RED10).
 * Inputs must be at least 2n + 1 pixels high and wide. */
#include "models/chain.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct rednet_state {
    int n;
    ed_tensor *ew[30], *eb[30], *dw[30], *db[30];
} rednet_state;

static ed_status rednet_build(ed_model *m, cJSON *cfg)
{
    static const char *const keys[] = { "channels", "width", "depth", NULL };
    int c, w, d;
    ED_TRY(ed__cfg_known(cfg, "rednet", keys));
    ED_TRY(ed__cfg_int(cfg, "rednet", "channels", 1, 1, 4, &c));
    ED_TRY(ed__cfg_int(cfg, "rednet", "width", 64, 1, 1024, &w));
    ED_TRY(ed__cfg_int(cfg, "rednet", "depth", 10, 2, 60, &d));
    if (d % 2) return ed__err(ED_E_ARG, "rednet: configuration 'depth' must be even (encoder + decoder layers), got %d", d);
    rednet_state *s = calloc(1, sizeof *s);
    if (!s) return ed__err(ED_E_NOMEM, "rednet: out of memory");
    m->state = s;
    s->n = d / 2;
    m->in_channels = m->out_channels = c;
    char name[64];
    for (int i = 0; i < s->n; i++) {
        snprintf(name, sizeof name, "encoder.%d", i);
        ED_TRY(ed__layer_conv(m, name, i == 0 ? c : w, w, 3, true, &s->ew[i], &s->eb[i]));
    }
    for (int k = 0; k < s->n; k++) {
        snprintf(name, sizeof name, "decoder.%d", k);
        ED_TRY(ed__layer_conv_transpose(m, name, w, k == s->n - 1 ? c : w, 3, true, &s->dw[k], &s->db[k]));
    }
    return ED_OK;
}

static ed_status rednet_run(const rednet_state *s, const ed_tensor *x, ed_tensor **feat, ed_tensor **h, ed_tensor **y)
{
    int n = s->n;
    ed_conv_transpose2d_args ta;
    ed_conv_transpose2d_args_default(&ta);
    for (int i = 0; i < n; i++) {
        ED_TRY(ed__chain_conv(h, s->ew[i], s->eb[i], 0));
        ED_TRY(ed__chain_relu(h));
        if (i < n - 1 && (n - 1 - i) % 2 == 0) feat[i + 1] = ed_tensor_retain(*h);   /* e_{i+1}, used by d_{n-i-1} */
    }
    for (int k = 1; k <= n; k++) {
        ed_tensor *t = NULL;
        ed_status st = ed_conv_transpose2d(*h, s->dw[k - 1], s->db[k - 1], &ta, &t);
        ED_TRY(ed__chain_set(h, st, t));
        if (k == n) return ed_add(*h, x, y);
        if (k % 2 == 0) ED_TRY(ed__chain_add(h, feat[n - k]));
        ED_TRY(ed__chain_relu(h));
    }
    return ED_OK;
}

static ed_status rednet_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    (void)training;
    const rednet_state *s = m->state;
    if (x->shape[2] < 2 * s->n + 1 || x->shape[3] < 2 * s->n + 1)
        return ed__err(ED_E_SHAPE, "rednet: input must be at least %dx%d (%d unpadded encoder layers), got %lldx%lld",
                       2 * s->n + 1, 2 * s->n + 1, s->n, (long long)x->shape[2], (long long)x->shape[3]);
    ed_tensor *feat[31] = { 0 }, *h = ed_tensor_retain((ed_tensor *)x);
    ed_status st = rednet_run(s, x, feat, &h, y);
    ed__chain_free(feat, 31);
    ed_tensor_free(h);
    return st;
}

const ed_arch ed_arch_rednet = { "rednet", "denoise", rednet_build, rednet_forward, NULL };
