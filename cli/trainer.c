/* `encdec train --task denoise|sr`: patch-based training of enhancement
 * models.
 *
 * Data: every training image is held in memory as float planes (denoise:
 * the model's channels; sr: the BT.601 Y of the HR image cropped to a
 * multiple of the scale, and the Y of its 8-bit MATLAB-bicubic LR version).
 * Item i of global step t takes its draws from Philox counters
 * (t * batch + i) * 8 + j of the patch stream: the image (weighted by how
 * many patch positions it has), the position, one of the 8 flips/rotations
 * and (blind denoising) sigma; its noise from counters (t * batch + i) *
 * patch^2 + j of the noise stream. So a run depends only on the seed, not
 * on threads or timing, and --resume continues the same stream.
 * Step: Adam on MSE (denoise) or L1 (sr), cosine schedule from lr to lr_min
 * over all steps, one per-step arena (after the first step nothing is
 * allocated). Each epoch: validation on --val with eval's conventions, the
 * curves (PNG, SVG), last.safetensors and, when validation improved,
 * best.safetensors. Validation runs in float32 even when training uses
 * bf16 convolutions (--precision bf16), so it measures what `encdec enhance`
 * gives. The epoch line's "elapsed" is the training clock of this run: the
 * steps only (batches made, forward, backward, update), not validation or
 * checkpoints, so two trainers can be compared at equal training time;
 * --time-limit stops on that clock (the partial epoch is validated and
 * saved as done), --stop-step at a global step the same way (so a run
 * that --time-limit cut short can be repeated bit for bit), and
 * --target-psnr stops once validation reaches it.
 * The checkpoint's metadata holds the epoch, the step,
 * the history and the options, which --resume reads back. Adam's moments are
 * not saved (the optimizer's state is not reachable through the public
 * API), so a resumed run restarts them; the schedule continues. */
#include "trainer.h"
#include "core/ed_internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { STREAM_INIT = 3, STREAM_PATCH = 7, STREAM_NOISE = 8 };
static uint64_t stream_seed(uint64_t seed, uint64_t stream) { return seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull; }

void train_opts_default(train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->channels = 1;
    o->sigma_lo = o->sigma_hi = 25;
    o->val_sigma = -1;
    o->scale = 3;
    o->patch = 40;
    o->batch = 64;
    o->epochs = 10;
    o->lr = 1e-3;
    o->lr_min = 1e-4;
    o->out_dir = "out/train";
    o->tile = 256;
    o->overlap = 48;
}

/* ---- training images ------------------------------------------------------ */

typedef struct timg { int h, w; float *in, *target; } timg;   /* in: LR (or clean) h x w x C planes */
typedef struct tset { int n, c, s, P; timg *im; double *cum; } tset;

static void tset_free(tset *d)
{
    for (int i = 0; i < d->n; i++) { free(d->im[i].in); free(d->im[i].target); }
    free(d->im);
    free(d->cum);
}

/* Y (BT.601, MATLAB) of planes in place: 3 planes -> 1. */
static void to_y(planes *p)
{
    if (p->c != 3) return;
    size_t hw = (size_t)p->h * p->w;
    for (size_t i = 0; i < hw; i++)
        p->v[i] = (float)((16.0 + 65.481 * p->v[i] + 128.553 * p->v[hw + i] + 24.966 * p->v[2 * hw + i]) / 255.0);
    p->c = 1;
}

/* Adds one training image (planes p, consumed) to d; 0 or a CLI status. */
static int add_image(const train_opts *o, tset *d, const char *path, planes *p)
{
    int sr = !strcmp(o->task, "sr"), s = d->s, rc = 0;
    timg *t = &d->im[d->n];
    if (!sr) {
        if (p->c != d->c) { rc = cli_error("%s has %d channel%s but the model takes %d", path, p->c, p->c == 1 ? "" : "s", d->c); planes_free(p); return rc; }
        t->h = p->h; t->w = p->w; t->in = p->v; t->target = NULL;
        p->v = NULL;
    } else {
        ed_tensor *x = NULL, *lr = NULL, *hr = NULL;
        if (p->h < s * o->patch || p->w < s * o->patch) { planes_free(p); return 0; }
        ed_status st = ed_tensor_from_data(ED_F32, 3, (int64_t[]){ p->c, p->h, p->w }, p->v, &x);
        if (st == ED_OK) st = ed_sr_pair(x, s, &lr, &hr);
        if (st != ED_OK) { rc = cli_lib_error(path); }
        else {
            planes L = { p->c, (int)lr->shape[1], (int)lr->shape[2], malloc((size_t)ed_tensor_numel(lr) * sizeof(float)) };
            planes Hh = { p->c, (int)hr->shape[1], (int)hr->shape[2], malloc((size_t)ed_tensor_numel(hr) * sizeof(float)) };
            if (!L.v || !Hh.v) rc = cli_error("out of memory");
            else {
                for (int64_t j = 0; j < ed_tensor_numel(lr); j++) {   /* LR stored as 8-bit */
                    double v = ed__cf32(lr)[j];
                    L.v[j] = (float)((v <= 0 ? 0 : v >= 1 ? 255 : floor(v * 255 + 0.5)) / 255.0);
                }
                memcpy(Hh.v, hr->data, (size_t)ed_tensor_numel(hr) * sizeof(float));
                to_y(&L); to_y(&Hh);
                t->h = L.h; t->w = L.w; t->in = L.v; t->target = Hh.v;
                L.v = Hh.v = NULL;
            }
            free(L.v); free(Hh.v);
        }
        ed_tensor_free(x); ed_tensor_free(lr); ed_tensor_free(hr);
        planes_free(p);
        if (rc) return rc;
    }
    if (t->h < o->patch || t->w < o->patch) { free(t->in); free(t->target); t->in = t->target = NULL; return 0; }
    d->cum[d->n + 1] = d->cum[d->n] + (double)(t->h - o->patch + 1) * (t->w - o->patch + 1);
    d->n++;
    return 0;
}

/* Every image of --data, and with --rescale also each one downscaled (MATLAB
 * bicubic with antialiasing, out = ceil(in * f)) by each factor f: the
 * "augmented T91" of FSRCNN (factors 0.9 0.8 0.7 0.6; the dihedral turns are
 * drawn per patch). An SR pair is then made from each version. */
static int load_train(const train_opts *o, int c, tset *d)
{
    ed_file_list *fl;
    if (ed_file_list_images(o->data_dir, 0, &fl) != ED_OK) return cli_lib_error("reading the training images");
    int sr = !strcmp(o->task, "sr"), s = sr ? o->scale : 1, rc = 0, versions = 1 + o->n_rescale;
    d->c = c; d->s = s; d->P = o->patch;
    d->im = calloc((size_t)fl->n * versions, sizeof *d->im);
    d->cum = calloc((size_t)fl->n * versions + 1, sizeof *d->cum);
    if (!d->im || !d->cum) { ed_file_list_free(fl); return cli_error("out of memory"); }
    for (int i = 0; i < fl->n && !rc; i++) {
        ed_image *img;
        planes p = { 0 };
        if (ed_image_load(fl->paths[i], 0, &img) != ED_OK) { rc = cli_lib_error(NULL); break; }
        rc = planes_from_image(img, &p);
        ed_image_free(img);
        for (int v = 1; v < versions && !rc; v++) {
            double f = o->rescale[v - 1];
            planes q = { p.c, (int)ceil(p.h * f - 1e-9), (int)ceil(p.w * f - 1e-9), NULL };
            if (q.h < 1 || q.w < 1) continue;
            q.v = malloc((size_t)q.c * q.h * q.w * sizeof(float));
            if (!q.v) { rc = cli_error("out of memory"); break; }
            if (ed_imresize_bicubic_f32(p.v, p.c, p.h, p.w, q.v, q.h, q.w, f, f, 1) != ED_OK) { free(q.v); rc = cli_lib_error(fl->paths[i]); break; }
            rc = add_image(o, d, fl->paths[i], &q);
        }
        if (!rc) rc = add_image(o, d, fl->paths[i], &p);
        else planes_free(&p);
    }
    int total = fl->n;
    ed_file_list_free(fl);
    if (!rc && d->n == 0) rc = cli_error("none of the %d images in %s is large enough for %dx%d patches", total, o->data_dir, o->patch * s, o->patch * s);
    return rc;
}

/* Dihedral transform `mode` (0..7) of a P x P patch: source coordinates. */
static inline void dihedral(int mode, int P, int y, int x, int *sy, int *sx)
{
    int u = y, v = x;
    if (mode & 1) v = P - 1 - v;
    if (mode & 2) u = P - 1 - u;
    if (mode & 4) { int t = u; u = v; v = t; }
    *sy = u; *sx = v;
}

/* Fills batch item i of global step t. */
static void make_item(const tset *d, const train_opts *o, uint64_t pseed, uint64_t nseed, int64_t t, int i, float *x, float *y)
{
    uint64_t base = ((uint64_t)t * (uint64_t)o->batch + (uint64_t)i) * 8;
    double u0 = ed__rng_uniform_at(pseed, base, 0) * d->cum[d->n];
    int lo = 0, hi = d->n - 1;
    while (lo < hi) { int mid = (lo + hi) / 2; if (d->cum[mid + 1] <= u0) lo = mid + 1; else hi = mid; }
    const timg *im = &d->im[lo];
    int P = d->P, s = d->s, c = d->c;
    int top = (int)(ed__rng_uniform_at(pseed, base, 1) * (im->h - P + 1));
    int left = (int)(ed__rng_uniform_at(pseed, base, 2) * (im->w - P + 1));
    int mode = (int)(ed__rng_uniform_at(pseed, base, 3) * 8);
    size_t ihw = (size_t)im->h * im->w;
    if (s == 1) {
        double sigma = (o->sigma_lo + ed__rng_uniform_at(pseed, base, 4) * (o->sigma_hi - o->sigma_lo)) / 255.0;
        uint64_t nb = ((uint64_t)t * (uint64_t)o->batch + (uint64_t)i) * (uint64_t)(c * P * P);
        for (int k = 0; k < c; k++)
            for (int yy = 0; yy < P; yy++)
                for (int xx = 0; xx < P; xx++) {
                    int sy, sx;
                    dihedral(mode, P, yy, xx, &sy, &sx);
                    size_t j = ((size_t)k * P + yy) * P + xx;
                    float v = im->in[k * ihw + (size_t)(top + sy) * im->w + left + sx];
                    y[j] = v;
                    x[j] = (float)(v + sigma * ed__rng_normal_at(nseed, nb, j));
                }
    } else {
        int Q = P * s, W = im->w * s;
        for (int yy = 0; yy < P; yy++)
            for (int xx = 0; xx < P; xx++) {
                int sy, sx;
                dihedral(mode, P, yy, xx, &sy, &sx);
                x[yy * P + xx] = im->in[(size_t)(top + sy) * im->w + left + sx];
            }
        for (int yy = 0; yy < Q; yy++)
            for (int xx = 0; xx < Q; xx++) {
                int sy, sx;
                dihedral(mode, Q, yy, xx, &sy, &sx);
                y[yy * Q + xx] = im->target[(size_t)(top * s + sy) * W + left * s + sx];
            }
    }
}

/* ---- checkpoints and pictures --------------------------------------------- */

typedef struct history { int n; double epoch[4096], loss[4096], val[4096]; } history;

static char *history_json(const history *h)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < h->n; i++) {
        cJSON *e = cJSON_CreateArray();
        cJSON_AddItemToArray(e, cJSON_CreateNumber(h->epoch[i]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(h->loss[i]));
        cJSON_AddItemToArray(e, cJSON_CreateNumber(isfinite(h->val[i]) ? h->val[i] : -1));
        cJSON_AddItemToArray(a, e);
    }
    char *s = cJSON_PrintUnformatted(a);
    cJSON_Delete(a);
    return s;
}

static void history_parse(const char *js, history *h)
{
    cJSON *a = cJSON_Parse(js);
    h->n = 0;
    for (cJSON *e = a ? a->child : NULL; e && h->n < 4096; e = e->next) {
        if (cJSON_GetArraySize(e) != 3) continue;
        h->epoch[h->n] = cJSON_GetArrayItem(e, 0)->valuedouble;
        h->loss[h->n] = cJSON_GetArrayItem(e, 1)->valuedouble;
        double v = cJSON_GetArrayItem(e, 2)->valuedouble;
        h->val[h->n++] = v < 0 ? NAN : v;
    }
    cJSON_Delete(a);
}

static int save_ckpt(const ed_model *m, const char *path, const train_opts *o, int epoch, int64_t step, double best, const history *h)
{
    char ep[32], st[32], bs[32], sig[64], sc[16], seed[32], ps[16], bt[16], rs[160] = "";
    snprintf(ep, sizeof ep, "%d", epoch);
    snprintf(st, sizeof st, "%lld", (long long)step);
    snprintf(bs, sizeof bs, "%.6f", best);
    snprintf(sig, sizeof sig, "%g,%g", o->sigma_lo, o->sigma_hi);
    snprintf(sc, sizeof sc, "%d", o->scale);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)o->seed);
    snprintf(ps, sizeof ps, "%d", o->patch);
    snprintf(bt, sizeof bt, "%d", o->batch);
    for (int i = 0, len = 0; i < o->n_rescale; i++) len += snprintf(rs + len, sizeof rs - (size_t)len, "%s%g", i ? "," : "", o->rescale[i]);
    char *hj = history_json(h);
    const char *k[] = { "encdec.train.epoch", "encdec.train.step", "encdec.train.best_psnr", "encdec.train.history",
                        "encdec.train.data", "encdec.train.sigma", "encdec.train.scale", "encdec.train.seed",
                        "encdec.train.patch", "encdec.train.batch", "encdec.train.loss", "encdec.train.rescale", "encdec.train.init" };
    const char *v[] = { ep, st, bs, hj ? hj : "[]", o->data_dir, sig, sc, seed, ps, bt, o->loss, rs, o->init ? o->init : "" };
    ed_status s = ed_model_save(m, path, o->init ? 13 : 12, k, v);
    free(hj);
    return s == ED_OK ? 0 : cli_lib_error("saving the checkpoint");
}

static void write_curves(const char *dir, const history *h, const char *task)
{
    ed_series s[2] = {
        { "train loss", h->epoch, h->loss, h->n, 0 },
        { "val PSNR (dB)", h->epoch, h->val, h->n, 1 },
    };
    int has_val = h->n > 0 && isfinite(h->val[h->n - 1]);
    ed_plot_args pa = { !strcmp(task, "sr") ? "super-resolution training" : "denoising training", "epoch", "loss", "PSNR (dB)", 0, 0, 0 };
    char png[4200], svg[4200];
    snprintf(png, sizeof png, "%s/curves.png", dir);
    snprintf(svg, sizeof svg, "%s/curves.svg", dir);
    if (ed_plot_png(png, s, has_val ? 2 : 1, &pa) != ED_OK || ed_plot_svg(svg, s, has_val ? 2 : 1, &pa) != ED_OK)
        cli_note("warning: could not write the curves: %s", ed_last_error());
}

/* ---- the loop ---------------------------------------------------------------- */

/* --init: copy every tensor of src whose name, dtype and shape match. */
static int init_from(ed_model *m, const char *path)
{
    ed_model *src = NULL;
    if (ed_model_load(path, &src) != ED_OK) return cli_lib_error("--init");
    ed_params *p = ed_model_params(m), *q = ed_model_params(src);
    int copied = 0, n = ed_params_count(p);
    char skipped[512] = "";
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        ed_tensor *d = ed_params_tensor(p, i), *t = ed_params_find(q, ed_params_name(p, i));
        int same = t && t->dtype == d->dtype && t->ndim == d->ndim;
        for (int k = 0; same && k < d->ndim; k++) same = t->shape[k] == d->shape[k];
        if (same) {
            memcpy(d->data, t->data, (size_t)d->numel * ed_dtype_size(d->dtype));
            copied++;
        } else if (len < sizeof skipped - 1) {
            len += (size_t)snprintf(skipped + len, sizeof skipped - len, "%s%s", len ? ", " : "", ed_params_name(p, i));
        }
    }
    printf("initialised %d of %d tensors from %s (%s model)%s%s\n", copied, n, path, ed_model_arch(src), copied < n ? "; new: " : "",
           copied < n ? skipped : "");
    ed_model_free(src);
    if (!copied) return cli_error("--init %s: no tensor matches this %s model in name and shape", path, ed_model_arch(m));
    return 0;
}

static int build_model(const train_opts *o, ed_model **m, int *start_epoch, int64_t *step, double *best, history *h)
{
    *start_epoch = 0; *step = 0; *best = -INFINITY; h->n = 0;
    if (o->resume) {
        if (ed_model_load(o->resume, m) != ED_OK) return cli_lib_error("resuming");
        ed_safetensors *f = NULL;
        if (ed_safetensors_load(o->resume, &f) != ED_OK) return cli_lib_error("resuming");
        const char *e = ed_safetensors_meta(f, "encdec.train.epoch"), *s = ed_safetensors_meta(f, "encdec.train.step"),
                   *b = ed_safetensors_meta(f, "encdec.train.best_psnr"), *hj = ed_safetensors_meta(f, "encdec.train.history");
        if (e) *start_epoch = atoi(e);
        if (s) *step = atoll(s);
        if (b) *best = atof(b);
        if (hj) history_parse(hj, h);
        ed_safetensors_free(f);
        if (o->arch && strcmp(o->arch, ed_model_arch(*m)))
            cli_note("note: --arch %s ignored; %s holds a %s model", o->arch, o->resume, ed_model_arch(*m));
        printf("resuming %s from epoch %d (step %lld); Adam's moments restart from zero\n", o->resume, *start_epoch, (long long)*step);
        return 0;
    }
    char cfg[512];
    const char *arch = o->arch ? o->arch : !strcmp(o->task, "sr") ? "edsr" : "dncnn";
    if (o->config) snprintf(cfg, sizeof cfg, "%s", o->config);
    else if (!strcmp(o->task, "sr")) snprintf(cfg, sizeof cfg, "{\"scale\":%d}", o->scale);
    else if (!strcmp(arch, "dae")) snprintf(cfg, sizeof cfg, "{\"in_channels\":%d}", o->channels);
    else snprintf(cfg, sizeof cfg, "{\"channels\":%d}", o->channels);
    if (ed_model_create(arch, cfg, m) != ED_OK) return cli_lib_error("building the model");
    ed_rng r;
    ed_rng_init(&r, stream_seed(o->seed, STREAM_INIT));
    if (ed_model_init(*m, &r) != ED_OK) return cli_lib_error("initialising the model");
    return o->init ? init_from(*m, o->init) : 0;
}

int train_run(const train_opts *o)
{
    ed_model *m = NULL;
    tset d = { 0 };
    ed_optim *opt = NULL;
    ed_arena *ar = NULL;
    float *xb = NULL, *yb = NULL;
    history *h = calloc(1, sizeof *h);
    int start, rc = 0;
    int64_t step;
    double best;
    if (!h) return cli_error("out of memory");
    if ((rc = build_model(o, &m, &start, &step, &best, h))) goto out;
    int sr = !strcmp(o->task, "sr");
    if (strcmp(ed_model_task(m), o->task)) { rc = cli_error("%s is a '%s' model, not '%s'", ed_model_arch(m), ed_model_task(m), o->task); goto out; }
    if (sr && model_scale(m) != o->scale) { rc = cli_error("the model upscales x%d but --scale is %d", model_scale(m), o->scale); goto out; }
    if ((rc = load_train(o, ed_model_in_channels(m), &d))) goto out;
    if ((rc = cli_mkdirs(o->out_dir))) goto out;

    int P = o->patch, s = d.s, c = d.c, Q = P * s;
    double pixels = d.cum[d.n];
    long spe = o->steps_per_epoch > 0 ? o->steps_per_epoch : (long)ceil(pixels / ((double)P * P) / o->batch);
    if (spe < 1) spe = 1;
    int64_t total = (int64_t)spe * o->epochs;
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    oa.lr = o->lr;
    if (ed_optim_new(ed_model_params(m), &oa, &opt) != ED_OK || ed_arena_new(0, &ar) != ED_OK) { rc = cli_lib_error("setting up"); goto out; }
    ed_schedule sched = { .kind = ED_SCHED_COSINE, .base_lr = o->lr, .total_steps = total, .eta_min = o->lr_min };
    xb = malloc(sizeof(float) * (size_t)o->batch * c * P * P);
    yb = malloc(sizeof(float) * (size_t)o->batch * c * Q * Q);
    if (!xb || !yb) { rc = cli_error("out of memory for a batch"); goto out; }
    ed_loss_args la;
    ed_loss_args_default(&la);
    int l1 = !strcmp(o->loss, "l1");
    uint64_t pseed = stream_seed(o->seed, STREAM_PATCH), nseed = stream_seed(o->seed, STREAM_NOISE);
    printf("training %s (%s, %lld parameters) on %d images of %s: %d epochs of %ld steps, batch %d of %dx%d patches",
           ed_model_arch(m), ed_model_config(m), (long long)ed_params_numel(ed_model_params(m), 1), d.n, o->data_dir, o->epochs, spe, o->batch, P, P);
    if (sr) printf(" (x%d)", s);
    else if (o->sigma_hi > o->sigma_lo) printf(", sigma %g..%g", o->sigma_lo, o->sigma_hi);
    else printf(", sigma %g", o->sigma_lo);
    printf(", %s loss, %s%s convolutions, %d threads\n", l1 ? "L1" : "MSE",
           ed_get_conv_precision() == ED_PRECISION_BF16 ? "bf16" : "f32",
           ed_get_conv_algo() == ED_CONV_ALGO_WINOGRAD ? " (Winograd where possible)" : "", ed_get_num_threads());
    fflush(stdout);

    double clock = 0;     /* seconds of training steps in this run */
    int stop = 0, last_epoch = start;
    for (int epoch = start; epoch < o->epochs && !rc && !stop; epoch++) {
        double te = cli_now(), lsum = 0;
        long done = 0;
        for (long k = 0; k < spe; k++, step++) {
            for (int i = 0; i < o->batch; i++)
                make_item(&d, o, pseed, nseed, step, i, xb + (size_t)i * c * P * P, yb + (size_t)i * c * Q * Q);
            ed_optim_set_lr(opt, ed_schedule_lr(&sched, step));
            double lv;
            ed_status st = cli_train_step(m, opt, ar, xb, (int64_t[]){ o->batch, c, P, P }, yb,
                                          (int64_t[]){ o->batch, c, Q, Q }, &la, l1, &lv);
            if (st != ED_OK) { rc = cli_error("training stopped at epoch %d step %ld: %s", epoch + 1, k + 1, ed_last_error()); break; }
            if (!isfinite(lv)) { rc = cli_error("training diverged at epoch %d step %ld (loss %g); try a lower --lr", epoch + 1, k + 1, lv); break; }
            lsum += lv;
            done = k + 1;
            char extra[96];
            snprintf(extra, sizeof extra, "epoch %d/%d loss %.5f", epoch + 1, o->epochs, lsum / (double)(k + 1));
            cli_progress("train", k + 1, spe, cli_now() - te, extra);
            if (o->time_limit > 0 && clock + (cli_now() - te) >= o->time_limit) { stop = 1; step++; break; }
            if (o->stop_step > 0 && step + 1 >= o->stop_step) { stop = 2; step++; break; }
        }
        cli_progress_end();
        if (rc) break;
        double train_s = cli_now() - te, val = NAN, mean_loss = lsum / (double)done;
        clock += train_s;
        last_epoch = epoch + 1;
        if (o->val_dir) {
            eval_opts eo = { o->task, o->val_dir, o->val_sigma >= 0 ? o->val_sigma : o->sigma_hi, 0, s, o->tile, o->overlap, o->val_limit, 0, 0 };
            eval_result er;
            ed_precision prec = ed_get_conv_precision();
            ed_set_conv_precision(ED_PRECISION_F32);
            rc = eval_folder(m, &eo, &er);
            ed_set_conv_precision(prec);
            if (rc) break;
            val = er.psnr;
        }
        if (h->n < 4096) { h->epoch[h->n] = epoch + 1; h->loss[h->n] = mean_loss; h->val[h->n] = val; h->n++; }
        write_curves(o->out_dir, h, o->task);
        double score = isfinite(val) ? val : -mean_loss;
        char path[4200];
        int improved = score > best;
        if (improved) best = score;
        snprintf(path, sizeof path, "%s/last.safetensors", o->out_dir);
        if ((rc = save_ckpt(m, path, o, epoch + 1, step, best, h))) break;
        if (improved) {
            snprintf(path, sizeof path, "%s/best.safetensors", o->out_dir);
            if ((rc = save_ckpt(m, path, o, epoch + 1, step, best, h))) break;
        }
        printf("epoch %d/%d  loss %.6f", epoch + 1, o->epochs, mean_loss);
        if (isfinite(val)) printf("  val PSNR %.3f dB%s", val, improved ? " (best)" : "");
        printf("  lr %.3g  train %.1f s  total %.1f s  step %lld  elapsed %.1f s\n", ed_optim_get_lr(opt), train_s, cli_now() - te,
               (long long)step, clock);
        if (stop == 1) printf("stopping: --time-limit %g s of training reached at step %lld\n", o->time_limit, (long long)step);
        else if (stop == 2) printf("stopping: --stop-step %lld reached\n", (long long)step);
        else if (o->target_psnr > 0 && isfinite(val) && val >= o->target_psnr) {
            printf("stopping: --target-psnr %g dB reached after %.1f s of training (step %lld)\n", o->target_psnr, clock, (long long)step);
            stop = 1;
        }
        fflush(stdout);
    }
    if (!rc) {
        if (isfinite(best) && o->val_dir)
            printf("{\"task\":\"%s\",\"best_psnr\":%.4f,\"epochs\":%d,\"steps\":%lld,\"elapsed_s\":%.1f,\"out\":\"%s\"}\n", o->task, best,
                   last_epoch, (long long)step, clock, o->out_dir);
        else printf("{\"task\":\"%s\",\"epochs\":%d,\"steps\":%lld,\"elapsed_s\":%.1f,\"out\":\"%s\"}\n", o->task, last_epoch,
                    (long long)step, clock, o->out_dir);
    }
out:
    free(xb); free(yb); free(h);
    tset_free(&d);
    ed_arena_free(ar);
    ed_optim_free(opt);
    ed_model_free(m);
    return rc;
}
