/* "dae": the convolutional denoising auto-encoder of the first demo.
 *
 * Encoder: two levels of (3x3 conv + ReLU) x 2 followed by 2x2 max-pooling
 * that keeps the indices. Decoder: max-unpooling with those indices puts each
 * feature back where its maximum came from, then 3x3 transposed convolutions
 * fill in around it. The output is the clean image (no activation).
 *
 * Equivalent PyTorch module (same state_dict names; tests/golden/gen_parity.py):
 *   enc1 = Sequential(Conv2d(c, w, 3, padding=1), ReLU(), Conv2d(w, w, 3, padding=1), ReLU())
 *   enc2 = Sequential(Conv2d(w, 2w, 3, padding=1), ReLU(), Conv2d(2w, 2w, 3, padding=1), ReLU())
 *   dec2 = Sequential(ConvTranspose2d(2w, w, 3, padding=1), ReLU())
 *   dec1 = Sequential(ConvTranspose2d(w, w, 3, padding=1), ReLU(), ConvTranspose2d(w, c, 3, padding=1))
 *   forward: e1 = enc1(x); p1, i1 = max_pool2d(e1, 2, return_indices=True)
 *            e2 = enc2(p1); p2, i2 = max_pool2d(e2, 2, return_indices=True)
 *            d2 = dec2(max_unpool2d(p2, i2, 2, output_size=e2.shape[-2:]))
 *            return dec1(max_unpool2d(d2, i1, 2, output_size=e1.shape[-2:]))
 * Config: in_channels (3), width (16). Sizes must be multiples of 4. */
#include "models/model_internal.h"

#include <stdlib.h>

typedef struct dae_state {
    ed_tensor *w[7], *b[7];
} dae_state;

static ed_status dae_build(ed_model *m, cJSON *cfg)
{
    static const char *const keys[] = { "in_channels", "width", NULL };
    int c, w;
    ED_TRY(ed__cfg_known(cfg, "dae", keys));
    ED_TRY(ed__cfg_int(cfg, "dae", "in_channels", 3, 1, 4, &c));
    ED_TRY(ed__cfg_int(cfg, "dae", "width", 16, 1, 1024, &w));
    dae_state *s = calloc(1, sizeof *s);
    if (!s) return ed__err(ED_E_NOMEM, "dae: out of memory");
    m->state = s;
    m->in_channels = m->out_channels = c;
    m->size_multiple = 4;
    ED_TRY(ed__layer_conv(m, "enc1.0", c, w, 3, true, &s->w[0], &s->b[0]));
    ED_TRY(ed__layer_conv(m, "enc1.2", w, w, 3, true, &s->w[1], &s->b[1]));
    ED_TRY(ed__layer_conv(m, "enc2.0", w, 2 * w, 3, true, &s->w[2], &s->b[2]));
    ED_TRY(ed__layer_conv(m, "enc2.2", 2 * w, 2 * w, 3, true, &s->w[3], &s->b[3]));
    ED_TRY(ed__layer_conv_transpose(m, "dec2.0", 2 * w, w, 3, true, &s->w[4], &s->b[4]));
    ED_TRY(ed__layer_conv_transpose(m, "dec1.0", w, w, 3, true, &s->w[5], &s->b[5]));
    ED_TRY(ed__layer_conv_transpose(m, "dec1.2", w, c, 3, true, &s->w[6], &s->b[6]));
    return ED_OK;
}

static ed_status dae_run(const dae_state *s, const ed_tensor *x, ed_temps *t, ed_tensor **y)
{
    ed_conv2d_args ca;
    ed_conv2d_args_default(&ca);
    ca.padding[0] = ca.padding[1] = 1;
    ed_conv_transpose2d_args ta;
    ed_conv_transpose2d_args_default(&ta);
    ta.padding[0] = ta.padding[1] = 1;
    ed_pool2d_args pa;
    ed_pool2d_args_default(&pa, 2);
    ed_tensor *h, *e1, *e2, *p1, *p2, *i1, *i2, *u;

    ED_TRY(ed_conv2d(x, s->w[0], s->b[0], &ca, &h)); ed__temp(t, h);
    ED_TRY(ed_relu(h, &h)); ed__temp(t, h);
    ED_TRY(ed_conv2d(h, s->w[1], s->b[1], &ca, &h)); ed__temp(t, h);
    ED_TRY(ed_relu(h, &e1)); ed__temp(t, e1);
    ED_TRY(ed_max_pool2d(e1, &pa, &p1, &i1)); ed__temp(t, p1); ed__temp(t, i1);

    ED_TRY(ed_conv2d(p1, s->w[2], s->b[2], &ca, &h)); ed__temp(t, h);
    ED_TRY(ed_relu(h, &h)); ed__temp(t, h);
    ED_TRY(ed_conv2d(h, s->w[3], s->b[3], &ca, &h)); ed__temp(t, h);
    ED_TRY(ed_relu(h, &e2)); ed__temp(t, e2);
    ED_TRY(ed_max_pool2d(e2, &pa, &p2, &i2)); ed__temp(t, p2); ed__temp(t, i2);

    ED_TRY(ed_max_unpool2d(p2, i2, &pa, e2->shape + 2, &u)); ed__temp(t, u);
    ED_TRY(ed_conv_transpose2d(u, s->w[4], s->b[4], &ta, &h)); ed__temp(t, h);
    ED_TRY(ed_relu(h, &h)); ed__temp(t, h);
    ED_TRY(ed_max_unpool2d(h, i1, &pa, e1->shape + 2, &u)); ed__temp(t, u);
    ED_TRY(ed_conv_transpose2d(u, s->w[5], s->b[5], &ta, &h)); ed__temp(t, h);
    ED_TRY(ed_relu(h, &h)); ed__temp(t, h);
    return ed_conv_transpose2d(h, s->w[6], s->b[6], &ta, y);
}

static ed_status dae_forward(ed_model *m, const ed_tensor *x, int training, ed_tensor **y)
{
    (void)training;
    ed_temps t = { .n = 0 };
    ed_status st = dae_run(m->state, x, &t, y);
    ed__temps_free(&t);
    return st;
}

const ed_arch ed_arch_dae = { "dae", "denoise", dae_build, dae_forward, NULL };
