/* encdec enhance --model M in.png -o out.png: run a denoising or
 * super-resolution model on one image of any size. The image is processed
 * in overlapping tiles (trainer.h, train_infer.c) so memory stays that of
 * one tile whatever the image size; with enough overlap the result equals
 * an untiled run. SR models upscale: Y through the model, Cb and Cr
 * bicubic. Alpha is dropped. */
#include "trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int run(const char *model_path, const char *in, const char *outp, int tile, int overlap, int ensemble)
{
    ed_model *m = NULL;
    if (ed_model_load(model_path, &m) != ED_OK) return cli_lib_error("loading the model");
    ed_model_freeze(m, 1);   /* its weights never change here: no per-call weight check */
    int rc = 0;
    ed_image *img = NULL, *res = NULL;
    planes p = { 0 };
    const char *task = ed_model_task(m);
    if (strcmp(task, "denoise") && strcmp(task, "sr")) { rc = cli_error("%s is a '%s' model; enhance takes denoise and sr models", model_path, task); goto out; }
    if (ed_image_load(in, 0, &img) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    if ((rc = planes_from_image(img, &p))) goto out;
    int s = model_scale(m), c = ed_model_in_channels(m);
    if (!(p.c == c || (s > 1 && c == 1 && p.c == 3))) {
        rc = cli_error("%s has %d colour channel%s but the model takes %d (%s)", in, p.c, p.c == 1 ? "" : "s", c, c == 1 ? "gray" : "RGB");
        goto out;
    }
    if ((int64_t)p.w * s > ED_IMAGE_MAX_SIDE || (int64_t)p.h * s > ED_IMAGE_MAX_SIDE) { rc = cli_error("%s upscaled x%d is too large", in, s); goto out; }
    if (ed_image_new(p.w * s, p.h * s, p.c, 8, &res) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    ed_image_free(img);
    img = NULL;
    if ((rc = enhance_planes(m, &p, tile, overlap, ensemble, res->data))) goto out;
    if (ed_image_save_png(outp, res) != ED_OK) rc = cli_lib_error(NULL);
    else printf("wrote %s (%dx%d)\n", outp, res->width, res->height);
out:
    planes_free(&p);
    ed_image_free(img); ed_image_free(res);
    ed_model_free(m);
    return rc;
}

int cmd_enhance(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: encdec enhance --model M.safetensors IN.png -o OUT.png [--tile T] [--overlap O] [--ensemble]\n"
               "                      [--threads N] [--conv-algo direct|winograd]\n\n"
               "Denoises IN with a denoising checkpoint, or upscales it with a super-resolution one\n"
               "(colour: Y through the model, Cb/Cr bicubic). Any size: tiles of T x T pixels (default\n"
               "256) with O pixels of context on each side (default 48) keep memory bounded.\n"
               "--ensemble averages the model over the 8 flips and quarter turns of each tile\n"
               "(EDSR+'s self-ensemble: a little more PSNR for 8 times the time).\n"
               "--conv-algo winograd: 3x3 float32 convolutions by Winograd's F(4x4, 3x3) where the CPU\n"
               "has a kernel for it (faster; differs from direct by ~1e-6 to 1e-5 of the output's scale).\n");
        return 0;
    }
    const char *model = NULL, *in = NULL, *outp = NULL;
    int tile = 256, overlap = 48, ensemble = 0;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        long n;
        if (cli_flag(argv, &i, "--ensemble")) ensemble = 1;
        else if ((v = cli_value(argc, argv, &i, "--model", &missing))) model = v;
        else if ((v = cli_value(argc, argv, &i, "-o", &missing)) || (v = cli_value(argc, argv, &i, "--output", &missing))) outp = v;
        else if ((v = cli_value(argc, argv, &i, "--tile", &missing))) {
            if (!cli_parse_int(v, 8, 8192, &n)) return cli_usage("enhance", "--tile takes an integer 8..8192, got '%s'", v);
            tile = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--overlap", &missing))) {
            if (!cli_parse_int(v, 0, 1024, &n)) return cli_usage("enhance", "--overlap takes an integer 0..1024, got '%s'", v);
            overlap = (int)n;
        } else if ((v = cli_value(argc, argv, &i, "--conv-algo", &missing))) {
            int rc = cli_conv_algo("enhance", v);
            if (rc) return rc;
        } else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) {
            if (!cli_parse_int(v, 1, 1024, &n)) return cli_usage("enhance", "--threads takes a positive integer, got '%s'", v);
            ed_set_num_threads((int)n);
        } else if (missing) return cli_usage("enhance", "%s needs a value", argv[i]);
        else if (argv[i][0] == '-') return cli_usage("enhance", "unknown option '%s'", argv[i]);
        else if (!in) in = argv[i];
        else return cli_usage("enhance", "more than one input image ('%s')", argv[i]);
    }
    if (!model) return cli_usage("enhance", "--model is required");
    if (!in) return cli_usage("enhance", "an input image is required");
    if (!outp) return cli_usage("enhance", "-o OUT.png is required");
    return run(model, in, outp, tile, overlap, ensemble);
}
