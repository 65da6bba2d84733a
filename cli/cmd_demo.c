/* encdec demo: the first end-to-end run. Trains the denoising auto-encoder
 * (max-pool with indices in the encoder, max-unpool + transposed
 * convolutions in the decoder) on Rock Paper Scissors 28x28 with Gaussian
 * noise of sigma 0.2, prints noisy and denoised PSNR on a held-out split and
 * writes a picture (clean | noisy | denoised). Then the shipped models of
 * models/ denoise a Set12 image and super-resolve a Set5 one
 * (demo_shipped.c). */
#include "demo_shipped.h"
#include "denoise.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static void help(void)
{
    printf("usage: encdec demo [--data DIR] [--out DIR] [--epochs N] [--threads N] [--seed S]\n\n"
           "Trains a denoising auto-encoder on Rock Paper Scissors (28x28) and reports PSNR.\n"
           "  --data DIR     data root holding rps28/ (default: $ENCDEC_DATA, else ../shared/data);\n"
           "                 without it, generated images are used\n"
           "  --out DIR      where the checkpoint and the picture go (default out/demo)\n"
           "  --epochs N     training epochs (default 12)\n"
           "  --width N      channels of the first level (default 16; the second has 2N)\n"
           "  --threads N    threads (default: ED_NUM_THREADS or all cores)\n"
           "  --seed S       seed for split, noise, initialisation and order (default 0)\n");
}

int cmd_demo(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) { help(); return 0; }
    denoise_opts o;
    denoise_opts_default(&o);
    o.epochs = 12;   /* ~15 s on 2 idle cores; under 3 minutes on a busy machine */
    const char *data = NULL;
    static char width_cfg[96];
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        long n;
        if ((v = cli_value(argc, argv, &i, "--data", &missing))) data = v;
        else if ((v = cli_value(argc, argv, &i, "--out", &missing))) o.out_dir = v;
        else if ((v = cli_value(argc, argv, &i, "--width", &missing))) {
            if (!cli_parse_int(v, 1, 256, &n)) return cli_usage("demo", "--width takes an integer 1..256, got '%s'", v);
            snprintf(width_cfg, sizeof width_cfg, "{\"in_channels\":3,\"width\":%ld}", n);
            o.config = width_cfg;
        } else if ((v = cli_value(argc, argv, &i, "--epochs", &missing))) {
            if (!cli_parse_int(v, 1, 100000, &n)) return cli_usage("demo", "--epochs takes a positive integer, got '%s'", v);
            o.epochs = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) {
            if (!cli_parse_int(v, 1, 1024, &n)) return cli_usage("demo", "--threads takes a positive integer, got '%s'", v);
            ed_set_num_threads((int)n);
        } else if ((v = cli_value(argc, argv, &i, "--seed", &missing))) {
            if (!cli_parse_int(v, 0, 0x7fffffffL, &n)) return cli_usage("demo", "--seed takes a non-negative integer, got '%s'", v);
            o.seed = (uint64_t)n;
        } else if (missing) return cli_usage("demo", "%s needs a value", argv[i]);
        else return cli_usage("demo", "unknown option '%s'", argv[i]);
    }
    char root[4096], rps[4200];
    const char *r = cli_data_root(data, root, sizeof root);
    struct stat sb;
    if (r) {
        snprintf(rps, sizeof rps, "%s/rps28/train", r);
        if (stat(rps, &sb) != 0) snprintf(rps, sizeof rps, "%s/train", r);          /* --data pointing at rps28/ */
        if (stat(rps, &sb) != 0) snprintf(rps, sizeof rps, "%s", r);                /* or at rps28/train */
    }
    bool have = r && stat(rps, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (have) {
        ed_file_list *fl = NULL;
        have = ed_file_list_images(rps, 1, &fl) == ED_OK;
        ed_file_list_free(fl);
    }
    if (have) {
        o.data_dir = rps;
        o.class_folders = 1;
        printf("data: Rock Paper Scissors 28x28 from %s\n", rps);
    } else {
        printf("data: Rock Paper Scissors not found (%s); using %d generated 28x28 images instead.\n"
               "      Point --data or ENCDEC_DATA at a folder holding rps28/ (see 'encdec data fetch rps28').\n",
               r ? rps : "no data folder", o.synth_count);
    }
    denoise_result res;
    int rc = denoise_train(&o, &res);
    if (rc) return rc;
    printf("\nvalidation (%d images): noisy %.2f dB -> denoised %.2f dB (+%.2f dB) in %.0f s\n", res.n_val, res.noisy_psnr,
           res.denoised_psnr, res.denoised_psnr - res.noisy_psnr, res.seconds);
    printf("picture (clean | noisy | denoised): %s\n", res.grid_path);
    printf("curves (loss, PSNR per epoch): %s\n", res.curve_path);
    printf("model: %s  (try: encdec info %s)\n", res.model_path, res.model_path);
    return demo_shipped(r, o.out_dir);
}
