/* Training and evaluating enhancement models (denoising, super-resolution):
 * `encdec train --task denoise|sr`, `encdec eval --task denoise|sr` and
 * `encdec enhance` share the image handling and the tiled inference here.
 *
 * Conventions (../shared/data/README.md):
 *  - denoise: noise N(0, (sigma/255)^2) added in float without clipping;
 *    image k of a sorted folder draws its noise from Philox stream (seed,
 *    counter k << 36), so `--seed 0` fixes the noise of every image;
 *  - sr: LR = MATLAB bicubic downscale of the HR image cropped to a multiple
 *    of the scale, stored as 8-bit (as benchmark LR files are); PSNR/SSIM on
 *    the BT.601 Y channel after cropping `scale` pixels from each border.
 *  - The enhanced image is quantised to 8 bits (what `encdec enhance`
 *    writes) before PSNR and SSIM on the 0..255 scale.
 * SR models take the LR Y (N, 1, h, w) and return HR Y; colour images go
 * through the model as Y while Cb and Cr are upscaled bicubically. */
#ifndef ED_CLI_TRAINER_H
#define ED_CLI_TRAINER_H

#include "cli.h"

#include <stdint.h>

/* An image as float planes (c, h, w) in [0, 1]. */
typedef struct planes { int c, h, w; float *v; } planes;

/* 8/16-bit image -> planes; alpha is dropped (c = 1 or 3). */
int planes_from_image(const ed_image *img, planes *out);
void planes_free(planes *p);

/* Model's upscaling factor: config "scale" for task "sr", else 1. */
int model_scale(const ed_model *m);

/* Runs m on in (c = model channels; for SR also c = 3: Y through the
 * model, Cb/Cr bicubic) in tiles of tile x tile with `overlap` pixels of
 * context on each side, writing the 8-bit result, (h*s) x (w*s) x c
 * interleaved, to out. ensemble = 1: the geometric self-ensemble of EDSR+
 * (Lim et al. 2017): each tile through the model in its 8 flips and
 * quarter turns, each result turned back, the mean taken (8x the time).
 * Returns a CLI exit status (0 on success). */
int enhance_planes(ed_model *m, const planes *in, int tile, int overlap, int ensemble, uint8_t *out);

typedef struct eval_opts {
    const char *task;       /* "denoise" | "sr" */
    const char *dir;
    double sigma;           /* 0..255 */
    uint64_t seed;
    int scale;
    int tile, overlap;
    int limit;              /* 0: every image */
    int verbose;            /* one line per image */
    int ensemble;           /* 1: x8 self-ensemble (enhance_planes) */
} eval_opts;
typedef struct eval_result { double psnr, ssim, psnr_input; int images; } eval_result;

/* Evaluates m over a folder with the conventions above. */
int eval_folder(ed_model *m, const eval_opts *o, eval_result *r);

/* One image of an evaluation kept for pictures: 8-bit interleaved, c
 * channels. ref is the reference (HR, cropped to the scale), out the
 * model's result, both h x w; input is the noisy image (h x w) or the LR
 * one ((h/s) x (w/s)); bicubic (sr only) is the LR upscaled by MATLAB
 * bicubic, scored like out in psnr_bicubic. */
typedef struct eval_images {
    int c, h, w, s;
    uint8_t *ref, *out, *input, *bicubic;
    double psnr, psnr_input, psnr_bicubic;
} eval_images;
/* Image idx (its index in the sorted folder, which picks its noise) of
 * o->dir, evaluated as eval_folder does; *keep is filled (free it with
 * eval_images_free). */
int eval_image(ed_model *m, const eval_opts *o, int idx, eval_images *keep);
void eval_images_free(eval_images *k);

typedef struct train_opts {
    const char *task, *arch, *config;
    const char *data_dir, *val_dir, *out_dir, *resume, *init;
    int channels;                      /* denoise: 1 gray, 3 RGB */
    double sigma_lo, sigma_hi;         /* 0..255; equal: fixed sigma */
    double val_sigma;
    int scale, patch, batch, epochs;
    long steps_per_epoch;              /* 0: one pass over the training pixels */
    double lr, lr_min;
    const char *loss;                  /* "mse" | "l1" */
    uint64_t seed;
    int val_limit;
    int tile, overlap;
    double time_limit;                 /* > 0: stop after this many seconds of training steps */
    double target_psnr;                /* > 0: stop once the validation PSNR reaches it (dB) */
    long long stop_step;               /* > 0: stop after this global step (the schedule still spans every epoch) */
    double rescale[8];                 /* --rescale: extra downscaled copies of each image */
    int n_rescale;
} train_opts;

void train_opts_default(train_opts *o);
int train_run(const train_opts *o);

#endif
