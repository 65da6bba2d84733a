/* Denoising training: images in memory, a seeded split into train and val,
 * Gaussian noise drawn from counter-based streams (so an epoch's noise does
 * not depend on thread count or timing), Adam on the MSE, one per-step
 * arena so that after the first step training allocates nothing. */
#include "denoise.h"
#include "core/ed_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Key streams apart: data split, noise, init, shuffling. */
enum { STREAM_SPLIT = 1, STREAM_NOISE = 2, STREAM_INIT = 3, STREAM_SHUFFLE = 4, STREAM_SYNTH = 5, STREAM_VALNOISE = 6 };

static uint64_t stream_seed(uint64_t seed, uint64_t stream) { return seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull; }

void denoise_opts_default(denoise_opts *o)
{
    memset(o, 0, sizeof *o);
    o->arch = "dae";
    o->config = NULL;
    o->channels = 3;
    o->size = 28;
    o->sigma = 0.2;
    o->epochs = 5;
    o->batch = 16;
    o->lr = 3e-3;
    o->seed = 0;
    o->val_fraction = 0.1;
    o->synth_count = 1200;
    o->out_dir = "out/demo";
    o->grid_rows = 8;
}

/* ---- data ------------------------------------------------------------------ */

typedef struct dataset { int n, c, s; float *pix; } dataset;   /* n x c x s x s in [0,1] */

static int load_folder(const denoise_opts *o, dataset *d)
{
    ed_file_list *fl;
    if (ed_file_list_images(o->data_dir, o->class_folders, &fl) != ED_OK) return cli_lib_error("reading the data set");
    size_t per = (size_t)o->channels * o->size * o->size;
    d->pix = malloc(per * (size_t)fl->n * sizeof(float));
    if (!d->pix) { ed_file_list_free(fl); return cli_error("out of memory for %d images", fl->n); }
    d->c = o->channels;
    d->s = o->size;
    d->n = 0;
    for (int i = 0; i < fl->n; i++) {
        ed_image *img;
        if (ed_image_load(fl->paths[i], 0, &img) != ED_OK) {
            int rc = cli_lib_error(NULL);
            ed_file_list_free(fl);
            return rc;
        }
        if (img->width < o->size || img->height < o->size) {
            cli_error("%s is %dx%d, smaller than the %dx%d the model trains on", fl->paths[i], img->width, img->height, o->size, o->size);
            ed_image_free(img);
            ed_file_list_free(fl);
            return CLI_EXIT_INPUT;
        }
        /* Centre crop; colour -> gray by BT.601 luma when the model is gray. */
        int x0 = (img->width - o->size) / 2, y0 = (img->height - o->size) / 2, ic = img->channels;
        float *dst = d->pix + per * (size_t)d->n;
        double maxv = img->bit_depth == 16 ? 65535.0 : 255.0;
        for (int y = 0; y < o->size; y++)
            for (int x = 0; x < o->size; x++) {
                size_t p = ((size_t)(y + y0) * img->width + (size_t)(x + x0)) * (size_t)ic;
                double v[4] = { 0, 0, 0, 0 };
                for (int k = 0; k < ic && k < 4; k++)
                    v[k] = (img->bit_depth == 16 ? ((uint16_t *)img->data)[p + k] : ((uint8_t *)img->data)[p + k]) / maxv;
                int colour = ic >= 3;
                for (int k = 0; k < o->channels; k++) {
                    double val;
                    if (o->channels == 1) val = colour ? 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2] : v[0];
                    else val = colour ? v[k] : v[0];
                    dst[((size_t)k * o->size + y) * o->size + x] = (float)val;
                }
            }
        ed_image_free(img);
        d->n++;
    }
    ed_file_list_free(fl);
    return 0;
}

/* Generated stand-in data: smooth gradients with a few filled discs and
 * boxes, enough structure for denoising to be learnable. */
static int synthesize(const denoise_opts *o, dataset *d)
{
    d->n = o->synth_count;
    d->c = o->channels;
    d->s = o->size;
    size_t per = (size_t)d->c * d->s * d->s;
    d->pix = malloc(per * (size_t)d->n * sizeof(float));
    if (!d->pix) return cli_error("out of memory");
    ed_rng r;
    ed_rng_init(&r, stream_seed(o->seed, STREAM_SYNTH));
    for (int i = 0; i < d->n; i++) {
        float *dst = d->pix + per * (size_t)i;
        double base[4], gx[4], gy[4];
        for (int k = 0; k < d->c; k++) { base[k] = 0.2 + 0.6 * ed_rng_uniform(&r); gx[k] = 0.4 * (ed_rng_uniform(&r) - 0.5); gy[k] = 0.4 * (ed_rng_uniform(&r) - 0.5); }
        for (int k = 0; k < d->c; k++)
            for (int y = 0; y < d->s; y++)
                for (int x = 0; x < d->s; x++)
                    dst[((size_t)k * d->s + y) * d->s + x] = (float)(base[k] + gx[k] * x / d->s + gy[k] * y / d->s);
        int shapes = 1 + (int)(ed_rng_uniform(&r) * 3);
        for (int sh = 0; sh < shapes; sh++) {
            double cx = ed_rng_uniform(&r) * d->s, cy = ed_rng_uniform(&r) * d->s, rad = 3 + ed_rng_uniform(&r) * d->s / 4;
            bool disc = ed_rng_uniform(&r) < 0.5;
            double col[4];
            for (int k = 0; k < d->c; k++) col[k] = ed_rng_uniform(&r);
            for (int y = 0; y < d->s; y++)
                for (int x = 0; x < d->s; x++) {
                    double dx = x - cx, dy = y - cy;
                    bool in = disc ? dx * dx + dy * dy < rad * rad : fabs(dx) < rad && fabs(dy) < rad * 0.6;
                    if (in)
                        for (int k = 0; k < d->c; k++) dst[((size_t)k * d->s + y) * d->s + x] = (float)col[k];
                }
        }
    }
    return 0;
}

/* ---- batches ---------------------------------------------------------------- */

/* Copies images idx[0..b) into clean and adds noise into noisy; the noise of
 * element j of image idx[i] comes from stream (noise_seed, key*... + j). */
static void make_batch(const dataset *d, const int *idx, int b, double sigma, uint64_t noise_seed, uint64_t epoch_key,
                       float *clean, float *noisy)
{
    size_t per = (size_t)d->c * d->s * d->s;
    for (int i = 0; i < b; i++) {
        const float *src = d->pix + per * (size_t)idx[i];
        memcpy(clean + per * (size_t)i, src, per * sizeof(float));
        uint64_t base = (epoch_key * (uint64_t)d->n + (uint64_t)idx[i]) * (uint64_t)per;
        for (size_t j = 0; j < per; j++)
            noisy[per * (size_t)i + j] = (float)(src[j] + sigma * ed__rng_normal_at(noise_seed, base, j));
    }
}

/* PSNR of one planar image on [0, 1]: the mean squared error does not
 * depend on the layout, so the image goes to ed_psnr as one row. */
static ed_status psnr1(const float *a, const float *b, size_t n, double *out)
{
    return ed_psnr(a, b, 1, (int)n, 1, 1.0, 0, 0, out);
}

static void shuffle(int *v, int n, uint64_t seed, uint64_t epoch)
{
    ed_rng r;
    ed_rng_init(&r, seed);
    r.counter = epoch << 32;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(ed_rng_uniform(&r) * (i + 1));
        int t = v[i]; v[i] = v[j]; v[j] = t;
    }
}

/* ---- evaluation and pictures ---------------------------------------------------- */

typedef struct val_out { double noisy, denoised; float *den; } val_out;

static int evaluate(ed_model *m, const dataset *d, const int *idx, int n, double sigma, uint64_t vseed, ed_arena *ar,
                    val_out *v, float *keep_noisy, float *keep_den, int keep)
{
    size_t per = (size_t)d->c * d->s * d->s;
    int bsz = 64;
    float *clean = malloc(per * (size_t)bsz * sizeof(float)), *noisy = malloc(per * (size_t)bsz * sizeof(float));
    if (!clean || !noisy) { free(clean); free(noisy); return cli_error("out of memory"); }
    double sn = 0, sd = 0;
    int rc = 0;
    ed_no_grad_begin();
    for (int s = 0; s < n && rc == 0; s += bsz) {
        int b = n - s < bsz ? n - s : bsz;
        make_batch(d, idx + s, b, sigma, vseed, 0, clean, noisy);
        ed_arena_begin(ar);
        ed_tensor *x = NULL, *y = NULL;
        ed_status st = ed__alloc(ED_F32, 4, (int64_t[]){ b, d->c, d->s, d->s }, &x);
        if (st == ED_OK) { memcpy(x->data, noisy, per * (size_t)b * sizeof(float)); st = ed_model_forward(m, x, 0, &y); }
        if (st == ED_OK) {
            const float *yd = y->data;
            for (int i = 0; i < b && rc == 0; i++) {
                double pn, pd;
                if (psnr1(noisy + per * (size_t)i, clean + per * (size_t)i, per, &pn) != ED_OK ||
                    psnr1(yd + per * (size_t)i, clean + per * (size_t)i, per, &pd) != ED_OK) {
                    rc = cli_lib_error("validation");
                    break;
                }
                sn += pn;
                sd += pd;
                int k = s + i;
                if (k < keep) {
                    memcpy(keep_noisy + per * (size_t)k, noisy + per * (size_t)i, per * sizeof(float));
                    memcpy(keep_den + per * (size_t)k, yd + per * (size_t)i, per * sizeof(float));
                }
            }
        } else {
            rc = cli_lib_error("validation");
        }
        ed_arena_end();
        ed_arena_reset(ar);
    }
    ed_no_grad_end();
    free(clean);
    free(noisy);
    v->noisy = sn / n;
    v->denoised = sd / n;
    return rc;
}

/* Rows of (clean | noisy | denoised), each tile scaled up 4x (nearest) so a
 * 28x28 image is visible, with 4-pixel white gaps. */
static int write_grid(const char *path, const dataset *d, const int *idx, const float *noisy, const float *den, int rows)
{
    int z = d->s <= 64 ? 4 : 1, tile = d->s * z, gap = 4;
    int w = 3 * tile + 4 * gap, h = rows * tile + (rows + 1) * gap;
    ed_image *img;
    if (ed_image_new(w, h, 3, 8, &img) != ED_OK) return cli_lib_error("grid picture");
    uint8_t *px = img->data;
    memset(px, 255, (size_t)w * h * 3);
    size_t per = (size_t)d->c * d->s * d->s;
    for (int r = 0; r < rows; r++) {
        const float *srcs[3] = { d->pix + per * (size_t)idx[r], noisy + per * (size_t)r, den + per * (size_t)r };
        for (int col = 0; col < 3; col++)
            for (int y = 0; y < tile; y++)
                for (int x = 0; x < tile; x++)
                    for (int k = 0; k < 3; k++) {
                        int ck = d->c == 1 ? 0 : k;
                        double v = srcs[col][((size_t)ck * d->s + y / z) * d->s + x / z];
                        v = v < 0 ? 0 : v > 1 ? 1 : v;
                        int X = gap + col * (tile + gap) + x, Y = gap + r * (tile + gap) + y;
                        px[((size_t)Y * w + X) * 3 + k] = (uint8_t)(v * 255 + 0.5);
                    }
    }
    ed_status st = ed_image_save_png(path, img);
    ed_image_free(img);
    return st == ED_OK ? 0 : cli_lib_error("writing the grid");
}

/* Training loss (left axis) and validation PSNR (right axis) per epoch, as
 * PNG and SVG; rewritten after every epoch so a long run can be watched. */
static void write_curves(const char *dir, const double *hist, int n, int stride, denoise_result *res)
{
    ed_series s[2] = {
        { "train loss (MSE)", hist, hist + stride, n, 0 },
        { "val PSNR (dB)", hist, hist + 2 * stride, n, 1 },
    };
    ed_plot_args pa = { "denoising training", "epoch", "loss", "PSNR (dB)", 0, 0, 0 };
    snprintf(res->curve_path, sizeof res->curve_path, "%s/curves.png", dir);
    char svg[4200];
    snprintf(svg, sizeof svg, "%s/curves.svg", dir);
    if (ed_plot_png(res->curve_path, s, 2, &pa) != ED_OK || ed_plot_svg(svg, s, 2, &pa) != ED_OK)
        cli_note("warning: could not write the curves: %s", ed_last_error());
}

/* ---- training ----------------------------------------------------------------------- */

int denoise_train(const denoise_opts *o, denoise_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = cli_now();
    dataset d = { 0 };
    int rc = o->data_dir ? load_folder(o, &d) : synthesize(o, &d);
    if (rc) return rc;
    if (d.n < 4) { free(d.pix); return cli_error("need at least 4 images, found %d", d.n); }
    if ((rc = cli_mkdirs(o->out_dir))) { free(d.pix); return rc; }

    /* Seeded split: a permutation; the first val_fraction is validation. */
    int *perm = malloc(sizeof(int) * (size_t)d.n);
    for (int i = 0; i < d.n; i++) perm[i] = i;
    shuffle(perm, d.n, stream_seed(o->seed, STREAM_SPLIT), 0);
    int n_val = (int)(d.n * o->val_fraction + 0.5);
    if (n_val < 1) n_val = 1;
    int n_train = d.n - n_val, *val_idx = perm, *train_idx = perm + n_val;
    res->n_train = n_train;
    res->n_val = n_val;

    ed_model *m = NULL;
    char cfg[256];
    if (!o->config) snprintf(cfg, sizeof cfg, "{\"in_channels\":%d}", o->channels);
    ed_status st = ed_model_create(o->arch, o->config ? o->config : cfg, &m);
    ed_rng init_rng;
    ed_rng_init(&init_rng, stream_seed(o->seed, STREAM_INIT));
    if (st == ED_OK) st = ed_model_init(m, &init_rng);
    ed_optim *opt = NULL;
    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    oa.lr = o->lr;
    if (st == ED_OK) st = ed_optim_new(ed_model_params(m), &oa, &opt);
    ed_arena *ar = NULL;
    if (st == ED_OK) st = ed_arena_new(0, &ar);
    if (st != ED_OK) { rc = cli_lib_error("building the model"); goto out; }
    if (d.c != ed_model_in_channels(m)) { rc = cli_error("the model takes %d channels, the data has %d", ed_model_in_channels(m), d.c); goto out; }

    size_t per = (size_t)d.c * d.s * d.s;
    int steps_per_epoch = n_train / o->batch;
    if (steps_per_epoch < 1) steps_per_epoch = 1;
    int bsz = n_train < o->batch ? n_train : o->batch;
    float *clean = malloc(per * (size_t)bsz * sizeof(float)), *noisy = malloc(per * (size_t)bsz * sizeof(float));
    int keep = o->grid_rows < n_val ? o->grid_rows : n_val;
    float *keep_noisy = calloc(per * (size_t)(keep ? keep : 1), sizeof(float)), *keep_den = calloc(per * (size_t)(keep ? keep : 1), sizeof(float));
    int *order = malloc(sizeof(int) * (size_t)n_train);
    ed_schedule sched = { .kind = ED_SCHED_COSINE, .base_lr = o->lr, .total_steps = (int64_t)steps_per_epoch * o->epochs,
                          .eta_min = o->lr * 0.05 };
    uint64_t noise_seed = stream_seed(o->seed, STREAM_NOISE), val_seed = stream_seed(o->seed, STREAM_VALNOISE);
    val_out v = { 0 };
    int64_t step = 0;
    double *hist = calloc((size_t)o->epochs * 3, sizeof(double));   /* epoch, loss, val PSNR */
    printf("training %s on %d images (%d for validation), %dx%d, sigma %.3g, %d epochs of %d steps, %d threads\n",
           o->arch, n_train, n_val, d.s, d.s, o->sigma, o->epochs, steps_per_epoch, ed_get_num_threads());
    fflush(stdout);
    for (int epoch = 0; epoch < o->epochs && rc == 0; epoch++) {
        double te = cli_now(), loss_sum = 0;
        memcpy(order, train_idx, sizeof(int) * (size_t)n_train);
        shuffle(order, n_train, stream_seed(o->seed, STREAM_SHUFFLE), (uint64_t)epoch + 1);
        for (int s = 0; s < steps_per_epoch && rc == 0; s++, step++) {
            make_batch(&d, order + s * bsz, bsz, o->sigma, noise_seed, (uint64_t)epoch + 1, clean, noisy);
            ed_optim_set_lr(opt, ed_schedule_lr(&sched, step));
            int64_t shape[4] = { bsz, d.c, d.s, d.s };
            double lv;
            st = cli_train_step(m, opt, ar, noisy, shape, clean, shape, NULL, false, &lv);
            if (st != ED_OK) { rc = cli_error("training stopped at epoch %d step %d: %s", epoch + 1, s + 1, ed_last_error()); break; }
            loss_sum += lv;
            char extra[64];
            snprintf(extra, sizeof extra, "loss %.5f", loss_sum / (s + 1));
            cli_progress("train", (long)s + 1, steps_per_epoch, cli_now() - te, extra);
        }
        cli_progress_end();
        if (rc) break;
        rc = evaluate(m, &d, val_idx, n_val, o->sigma, val_seed, ar, &v, keep_noisy, keep_den, keep);
        res->final_loss = loss_sum / steps_per_epoch;
        if (hist) {
            hist[epoch] = epoch + 1;
            hist[o->epochs + epoch] = res->final_loss;
            hist[2 * o->epochs + epoch] = v.denoised;
        }
        if (hist && rc == 0) write_curves(o->out_dir, hist, epoch + 1, o->epochs, res);
        printf("epoch %d/%d  loss %.5f  val PSNR noisy %.2f dB  denoised %.2f dB  (%.1f s)\n", epoch + 1, o->epochs,
               res->final_loss, v.noisy, v.denoised, cli_now() - te);
        fflush(stdout);
    }
    if (rc == 0) {
        snprintf(res->model_path, sizeof res->model_path, "%s/%s.safetensors", o->out_dir, o->arch);
        char sigma_s[32], epochs_s[32], seed_s[32];
        snprintf(sigma_s, sizeof sigma_s, "%g", o->sigma);
        snprintf(epochs_s, sizeof epochs_s, "%d", o->epochs);
        snprintf(seed_s, sizeof seed_s, "%llu", (unsigned long long)o->seed);
        const char *k[] = { "encdec.train.sigma", "encdec.train.epochs", "encdec.train.seed", "encdec.train.data" };
        const char *vv[] = { sigma_s, epochs_s, seed_s, o->data_dir ? o->data_dir : "generated" };
        if (ed_model_save(m, res->model_path, 4, k, vv) != ED_OK) rc = cli_lib_error("saving the model");
    }
    if (rc == 0 && keep > 0) {
        snprintf(res->grid_path, sizeof res->grid_path, "%s/denoise_grid.png", o->out_dir);
        rc = write_grid(res->grid_path, &d, val_idx, keep_noisy, keep_den, keep);
    }
    res->noisy_psnr = v.noisy;
    res->denoised_psnr = v.denoised;
    res->seconds = cli_now() - t0;
    free(clean); free(noisy); free(keep_noisy); free(keep_den); free(order); free(hist);
out:
    ed_arena_free(ar);
    ed_optim_free(opt);
    ed_model_free(m);
    free(perm);
    free(d.pix);
    return rc;
}
