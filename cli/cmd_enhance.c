/* encdec enhance --model M in.png -o out.png: run a denoising model on one
 * image. Sizes that the model cannot take directly are padded by
 * reflection to its size multiple and cropped back, so any size works.
 * (Tiling of very large images comes with the enhancement issue.) */
#include "cli.h"
#include "core/ed_internal.h"

#include <stdio.h>
#include <string.h>

static int run(const char *model_path, const char *in, const char *outp)
{
    ed_model *m = NULL;
    if (ed_model_load(model_path, &m) != ED_OK) return cli_lib_error("loading the model");
    int rc = 0;
    ed_image *img = NULL, *res = NULL;
    ed_tensor *x = NULL, *xp = NULL, *y = NULL, *yc = NULL;
    if (strcmp(ed_model_task(m), "denoise")) { rc = cli_error("%s is a '%s' model; enhance takes denoise models", model_path, ed_model_task(m)); goto out; }
    if (ed_image_load(in, 0, &img) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    int c = ed_model_in_channels(m), ic = img->channels >= 3 ? 3 : 1;
    if (c != ic)
        { rc = cli_error("%s has %d colour channel%s but the model takes %d (%s)", in, ic, ic == 1 ? "" : "s", c, c == 1 ? "gray" : "RGB"); goto out; }
    int64_t H = img->height, W = img->width;
    if (ed_tensor_new(ED_F32, 4, (int64_t[]){ 1, c, H, W }, &x) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    double maxv = img->bit_depth == 16 ? 65535.0 : 255.0;
    for (int k = 0; k < c; k++)
        for (int64_t p = 0; p < H * W; p++) {
            size_t s = (size_t)p * (size_t)img->channels + (size_t)k;
            double v = img->bit_depth == 16 ? ((uint16_t *)img->data)[s] : ((uint8_t *)img->data)[s];
            ((float *)ed_tensor_data(x))[(int64_t)k * H * W + p] = (float)(v / maxv);
        }
    int mult = ed_model_size_multiple(m);
    int64_t ph = (mult - H % mult) % mult, pw = (mult - W % mult) % mult;
    ed_no_grad_begin();
    ed_status st = ed_pad(x, (int64_t[]){ 0, pw, 0, ph }, 4, (ph < H && pw < W) ? ED_PAD_REFLECT : ED_PAD_REPLICATE, 0, &xp);
    if (st == ED_OK) st = ed_model_forward(m, xp, 0, &y);
    if (st == ED_OK) st = ed_pad(y, (int64_t[]){ 0, -pw, 0, -ph }, 4, ED_PAD_CONSTANT, 0, &yc);
    ed_no_grad_end();
    if (st != ED_OK) { rc = cli_lib_error("running the model"); goto out; }
    if (ed_image_new((int)W, (int)H, c, 8, &res) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    for (int k = 0; k < c; k++)
        for (int64_t p = 0; p < H * W; p++) {
            double v = ((float *)ed_tensor_data(yc))[(int64_t)k * H * W + p];
            v = v < 0 ? 0 : v > 1 ? 1 : v;
            ((uint8_t *)res->data)[(size_t)p * (size_t)c + (size_t)k] = (uint8_t)(v * 255 + 0.5);
        }
    if (ed_image_save_png(outp, res) != ED_OK) rc = cli_lib_error(NULL);
    else printf("wrote %s (%lldx%lld)\n", outp, (long long)W, (long long)H);
out:
    ed_tensor_free(x); ed_tensor_free(xp); ed_tensor_free(y); ed_tensor_free(yc);
    ed_image_free(img); ed_image_free(res);
    ed_model_free(m);
    return rc;
}

int cmd_enhance(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        printf("usage: encdec enhance --model M.safetensors IN.png -o OUT.png [--threads N]\n\nDenoises IN with a denoising checkpoint.\n");
        return 0;
    }
    const char *model = NULL, *in = NULL, *outp = NULL;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        long n;
        if ((v = cli_value(argc, argv, &i, "--model", &missing))) model = v;
        else if ((v = cli_value(argc, argv, &i, "-o", &missing)) || (v = cli_value(argc, argv, &i, "--output", &missing))) outp = v;
        else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) {
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
    return run(model, in, outp);
}
