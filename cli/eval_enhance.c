/* encdec eval --task denoise|sr: PSNR and SSIM of an enhancement model over
 * a folder, with the conventions of ../shared/data/README.md (trainer.h).
 * Called by cmd_eval.c for these two tasks; ends with one JSON line. */
#include "trainer.h"

#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("usage: encdec eval --task denoise --model M --data DIR [--sigma 25] [--seed 0]\n"
           "       encdec eval --task sr --model M --data DIR [--scale S]\n\n"
           "  denoise: Gaussian noise (sigma on 0..255, float, no clipping; --seed fixes it),\n"
           "           PSNR/SSIM on 0..255 of the 8-bit result\n"
           "  sr:      LR = MATLAB bicubic downscale (8-bit) of the HR image cropped to a multiple\n"
           "           of the scale; PSNR/SSIM on the Y channel after cropping `scale` border pixels\n"
           "  --scale S             must match the model's (default: the model's)\n"
           "  --tile T --overlap O  tiled inference (default 256, 48)\n"
           "  --ensemble            x8 self-ensemble: flips and quarter turns averaged (EDSR+)\n"
           "  --limit N             the first N images only\n"
           "  --quiet               no line per image\n"
           "  --threads N\n"
           "  --conv-algo direct|winograd  winograd: 3x3 float32 convolutions by Winograd's F(4x4, 3x3)\n"
           "                        (faster; differs from direct by ~1e-6 to 1e-5 of the output's scale)\n");
}

int eval_enhance(int argc, char **argv);

int eval_enhance(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) { help(); return 0; }
    const char *model = NULL;
    eval_opts o = { NULL, NULL, 25, 0, 0, 256, 48, 0, 1, 0 };
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        long n;
        double x;
        if ((v = cli_value(argc, argv, &i, "--task", &missing))) o.task = v;
        else if ((v = cli_value(argc, argv, &i, "--model", &missing))) model = v;
        else if ((v = cli_value(argc, argv, &i, "--data", &missing))) o.dir = v;
        else if (cli_flag(argv, &i, "--quiet")) o.verbose = 0;
        else if (cli_flag(argv, &i, "--ensemble")) o.ensemble = 1;
        else if ((v = cli_value(argc, argv, &i, "--sigma", &missing))) {
            if (!cli_parse_double(v, 0, 255, &x)) return cli_usage("eval", "--sigma takes a number in 0..255, got '%s'", v);
            o.sigma = x;
        } else if ((v = cli_value(argc, argv, &i, "--seed", &missing))) {
            if (!cli_parse_int(v, 0, 0x7fffffffL, &n)) return cli_usage("eval", "--seed takes a non-negative integer, got '%s'", v);
            o.seed = (uint64_t)n;
        } else if ((v = cli_value(argc, argv, &i, "--scale", &missing))) {
            if (!cli_parse_int(v, 2, 4, &n)) return cli_usage("eval", "--scale takes 2, 3 or 4, got '%s'", v);
            o.scale = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--tile", &missing))) {
            if (!cli_parse_int(v, 8, 8192, &n)) return cli_usage("eval", "--tile takes an integer 8..8192, got '%s'", v);
            o.tile = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--overlap", &missing))) {
            if (!cli_parse_int(v, 0, 1024, &n)) return cli_usage("eval", "--overlap takes an integer 0..1024, got '%s'", v);
            o.overlap = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--limit", &missing))) {
            if (!cli_parse_int(v, 1, 1000000, &n)) return cli_usage("eval", "--limit takes a positive integer, got '%s'", v);
            o.limit = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--conv-algo", &missing))) {
            int rc = cli_conv_algo("eval", v);
            if (rc) return rc;
        } else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) {
            if (!cli_parse_int(v, 1, 1024, &n)) return cli_usage("eval", "--threads takes a positive integer, got '%s'", v);
            ed_set_num_threads((int)n);
        } else if (missing) return cli_usage("eval", "%s needs a value", argv[i]);
        else if (!strncmp(argv[i], "--gt", 4) || !strncmp(argv[i], "--pred", 6))
            return cli_usage("eval", "%s is for scoring saved outputs (--task images); --task %s runs a model: --model M --data DIR",
                             argv[i], o.task ? o.task : "denoise|sr");
        else return cli_usage("eval", "unknown option '%s'", argv[i]);
    }
    if (!o.task || (strcmp(o.task, "denoise") && strcmp(o.task, "sr"))) return cli_usage("eval", "--task denoise or --task sr is required here");
    if (!model) return cli_usage("eval", "--model is required");
    if (!o.dir) return cli_usage("eval", "--data is required");
    ed_model *m = NULL;
    if (ed_model_load(model, &m) != ED_OK) return cli_lib_error("loading the model");
    ed_model_freeze(m, 1);   /* its weights never change here: no per-call weight check */
    int rc = 0;
    if (strcmp(ed_model_task(m), o.task)) {
        rc = cli_error("%s is a '%s' checkpoint (%s), not '%s'", model, ed_model_task(m), ed_model_arch(m), o.task);
    } else if (!strcmp(o.task, "sr")) {
        int s = model_scale(m);
        if (o.scale && o.scale != s) rc = cli_error("%s upscales x%d, not x%d", model, s, o.scale);
        o.scale = s;
    }
    eval_result r;
    if (!rc) rc = eval_folder(m, &o, &r);
    if (!rc) {
        if (!strcmp(o.task, "sr"))
            printf("{\"task\":\"sr\",\"model\":\"%s\",\"scale\":%d,\"ensemble\":%s,\"psnr\":%.4f,\"ssim\":%.5f,\"images\":%d}\n", model, o.scale,
                   o.ensemble ? "true" : "false", r.psnr, r.ssim, r.images);
        else
            printf("{\"task\":\"denoise\",\"model\":\"%s\",\"sigma\":%g,\"seed\":%llu,\"ensemble\":%s,\"psnr\":%.4f,\"ssim\":%.5f,\"psnr_noisy\":%.4f,"
                   "\"images\":%d}\n", model, o.sigma, (unsigned long long)o.seed, o.ensemble ? "true" : "false", r.psnr, r.ssim, r.psnr_input, r.images);
    }
    ed_model_free(m);
    return rc;
}
