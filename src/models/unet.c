/* "unet": U-Net for semantic segmentation (Ronneberger et al. 2015, with
 * BatchNorm and 'same' padding as in common PyTorch ports).
 *
 * depth down levels of DoubleConv (3x3 conv, padding 1, no bias + BatchNorm
 * + ReLU, twice) with widths base, 2 base, ..., separated by 2x2 max-pools;
 * a bottleneck DoubleConv of base * 2^depth channels; depth up levels of a
 * 2x2 stride-2 transposed convolution halving the channels, concatenation
 * with the skip of the same level (skip first), and a DoubleConv; a 1x1
 * convolution to num_classes logits. Output (N, classes, H, W).
 *
 * Equivalent PyTorch module (same state_dict names; bench/peer_torch.py):
 *   def dc(i, o): return Sequential(Conv2d(i, o, 3, padding=1, bias=False), BatchNorm2d(o), ReLU(),
 *                                   Conv2d(o, o, 3, padding=1, bias=False), BatchNorm2d(o), ReLU())
 *   down{k}.conv = dc(...)  k = 1..depth;   bottleneck.conv = dc(w_depth, 2 w_depth)
 *   up{k}.up = ConvTranspose2d(2 w_k, w_k, 2, stride=2); up{k}.conv = dc(2 w_k, w_k)
 *   out = Conv2d(base, num_classes, 1)
 *   forward: s_k = down_k(max_pool2d(s_{k-1}, 2)) (no pool before down1), b = bottleneck(pool(s_depth)),
 *            h = up_k.conv(cat([s_k, up_k.up(h)], 1)) for k = depth..1, return out(h)
 * Config: in_channels (3), num_classes (2), base_width (64), depth (4),
 * batch_norm (true; false puts a bias on the 3x3 convolutions instead).
 * "unet32" in the benchmarks is base_width 32, depth 4, 4 classes, 3 in.
 * Sizes must be multiples of 2^depth. */
#include "models/model_internal.h"

#include <stdio.h>
#include <stdlib.h>

#define UNET_MAX_DEPTH 6

typedef struct dconv {
    ed_tensor *w[2], *b[2];
    ed_bn bn[2];
} dconv;

typedef struct unet_state {
    int depth;
    bool bn;
    dconv down[UNET_MAX_DEPTH], bottleneck, up[UNET_MAX_DEPTH];
    ed_tensor *upw[UNET_MAX_DEPTH], *upb[UNET_MAX_DEPTH];
    ed_tensor *outw, *outb;
} unet_state;

static ed_status add_dconv(ed_model *m, const char *prefix, int cin, int cout, bool bn, dconv *d)
{
    char name[64];
    for (int i = 0; i < 2; i++) {
        snprintf(name, sizeof name, "%s.conv.%d", prefix, 3 * i);
        ED_TRY(ed__layer_conv(m, name, i ? cout : cin, cout, 3, !bn, &d->w[i], &d->b[i]));
        if (bn) {
            snprintf(name, sizeof name, "%s.conv.%d", prefix, 3 * i + 1);
            ED_TRY(ed__layer_bn(m, name, cout, &d->bn[i]));
        }
    }
    return ED_OK;
}

static ed_status unet_build(ed_model *m, cJSON *cfg)
{
    static const char *const keys[] = { "in_channels", "num_classes", "base_width", "depth", "batch_norm", NULL };
    int cin, classes, base, depth;
    ED_TRY(ed__cfg_known(cfg, "unet", keys));
    ED_TRY(ed__cfg_int(cfg, "unet", "in_channels", 3, 1, 64, &cin));
    ED_TRY(ed__cfg_int(cfg, "unet", "num_classes", 2, 1, 1024, &classes));
    ED_TRY(ed__cfg_int(cfg, "unet", "base_width", 64, 1, 1024, &base));
    ED_TRY(ed__cfg_int(cfg, "unet", "depth", 4, 1, UNET_MAX_DEPTH, &depth));
    bool bn = true;
    cJSON *b = cJSON_GetObjectItemCaseSensitive(cfg, "batch_norm");
    if (b && !cJSON_IsBool(b)) return ed__err(ED_E_ARG, "unet: config batch_norm must be true or false");
    if (b) bn = cJSON_IsTrue(b);
    else cJSON_AddBoolToObject(cfg, "batch_norm", true);
    if ((int64_t)base << depth > 65536) return ed__err(ED_E_ARG, "unet: base_width %d << depth %d is too wide", base, depth);

    unet_state *s = calloc(1, sizeof *s);
    if (!s) return ed__err(ED_E_NOMEM, "unet: out of memory");
    m->state = s;
    s->depth = depth;
    s->bn = bn;
    m->in_channels = cin;
    m->out_channels = classes;
    m->size_multiple = 1 << depth;
    char name[32];
    int c = cin;
    for (int k = 0; k < depth; k++) {
        snprintf(name, sizeof name, "down%d", k + 1);
        ED_TRY(add_dconv(m, name, c, base << k, bn, &s->down[k]));
        c = base << k;
    }
    ED_TRY(add_dconv(m, "bottleneck", c, base << depth, bn, &s->bottleneck));
    for (int k = depth - 1; k >= 0; k--) {
        snprintf(name, sizeof name, "up%d.up", k + 1);
        ED_TRY(ed__layer_conv_transpose(m, name, base << (k + 1), base << k, 2, true, &s->upw[k], &s->upb[k]));
        snprintf(name, sizeof name, "up%d", k + 1);
        ED_TRY(add_dconv(m, name, base << (k + 1), base << k, bn, &s->up[k]));
    }
    ED_TRY(ed__layer_conv(m, "out", base, classes, 1, true, &s->outw, &s->outb));
    return ED_OK;
}

/* A forward pass makes ~12 temporaries per level: more than one ed_temps
 * holds, so they go to the first with room. */
typedef struct temps3 { ed_temps t[4]; } temps3;
static ed_tensor *keep(temps3 *ts, ed_tensor *x)
{
    for (int i = 0; i < 4; i++)
        if (ts->t[i].n < (int)(sizeof ts->t[i].t / sizeof ts->t[i].t[0])) return ed__temp(&ts->t[i], x);
    return x;   /* unreachable for depth <= UNET_MAX_DEPTH */
}

/* feeds_up: y's only reader is the 2x up-sampler, which under bf16 takes
 * the block's copy (backend/onednn/deconv_up2.c), so y may stay deferred. */
static ed_status run_dconv(const unet_state *s, const dconv *d, const ed_tensor *x, int training, int feeds_up,
                           temps3 *ts, ed_tensor **y)
{
    ed_tensor *h = (ed_tensor *)x;
    for (int i = 0; i < 2; i++) {
        const int feeds = i == 0 || (feeds_up && ed_get_conv_precision() == ED_PRECISION_BF16);
        ED_TRY(ed__conv_bn_relu(h, d->w[i], d->b[i], s->bn ? &d->bn[i] : NULL, 1, training, feeds, &h));
        keep(ts, h);
    }
    *y = h;
    return ED_OK;
}

static ed_status unet_run(const unet_state *s, const ed_tensor *x, int training, temps3 *ts, ed_tensor **y)
{
    ed_pool2d_args pa;
    ed_pool2d_args_default(&pa, 2);
    ed_conv_transpose2d_args ta;
    ed_conv_transpose2d_args_default(&ta);
    ta.stride[0] = ta.stride[1] = 2;
    ed_tensor *skip[UNET_MAX_DEPTH], *h = (ed_tensor *)x;
    for (int k = 0; k < s->depth; k++) {
        if (k) { ED_TRY(ed_max_pool2d(h, &pa, &h, NULL)); keep(ts, h); }
        ED_TRY(run_dconv(s, &s->down[k], h, training, 0, ts, &skip[k]));
        h = skip[k];
    }
    ED_TRY(ed_max_pool2d(h, &pa, &h, NULL)); keep(ts, h);
    ED_TRY(run_dconv(s, &s->bottleneck, h, training, 1, ts, &h));
    for (int k = s->depth - 1; k >= 0; k--) {
        ED_TRY(ed_conv_transpose2d(h, s->upw[k], s->upb[k], &ta, &h)); keep(ts, h);
        const ed_tensor *pair[2] = { skip[k], h };
        ED_TRY(ed__cat_feed(pair, 2, &h)); keep(ts, h);   /* read by the next block alone */
        ED_TRY(run_dconv(s, &s->up[k], h, training, k > 0, ts, &h));
    }
    ed_conv2d_args oa;
    ed_conv2d_args_default(&oa);
    return ed_conv2d(h, s->outw, s->outb, &oa, y);
}

/* Inference without gradients: the whole forward as one graph
 * (ed__infer_graph), whose values stay in the backend's layout from the
 * input to the logits; BatchNorms folded into their convolutions. */
#define UNET_MAX_STEPS (7 * UNET_MAX_DEPTH + 3)
typedef struct graph {
    ed__gstep g[UNET_MAX_STEPS];
    ed_tensor *folded[2 * UNET_MAX_STEPS];
    int n, nf;
} graph;

static ed_status graph_conv(graph *gr, int in, const ed_tensor *w, const ed_tensor *b, const ed_bn *bn, int pad, int relu)
{
    ed__gstep *g = &gr->g[gr->n++];
    *g = (ed__gstep){ .kind = ED_GSTEP_CONV, .in = in, .w = w, .b = b, .pad = pad, .relu = relu };
    if (!bn) return ED_OK;
    ed_tensor *sc = NULL, *bf = NULL;
    ED_TRY(ed__bn_fold(bn, b, w->shape[0], &sc, &bf));
    gr->folded[gr->nf++] = sc;
    gr->folded[gr->nf++] = bf;
    g->s = sc, g->b = bf;
    return ED_OK;
}

/* A double convolution reading value in; returns its output value. */
static ed_status graph_dconv(const unet_state *s, const dconv *d, graph *gr, int in, int *out)
{
    for (int i = 0; i < 2; i++) {
        ED_TRY(graph_conv(gr, in, d->w[i], d->b[i], s->bn ? &d->bn[i] : NULL, 1, 1));
        in = gr->n;
    }
    *out = in;
    return ED_OK;
}

static ed_status graph_build(const unet_state *s, graph *gr)
{
    int skip[UNET_MAX_DEPTH], h = 0;
    for (int k = 0; k < s->depth; k++) {
        if (k) gr->g[gr->n++] = (ed__gstep){ .kind = ED_GSTEP_POOL2, .in = h }, h = gr->n;
        ED_TRY(graph_dconv(s, &s->down[k], gr, h, &skip[k]));
        h = skip[k];
    }
    gr->g[gr->n++] = (ed__gstep){ .kind = ED_GSTEP_POOL2, .in = h }, h = gr->n;
    ED_TRY(graph_dconv(s, &s->bottleneck, gr, h, &h));
    for (int k = s->depth - 1; k >= 0; k--) {
        gr->g[gr->n++] = (ed__gstep){ .kind = ED_GSTEP_UP2, .in = h, .w = s->upw[k], .b = s->upb[k] }, h = gr->n;
        gr->g[gr->n++] = (ed__gstep){ .kind = ED_GSTEP_CAT, .in = skip[k], .in2 = h }, h = gr->n;
        ED_TRY(graph_dconv(s, &s->up[k], gr, h, &h));
    }
    return graph_conv(gr, h, s->outw, s->outb, NULL, 0, 0);
}

static ed_status unet_infer(const unet_state *s, const ed_tensor *x, ed_tensor **y)
{
    graph gr;
    memset(&gr, 0, sizeof gr);
    ed_status st = graph_build(s, &gr);
    if (st == ED_OK) st = ed__infer_graph(x, gr.n, gr.g, y);
    for (int i = 0; i < gr.nf; i++) ed_tensor_free(gr.folded[i]);
    return st;
}

static ed_status unet_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    const unet_state *s = m->state;
    char sh[ED_SHAPE_BUF];
    if (x->ndim != 4 || x->shape[1] != m->in_channels)
        return ed__err(ED_E_SHAPE, "unet: input must be (N, %d, H, W), got %s", m->in_channels, ed__shape_str(x, sh));
    if (x->shape[2] % m->size_multiple || x->shape[3] % m->size_multiple)
        return ed__err(ED_E_SHAPE, "unet: height and width must be multiples of %d (depth %d), got %s",
                       m->size_multiple, s->depth, ed__shape_str(x, sh));
    if (!training && !ed_grad_enabled() && x->dtype == ED_F32) return unet_infer(s, x, y);
    temps3 ts;
    memset(&ts, 0, sizeof ts);
    ed_status st = unet_run(s, x, training, &ts, y);
    for (int i = 0; i < 4; i++) ed__temps_free(&ts.t[i]);
    return st;
}

const ed_arch ed_arch_unet = { "unet", "segment", unet_build, unet_forward, NULL };
