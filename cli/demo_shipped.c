/* The second half of `encdec demo`: the shipped enhancement models of
 * models/ on a real image each, scored as `encdec eval` scores them.
 *   - models/denoise-gray-sigma25.safetensors on Set12 image 05 with
 *     sigma 25 noise (seed 0): clean | noisy | denoised, PSNR under each;
 *   - models/sr-x3.safetensors on Set5's butterfly: HR | bicubic x3 |
 *     encdec x3, Y-channel PSNR (border of 3 cropped) under each.
 * A missing model or data set is reported and skipped, not an error. */
#include "demo_shipped.h"
#include "trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static ed_image *image_of(const uint8_t *pix, int w, int h, int c)
{
    ed_image *img = NULL;
    if (ed_image_new(w, h, c, 8, &img) != ED_OK) return NULL;
    memcpy(img->data, pix, (size_t)w * h * c);
    return img;
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* Runs one model over image idx of dir and writes the three-panel picture. */
static int show(const char *model_path, const eval_opts *eo, int idx, const char *what, const char *out_path)
{
    ed_model *m = NULL;
    if (ed_model_load(model_path, &m) != ED_OK) return cli_lib_error(model_path);
    ed_model_freeze(m, 1);
    eval_images k;
    int rc = eval_image(m, eo, idx, &k);
    ed_model_free(m);
    if (rc) return rc;
    bool sr = k.s > 1;
    char cap[3][96];
    snprintf(cap[0], sizeof cap[0], sr ? "original (HR)" : "clean");
    if (sr) snprintf(cap[1], sizeof cap[1], "bicubic x%d: %.2f dB", k.s, k.psnr_bicubic);
    else snprintf(cap[1], sizeof cap[1], "noisy: %.2f dB", k.psnr_input);
    snprintf(cap[2], sizeof cap[2], "encdec: %.2f dB", k.psnr);
    ed_image *imgs[3] = { image_of(k.ref, k.w, k.h, k.c), image_of(sr ? k.bicubic : k.input, k.w, k.h, k.c),
                          image_of(k.out, k.w, k.h, k.c) };
    const char *caps[3] = { cap[0], cap[1], cap[2] };
    ed_image *grid = NULL;
    ed_status st = imgs[0] && imgs[1] && imgs[2] ? ed_grid((const ed_image *const *)imgs, caps, 3, 3, 8, 2, &grid) : ED_E_NOMEM;
    if (st == ED_OK) st = ed_image_save_png(out_path, grid);
    if (st == ED_OK)
        printf("%s: %s %.2f dB, encdec %.2f dB\n  picture: %s\n", what, sr ? "bicubic" : "noisy", sr ? k.psnr_bicubic : k.psnr_input,
               k.psnr, out_path);
    for (int i = 0; i < 3; i++) ed_image_free(imgs[i]);
    ed_image_free(grid);
    eval_images_free(&k);
    return st == ED_OK ? 0 : cli_lib_error(out_path);
}

int demo_shipped(const char *data_root, const char *out_dir)
{
    static const struct {
        const char *model, *data, *what, *task, *picture;
        int idx;
    } runs[] = {
        { "models/denoise-gray-sigma25.safetensors", "denoise/set12", "Set12 05.png, gray, sigma 25", "denoise", "set12_denoise.png", 4 },
        { "models/sr-x3.safetensors", "sr/set5", "Set5 butterfly, x3 super-resolution", "sr", "set5_sr_x3.png", 2 },
    };
    printf("\nshipped models (models/README.md):\n");
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char dir[4200], pic[4200];
        snprintf(dir, sizeof dir, "%s/%s", data_root ? data_root : ".", runs[i].data);
        snprintf(pic, sizeof pic, "%s/%s", out_dir, runs[i].picture);
        if (!exists(runs[i].model)) { printf("%s: %s not found (run make demo from the project root)\n", runs[i].what, runs[i].model); continue; }
        if (!data_root || !exists(dir)) { printf("%s: skipped, %s not found\n", runs[i].what, dir); continue; }
        eval_opts eo = { runs[i].task, dir, 25.0, 0, 3, 256, 48, 0, 0, 0 };
        int rc = show(runs[i].model, &eo, runs[i].idx, runs[i].what, pic);
        if (rc) return rc;
    }
    return 0;
}
