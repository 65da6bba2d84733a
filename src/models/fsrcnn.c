/* "fsrcnn": FSRCNN (Dong, Loy and Tang 2016, "Accelerating the
 * Super-Resolution Convolutional Neural Network"), on the luma channel.
 *
 * Works at low resolution and upsamples only at the end: feature extraction
 * 5x5 conv (d maps), shrinking 1x1 (s), m mapping layers 3x3 (s), expanding
 * 1x1 (d), each followed by PReLU, then a 9x9 transposed convolution with
 * stride = scale. Sizes:  x (N, 1, h, w) low-resolution Y in [0, 1]
 * -> y (N, 1, h * scale, w * scale) high-resolution Y.
 * Colour images: the callers (encdec enhance/eval, the Python model) pass
 * the BT.601 Y of the low-resolution image and upscale Cb and Cr bicubically.
 * PReLU has no kernel of its own in encdec; it is relu(x) - a * relu(-x)
 * from the public ops (src/models/chain.h), with PyTorch's slope 0.25 at
 * initialisation.
 *
 * Equivalent PyTorch module (names as yjn870/FSRCNN-pytorch):
 *   first_part = Sequential(Conv2d(1, d, 5, padding=2), PReLU(d))
 *   mid_part = Sequential(Conv2d(d, s, 1), PReLU(s),
 *                         m x [Conv2d(s, s, 3, padding=1), PReLU(s)],
 *                         Conv2d(s, d, 1), PReLU(d))
 *   last_part = ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale-1)
 * Initialisation as the paper: conv weights N(0, sqrt(2 / (out * k * k))),
 * biases 0, the deconvolution N(0, 0.001).
 * Config: scale 2..4 (3), d (56), s (12), m 0..16 (4). */
#include "models/chain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fsrcnn_state {
    int scale, m;
    ed_tensor *w[20], *b[20], *a[20];   /* conv layers 0..m+2 with their PReLU slopes */
    ed_tensor *dw, *db;
} fsrcnn_state;

static ed_status fsrcnn_build(ed_model *m, cJSON *cfg)
{
    static const char *const keys[] = { "scale", "d", "s", "m", NULL };
    int sc, d, s, mm;
    ED_TRY(ed__cfg_known(cfg, "fsrcnn", keys));
    ED_TRY(ed__cfg_int(cfg, "fsrcnn", "scale", 3, 2, 4, &sc));
    ED_TRY(ed__cfg_int(cfg, "fsrcnn", "d", 56, 1, 1024, &d));
    ED_TRY(ed__cfg_int(cfg, "fsrcnn", "s", 12, 1, 1024, &s));
    ED_TRY(ed__cfg_int(cfg, "fsrcnn", "m", 4, 0, 16, &mm));
    fsrcnn_state *st = calloc(1, sizeof *st);
    if (!st) return ed__err(ED_E_NOMEM, "fsrcnn: out of memory");
    m->state = st;
    st->scale = sc;
    st->m = mm;
    m->in_channels = m->out_channels = 1;
    char name[64];
    ED_TRY(ed__layer_conv(m, "first_part.0", 1, d, 5, true, &st->w[0], &st->b[0]));
    ED_TRY(ed_params_add(m->params, "first_part.1.weight", 1, (int64_t[]){ d }, 1, &st->a[0]));
    for (int i = 0; i < mm + 2; i++) {
        int cin = i == 0 ? d : s, cout = i == mm + 1 ? d : s, k = (i == 0 || i == mm + 1) ? 1 : 3;
        snprintf(name, sizeof name, "mid_part.%d", 2 * i);
        ED_TRY(ed__layer_conv(m, name, cin, cout, k, true, &st->w[i + 1], &st->b[i + 1]));
        snprintf(name, sizeof name, "mid_part.%d.weight", 2 * i + 1);
        ED_TRY(ed_params_add(m->params, name, 1, (int64_t[]){ cout }, 1, &st->a[i + 1]));
    }
    return ed__layer_conv_transpose(m, "last_part", d, 1, 9, true, &st->dw, &st->db);
}

static ed_status fsrcnn_init(ed_model *m, ed_rng *rng)
{
    fsrcnn_state *s = m->state;
    for (int i = 0; i < s->m + 3; i++) {
        const int64_t *sh = s->w[i]->shape;
        ED_TRY(ed_init_normal(s->w[i], 0.0, sqrt(2.0 / (double)(sh[0] * sh[2] * sh[3])), rng));
        ED_TRY(ed_init_constant(s->b[i], 0.0));
        ED_TRY(ed_init_constant(s->a[i], 0.25));
    }
    ED_TRY(ed_init_normal(s->dw, 0.0, 0.001, rng));
    return ed_init_constant(s->db, 0.0);
}

static ed_status fsrcnn_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    (void)training;
    const fsrcnn_state *s = m->state;
    ed_tensor *h = ed_tensor_retain((ed_tensor *)x);
    ed_status st = ED_OK;
    for (int i = 0; i < s->m + 3 && st == ED_OK; i++) {
        st = ed__chain_conv(&h, s->w[i], s->b[i], (int)(s->w[i]->shape[2] - 1) / 2);
        if (st == ED_OK) st = ed__chain_prelu(&h, s->a[i]);
    }
    ed_conv_transpose2d_args ta;
    ed_conv_transpose2d_args_default(&ta);
    ta.stride[0] = ta.stride[1] = s->scale;
    ta.padding[0] = ta.padding[1] = 4;
    ta.output_padding[0] = ta.output_padding[1] = s->scale - 1;
    if (st == ED_OK) st = ed_conv_transpose2d(h, s->dw, s->db, &ta, y);
    ed_tensor_free(h);
    return st;
}

const ed_arch ed_arch_fsrcnn = { "fsrcnn", "sr", fsrcnn_build, fsrcnn_forward, fsrcnn_init };
