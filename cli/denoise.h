/* Training and evaluating a denoising model on a folder of images (used by
 * `encdec demo` and `encdec train --task denoise`). */
#ifndef ED_CLI_DENOISE_H
#define ED_CLI_DENOISE_H

#include "cli.h"

#include <stdint.h>

typedef struct denoise_opts {
    const char *arch, *config;   /* model */
    const char *data_dir;        /* NULL: generated images */
    int class_folders;           /* images sit in class sub-folders (rps28) */
    int channels;                /* 1 gray, 3 RGB */
    int size;                    /* images are cropped/generated at size x size */
    double sigma;                /* noise std on the [0,1] scale */
    int epochs, batch;
    double lr;
    uint64_t seed;
    double val_fraction;
    int synth_count;             /* generated images when data_dir is NULL */
    const char *out_dir;         /* checkpoint, grid, curve */
    int grid_rows;
} denoise_opts;

typedef struct denoise_result {
    double noisy_psnr, denoised_psnr, seconds, final_loss;
    int n_train, n_val;
    char grid_path[4096], model_path[4096], curve_path[4096];
} denoise_result;

void denoise_opts_default(denoise_opts *o);
/* Returns a CLI exit status (0 on success); prints one line per epoch. */
int denoise_train(const denoise_opts *o, denoise_result *r);

#endif
