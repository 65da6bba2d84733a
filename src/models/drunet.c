/* "drunet": a residual U-Net denoiser (Zhang et al. 2021, "Plug-and-Play
 * Image Restoration with Deep Denoiser Prior", DRUNet; KAIR's UNetRes).
 *
 * An encoder-decoder: levels times (blocks ResBlocks, then a 2x2 stride-2
 * convolution that doubles the width), a body of blocks ResBlocks at the
 * lowest resolution, and levels times (a 2x2 stride-2 transposed
 * convolution that halves the width, then blocks ResBlocks), with the
 * encoder's features added (not concatenated) before each up-step.
 * No BatchNorm and no biases, as DRUNet. Working at 1/4, 1/16, ... of the
 * pixels, it sees a receptive field of hundreds of pixels for about half
 * the multiply-adds of DnCNN-S (width 32, levels 3, blocks 2: 265k
 * multiply-adds a pixel against DnCNN-S's 555k).
 *
 *   ResBlock(u) = u + conv(relu(conv(u)))       3x3, padding 1
 *   x1 = head(x)                                3x3 conv, c -> w
 *   x2 = down1(x1), ..., x_{L+1} = down_L(x_L)  ResBlocks, then 2x2/2 conv
 *   h = body(x_{L+1})
 *   h = up_k(h + x_{k+1}) for k = L..1          2x2/2 transposed conv, ResBlocks
 *   y = x + tail(h + x1)   (residual 1)          3x3 conv, w -> c
 *   y = tail(h + x1)       (residual 0, DRUNet's own output)
 * The global residual (the network predicts minus the noise, as DnCNN) is
 * this file's addition to DRUNet; DRUNet's noise-level input channel is
 * left out: these are fixed-sigma (or blind) models.
 *
 * Equivalent PyTorch module (KAIR's state_dict names, for levels 3):
 *   R(c) = ResBlock: self.res = Sequential(Conv2d(c, c, 3, 1, 1, bias=False), ReLU(),
 *                                          Conv2d(c, c, 3, 1, 1, bias=False)); x + self.res(x)
 *   m_head = Conv2d(c, w, 3, 1, 1, bias=False)
 *   m_down{k} = Sequential(*[R(w_k)] * blocks, Conv2d(w_k, 2 w_k, 2, 2, 0, bias=False))
 *   m_body = Sequential(*[R(w_L+1)] * blocks)
 *   m_up{k} = Sequential(ConvTranspose2d(2 w_k, w_k, 2, 2, 0, bias=False), *[R(w_k)] * blocks)
 *   m_tail = Conv2d(w, c, 3, 1, 1, bias=False)
 *   with w_k = w * 2^(k-1).
 * Config: channels 1|3 (1), width (32), levels 1..5 (3), blocks 1..8 (2),
 * residual 0|1 (1; its last convolution starts at zero). Sizes must be multiples of 2^levels (`encdec enhance`
 * and eval pad by replication and crop back). */
#include "models/chain.h"

#include <stdio.h>
#include <stdlib.h>

#define DRU_MAX_LEVELS 5
#define DRU_MAX_BLOCKS 8

typedef struct resblocks { ed_tensor *w[DRU_MAX_BLOCKS][2]; } resblocks;

typedef struct drunet_state {
    int levels, blocks, residual;
    ed_tensor *head, *tail;
    resblocks down[DRU_MAX_LEVELS], body, up[DRU_MAX_LEVELS];
    ed_tensor *downw[DRU_MAX_LEVELS], *upw[DRU_MAX_LEVELS];
} drunet_state;

static ed_status add_blocks(ed_model *m, const char *prefix, int first, int nb, int c, resblocks *r)
{
    char name[96];
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < 2; j++) {
            snprintf(name, sizeof name, "%s.%d.res.%d", prefix, first + i, 2 * j);
            ED_TRY(ed__layer_conv(m, name, c, c, 3, false, &r->w[i][j], NULL));
        }
    return ED_OK;
}

static ed_status drunet_build(ed_model *m, cJSON *cfg)
{
    static const char *const keys[] = { "channels", "width", "levels", "blocks", "residual", NULL };
    int c, w, L, nb, res;
    ED_TRY(ed__cfg_known(cfg, "drunet", keys));
    ED_TRY(ed__cfg_int(cfg, "drunet", "channels", 1, 1, 3, &c));
    if (c == 2) return ed__err(ED_E_ARG, "drunet: configuration 'channels' must be 1 (gray) or 3 (RGB), got 2");
    ED_TRY(ed__cfg_int(cfg, "drunet", "width", 32, 1, 256, &w));
    ED_TRY(ed__cfg_int(cfg, "drunet", "levels", 3, 1, DRU_MAX_LEVELS, &L));
    ED_TRY(ed__cfg_int(cfg, "drunet", "blocks", 2, 1, DRU_MAX_BLOCKS, &nb));
    ED_TRY(ed__cfg_int(cfg, "drunet", "residual", 1, 0, 1, &res));
    drunet_state *s = calloc(1, sizeof *s);
    if (!s) return ed__err(ED_E_NOMEM, "drunet: out of memory");
    m->state = s;
    s->levels = L;
    s->blocks = nb;
    s->residual = res;
    m->in_channels = m->out_channels = c;
    m->size_multiple = 1 << L;
    char name[64];
    ED_TRY(ed__layer_conv(m, "m_head", c, w, 3, false, &s->head, NULL));
    for (int k = 0; k < L; k++) {
        int wk = w << k;
        snprintf(name, sizeof name, "m_down%d", k + 1);
        ED_TRY(add_blocks(m, name, 0, nb, wk, &s->down[k]));
        snprintf(name, sizeof name, "m_down%d.%d", k + 1, nb);
        ED_TRY(ed__layer_conv(m, name, wk, 2 * wk, 2, false, &s->downw[k], NULL));
    }
    ED_TRY(add_blocks(m, "m_body", 0, nb, w << L, &s->body));
    for (int k = L - 1; k >= 0; k--) {
        int wk = w << k;
        snprintf(name, sizeof name, "m_up%d.0", k + 1);
        ED_TRY(ed__layer_conv_transpose(m, name, 2 * wk, wk, 2, false, &s->upw[k], NULL));
        snprintf(name, sizeof name, "m_up%d", k + 1);
        ED_TRY(add_blocks(m, name, 1, nb, wk, &s->up[k]));
    }
    return ed__layer_conv(m, "m_tail", w, c, 3, false, &s->tail, NULL);
}

static ed_status run_blocks(const resblocks *r, int nb, ed_tensor **h)
{
    for (int i = 0; i < nb; i++) {
        ed_tensor *u = ed_tensor_retain(*h);
        ed_status st = ed__chain_conv_relu(h, r->w[i][0], NULL, 1);
        if (st == ED_OK) st = ed__chain_conv(h, r->w[i][1], NULL, 1);
        if (st == ED_OK) st = ed__chain_add(h, u);
        ed_tensor_free(u);
        ED_TRY(st);
    }
    return ED_OK;
}

static ed_status drunet_run(const drunet_state *s, const ed_tensor *x, ed_tensor **skip, ed_tensor **h, ed_tensor **y)
{
    ed_conv2d_args da;
    ed_conv2d_args_default(&da);
    da.stride[0] = da.stride[1] = 2;
    ed_conv_transpose2d_args ta;
    ed_conv_transpose2d_args_default(&ta);
    ta.stride[0] = ta.stride[1] = 2;
    ed_tensor *t = NULL;
    ED_TRY(ed__chain_conv(h, s->head, NULL, 1));
    for (int k = 0; k < s->levels; k++) {
        skip[k] = ed_tensor_retain(*h);
        ED_TRY(run_blocks(&s->down[k], s->blocks, h));
        ed_status st = ed_conv2d(*h, s->downw[k], NULL, &da, &t);
        ED_TRY(ed__chain_set(h, st, t));
    }
    skip[s->levels] = ed_tensor_retain(*h);
    ED_TRY(run_blocks(&s->body, s->blocks, h));
    for (int k = s->levels - 1; k >= 0; k--) {
        ED_TRY(ed__chain_add(h, skip[k + 1]));
        ed_tensor_free(skip[k + 1]);
        skip[k + 1] = NULL;
        ed_status st = ed_conv_transpose2d(*h, s->upw[k], NULL, &ta, &t);
        ED_TRY(ed__chain_set(h, st, t));
        ED_TRY(run_blocks(&s->up[k], s->blocks, h));
    }
    ED_TRY(ed__chain_add(h, skip[0]));
    if (!s->residual) return ed_conv2d(*h, s->tail, NULL, &(ed_conv2d_args){ { 1, 1 }, { 1, 1 }, { 1, 1 }, 1, ED_PADDING_EXPLICIT, 0 }, y);
    ED_TRY(ed__chain_conv(h, s->tail, NULL, 1));
    return ed_add(x, *h, y);
}

/* Inference without gradients: the forward above as one graph
 * (ed__infer_graph), its values in the backend's layout from the head to
 * the tail; the global residual is added outside. At most
 * 1 + levels (3 blocks + 1) + 3 blocks + levels (3 blocks + 2) + 2 steps. */
#define DRU_MAX_STEPS (2 * DRU_MAX_LEVELS * (3 * DRU_MAX_BLOCKS + 2) + 3 * DRU_MAX_BLOCKS + 3)
typedef struct graph {
    ed__gstep g[DRU_MAX_STEPS];
    int n;
} graph;

static int g_conv(graph *gr, int in, const ed_tensor *w, int pad, int relu, int stride)
{
    gr->g[gr->n++] = (ed__gstep){ .kind = ED_GSTEP_CONV, .in = in, .w = w, .pad = pad, .relu = relu, .stride = stride };
    return gr->n;
}

static int g_add(graph *gr, int a, int b)
{
    gr->g[gr->n++] = (ed__gstep){ .kind = ED_GSTEP_ADD, .in = a, .in2 = b };
    return gr->n;
}

static int g_blocks(graph *gr, const resblocks *r, int nb, int h)
{
    for (int i = 0; i < nb; i++) {
        const int t = g_conv(gr, h, r->w[i][0], 1, 1, 1);
        h = g_add(gr, g_conv(gr, t, r->w[i][1], 1, 0, 1), h);
    }
    return h;
}

static ed_status drunet_infer(const drunet_state *s, const ed_tensor *x, ed_tensor **y)
{
    graph gr;
    gr.n = 0;
    int skip[DRU_MAX_LEVELS + 1];
    int h = g_conv(&gr, 0, s->head, 1, 0, 1);
    for (int k = 0; k < s->levels; k++) {
        skip[k] = h;
        h = g_conv(&gr, g_blocks(&gr, &s->down[k], s->blocks, h), s->downw[k], 0, 0, 2);
    }
    skip[s->levels] = h;
    h = g_blocks(&gr, &s->body, s->blocks, h);
    for (int k = s->levels - 1; k >= 0; k--) {
        h = g_add(&gr, h, skip[k + 1]);
        gr.g[gr.n++] = (ed__gstep){ .kind = ED_GSTEP_UP2, .in = h, .w = s->upw[k] };
        h = g_blocks(&gr, &s->up[k], s->blocks, gr.n);
    }
    g_conv(&gr, g_add(&gr, h, skip[0]), s->tail, 1, 0, 1);
    if (!s->residual) return ed__infer_graph(x, gr.n, gr.g, y);
    ed_tensor *t = NULL;
    ED_TRY(ed__infer_graph(x, gr.n, gr.g, &t));
    ed_status st = ed_add(x, t, y);
    ed_tensor_free(t);
    return st;
}

static ed_status drunet_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    const drunet_state *s = m->state;   /* sizes are checked against size_multiple by ed_model_forward */
    if (!training && !ed_grad_enabled() && x->dtype == ED_F32) return drunet_infer(s, x, y);
    ed_tensor *skip[DRU_MAX_LEVELS + 1] = { NULL }, *h = ed_tensor_retain((ed_tensor *)x);
    ed_status st = drunet_run(s, x, skip, &h, y);
    ed__chain_free(skip, DRU_MAX_LEVELS + 1);
    ed_tensor_free(h);
    return st;
}

/* With the global residual a zero last layer makes the untrained model the
 * identity, so training starts at the noisy input's PSNR, not below it. */
static ed_status drunet_init(ed_model *m, ed_rng *rng)
{
    (void)rng;
    const drunet_state *s = m->state;
    return s->residual ? ed_init_constant(s->tail, 0.0) : ED_OK;
}

const ed_arch ed_arch_drunet = { "drunet", "denoise", drunet_build, drunet_forward, drunet_init };
