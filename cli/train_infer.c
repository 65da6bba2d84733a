/* Tiled inference and folder evaluation for enhancement models (see
 * trainer.h for the conventions).
 *
 * Tiling: the image is cut into tile x tile cores; each is run with
 * `overlap` pixels of real context on every side (less at the image
 * border) and only its core is kept. With overlap at least the model's
 * receptive radius the result equals running the whole image at once (the
 * zero padding the convolutions see at the image border is the same), while
 * memory stays that of one tile. */
#include "trainer.h"
#include "core/ed_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int planes_from_image(const ed_image *img, planes *out)
{
    int ic = img->channels, c = ic >= 3 ? 3 : 1;
    size_t hw = (size_t)img->width * (size_t)img->height;
    out->c = c;
    out->h = img->height;
    out->w = img->width;
    out->v = malloc(hw * (size_t)c * sizeof(float));
    if (!out->v) return cli_error("out of memory for a %dx%d image", img->width, img->height);
    double maxv = img->bit_depth == 16 ? 65535.0 : 255.0;
    for (int k = 0; k < c; k++)
        for (size_t p = 0; p < hw; p++) {
            size_t s = p * (size_t)ic + (size_t)k;
            double v = img->bit_depth == 16 ? ((const uint16_t *)img->data)[s] : ((const uint8_t *)img->data)[s];
            out->v[(size_t)k * hw + p] = (float)(v / maxv);
        }
    return 0;
}

void planes_free(planes *p)
{
    free(p->v);
    p->v = NULL;
}

int model_scale(const ed_model *m)
{
    if (strcmp(ed_model_task(m), "sr")) return 1;
    cJSON *cfg = cJSON_Parse(ed_model_config(m));
    cJSON *s = cJSON_GetObjectItemCaseSensitive(cfg, "scale");
    int r = cJSON_IsNumber(s) ? (int)s->valuedouble : 1;
    cJSON_Delete(cfg);
    return r;
}

static inline uint8_t q8(double v) { return (uint8_t)(v <= 0 ? 0 : v >= 1 ? 255 : floor(v * 255 + 0.5)); }

/* The model on x, or with ensemble the mean over the 8 dihedral transforms
 * t = (h flip, k quarter turns) of model(t(x)) turned back by t^-1. */
static ed_status forward_tile(ed_model *m, const ed_tensor *x, int ensemble, ed_tensor **y)
{
    if (!ensemble) return ed_model_forward(m, x, 0, y);
    *y = NULL;
    ed_tensor *sum = NULL;
    ed_status st = ED_OK;
    for (int t = 0; t < 8 && st == ED_OK; t++) {
        int flip = t >> 2, k = t & 3;
        ed_tensor *a = NULL, *b = NULL, *o = NULL, *c = NULL, *d = NULL;
        st = flip ? ed_aug_flip(x, 1, &a) : ED_OK;
        if (st == ED_OK) st = ed_aug_rot90(flip ? a : x, k, &b);
        if (st == ED_OK) st = ed_model_forward(m, b, 0, &o);
        if (st == ED_OK) st = ed_aug_rot90(o, -k, &c);
        if (st == ED_OK && flip) st = ed_aug_flip(c, 1, &d);
        if (st == ED_OK) {
            const ed_tensor *r = flip ? d : c;
            if (!sum) st = ed_tensor_clone(r, &sum);
            else {
                float *sv = ed__f32(sum);
                const float *rv = ed__cf32(r);
                for (int64_t i = 0; i < sum->numel; i++) sv[i] += rv[i];
            }
        }
        ed_tensor_free(a); ed_tensor_free(b); ed_tensor_free(o); ed_tensor_free(c); ed_tensor_free(d);
    }
    if (st != ED_OK) { ed_tensor_free(sum); return st; }
    float *sv = ed__f32(sum);
    for (int64_t i = 0; i < sum->numel; i++) sv[i] *= 0.125f;
    *y = sum;
    return ED_OK;
}

/* One tile: rows [y0, y1) x cols [x0, x1) of in (the context included);
 * writes the core [cy0, cy1) x [cx0, cx1) at scale s into out. */
static ed_status run_tile(ed_model *m, const planes *in, int s, int ensemble, int y0, int y1, int x0, int x1, int cy0, int cy1,
                          int cx0, int cx1, uint8_t *out)
{
    int eh = y1 - y0, ew = x1 - x0, mc = ed_model_in_channels(m), c = in->c, W = in->w * s;
    size_t ihw = (size_t)in->h * in->w;
    bool sr_colour = s > 1 && c == 3;
    ed_tensor *x = NULL, *xp = NULL, *y = NULL, *ext = NULL, *ycc = NULL, *up = NULL;
    ed_status st = ed__alloc(ED_F32, 4, (int64_t[]){ 1, c, eh, ew }, &ext);
    if (st != ED_OK) return st;
    for (int k = 0; k < c; k++)
        for (int r = 0; r < eh; r++)
            memcpy(ed__f32(ext) + ((size_t)k * eh + r) * ew, in->v + (size_t)k * ihw + (size_t)(y0 + r) * in->w + x0, (size_t)ew * sizeof(float));
    if (sr_colour) {
        st = ed_rgb_to_ycbcr(ext, &ycc);   /* Y through the model, Cb Cr bicubic */
        if (st == ED_OK) st = ed__alloc(ED_F32, 4, (int64_t[]){ 1, 1, eh, ew }, &x);
        if (st == ED_OK) {
            memcpy(x->data, ycc->data, (size_t)eh * ew * sizeof(float));
            ed_tensor *cbcr = NULL;
            st = ed__tensor_wrap(ED_F32, 3, (int64_t[]){ 2, eh, ew }, ed__f32(ycc) + (size_t)eh * ew, &cbcr);
            if (st == ED_OK) st = ed_imresize_bicubic(cbcr, 0, 0, s, 1, &up);
            ed_tensor_free(cbcr);
        }
    } else {
        x = ed_tensor_retain(ext);
    }
    if (st == ED_OK && x->shape[1] != mc)
        st = ed__err(ED_E_SHAPE, "the model takes %d channel%s (%s), the image has %d", mc, mc == 1 ? "" : "s", mc == 1 ? "gray or Y" : "RGB", c);
    int k = ed_model_size_multiple(m);
    int64_t ph = (k - eh % k) % k, pw = (k - ew % k) % k;
    if (st == ED_OK) st = ed_pad(x, (int64_t[]){ 0, pw, 0, ph }, 4, ED_PAD_REPLICATE, 0, &xp);
    if (st == ED_OK) st = forward_tile(m, xp, ensemble, &y);
    ed_tensor *rgb = NULL;
    int64_t oh = (int64_t)eh * s, ow = (int64_t)ew * s;
    if (st == ED_OK && sr_colour) {
        /* HR YCbCr = (model's Y, bicubic Cb, bicubic Cr) -> RGB */
        ed_tensor *hr = NULL;
        st = ed__alloc(ED_F32, 4, (int64_t[]){ 1, 3, oh, ow }, &hr);
        if (st == ED_OK) {
            for (int64_t r = 0; r < oh; r++)
                memcpy(ed__f32(hr) + r * ow, ed__cf32(y) + r * y->shape[3], (size_t)ow * sizeof(float));
            memcpy(ed__f32(hr) + oh * ow, up->data, (size_t)(2 * oh * ow) * sizeof(float));
            st = ed_ycbcr_to_rgb(hr, &rgb);
        }
        ed_tensor_free(hr);
    }
    if (st == ED_OK) {
        const ed_tensor *res = sr_colour ? rgb : y;
        const float *yd = ed__cf32(res);
        int64_t yw = res->shape[3], plane = res->shape[2] * yw;
        for (int r = cy0 * s; r < cy1 * s; r++)
            for (int col = cx0 * s; col < cx1 * s; col++) {
                int64_t ty = r - (int64_t)y0 * s, tx = col - (int64_t)x0 * s;
                uint8_t *o = out + ((size_t)r * W + (size_t)col) * (size_t)c;
                for (int ch = 0; ch < c; ch++) o[ch] = q8(yd[ch * plane + ty * yw + tx]);
            }
    }
    ed_tensor_free(rgb);
    ed_tensor_free(ext); ed_tensor_free(x); ed_tensor_free(xp); ed_tensor_free(y); ed_tensor_free(ycc); ed_tensor_free(up);
    return st;
}

int enhance_planes(ed_model *m, const planes *in, int tile, int overlap, int ensemble, uint8_t *out)
{
    int s = model_scale(m), mc = ed_model_in_channels(m);
    if (!(in->c == mc || (s > 1 && mc == 1 && in->c == 3)))
        return cli_error("the image has %d channel%s but the %s model takes %d (%s)", in->c, in->c == 1 ? "" : "s", ed_model_arch(m), mc,
                         mc == 1 ? "gray" : "RGB");
    int k = ed_model_size_multiple(m);
    if (tile < 8) tile = 8;
    tile = (tile + k - 1) / k * k;
    overlap = (overlap + k - 1) / k * k;
    ed_no_grad_begin();
    ed_status st = ED_OK;
    for (int ty = 0; ty < in->h && st == ED_OK; ty += tile)
        for (int tx = 0; tx < in->w && st == ED_OK; tx += tile) {
            int cy1 = ty + tile < in->h ? ty + tile : in->h, cx1 = tx + tile < in->w ? tx + tile : in->w;
            int y0 = ty - overlap > 0 ? ty - overlap : 0, x0 = tx - overlap > 0 ? tx - overlap : 0;
            int y1 = cy1 + overlap < in->h ? cy1 + overlap : in->h, x1 = cx1 + overlap < in->w ? cx1 + overlap : in->w;
            st = run_tile(m, in, s, ensemble, y0, y1, x0, x1, ty, cy1, tx, cx1, out);
        }
    ed_no_grad_end();
    return st == ED_OK ? 0 : cli_lib_error("running the model");
}

/* ---- evaluation over a folder ------------------------------------------ */

void eval_images_free(eval_images *k)
{
    free(k->ref); free(k->out); free(k->input); free(k->bicubic);
    memset(k, 0, sizeof *k);
}

/* Fills k from an evaluated image: a = reference (interleaved 0..255
 * floats), out = the model's 8-bit result; for sr also the bicubic baseline
 * scored with the same Y/crop convention. */
static int keep_images(eval_images *k, const planes *ref, const planes *in, int s, const float *a, const uint8_t *out, int y,
                       int crop)
{
    memset(k, 0, sizeof *k);
    size_t hw = (size_t)ref->h * ref->w, n = hw * (size_t)ref->c, ihw = (size_t)in->h * in->w;
    k->c = ref->c; k->h = ref->h; k->w = ref->w; k->s = s;
    k->ref = malloc(n); k->out = malloc(n); k->input = malloc(ihw * (size_t)in->c);
    if (!k->ref || !k->out || !k->input) { eval_images_free(k); return cli_error("out of memory"); }
    for (size_t i = 0; i < n; i++) k->ref[i] = (uint8_t)a[i];
    memcpy(k->out, out, n);
    for (int ch = 0; ch < in->c; ch++)
        for (size_t p = 0; p < ihw; p++) k->input[p * (size_t)in->c + ch] = q8(in->v[(size_t)ch * ihw + p]);
    k->psnr_bicubic = NAN;
    if (s == 1) return 0;
    ed_tensor *t = NULL, *up = NULL;
    ed_status st = ed_tensor_from_data(ED_F32, 3, (int64_t[]){ in->c, in->h, in->w }, in->v, &t);
    if (st == ED_OK) st = ed_imresize_bicubic(t, 0, 0, s, 1, &up);
    float *bf = malloc(n * sizeof(float));
    k->bicubic = malloc(n);
    if (st == ED_OK && bf && k->bicubic) {
        for (int ch = 0; ch < ref->c; ch++)
            for (size_t p = 0; p < hw; p++) {
                k->bicubic[p * (size_t)ref->c + ch] = q8(ed__cf32(up)[(size_t)ch * hw + p]);
                bf[p * (size_t)ref->c + ch] = k->bicubic[p * (size_t)ref->c + ch];
            }
        st = ed_psnr(a, bf, ref->h, ref->w, ref->c, 255.0, y, crop, &k->psnr_bicubic);
    }
    free(bf);
    ed_tensor_free(t);
    ed_tensor_free(up);
    if (st != ED_OK || !k->bicubic) { eval_images_free(k); return st != ED_OK ? cli_lib_error("bicubic baseline") : cli_error("out of memory"); }
    return 0;
}

/* keep (or NULL): also hand back the images (see eval_image). */
static int eval_one(ed_model *m, const eval_opts *o, int idx, const char *path, double *psnr, double *ssim, double *psnr_in,
                    eval_images *keep)
{
    ed_image *img = NULL;
    if (ed_image_load(path, 0, &img) != ED_OK) return cli_lib_error(NULL);
    planes ref = { 0 }, in = { 0 };
    int rc = planes_from_image(img, &ref);
    ed_image_free(img);
    if (rc) return rc;
    int s = !strcmp(o->task, "sr") ? o->scale : 1;
    if (s > 1) {   /* crop to a multiple of the scale; LR by MATLAB bicubic, stored as 8-bit */
        int H = ref.h - ref.h % s, W = ref.w - ref.w % s;
        if (H < s || W < s) { planes_free(&ref); return cli_error("%s is smaller than the scale %d", path, s); }
        ed_tensor *t = NULL, *lr = NULL, *hr = NULL;
        ed_status st = ed_tensor_from_data(ED_F32, 3, (int64_t[]){ ref.c, ref.h, ref.w }, ref.v, &t);
        if (st == ED_OK) st = ed_sr_pair(t, s, &lr, &hr);
        if (st == ED_OK) {
            in.c = ref.c; in.h = (int)lr->shape[1]; in.w = (int)lr->shape[2];
            in.v = malloc((size_t)ed_tensor_numel(lr) * sizeof(float));
            for (int64_t i = 0; in.v && i < ed_tensor_numel(lr); i++) in.v[i] = q8(ed__cf32(lr)[i]) / 255.0f;
            memcpy(ref.v, hr->data, (size_t)ed_tensor_numel(hr) * sizeof(float));
            ref.h = H; ref.w = W;
        }
        ed_tensor_free(t); ed_tensor_free(lr); ed_tensor_free(hr);
        if (st != ED_OK || !in.v) { planes_free(&ref); free(in.v); return cli_lib_error(path); }
    } else {
        in.c = ref.c; in.h = ref.h; in.w = ref.w;
        ed_tensor *t = NULL;
        ed_rng r;
        ed_rng_init(&r, o->seed);
        r.counter = (uint64_t)idx << 36;
        ed_status st = ed_tensor_from_data(ED_F32, 3, (int64_t[]){ ref.c, ref.h, ref.w }, ref.v, &t);
        if (st == ED_OK) st = ed_add_gaussian_noise(t, o->sigma, 0, &r);
        if (st == ED_OK) {
            in.v = malloc((size_t)ed_tensor_numel(t) * sizeof(float));
            if (in.v) memcpy(in.v, t->data, (size_t)ed_tensor_numel(t) * sizeof(float));
        }
        ed_tensor_free(t);
        if (st != ED_OK || !in.v) { planes_free(&ref); return cli_lib_error(path); }
    }
    size_t hw = (size_t)ref.h * ref.w, n = hw * (size_t)ref.c;
    uint8_t *out = malloc(n);
    float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float)), *ni = malloc(n * sizeof(float));
    if (!out || !a || !b || !ni) rc = cli_error("out of memory");
    if (!rc) rc = enhance_planes(m, &in, o->tile, o->overlap, o->ensemble, out);
    if (!rc) {
        /* planar [0,1] reference -> interleaved 0..255 (8-bit values) */
        for (int k = 0; k < ref.c; k++)
            for (size_t p = 0; p < hw; p++) {
                a[p * ref.c + k] = (float)(q8(ref.v[k * hw + p]));
                b[p * ref.c + k] = out[p * ref.c + k];
                ni[p * ref.c + k] = s > 1 ? 0 : (float)q8(in.v[k * hw + p]);
            }
        int y = s > 1 && ref.c == 3, crop = s > 1 ? s : 0;
        if (ed_psnr(a, b, ref.h, ref.w, ref.c, 255.0, y, crop, psnr) != ED_OK || ed_ssim(a, b, ref.h, ref.w, ref.c, 255.0, y, crop, ssim) != ED_OK)
            rc = cli_lib_error(path);
        *psnr_in = NAN;
        if (!rc && s == 1) ed_psnr(a, ni, ref.h, ref.w, ref.c, 255.0, 0, 0, psnr_in);
        if (!rc && keep) rc = keep_images(keep, &ref, &in, s, a, out, y, crop);
        if (!rc && keep) { keep->psnr = *psnr; keep->psnr_input = *psnr_in; }
    }
    free(out); free(a); free(b); free(ni);
    planes_free(&ref); planes_free(&in);
    return rc;
}

int eval_folder(ed_model *m, const eval_opts *o, eval_result *r)
{
    memset(r, 0, sizeof *r);
    ed_file_list *fl = NULL;
    if (ed_file_list_images(o->dir, 0, &fl) != ED_OK) return cli_lib_error("reading the evaluation images");
    int n = o->limit > 0 && o->limit < fl->n ? o->limit : fl->n, rc = 0;
    double sp = 0, ss = 0, si = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        double p, q, pin;
        rc = eval_one(m, o, i, fl->paths[i], &p, &q, &pin, NULL);
        if (rc) break;
        sp += p; ss += q; si += pin;
        if (o->verbose) {
            const char *base = strrchr(fl->paths[i], '/');
            printf("%-24s PSNR %.2f dB  SSIM %.4f\n", base ? base + 1 : fl->paths[i], p, q);
        }
    }
    ed_file_list_free(fl);
    if (rc) return rc;
    r->images = n;
    r->psnr = sp / n;
    r->ssim = ss / n;
    r->psnr_input = si / n;
    return 0;
}

int eval_image(ed_model *m, const eval_opts *o, int idx, eval_images *keep)
{
    memset(keep, 0, sizeof *keep);
    ed_file_list *fl = NULL;
    if (ed_file_list_images(o->dir, 0, &fl) != ED_OK) return cli_lib_error("reading the evaluation images");
    int rc = idx >= 0 && idx < fl->n ? 0 : cli_error("%s has %d images, no image %d", o->dir, fl->n, idx + 1);
    double p, q, pin;
    if (!rc) rc = eval_one(m, o, idx, fl->paths[idx], &p, &q, &pin, keep);
    ed_file_list_free(fl);
    return rc;
}
