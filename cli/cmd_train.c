/* encdec train --task denoise|sr: patch-based training of an enhancement
 * model (the loop is in trainer.c). */
#include "trainer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: encdec train --task denoise|sr --data DIR [options]\n\n"
           "  --task denoise|sr     denoising (noise added on the fly) or super-resolution (Y channel)\n"
           "  --arch NAME           dncnn, drunet, rednet, dae (denoise; default dncnn); fsrcnn, edsr (sr; default edsr)\n"
           "  --config JSON         architecture configuration, e.g. '{\"width\":32,\"depth\":10}'\n"
           "  --data DIR            training images (PNG/JPEG)\n"
           "  --val DIR             validation images: PSNR each epoch, best.safetensors by it\n"
           "  --channels 1|3        denoise: gray or colour model (default 1)\n"
           "  --sigma S             denoise: noise std on the 0..255 scale (default 25)\n"
           "  --sigma-range LO,HI   denoise: blind training, sigma uniform in [LO, HI] per patch\n"
           "  --val-sigma S         sigma of the validation noise (default: --sigma, or HI)\n"
           "  --scale 2|3|4         sr: the upscaling factor (default 3)\n"
           "  --patch P             patch size (LR size for sr; HR patches are P*scale) (default 40)\n"
           "  --rescale F,F,..      each training image also enters downscaled by these factors (MATLAB bicubic),\n"
           "                        e.g. 0.9,0.8,0.7,0.6: FSRCNN's augmented T91\n"
           "  --batch B             patches per step (default 64)\n"
           "  --epochs N            (default 10)\n"
           "  --steps N             steps per epoch (default: one pass over the training pixels)\n"
           "  --lr LR --lr-min LR   Adam, cosine from lr to lr-min (default 1e-3, 1e-4)\n"
           "  --loss mse|l1         (default mse for denoise, l1 for sr)\n"
           "  --seed S              initialisation, patches and noise (default 0)\n"
           "  --precision f32|bf16  bf16: convolutions multiply in bfloat16 (oneDNN builds; AMX where present);\n"
           "                        validation always runs in float32 (default f32)\n"
           "  --conv-algo direct|winograd  winograd: 3x3 float32 convolutions by Winograd's F(4x4, 3x3) where\n"
           "                        the CPU has a kernel (AVX-512): about 2x faster convolutions, results within\n"
           "                        ~1e-5 of direct ones (default direct)\n"
           "  --time-limit S        stop after S seconds of training steps (validation not counted);\n"
           "                        the partial epoch is validated and saved\n"
           "  --stop-step N         stop after global step N, as --time-limit does (the learning-rate schedule\n"
           "                        still spans all epochs): repeats a run that --time-limit cut short\n"
           "  --target-psnr DB      stop once the validation PSNR reaches DB\n"
           "  --out DIR             last.safetensors, best.safetensors, curves.png/svg (default out/train)\n"
           "  --resume CKPT         continue from a last.safetensors (epoch, schedule, history; Adam restarts)\n"
           "  --init CKPT           start a new run from CKPT's weights where name and shape match (fine-tuning,\n"
           "                        e.g. x2 and x4 from an x3 model); the rest is initialised as usual\n"
           "  --val-limit N         validate on the first N images only\n"
           "  --tile T --overlap O  tiled validation (default 256, 48)\n"
           "  --threads N\n");
}

static int parse_int(const char *opt, const char *v, long lo, long hi, long *n)
{
    if (!cli_parse_int(v, lo, hi, n)) return cli_usage("train", "%s takes an integer in %ld..%ld, got '%s'", opt, lo, hi, v);
    return 0;
}

/* --rescale F,F,..: up to 8 factors in (0, 1). */
static int parse_factors(const char *v, train_opts *o)
{
    const char *p = v;
    o->n_rescale = 0;
    for (;;) {
        char *end;
        errno = 0;
        double f = strtod(p, &end);
        if (end == p || errno || !(f > 0 && f < 1) || (*end && *end != ',') || o->n_rescale == 8)
            return cli_usage("train", "--rescale takes up to 8 factors between 0 and 1 separated by commas (e.g. 0.9,0.8,0.7,0.6), got '%s'", v);
        o->rescale[o->n_rescale++] = f;
        if (!*end) return 0;
        p = end + 1;
    }
}

int cmd_train(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) { help(); return 0; }
    train_opts o;
    train_opts_default(&o);
    const char *loss = NULL;
    int sigma_given = 0, bf16 = 0;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        long n = 0;
        double x;
        int rc = 0;
        if ((v = cli_value(argc, argv, &i, "--task", &missing))) o.task = v;
        else if ((v = cli_value(argc, argv, &i, "--arch", &missing))) o.arch = v;
        else if ((v = cli_value(argc, argv, &i, "--config", &missing))) o.config = v;
        else if ((v = cli_value(argc, argv, &i, "--data", &missing))) o.data_dir = v;
        else if ((v = cli_value(argc, argv, &i, "--val", &missing))) o.val_dir = v;
        else if ((v = cli_value(argc, argv, &i, "--out", &missing))) o.out_dir = v;
        else if ((v = cli_value(argc, argv, &i, "--resume", &missing))) o.resume = v;
        else if ((v = cli_value(argc, argv, &i, "--init", &missing))) o.init = v;
        else if ((v = cli_value(argc, argv, &i, "--loss", &missing))) {
            if (strcmp(v, "mse") && strcmp(v, "l1")) return cli_usage("train", "--loss takes mse or l1, got '%s'", v);
            loss = v;
        } else if ((v = cli_value(argc, argv, &i, "--precision", &missing))) {
            if (strcmp(v, "f32") && strcmp(v, "bf16")) return cli_usage("train", "--precision takes f32 or bf16, got '%s'", v);
            bf16 = !strcmp(v, "bf16");
        } else if ((v = cli_value(argc, argv, &i, "--conv-algo", &missing))) {
            if ((rc = cli_conv_algo("train", v))) return rc;
        } else if ((v = cli_value(argc, argv, &i, "--time-limit", &missing))) {
            if (!cli_parse_double(v, 1e-3, 1e9, &x)) return cli_usage("train", "--time-limit takes a positive number of seconds, got '%s'", v);
            o.time_limit = x;
        } else if ((v = cli_value(argc, argv, &i, "--target-psnr", &missing))) {
            if (!cli_parse_double(v, 1e-3, 1000, &x)) return cli_usage("train", "--target-psnr takes a positive number of dB, got '%s'", v);
            o.target_psnr = x;
        } else if ((v = cli_value(argc, argv, &i, "--channels", &missing))) {
            if (!cli_parse_int(v, 1, 3, &n) || n == 2) return cli_usage("train", "--channels takes 1 or 3, got '%s'", v);
            o.channels = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--sigma", &missing))) {
            if (!cli_parse_double(v, 0, 255, &x)) return cli_usage("train", "--sigma takes a number in 0..255, got '%s'", v);
            o.sigma_lo = o.sigma_hi = x;
            sigma_given = 1;
        } else if ((v = cli_value(argc, argv, &i, "--sigma-range", &missing))) {
            double lo, hi;
            char extra;
            if (sscanf(v, "%lf,%lf%c", &lo, &hi, &extra) != 2 || !(lo >= 0 && hi <= 255 && lo <= hi))
                return cli_usage("train", "--sigma-range takes LO,HI with 0 <= LO <= HI <= 255, got '%s'", v);
            o.sigma_lo = lo; o.sigma_hi = hi;
            sigma_given = 1;
        } else if ((v = cli_value(argc, argv, &i, "--rescale", &missing))) {
            if ((rc = parse_factors(v, &o))) return rc;
        } else if ((v = cli_value(argc, argv, &i, "--val-sigma", &missing))) {
            if (!cli_parse_double(v, 0, 255, &x)) return cli_usage("train", "--val-sigma takes a number in 0..255, got '%s'", v);
            o.val_sigma = x;
        } else if ((v = cli_value(argc, argv, &i, "--lr", &missing))) {
            if (!cli_parse_double(v, 1e-12, 10, &x)) return cli_usage("train", "--lr takes a positive number, got '%s'", v);
            o.lr = x;
        } else if ((v = cli_value(argc, argv, &i, "--lr-min", &missing))) {
            if (!cli_parse_double(v, 0, 10, &x)) return cli_usage("train", "--lr-min takes a number >= 0, got '%s'", v);
            o.lr_min = x;
        } else if ((v = cli_value(argc, argv, &i, "--scale", &missing))) { if (!(rc = parse_int("--scale", v, 2, 4, &n))) o.scale = (int)n; }
        else if ((v = cli_value(argc, argv, &i, "--patch", &missing))) { if (!(rc = parse_int("--patch", v, 4, 1024, &n))) o.patch = (int)n; }
        else if ((v = cli_value(argc, argv, &i, "--batch", &missing))) { if (!(rc = parse_int("--batch", v, 1, 65536, &n))) o.batch = (int)n; }
        else if ((v = cli_value(argc, argv, &i, "--epochs", &missing))) { if (!(rc = parse_int("--epochs", v, 1, 100000, &n))) o.epochs = (int)n; }
        else if ((v = cli_value(argc, argv, &i, "--stop-step", &missing))) { if (!(rc = parse_int("--stop-step", v, 1, 1000000000L, &n))) o.stop_step = n; }
        else if ((v = cli_value(argc, argv, &i, "--steps", &missing))) { if (!(rc = parse_int("--steps", v, 1, 100000000, &n))) o.steps_per_epoch = n; }
        else if ((v = cli_value(argc, argv, &i, "--val-limit", &missing))) { if (!(rc = parse_int("--val-limit", v, 1, 1000000, &n))) o.val_limit = (int)n; }
        else if ((v = cli_value(argc, argv, &i, "--tile", &missing))) { if (!(rc = parse_int("--tile", v, 8, 8192, &n))) o.tile = (int)n; }
        else if ((v = cli_value(argc, argv, &i, "--overlap", &missing))) { if (!(rc = parse_int("--overlap", v, 0, 1024, &n))) o.overlap = (int)n; }
        else if ((v = cli_value(argc, argv, &i, "--seed", &missing))) { if (!(rc = parse_int("--seed", v, 0, 0x7fffffffL, &n))) o.seed = (uint64_t)n; }
        else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) { if (!(rc = parse_int("--threads", v, 1, 1024, &n))) ed_set_num_threads((int)n); }
        else if (missing) return cli_usage("train", "%s needs a value", argv[i]);
        else return cli_usage("train", "unknown option '%s'", argv[i]);
        if (rc) return rc;
    }
    if (!o.task) return cli_usage("train", "--task is required (denoise or sr)");
    if (strcmp(o.task, "denoise") && strcmp(o.task, "sr")) return cli_usage("train", "task '%s' is not available (available: denoise, sr)", o.task);
    if (!o.data_dir) return cli_usage("train", "--data is required");
    if (!strcmp(o.task, "sr") && sigma_given) return cli_usage("train", "--sigma and --sigma-range are for --task denoise");
    if (o.target_psnr > 0 && !o.val_dir) return cli_usage("train", "--target-psnr needs --val");
    if (o.init && o.resume) return cli_usage("train", "--init starts a new run and --resume continues one; give one of them");
    if (bf16) {
#ifndef ENCDEC_HAVE_ONEDNN
        return cli_usage("train", "--precision bf16 needs the oneDNN backend; this build has only the float32 reference kernels");
#endif
        if (ed_set_conv_precision(ED_PRECISION_BF16) != ED_OK) return cli_lib_error("--precision bf16");
    }
    o.loss = loss ? loss : !strcmp(o.task, "sr") ? "l1" : "mse";
    return train_run(&o);
}
