/* encdec crf --image IMG (--probs P.npy | --labels L.png) -o OUT.png: refine
 * a segmentation with the dense CRF (include/encdec/crf.h), pydensecrf's
 * usual recipe: a Gaussian term (sxy 3, Potts 3) and a bilateral term
 * (sxy 80, srgb 13, Potts 10) over the image, 5 mean-field iterations.
 *
 * --probs: class probabilities as a float32 .npy of shape (n_labels, H, W),
 *   the layout pydensecrf's unary_from_softmax takes (softmax over axis 0;
 *   np.save("p.npy", probs.astype(np.float32))). Energies -log(clip(p,
 *   1e-5, 1)).
 * --labels: an index PNG (gray or palette; value = label), as
 *   unary_from_labels with --gt-prob: the given label has probability
 *   gt_prob, the others share the rest; --unsure V marks value V (CamVid's
 *   void 11, VOC's 255) as unknown (uniform).
 * The output is an index PNG of the refined labels: gray, or with --palette
 * camvid|voc a palette PNG (still the indices, shown in colour). --overlay
 * writes the image with the labels blended in. */
#include "cli.h"
#include "npy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct crf_opts {
    const char *image, *probs, *labels, *out, *overlay, *palette;
    long n_labels, iters, unsure;
    double sxy_g, compat_g, sxy_b, srgb, compat_b, gt_prob;
} crf_opts;

/* Loads the image as an 8-bit RGB (H, W, 3) tensor. */
static int load_rgb(const char *path, ed_image **img, ed_tensor **rgb)
{
    ed_image *raw = NULL;
    if (ed_image_load(path, 0, &raw) != ED_OK) return cli_lib_error("reading the image");
    ed_status st = ed_picture_rgb(raw, img);
    ed_image_free(raw);
    if (st != ED_OK) return cli_lib_error(path);
    if (ed_tensor_from_data(ED_U8, 3, (int64_t[]){ (*img)->height, (*img)->width, 3 }, (*img)->data, rgb) != ED_OK)
        return cli_lib_error(path);
    return 0;
}

/* Unary energies (L, H * W) from a (L, H, W) float32 .npy; *before gets the
 * argmax of the probabilities (for the "changed" count). */
static int unary_from_probs(const crf_opts *o, int W, int H, int *L, ed_tensor **unary, uint8_t *before)
{
    char err[512];
    ed_tensor *p = NULL;
    if (npy_load_f32(o->probs, &p, err, sizeof err)) return cli_error("%s", err);
    int rc = 0;
    const int64_t *s = ed_tensor_shape(p);
    int nd = ed_tensor_ndim(p);
    if (nd != 3) {
        rc = cli_error("%s must be (n_labels, H, W) = (n, %d, %d) float32, got %d dimension%s", o->probs, H, W, nd,
                       nd == 1 ? "" : "s");
        goto out;
    }
    if (s[1] != H || s[2] != W) {
        if (s[0] == H && s[1] == W)
            rc = cli_error("%s is (%lld, %lld, %lld): it looks like (H, W, n_labels); (n_labels, H, W) is needed - "
                           "save np.moveaxis(p, -1, 0)", o->probs, (long long)s[0], (long long)s[1], (long long)s[2]);
        else
            rc = cli_error("%s is (%lld, %lld, %lld) = (n_labels, H, W), %lldx%lld (W x H), but %s is %dx%d", o->probs,
                           (long long)s[0], (long long)s[1], (long long)s[2], (long long)s[2], (long long)s[1],
                           o->image, W, H);
        goto out;
    }
    if (s[0] < 1 || s[0] > 256) {
        rc = cli_error("%s has %lld labels; 1 to 256 are supported (the output is 8-bit)", o->probs, (long long)s[0]);
        goto out;
    }
    if (o->n_labels && o->n_labels != s[0]) {
        rc = cli_error("--n-labels is %ld but %s holds %lld labels", o->n_labels, o->probs, (long long)s[0]);
        goto out;
    }
    *L = (int)s[0];
    const float *pp = ed_tensor_data(p);
    const int64_t n = (int64_t)W * H;
    for (int64_t i = 0; i < n; i++) {
        int best = 0;
        for (int l = 1; l < *L; l++)
            if (pp[l * n + i] > pp[best * n + i]) best = l;
        before[i] = (uint8_t)best;
    }
    if (ed_crf_unary_from_softmax(p, 0.0, 1e-5, unary) != ED_OK) rc = cli_lib_error(o->probs);
out:
    ed_tensor_free(p);
    return rc;
}

/* Unary energies from an index PNG; labels -1 in before where unsure. */
static int unary_from_label_png(const crf_opts *o, int W, int H, int *L, ed_tensor **unary, uint8_t *before,
                                int64_t *n_unsure)
{
    ed_image *im = NULL;
    ed_tensor *t = NULL;
    if (ed_image_load(o->labels, ED_IMAGE_KEEP_PALETTE, &im) != ED_OK) return cli_lib_error("reading the labels");
    int rc = 0;
    if (im->channels != 1 || im->bit_depth != 8) {
        rc = cli_error("%s has %d channel%s of %d bits; an index PNG (8-bit gray or palette, value = label) is needed",
                       o->labels, im->channels, im->channels == 1 ? "" : "s", im->bit_depth);
        goto out;
    }
    if (im->width != W || im->height != H) {
        rc = cli_error("%s is %dx%d but %s is %dx%d (W x H)", o->labels, im->width, im->height, o->image, W, H);
        goto out;
    }
    const int64_t n = (int64_t)W * H;
    const uint8_t *v = im->data;
    int top = -1;
    int64_t top_at = 0;
    for (int64_t i = 0; i < n; i++)
        if (v[i] != o->unsure && v[i] > top) top = v[i], top_at = i;
    if (top < 0) {
        rc = cli_error("%s holds only the unsure value %ld", o->labels, o->unsure);
        goto out;
    }
    *L = o->n_labels ? (int)o->n_labels : top + 1;
    if (top >= *L) {
        rc = cli_error("%s has label %d at (x %lld, y %lld) but there are %d labels (0..%d)%s", o->labels, top,
                       (long long)(top_at % W), (long long)(top_at / W), *L, *L - 1,
                       o->unsure < 0 ? "; --unsure V ignores a void value" : "");
        goto out;
    }
    if (*L < 2) {
        rc = cli_error("%s holds one label only; --n-labels N (>= 2) says how many there are", o->labels);
        goto out;
    }
    /* unary_from_labels with zero_unsure: 0 = unknown, 1..L = labels. */
    if (ed_tensor_new(ED_U8, 1, (int64_t[]){ n }, &t) != ED_OK) {
        rc = cli_lib_error(NULL);
        goto out;
    }
    uint8_t *z = ed_tensor_data(t);
    *n_unsure = 0;
    for (int64_t i = 0; i < n; i++) {
        int u = v[i] == o->unsure;
        z[i] = u ? 0 : (uint8_t)(v[i] + 1);
        before[i] = v[i];
        *n_unsure += u;
    }
    if (ed_crf_unary_from_labels(t, *L, o->gt_prob, 1, unary) != ED_OK) rc = cli_lib_error(o->labels);
out:
    ed_tensor_free(t);
    ed_image_free(im);
    return rc;
}

static int pick_palette(const char *name, int L, ed_palette *pal, int *given)
{
    *given = 1;
    if (!name || !strcmp(name, "none")) {
        *given = 0;
        if (ed_palette_distinct(L, pal) != ED_OK) return cli_lib_error(NULL);
    } else if (!strcmp(name, "camvid")) {
        ed_palette_camvid(pal);
        if (L > pal->size)
            return cli_error("--palette camvid has %d colours but there are %d labels", pal->size, L);
    } else if (ed_palette_voc(256, pal) != ED_OK) {
        return cli_lib_error(NULL);
    }
    return 0;
}

static int run(const crf_opts *o)
{
    ed_image *img = NULL, *res = NULL, *ov = NULL;
    ed_tensor *rgb = NULL, *unary = NULL, *map = NULL, *lab = NULL;
    ed_densecrf *crf = NULL;
    uint8_t *before = NULL;
    int rc = load_rgb(o->image, &img, &rgb);
    if (rc) goto out;
    const int W = img->width, H = img->height;
    const int64_t n = (int64_t)W * H;
    int L = 0;
    int64_t n_unsure = 0;
    before = malloc((size_t)n);
    if (!before) { rc = cli_error("out of memory for %dx%d", W, H); goto out; }
    rc = o->probs ? unary_from_probs(o, W, H, &L, &unary, before)
                  : unary_from_label_png(o, W, H, &L, &unary, before, &n_unsure);
    if (rc) goto out;
    ed_palette pal;
    int pal_given;
    if ((rc = pick_palette(o->palette, L, &pal, &pal_given))) goto out;

    ed_crf_pairwise pw;
    double t0 = cli_now();
    if (ed_densecrf_new_2d(W, H, L, &crf) != ED_OK || ed_densecrf_set_unary(crf, unary) != ED_OK)
        { rc = cli_lib_error("setting up the CRF"); goto out; }
    if (o->compat_g > 0) {
        ed_crf_pairwise_default(&pw, o->compat_g);
        if (ed_densecrf_add_gaussian(crf, o->sxy_g, o->sxy_g, &pw) != ED_OK)
            { rc = cli_lib_error("the Gaussian term"); goto out; }
    }
    if (o->compat_b > 0) {
        ed_crf_pairwise_default(&pw, o->compat_b);
        if (ed_densecrf_add_bilateral(crf, o->sxy_b, o->sxy_b, o->srgb, o->srgb, o->srgb, rgb, &pw) != ED_OK)
            { rc = cli_lib_error("the bilateral term"); goto out; }
    }
    if (ed_densecrf_map(crf, (int)o->iters, &map) != ED_OK) { rc = cli_lib_error("CRF inference"); goto out; }
    double secs = cli_now() - t0;

    /* The index PNG (palette PNG with --palette). */
    if (ed_image_new(W, H, 1, 8, &res) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    const int64_t *m = ed_tensor_data(map);
    uint8_t *px = res->data;
    int64_t changed = 0;
    for (int64_t i = 0; i < n; i++) {
        px[i] = (uint8_t)m[i];
        changed += o->labels && before[i] == o->unsure ? 0 : px[i] != before[i];
    }
    if (pal_given) {
        res->indexed = 1;
        res->palette_size = pal.size;
        for (int k = 0; k < pal.size; k++) {
            memcpy(res->palette[k], pal.rgb[k], 3);
            res->palette[k][3] = 255;
        }
    }
    if (ed_image_save_png(o->out, res) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    if (o->overlay) {
        if (ed_reshape(map, 2, (int64_t[]){ H, W }, &lab) != ED_OK || ed_picture_rgb(img, &ov) != ED_OK ||
            ed_draw_overlay(ov, lab, &pal, 0.5, INT64_MIN) != ED_OK || ed_image_save_png(o->overlay, ov) != ED_OK)
            { rc = cli_lib_error("the overlay"); goto out; }
    }
    int64_t scored = n - n_unsure;
    printf("wrote %s (%dx%d, %d labels, %ld iterations, %.2f s): the CRF changed %lld of %lld pixels (%.2f%%)%s%s\n",
           o->out, W, H, L, o->iters, secs, (long long)changed, (long long)scored,
           scored ? 100.0 * (double)changed / (double)scored : 0.0, o->overlay ? "; overlay " : "",
           o->overlay ? o->overlay : "");
out:
    free(before);
    ed_tensor_free(rgb); ed_tensor_free(unary); ed_tensor_free(map); ed_tensor_free(lab);
    ed_densecrf_free(crf);
    ed_image_free(img); ed_image_free(res); ed_image_free(ov);
    return rc;
}

static void help(void)
{
    printf("usage: encdec crf --image IMG (--probs P.npy | --labels L.png) -o OUT.png [options]\n"
           "\n"
           "Refines a segmentation with a fully connected CRF (pydensecrf's recipe) and\n"
           "writes the labels as an index PNG.\n"
           "\n"
           "  --image IMG          the RGB image (PNG or JPEG; gray is repeated)\n"
           "  --probs P.npy        float32 class probabilities (n_labels, H, W), as\n"
           "                       np.save('p.npy', softmax.astype(np.float32))\n"
           "  --labels L.png       an index PNG (gray or palette; value = label) instead\n"
           "  --n-labels N         number of labels (default: from P.npy, or the largest\n"
           "                       label + 1)\n"
           "  --gt-prob P          with --labels: probability of the given label (0.7)\n"
           "  --unsure V           with --labels: value V means unknown (CamVid void 11)\n"
           "  --iters N            mean-field iterations (5)\n"
           "  --sxy-gaussian S     Gaussian term: spatial std. dev. in pixels (3)\n"
           "  --compat-gaussian W  Gaussian term: Potts weight; 0 leaves it out (3)\n"
           "  --sxy-bilateral S    bilateral term: spatial std. dev. in pixels (80)\n"
           "  --srgb S             bilateral term: colour std. dev. (13)\n"
           "  --compat-bilateral W bilateral term: Potts weight; 0 leaves it out (10)\n"
           "  --palette NAME       camvid, voc or none (default): colours of the overlay;\n"
           "                       camvid/voc also make OUT.png a palette PNG\n"
           "  --overlay OV.png     also write the image with the labels blended in\n"
           "  --threads N          threads (default ED_NUM_THREADS or all cores)\n");
}

int cmd_crf(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) { help(); return 0; }
    crf_opts o = { .iters = 5, .unsure = -1, .sxy_g = 3, .compat_g = 3, .sxy_b = 80, .srgb = 13, .compat_b = 10,
                   .gt_prob = 0.7 };
    bool gt_given = false, unsure_given = false;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        long k;
        const char *a = argv[i];
        struct { const char *name; double *dst; double lo, hi; } reals[] = {
            { "--sxy-gaussian", &o.sxy_g, 1e-6, 1e9 }, { "--compat-gaussian", &o.compat_g, 0, 1e6 },
            { "--sxy-bilateral", &o.sxy_b, 1e-6, 1e9 }, { "--srgb", &o.srgb, 1e-6, 1e9 },
            { "--compat-bilateral", &o.compat_b, 0, 1e6 },
        };
        bool done = false;
        for (size_t r = 0; r < sizeof reals / sizeof reals[0] && !done; r++)
            if ((v = cli_value(argc, argv, &i, reals[r].name, &missing))) {
                if (!cli_parse_double(v, reals[r].lo, reals[r].hi, reals[r].dst))
                    return cli_usage("crf", "%s takes a number %s, got '%s'", reals[r].name,
                                     reals[r].lo > 0 ? "> 0" : ">= 0", v);
                done = true;
            } else if (missing) {
                break;
            }
        if (done) continue;
        if (missing) return cli_usage("crf", "%s needs a value", a);
        if ((v = cli_value(argc, argv, &i, "--image", &missing))) o.image = v;
        else if ((v = cli_value(argc, argv, &i, "--probs", &missing))) o.probs = v;
        else if ((v = cli_value(argc, argv, &i, "--labels", &missing))) o.labels = v;
        else if ((v = cli_value(argc, argv, &i, "-o", &missing)) || (v = cli_value(argc, argv, &i, "--output", &missing)))
            o.out = v;
        else if ((v = cli_value(argc, argv, &i, "--overlay", &missing))) o.overlay = v;
        else if ((v = cli_value(argc, argv, &i, "--palette", &missing))) {
            if (strcmp(v, "camvid") && strcmp(v, "voc") && strcmp(v, "none"))
                return cli_usage("crf", "--palette takes camvid, voc or none, got '%s'", v);
            o.palette = v;
        } else if ((v = cli_value(argc, argv, &i, "--n-labels", &missing))) {
            if (!cli_parse_int(v, 2, 256, &o.n_labels))
                return cli_usage("crf", "--n-labels takes an integer 2 to 256, got '%s'", v);
        } else if ((v = cli_value(argc, argv, &i, "--iters", &missing))) {
            if (!cli_parse_int(v, 0, 100000, &o.iters))
                return cli_usage("crf", "--iters takes an integer >= 0, got '%s'", v);
        } else if ((v = cli_value(argc, argv, &i, "--unsure", &missing))) {
            if (!cli_parse_int(v, 0, 255, &o.unsure))
                return cli_usage("crf", "--unsure takes a label value 0 to 255, got '%s'", v);
            unsure_given = true;
        } else if ((v = cli_value(argc, argv, &i, "--gt-prob", &missing))) {
            if (!cli_parse_double(v, 0, 1, &o.gt_prob) || o.gt_prob <= 0 || o.gt_prob >= 1)
                return cli_usage("crf", "--gt-prob takes a probability strictly between 0 and 1, got '%s'", v);
            gt_given = true;
        } else if ((v = cli_value(argc, argv, &i, "--threads", &missing))) {
            if (!cli_parse_int(v, 1, 1024, &k)) return cli_usage("crf", "--threads takes a positive integer, got '%s'", v);
            ed_set_num_threads((int)k);
        } else if (missing) return cli_usage("crf", "%s needs a value", a);
        else return cli_usage("crf", "unknown %s '%s'", a[0] == '-' ? "option" : "argument", a);
    }
    if (!o.image) return cli_usage("crf", "--image IMG is required");
    if (!o.probs == !o.labels) return cli_usage("crf", "give one of --probs P.npy and --labels L.png");
    if (!o.out) return cli_usage("crf", "-o OUT.png is required");
    if (o.probs && (gt_given || unsure_given))
        return cli_usage("crf", "%s goes with --labels, not --probs", gt_given ? "--gt-prob" : "--unsure");
    if (o.palette && !strcmp(o.palette, "none")) o.palette = NULL;
    return run(&o);
}
