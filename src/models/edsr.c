/* "edsr": an EDSR-style residual super-resolution network on the luma
 * channel (Lim et al. 2017, "Enhanced Deep Residual Networks for Single
 * Image Super-Resolution"), the deeper model that beats FSRCNN.
 *
 *   x (N, 1, h, w) low-resolution Y in [0, 1]
 *   f = head(x)                                  3x3 conv, 1 -> width
 *   r = f + body(f), body = blocks x ResBlock + 3x3 conv
 *       ResBlock(u) = u + res_scale * conv(relu(conv(u)))   (no BatchNorm)
 *   t = tail(r): sub-pixel upsampling (conv width -> width*r*r, pixel_shuffle r;
 *       twice with r = 2 for x4, once with r = scale otherwise), 3x3 conv -> 1
 *   y = t + bilinear(x)     when residual = 1 (F.interpolate(x, scale_factor=
 *       scale, mode='bilinear', align_corners=False)), else y = t
 *   -> y (N, 1, h * scale, w * scale) high-resolution Y.
 * The global bilinear skip replaces EDSR's mean shift: the network only has
 * to learn the detail bilinear upsampling misses, which speeds up early
 * training on a CPU budget; with it the last convolution starts at zero, so
 * the untrained model is bilinear upsampling. Colour is handled by the callers as for fsrcnn.
 *
 * Equivalent PyTorch module (EDSR's state_dict names):
 *   head = Sequential(Conv2d(1, w, 3, padding=1))
 *   body = Sequential(*[ResBlock(w) for _ in range(blocks)], Conv2d(w, w, 3, padding=1))
 *     ResBlock.body = Sequential(Conv2d(w, w, 3, padding=1), ReLU(), Conv2d(w, w, 3, padding=1))
 *   tail = Sequential(Upsampler(scale, w), Conv2d(w, 1, 3, padding=1))
 *     Upsampler = Sequential(Conv2d(w, 4w, 3, padding=1), PixelShuffle(2)) x log2(scale),
 *                 or Sequential(Conv2d(w, 9w, 3, padding=1), PixelShuffle(3))
 * Config: scale 2..4 (3), width (64), blocks 1..64 (16), res_scale (1.0),
 * residual 0|1 (1). */
#include "models/chain.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct edsr_state {
    int scale, blocks, residual;
    double res_scale;
    ed_tensor *hw, *hb, *bw[64][2], *bb[64][2], *ow, *ob, *uw[2], *ub[2], *tw, *tb;
} edsr_state;

static ed_status edsr_build(ed_model *m, cJSON *cfg)
{
    static const char *const keys[] = { "scale", "width", "blocks", "res_scale", "residual", NULL };
    int sc, w, nb, res;
    double rs;
    ED_TRY(ed__cfg_known(cfg, "edsr", keys));
    ED_TRY(ed__cfg_int(cfg, "edsr", "scale", 3, 2, 4, &sc));
    ED_TRY(ed__cfg_int(cfg, "edsr", "width", 64, 1, 1024, &w));
    ED_TRY(ed__cfg_int(cfg, "edsr", "blocks", 16, 1, 64, &nb));
    ED_TRY(ed__cfg_double(cfg, "edsr", "res_scale", 1.0, 0.0, 10.0, &rs));
    ED_TRY(ed__cfg_int(cfg, "edsr", "residual", 1, 0, 1, &res));
    edsr_state *s = calloc(1, sizeof *s);
    if (!s) return ed__err(ED_E_NOMEM, "edsr: out of memory");
    m->state = s;
    s->scale = sc;
    s->blocks = nb;
    s->residual = res;
    s->res_scale = rs;
    m->in_channels = m->out_channels = 1;
    char name[64];
    ED_TRY(ed__layer_conv(m, "head.0", 1, w, 3, true, &s->hw, &s->hb));
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < 2; j++) {
            snprintf(name, sizeof name, "body.%d.body.%d", i, 2 * j);
            ED_TRY(ed__layer_conv(m, name, w, w, 3, true, &s->bw[i][j], &s->bb[i][j]));
        }
    snprintf(name, sizeof name, "body.%d", nb);
    ED_TRY(ed__layer_conv(m, name, w, w, 3, true, &s->ow, &s->ob));
    int r = sc == 4 ? 2 : sc, n_up = sc == 4 ? 2 : 1;
    for (int u = 0; u < n_up; u++) {
        snprintf(name, sizeof name, "tail.0.%d", 2 * u);
        ED_TRY(ed__layer_conv(m, name, w, w * r * r, 3, true, &s->uw[u], &s->ub[u]));
    }
    return ed__layer_conv(m, "tail.1", w, 1, 3, true, &s->tw, &s->tb);
}

static ed_status edsr_run(const edsr_state *s, const ed_tensor *x, ed_tensor **f, ed_tensor **h, ed_tensor **y)
{
    ED_TRY(ed__chain_conv(h, s->hw, s->hb, 1));
    *f = ed_tensor_retain(*h);
    for (int i = 0; i < s->blocks; i++) {
        ed_tensor *u = ed_tensor_retain(*h), *t = NULL;
        ed_status st = ed__chain_conv_relu(h, s->bw[i][0], s->bb[i][0], 1);
        if (st == ED_OK) st = ed__chain_conv(h, s->bw[i][1], s->bb[i][1], 1);
        if (st == ED_OK && s->res_scale != 1.0) {
            st = ed_scale(*h, s->res_scale, &t);
            st = ed__chain_set(h, st, t);
        }
        if (st == ED_OK) st = ed__chain_add(h, u);
        ed_tensor_free(u);
        ED_TRY(st);
    }
    ED_TRY(ed__chain_conv(h, s->ow, s->ob, 1));
    ED_TRY(ed__chain_add(h, *f));
    int r = s->scale == 4 ? 2 : s->scale, n_up = s->scale == 4 ? 2 : 1;
    for (int u = 0; u < n_up; u++) {
        ed_tensor *t = NULL;
        ED_TRY(ed__chain_conv(h, s->uw[u], s->ub[u], 1));
        ed_status st = ed_pixel_shuffle(*h, r, &t);
        ED_TRY(ed__chain_set(h, st, t));
    }
    if (!s->residual) return ed_conv2d(*h, s->tw, s->tb, &(ed_conv2d_args){ { 1, 1 }, { 1, 1 }, { 1, 1 }, 1, ED_PADDING_EXPLICIT, 0 }, y);
    ED_TRY(ed__chain_conv(h, s->tw, s->tb, 1));
    ed_interpolate_args ia = { { 0, 0 }, { s->scale, s->scale }, ED_INTERP_BILINEAR, 0 };
    ed_tensor *up = NULL;
    ED_TRY(ed_interpolate(x, &ia, &up));
    ed_status st = ed_add(*h, up, y);
    ed_tensor_free(up);
    return st;
}

/* With the bilinear skip, a zero last layer makes the untrained network
 * exactly bilinear upsampling: PyTorch's default init of 33 stacked convs
 * otherwise starts far off (L1 near 1 on [0, 1] images). */
static ed_status edsr_init(ed_model *m, ed_rng *rng)
{
    (void)rng;
    const edsr_state *s = m->state;
    if (!s->residual) return ED_OK;
    ED_TRY(ed_init_constant(s->tw, 0.0));
    return ed_init_constant(s->tb, 0.0);
}

/* Inference without gradients: edsr_run as one graph (ed__infer_graph),
 * its values in the backend's layout from the head to the tail; the
 * bilinear skip is added outside. A residual scale other than 1 keeps the
 * ops one by one. */
#define EDSR_MAX_STEPS (3 * 64 + 8)
typedef struct graph {
    ed__gstep g[EDSR_MAX_STEPS];
    int n;
} graph;

/* Appends a step; returns its value. */
static int g_step(graph *gr, ed__gstep st)
{
    gr->g[gr->n++] = st;
    return gr->n;
}

static int g_conv(graph *gr, int in, const ed_tensor *w, const ed_tensor *b, int relu)
{
    return g_step(gr, (ed__gstep){ .kind = ED_GSTEP_CONV, .in = in, .w = w, .b = b, .pad = 1, .relu = relu });
}

static ed_status edsr_infer(const edsr_state *s, const ed_tensor *x, ed_tensor **y)
{
    graph gr;
    gr.n = 0;
    const int f = g_conv(&gr, 0, s->hw, s->hb, 0);
    int h = f;
    for (int i = 0; i < s->blocks; i++) {
        const int t = g_conv(&gr, g_conv(&gr, h, s->bw[i][0], s->bb[i][0], 1), s->bw[i][1], s->bb[i][1], 0);
        h = g_step(&gr, (ed__gstep){ .kind = ED_GSTEP_ADD, .in = t, .in2 = h });
    }
    h = g_step(&gr, (ed__gstep){ .kind = ED_GSTEP_ADD, .in = g_conv(&gr, h, s->ow, s->ob, 0), .in2 = f });
    const int r = s->scale == 4 ? 2 : s->scale, n_up = s->scale == 4 ? 2 : 1;
    for (int u = 0; u < n_up; u++)
        h = g_step(&gr, (ed__gstep){ .kind = ED_GSTEP_SHUFFLE, .in = g_conv(&gr, h, s->uw[u], s->ub[u], 0), .factor = r });
    g_conv(&gr, h, s->tw, s->tb, 0);
    if (!s->residual) return ed__infer_graph(x, gr.n, gr.g, y);
    ed_tensor *t = NULL, *up = NULL;
    ED_TRY(ed__infer_graph(x, gr.n, gr.g, &t));
    ed_interpolate_args ia = { { 0, 0 }, { s->scale, s->scale }, ED_INTERP_BILINEAR, 0 };
    ed_status st = ed_interpolate(x, &ia, &up);
    if (st == ED_OK) st = ed_add(t, up, y);
    ed_tensor_free(t);
    ed_tensor_free(up);
    return st;
}

static ed_status edsr_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    const edsr_state *s = m->state;
    if (!training && !ed_grad_enabled() && x->dtype == ED_F32 && s->res_scale == 1.0) return edsr_infer(s, x, y);
    ed_tensor *f = NULL, *h = ed_tensor_retain((ed_tensor *)x);
    ed_status st = edsr_run(m->state, x, &f, &h, y);
    ed_tensor_free(f);
    ed_tensor_free(h);
    return st;
}

const ed_arch ed_arch_edsr = { "edsr", "sr", edsr_build, edsr_forward, edsr_init };
