/* encdec train --task denoise: train a denoising model on a folder of
 * images. (Super-resolution and segmentation tasks come with their issues.) */
#include "denoise.h"

#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: encdec train --task denoise --data DIR [options]\n\n"
           "  --task denoise       the task (denoise; sr and semseg are planned)\n"
           "  --arch NAME          architecture (default dae)\n"
           "  --config JSON        architecture configuration, e.g. '{\"width\":32}'\n"
           "  --data DIR           folder of images (PNG/JPEG); with --classes, class sub-folders\n"
           "  --classes            images sit in class sub-folders\n"
           "  --channels 1|3       gray or colour (default 3)\n"
           "  --size N             centre crop N x N (default 28)\n"
           "  --sigma S            noise std on the 0..255 scale (default 25)\n"
           "  --epochs N --batch B --lr LR --seed S --val-fraction F\n"
           "  --out DIR            checkpoint and pictures (default out/train)\n"
           "  --threads N\n");
}

int cmd_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) { help(); return 0; }
    denoise_opts o;
    denoise_opts_default(&o);
    o.out_dir = "out/train";
    o.sigma = 25.0 / 255.0;
    const char *task = NULL;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        long n;
        double x;
        if ((v = cli_value(argc, argv, &i, "--task", &missing))) task = v;
        else if ((v = cli_value(argc, argv, &i, "--arch", &missing))) o.arch = v;
        else if ((v = cli_value(argc, argv, &i, "--config", &missing))) o.config = v;
        else if ((v = cli_value(argc, argv, &i, "--data", &missing))) o.data_dir = v;
        else if (cli_flag(argv, &i, "--classes")) o.class_folders = 1;
        else if ((v = cli_value(argc, argv, &i, "--out", &missing))) o.out_dir = v;
        else if ((v = cli_value(argc, argv, &i, "--channels", &missing))) {
            if (!cli_parse_int(v, 1, 3, &n) || n == 2) return cli_usage("train", "--channels takes 1 or 3, got '%s'", v);
            o.channels = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--size", &missing))) {
            if (!cli_parse_int(v, 4, 4096, &n)) return cli_usage("train", "--size takes an integer 4..4096, got '%s'", v);
            o.size = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--sigma", &missing))) {
            if (!cli_parse_double(v, 0, 255, &x)) return cli_usage("train", "--sigma takes a number in 0..255, got '%s'", v);
            o.sigma = x / 255.0;
        } else if ((v = cli_value(argc, argv, &i, "--epochs", &missing))) {
            if (!cli_parse_int(v, 1, 100000, &n)) return cli_usage("train", "--epochs takes a positive integer, got '%s'", v);
            o.epochs = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--batch", &missing))) {
            if (!cli_parse_int(v, 1, 65536, &n)) return cli_usage("train", "--batch takes a positive integer, got '%s'", v);
            o.batch = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--lr", &missing))) {
            if (!cli_parse_double(v, 1e-12, 10, &x)) return cli_usage("train", "--lr takes a positive number, got '%s'", v);
            o.lr = x;
        } else if ((v = cli_value(argc, argv, &i, "--val-fraction", &missing))) {
            if (!cli_parse_double(v, 0.001, 0.9, &x)) return cli_usage("train", "--val-fraction takes a number in (0, 0.9], got '%s'", v);
            o.val_fraction = x;
        } else if ((v = cli_value(argc, argv, &i, "--seed", &missing))) {
            if (!cli_parse_int(v, 0, 0x7fffffffL, &n)) return cli_usage("train", "--seed takes a non-negative integer, got '%s'", v);
            o.seed = (uint64_t)n;
        } else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) {
            if (!cli_parse_int(v, 1, 1024, &n)) return cli_usage("train", "--threads takes a positive integer, got '%s'", v);
            ed_set_num_threads((int)n);
        } else if (missing) return cli_usage("train", "%s needs a value", argv[i]);
        else return cli_usage("train", "unknown option '%s'", argv[i]);
    }
    if (!task) return cli_usage("train", "--task is required (denoise)");
    if (strcmp(task, "denoise")) return cli_usage("train", "task '%s' is not available yet (available: denoise)", task);
    if (!o.data_dir) return cli_usage("train", "--data is required");
    denoise_result res;
    int rc = denoise_train(&o, &res);
    if (rc) return rc;
    printf("{\"task\":\"denoise\",\"psnr_noisy\":%.4f,\"psnr\":%.4f,\"images\":%d,\"seconds\":%.1f,\"model\":\"%s\"}\n",
           res.noisy_psnr, res.denoised_psnr, res.n_val, res.seconds, res.model_path);
    return 0;
}
