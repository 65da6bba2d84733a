/* encdec eval --task T ...: score saved predictions against ground truth.
 *   semseg  index PNGs (gray or palette, value = class) in --pred and --gt
 *           with the same file names: confusion matrix, per-class IoU,
 *           mean IoU (nanmean over classes present), global and
 *           class-average accuracy, Dice; optionally an HTML report with
 *           the confusion heat map.
 *   images  PSNR and SSIM (skimage's, as include/encdec/metrics.h) per
 *           image pair and their means; 8-bit images on 0..255, 16-bit on
 *           0..65535. --y-channel compares the BT.601 luma of RGB(A)
 *           images and the gray channel of gray ones, alpha left out, as
 *           BasicSR does; otherwise every stored channel counts.
 *   coco    pycocotools' COCOeval stats of a results file.
 * Every ground-truth file needs its prediction; extra predictions are
 * ignored. The output ends with one line of JSON holding the metrics. JSON
 * has no inf or NaN: a metric that is undefined (NaN) is null, and an
 * infinite PSNR (identical images) is the string "Infinity", which
 * Python's float() and JavaScript's Number() both read as infinity. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct eval_opts {
    const char *task, *pred, *gt, *results, *iou_type, *names, *report, *palette, *model;
    long num_classes, ignore_index, crop_border;
    bool has_ignore, y_channel;
    /* --crf: refine each predicted label map with the dense CRF over its
     * image (--images DIR, same file names) and score both. */
    bool crf;
    const char *images;
    ed_crf_params crf_params;
    double crf_gt_prob;
    long crf_iters;
} eval_opts;

/* ---- JSON output ----------------------------------------------------------- */

static void json_num(double v)
{
    if (isnan(v)) printf("null");
    else if (isinf(v)) printf(v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else printf("%.12g", v);
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') printf("\\%c", *p);
        else if (*p < 0x20) printf("\\u%04x", *p);
        else putchar(*p);
    }
    putchar('"');
}

static void json_key(const char *k, bool first)
{
    printf(first ? "\"%s\":" : ",\"%s\":", k);
}

static void json_nums(const char *k, const double *v, int n)
{
    json_key(k, false);
    putchar('[');
    for (int i = 0; i < n; i++) {
        if (i) putchar(',');
        json_num(v[i]);
    }
    putchar(']');
}

/* ---- pairs of files ---------------------------------------------------------- */

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Loads the ground truth and its prediction (same file name under
 * pred_dir) and checks that their sizes agree. Returns 0 or an exit status
 * (the error already printed). */
static int load_pair(const char *gt_path, const char *pred_dir, int flags, ed_image **gt, ed_image **pred,
                     char *pred_path, size_t n)
{
    *gt = *pred = NULL;
    snprintf(pred_path, n, "%s/%s", pred_dir, base_name(gt_path));
    struct stat sb;
    if (stat(pred_path, &sb) != 0)
        return cli_error("no prediction for %s: %s (%s)", gt_path, strerror(errno), pred_path);
    if (ed_image_load(gt_path, flags, gt) != ED_OK) return cli_lib_error(NULL);
    if (ed_image_load(pred_path, flags, pred) != ED_OK) {
        ed_image_free(*gt);
        *gt = NULL;
        return cli_lib_error(NULL);
    }
    if ((*gt)->width != (*pred)->width || (*gt)->height != (*pred)->height) {
        int rc = cli_error("size mismatch: prediction is %d x %d, ground truth %s is %d x %d (%s)", (*pred)->width,
                           (*pred)->height, gt_path, (*gt)->width, (*gt)->height, pred_path);
        ed_image_free(*gt);
        ed_image_free(*pred);
        *gt = *pred = NULL;
        return rc;
    }
    return 0;
}

static double sample(const ed_image *img, size_t i)
{
    return img->bit_depth == 16 ? ((const uint16_t *)img->data)[i] : ((const uint8_t *)img->data)[i];
}

/* ---- semantic segmentation ------------------------------------------------------ */

static int labels_of(const ed_image *img, const char *path, int64_t *dst)
{
    if (img->channels != 1)
        return cli_error("not a label map: %d channels where one channel of class indices (gray or palette PNG) "
                         "is expected (%s)", img->channels, path);
    for (size_t i = 0, n = (size_t)img->width * (size_t)img->height; i < n; i++) dst[i] = (int64_t)sample(img, i);
    return 0;
}

/* Names for the classes: --names, else the palette's, else NULL (indices). */
static int class_names(const eval_opts *o, const ed_palette *pal, char ***out, char **buf)
{
    int C = (int)o->num_classes;
    *out = NULL;
    *buf = NULL;
    if (!o->names && (!pal || !pal->names[0])) return 0;
    char **v = calloc((size_t)C, sizeof *v);
    if (!v) return cli_error("out of memory");
    if (!o->names) {
        for (int c = 0; c < C; c++) v[c] = (char *)(pal->names[c] ? pal->names[c] : "?");
        *out = v;
        return 0;
    }
    char *s = strdup(o->names);
    if (!s) { free(v); return cli_error("out of memory"); }
    int k = 0;
    for (char *p = s, *tok; (tok = strsep(&p, ",")); k++) {
        if (k < C) v[k] = tok;
    }
    if (k != C) {
        free(v);
        free(s);
        return cli_usage("eval", "--names gives %d names for %d classes", k, C);
    }
    *out = v;
    *buf = s;
    return 0;
}

static void print_scores(const ed_seg_scores *s, const int64_t *conf, char *const *names)
{
    int C = s->num_classes;
    printf("%-16s %8s %9s %8s %12s\n", "class", "IoU", "accuracy", "Dice", "gt pixels");
    for (int c = 0; c < C; c++) {
        int64_t row = 0;
        for (int k = 0; k < C; k++) row += conf[(int64_t)c * C + k];
        char idx[16];
        snprintf(idx, sizeof idx, "%d", c);
        printf("%-16s", names ? names[c] : idx);
        const double v[3] = { s->iou[c], s->recall[c], s->dice[c] };
        const int w[3] = { 9, 10, 9 };
        for (int j = 0; j < 3; j++) {
            if (isnan(v[j])) printf("%*s", w[j], "n/a");
            else printf("%*.4f", w[j], v[j]);
        }
        printf(" %12lld\n", (long long)row);
    }
    printf("mean IoU:                %.4f\nglobal accuracy:         %.4f\nclass-average accuracy:  %.4f\n"
           "mean Dice:               %.4f\n", s->mean_iou, s->global_acc, s->class_acc, s->mean_dice);
}

static int write_report(const eval_opts *o, const ed_seg_scores *s, const int64_t *conf, char *const *names,
                        const ed_palette *pal, int n_images, int64_t pixels)
{
    int C = s->num_classes;
    const char *slash = strrchr(o->report, '/');
    if (slash && slash != o->report) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - o->report), o->report);
        int rc = cli_mkdirs(dir);
        if (rc) return rc;
    }
    /* The heat map is saved beside the page as <stem>_confusion.png, so two
     * reports in one folder keep their own pictures. */
    char pic[512];
    const char *b = base_name(o->report), *dot = strrchr(b, '.');
    size_t stem = dot && dot != b ? (size_t)(dot - b) : strlen(b);
    snprintf(pic, sizeof pic, "%.*s_confusion.png", (int)(stem > 400 ? 400 : stem), b);
    ed_report *r = NULL;
    ed_image *heat = NULL;
    char **cells = calloc((size_t)(C + 1) * 5, sizeof *cells);
    ed_status st = cells ? ed_report_new(o->report, "encdec eval: semantic segmentation", &r) : ED_E_NOMEM;
    char line[8400], ign[48] = "";
    if (o->has_ignore) snprintf(ign, sizeof ign, ", label %ld ignored", o->ignore_index);
    snprintf(line, sizeof line, "Predictions %s against ground truth %s: %d images, %d classes%s.", o->pred, o->gt,
             n_images, C, ign);
    if (st == ED_OK) st = ed_report_add_text(r, line);
    if (st == ED_OK) st = ed_report_add_metric(r, "mean IoU", s->mean_iou);
    if (st == ED_OK) st = ed_report_add_metric(r, "global accuracy", s->global_acc);
    if (st == ED_OK) st = ed_report_add_metric(r, "class-average accuracy", s->class_acc);
    if (st == ED_OK) st = ed_report_add_metric(r, "mean Dice", s->mean_dice);
    if (st == ED_OK) st = ed_report_add_metric(r, "images", n_images);
    if (st == ED_OK) st = ed_report_add_metric(r, "pixels scored", (double)pixels);
    if (st == ED_OK) {
        static const char *const head[5] = { "class", "IoU", "accuracy", "Dice", "gt pixels" };
        for (int j = 0; j < 5 && st == ED_OK; j++) if (!(cells[j] = strdup(head[j]))) st = ED_E_NOMEM;
        for (int c = 0; c < C && st == ED_OK; c++) {
            int64_t row = 0;
            for (int k = 0; k < C; k++) row += conf[(int64_t)c * C + k];
            char v[5][64];
            snprintf(v[0], sizeof v[0], "%s", names ? names[c] : "");
            if (!names) snprintf(v[0], sizeof v[0], "%d", c);
            const double x[3] = { s->iou[c], s->recall[c], s->dice[c] };
            for (int j = 0; j < 3; j++) {
                if (isnan(x[j])) snprintf(v[j + 1], sizeof v[j + 1], "n/a");
                else snprintf(v[j + 1], sizeof v[j + 1], "%.4f", x[j]);
            }
            snprintf(v[4], sizeof v[4], "%lld", (long long)row);
            for (int j = 0; j < 5 && st == ED_OK; j++)
                if (!(cells[(c + 1) * 5 + j] = strdup(v[j]))) st = ED_E_NOMEM;
        }
        if (st == ED_OK) st = ed_report_add_table(r, "Per class", C + 1, 5, (const char *const *)cells);
    }
    if (st == ED_OK)
        st = ed_confusion_heatmap(conf, C, (const char *const *)names, pal && pal->size >= C ? pal : NULL,
                                  C <= 24 ? 2 : 1, &heat);
    if (st == ED_OK)
        st = ed_report_add_image(r, heat, pic, "Confusion matrix: rows are ground truth, columns predictions; "
                                               "each cell is its share of the row");
    if (st == ED_OK) st = ed_report_write(r, 0);
    int rc = 0;
    if (st != ED_OK) rc = cells ? cli_lib_error("writing the report") : cli_error("out of memory");
    else printf("wrote %s\n", o->report);
    if (cells)
        for (int i = 0; i < (C + 1) * 5; i++) free(cells[i]);
    free(cells);
    ed_image_free(heat);
    ed_report_free(r);
    return rc;
}

/* The CRF's view of a hard prediction: probability gt_prob on the predicted
 * class and the rest spread evenly (pydensecrf's unary_from_labels), refined
 * over the RGB image into refined[]. */
static int crf_refine(const eval_opts *o, const char *gt_path, const int64_t *pred, int w, int h, int C, int64_t *refined)
{
    char ip[4200];
    snprintf(ip, sizeof ip, "%s/%s", o->images, base_name(gt_path));
    ed_image *img = NULL, *rgb = NULL;
    if (ed_image_load(ip, 0, &img) != ED_OK) return cli_lib_error("--crf needs the image of each prediction");
    int rc = 0;
    if (img->width != w || img->height != h)
        rc = cli_error("size mismatch: image is %d x %d, prediction %d x %d (%s)", img->width, img->height, w, h, ip);
    else if (ed_picture_rgb(img, &rgb) != ED_OK)
        rc = cli_lib_error(ip);
    size_t n = (size_t)w * (size_t)h;
    float *probs = rc ? NULL : malloc(n * (size_t)C * sizeof *probs);
    uint8_t *out = rc ? NULL : malloc(n);
    if (!rc && (!probs || !out)) rc = cli_error("out of memory for the CRF of %s", ip);
    if (!rc) {
        float on = (float)o->crf_gt_prob, off = C > 1 ? (float)((1 - o->crf_gt_prob) / (C - 1)) : 0.0f;
        for (int c = 0; c < C; c++)
            for (size_t k = 0; k < n; k++) probs[(size_t)c * n + k] = pred[k] == c ? on : off;
        if (ed_crf_refine_image(rgb->data, w, h, probs, C, &o->crf_params, (int)o->crf_iters, out, NULL) != ED_OK)
            rc = cli_lib_error(ip);
        else
            for (size_t k = 0; k < n; k++) refined[k] = out[k];
    }
    free(probs);
    free(out);
    ed_image_free(rgb);
    ed_image_free(img);
    return rc;
}

static int eval_semseg(const eval_opts *o)
{
    const int C = (int)o->num_classes;
    ed_palette pal_buf, *pal = NULL;
    if (o->palette) {
        pal = &pal_buf;
        if (!strcmp(o->palette, "camvid")) ed_palette_camvid(pal);
        else if (ed_palette_voc(C > 21 ? C : 21, pal) != ED_OK) return cli_lib_error(NULL);
        if (pal->size < C) return cli_usage("eval", "--palette %s has %d entries for %d classes", o->palette, pal->size, C);
    }
    char **names = NULL, *names_buf = NULL;
    int rc = class_names(o, pal, &names, &names_buf);
    if (rc) return rc;
    ed_file_list *fl = NULL;
    if (ed_file_list_images(o->gt, 0, &fl) != ED_OK) { rc = cli_lib_error(NULL); goto out_names; }
    int64_t *conf = calloc((size_t)C * (size_t)C, sizeof *conf), *lt = NULL, *lp = NULL, *lr = NULL;
    int64_t *conf_crf = o->crf ? calloc((size_t)C * (size_t)C, sizeof *conf_crf) : NULL;
    size_t cap = 0;
    int64_t pixels = 0, ignored = 0;
    const int64_t ign = o->has_ignore ? o->ignore_index : INT64_MIN;
    if (!conf || (o->crf && !conf_crf)) { rc = cli_error("out of memory for a %d x %d confusion matrix", C, C); goto out; }
    double t0 = cli_now();
    for (int i = 0; i < fl->n && !rc; i++) {
        ed_image *g = NULL, *p = NULL;
        char pp[4200];
        if ((rc = load_pair(fl->paths[i], o->pred, ED_IMAGE_KEEP_PALETTE, &g, &p, pp, sizeof pp))) break;
        size_t n = (size_t)g->width * (size_t)g->height;
        if (n > cap) {
            free(lt);
            free(lp);
            free(lr);
            lt = malloc(n * sizeof *lt);
            lp = malloc(n * sizeof *lp);
            lr = malloc(n * sizeof *lr);
            cap = n;
            if (!lt || !lp || !lr) rc = cli_error("out of memory for %zu labels", n);
        }
        if (!rc) rc = labels_of(g, fl->paths[i], lt);
        if (!rc) rc = labels_of(p, pp, lp);
        for (size_t k = 0; k < n && !rc; k++) {
            if (lt[k] == ign) { ignored++; continue; }
            if (lt[k] < 0 || lt[k] >= C)
                rc = cli_error("ground-truth label %lld at (y %zu, x %zu) is outside 0..%d%s (%s)", (long long)lt[k],
                               k / (size_t)g->width, k % (size_t)g->width, C - 1,
                               o->has_ignore ? " and is not --ignore-index" : "; set --ignore-index for void pixels",
                               fl->paths[i]);
            else if (lp[k] < 0 || lp[k] >= C)
                rc = cli_error("predicted label %lld at (y %zu, x %zu) is outside 0..%d (%s)", (long long)lp[k],
                               k / (size_t)g->width, k % (size_t)g->width, C - 1, pp);
            else pixels++;
        }
        if (!rc && ed_confusion_update(conf, lp, lt, (int64_t)n, C, ign) != ED_OK) rc = cli_lib_error(pp);
        if (!rc && o->crf) rc = crf_refine(o, fl->paths[i], lp, g->width, g->height, C, lr);
        if (!rc && o->crf && ed_confusion_update(conf_crf, lr, lt, (int64_t)n, C, ign) != ED_OK) rc = cli_lib_error(pp);
        ed_image_free(g);
        ed_image_free(p);
        cli_progress("eval", i + 1, fl->n, cli_now() - t0, NULL);
    }
    cli_progress_end();
    if (rc) goto out;
    ed_seg_scores s;
    if (ed_segmentation_scores(conf, C, &s) != ED_OK) { rc = cli_lib_error(NULL); goto out; }
    printf("semseg: %d images, %d classes, %lld pixels scored", fl->n, C, (long long)pixels);
    if (o->has_ignore) printf(", %lld ignored (label %ld)", (long long)ignored, o->ignore_index);
    printf("\n");
    print_scores(&s, conf, names);
    ed_seg_scores sc = { 0 };
    if (o->crf) {
        if (ed_segmentation_scores(conf_crf, C, &sc) != ED_OK) { rc = cli_lib_error(NULL); ed_seg_scores_free(&s); goto out; }
        printf("\nafter the dense CRF (gt_prob %.2f, %ld iterations, gaussian sxy %g compat %g, bilateral sxy %g srgb %g compat %g):\n",
               o->crf_gt_prob, o->crf_iters, o->crf_params.gauss_sx, o->crf_params.gauss_compat, o->crf_params.bilat_sx,
               o->crf_params.bilat_srgb, o->crf_params.bilat_compat);
        print_scores(&sc, conf_crf, names);
    }
    if (o->report) rc = write_report(o, &s, conf, names, pal, fl->n, pixels);
    if (!rc) {
        putchar('{');
        json_key("task", true);
        json_str("semseg");
        json_key("images", false);
        printf("%d", fl->n);
        json_key("num_classes", false);
        printf("%d", C);
        json_key("ignore_index", false);
        if (o->has_ignore) printf("%ld", o->ignore_index);
        else printf("null");
        json_key("pixels", false);
        printf("%lld", (long long)pixels);
        json_key("miou", false);
        json_num(s.mean_iou);
        json_key("global_accuracy", false);
        json_num(s.global_acc);
        json_key("class_accuracy", false);
        json_num(s.class_acc);
        json_key("mean_dice", false);
        json_num(s.mean_dice);
        if (names) {
            json_key("classes", false);
            putchar('[');
            for (int c = 0; c < C; c++) {
                if (c) putchar(',');
                json_str(names[c]);
            }
            putchar(']');
        }
        json_nums("iou", s.iou, C);
        json_nums("accuracy", s.recall, C);
        json_nums("dice", s.dice, C);
        if (o->crf) {
            json_key("crf", false);
            putchar('{');
            json_key("miou", true);
            json_num(sc.mean_iou);
            json_key("global_accuracy", false);
            json_num(sc.global_acc);
            json_key("class_accuracy", false);
            json_num(sc.class_acc);
            json_key("mean_dice", false);
            json_num(sc.mean_dice);
            json_nums("iou", sc.iou, C);
            putchar('}');
        }
        printf("}\n");
    }
    if (o->crf) ed_seg_scores_free(&sc);
    ed_seg_scores_free(&s);
out:
    free(conf);
    free(conf_crf);
    free(lt);
    free(lp);
    free(lr);
    ed_file_list_free(fl);
out_names:
    free(names);
    free(names_buf);
    return rc;
}

/* ---- image quality --------------------------------------------------------------- */

/* The channels that are compared, as floats (see the top of the file). */
static float *iq_floats(const ed_image *img, bool y_channel, int *c)
{
    int ic = img->channels;
    *c = !y_channel ? ic : ic >= 3 ? 3 : 1;
    size_t n = (size_t)img->width * (size_t)img->height;
    float *f = malloc(n * (size_t)*c * sizeof *f);
    if (!f) return NULL;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < *c; k++) f[i * (size_t)*c + (size_t)k] = (float)sample(img, i * (size_t)ic + (size_t)k);
    return f;
}

static int eval_images(const eval_opts *o)
{
    ed_file_list *fl = NULL;
    if (ed_file_list_images(o->gt, 0, &fl) != ED_OK) return cli_lib_error(NULL);
    double *psnr = calloc((size_t)fl->n, sizeof *psnr), *ssim = calloc((size_t)fl->n, sizeof *ssim);
    int rc = psnr && ssim ? 0 : cli_error("out of memory");
    double sum_p = 0, sum_s = 0;
    if (!rc) printf("%-32s %10s %8s\n", "image", "PSNR (dB)", "SSIM");
    for (int i = 0; i < fl->n && !rc; i++) {
        ed_image *g = NULL, *p = NULL;
        char pp[4200];
        if ((rc = load_pair(fl->paths[i], o->pred, 0, &g, &p, pp, sizeof pp))) break;
        float *fg = NULL, *fp = NULL;
        int c = 0;
        if (g->channels != p->channels)
            rc = cli_error("channel mismatch: prediction has %d channels, ground truth %s has %d (%s)", p->channels,
                           fl->paths[i], g->channels, pp);
        else if (g->bit_depth != p->bit_depth)
            rc = cli_error("bit depth mismatch: prediction is %d-bit, ground truth %s is %d-bit (%s)", p->bit_depth,
                           fl->paths[i], g->bit_depth, pp);
        else if (!(fg = iq_floats(g, o->y_channel, &c)) || !(fp = iq_floats(p, o->y_channel, &c)))
            rc = cli_error("out of memory (%s)", pp);
        double range = g->bit_depth == 16 ? 65535.0 : 255.0;
        bool y = o->y_channel && c == 3;
        if (!rc && (ed_psnr(fp, fg, g->height, g->width, c, range, y, (int)o->crop_border, &psnr[i]) != ED_OK ||
                    ed_ssim(fp, fg, g->height, g->width, c, range, y, (int)o->crop_border, &ssim[i]) != ED_OK))
            rc = cli_lib_error(pp);
        if (!rc) {
            sum_p += psnr[i];
            sum_s += ssim[i];
            printf("%-32s %10.4f %8.4f\n", base_name(fl->paths[i]), psnr[i], ssim[i]);
        }
        free(fg);
        free(fp);
        ed_image_free(g);
        ed_image_free(p);
    }
    if (!rc) {
        double mp = sum_p / fl->n, ms = sum_s / fl->n;
        printf("%-32s %10.4f %8.4f   (%d images%s", "mean", mp, ms, fl->n, o->y_channel ? ", Y channel" : "");
        if (o->crop_border) printf(", %ld-pixel border cropped", o->crop_border);
        printf(")\n{");
        json_key("task", true);
        json_str("images");
        json_key("images", false);
        printf("%d", fl->n);
        json_key("y_channel", false);
        printf(o->y_channel ? "true" : "false");
        json_key("crop_border", false);
        printf("%ld", o->crop_border);
        json_key("psnr", false);
        json_num(mp);
        json_key("ssim", false);
        json_num(ms);
        json_key("per_image", false);
        putchar('[');
        for (int i = 0; i < fl->n; i++) {
            printf(i ? ",{" : "{");
            json_key("file", true);
            json_str(base_name(fl->paths[i]));
            json_key("psnr", false);
            json_num(psnr[i]);
            json_key("ssim", false);
            json_num(ssim[i]);
            putchar('}');
        }
        printf("]}\n");
    }
    free(psnr);
    free(ssim);
    ed_file_list_free(fl);
    return rc;
}

/* ---- COCO --------------------------------------------------------------------------- */

static int eval_coco(const eval_opts *o)
{
    static const char *const labels[12] = {
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
        "Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
        "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
    };
    static const char *const keys[12] = { "AP", "AP50", "AP75", "APs", "APm", "APl",
                                          "AR1", "AR10", "AR100", "ARs", "ARm", "ARl" };
    double stats[12];
    if (ed_coco_eval(o->gt, o->results, o->iou_type, stats) != ED_OK) return cli_lib_error(NULL);
    printf("coco %s: %s against %s\n", o->iou_type, o->results, o->gt);
    for (int i = 0; i < 12; i++) printf(" %s = %0.3f\n", labels[i], stats[i]);
    putchar('{');
    json_key("task", true);
    json_str("coco");
    json_key("iou_type", false);
    json_str(o->iou_type);
    for (int i = 0; i < 12; i++) {
        json_key(keys[i], false);
        json_num(stats[i]);
    }
    json_nums("stats", stats, 12);
    printf("}\n");
    return 0;
}

/* ---- options ------------------------------------------------------------------------- */

static void help(void)
{
    printf("usage: encdec eval --task semseg --pred DIR --gt DIR --num-classes N [--ignore-index K]\n"
           "                   [--names A,B,...] [--palette camvid|voc] [--report OUT.html]\n"
           "                   [--crf --images DIR [--gt-prob 0.7 --iters 5 --sxy-gaussian 3 --compat-gaussian 3\n"
           "                    --sxy-bilateral 80 --srgb 13 --compat-bilateral 10]]\n"
           "       encdec eval --task images --pred DIR --gt DIR [--y-channel] [--crop-border N]\n"
           "       encdec eval --task coco --gt GT.json --results RES.json [--iou-type segm|bbox]\n\n"
           "Scores saved predictions against ground truth; every file in --gt needs one of the same\n"
           "name in --pred. The last line is JSON holding the metrics (null where undefined,\n"
           "\"Infinity\" for the PSNR of identical images).\n\n"
           "  semseg   index PNGs (gray or palette, value = class): per-class IoU, mean IoU, global\n"
           "           and class-average accuracy, Dice; --report writes an HTML page with the\n"
           "           confusion heat map. --palette adds class colours (and names without --names).\n"
           "           --crf refines each prediction with the dense CRF over its image (--images, same\n"
           "           file names; unary from the labels with --gt-prob) and scores both; the JSON\n"
           "           gains \"crf\": {miou, ...}. Defaults are pydensecrf's (docs/CRF.md).\n"
           "  images   PSNR and SSIM per image and their means (8-bit on 0..255, 16-bit on\n"
           "           0..65535); --y-channel: BT.601 luma of RGB images, as super-resolution\n"
           "           papers; --crop-border N: N pixels cut from each border first.\n"
           "  coco     pycocotools' COCOeval: the 12 AP/AR stats (default --iou-type segm).\n"
           "  denoise, sr: encdec eval --task denoise|sr --model M --data DIR (encdec eval --task sr --help).\n");
}

int eval_enhance(int argc, char **argv);   /* eval_enhance.c: --task denoise|sr with a model */

int cmd_eval(int argc, char **argv)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--task") && (!strcmp(argv[i + 1], "denoise") || !strcmp(argv[i + 1], "sr"))) return eval_enhance(argc, argv);
    if (cli_wants_help(argc, argv)) {
        help();
        return 0;
    }
    eval_opts o = { .iou_type = "segm", .num_classes = -1, .crf_gt_prob = 0.7, .crf_iters = 5 };
    ed_crf_params_default(&o.crf_params);
    bool crf_flags = false;
    double x;
    for (int i = 1; i < argc; i++) {
        bool missing = false;
        const char *v;
        if ((v = cli_value(argc, argv, &i, "--task", &missing))) o.task = v;
        else if ((v = cli_value(argc, argv, &i, "--pred", &missing))) o.pred = v;
        else if ((v = cli_value(argc, argv, &i, "--gt", &missing))) o.gt = v;
        else if ((v = cli_value(argc, argv, &i, "--results", &missing))) o.results = v;
        else if ((v = cli_value(argc, argv, &i, "--iou-type", &missing))) o.iou_type = v;
        else if ((v = cli_value(argc, argv, &i, "--names", &missing))) o.names = v;
        else if ((v = cli_value(argc, argv, &i, "--report", &missing))) o.report = v;
        else if ((v = cli_value(argc, argv, &i, "--palette", &missing))) o.palette = v;
        else if ((v = cli_value(argc, argv, &i, "--model", &missing))) o.model = v;
        else if ((v = cli_value(argc, argv, &i, "--num-classes", &missing))) {
            if (!cli_parse_int(v, 1, 256, &o.num_classes))
                return cli_usage("eval", "--num-classes takes an integer in 1..256, got '%s'", v);
        } else if ((v = cli_value(argc, argv, &i, "--ignore-index", &missing))) {
            if (!cli_parse_int(v, -1000000, 1000000, &o.ignore_index))
                return cli_usage("eval", "--ignore-index takes an integer, got '%s'", v);
            o.has_ignore = true;
        } else if ((v = cli_value(argc, argv, &i, "--crop-border", &missing))) {
            if (!cli_parse_int(v, 0, 100000, &o.crop_border))
                return cli_usage("eval", "--crop-border takes a non-negative integer, got '%s'", v);
        } else if (cli_flag(argv, &i, "--y-channel")) o.y_channel = true;
        else if (cli_flag(argv, &i, "--crf")) o.crf = true;
        else if ((v = cli_value(argc, argv, &i, "--images", &missing))) o.images = v;
        else if ((v = cli_value(argc, argv, &i, "--iters", &missing))) {
            if (!cli_parse_int(v, 1, 1000, &o.crf_iters)) return cli_usage("eval", "--iters takes an integer 1..1000, got '%s'", v);
            crf_flags = true;
        } else if ((v = cli_value(argc, argv, &i, "--gt-prob", &missing))) {
            if (!cli_parse_double(v, 1e-6, 1 - 1e-6, &o.crf_gt_prob)) return cli_usage("eval", "--gt-prob takes a number in (0, 1), got '%s'", v);
            crf_flags = true;
        } else if ((v = cli_value(argc, argv, &i, "--sxy-gaussian", &missing))) {
            if (!cli_parse_double(v, 1e-6, 1e6, &x)) return cli_usage("eval", "--sxy-gaussian takes a positive number, got '%s'", v);
            o.crf_params.gauss_sx = o.crf_params.gauss_sy = x;
            crf_flags = true;
        } else if ((v = cli_value(argc, argv, &i, "--compat-gaussian", &missing))) {
            if (!cli_parse_double(v, 0, 1e6, &o.crf_params.gauss_compat)) return cli_usage("eval", "--compat-gaussian takes a number >= 0, got '%s'", v);
            crf_flags = true;
        } else if ((v = cli_value(argc, argv, &i, "--sxy-bilateral", &missing))) {
            if (!cli_parse_double(v, 1e-6, 1e6, &x)) return cli_usage("eval", "--sxy-bilateral takes a positive number, got '%s'", v);
            o.crf_params.bilat_sx = o.crf_params.bilat_sy = x;
            crf_flags = true;
        } else if ((v = cli_value(argc, argv, &i, "--srgb", &missing))) {
            if (!cli_parse_double(v, 1e-6, 1e6, &o.crf_params.bilat_srgb)) return cli_usage("eval", "--srgb takes a positive number, got '%s'", v);
            crf_flags = true;
        } else if ((v = cli_value(argc, argv, &i, "--compat-bilateral", &missing))) {
            if (!cli_parse_double(v, 0, 1e6, &o.crf_params.bilat_compat)) return cli_usage("eval", "--compat-bilateral takes a number >= 0, got '%s'", v);
            crf_flags = true;
        }
        else if (missing) return cli_usage("eval", "%s needs a value", argv[i]);
        else return cli_usage("eval", "unknown option '%s'", argv[i]);
    }
    if (!o.task) return cli_usage("eval", "--task is required (semseg, images, coco)");
    if (!strcmp(o.task, "denoise") || !strcmp(o.task, "sr"))
        return cli_usage("eval", "--task %s needs a model: coming with the enhancement issue (to score saved "
                                 "outputs now, use --task images --pred DIR --gt DIR)", o.task);
    bool semseg = !strcmp(o.task, "semseg"), images = !strcmp(o.task, "images"), coco = !strcmp(o.task, "coco");
    if (!semseg && !images && !coco)
        return cli_usage("eval", "unknown task '%s' (semseg, images, coco; denoise and sr need a model)", o.task);
    if (o.model)
        return cli_usage("eval", "--model is not used by --task %s: it scores saved predictions (--pred)", o.task);
    if (!semseg && (o.num_classes >= 0 || o.has_ignore || o.names || o.report || o.palette))
        return cli_usage("eval", "--num-classes, --ignore-index, --names, --palette and --report are for --task semseg");
    if (!semseg && (o.crf || o.images || crf_flags)) return cli_usage("eval", "--crf and its options are for --task semseg");
    if (o.crf && !o.images) return cli_usage("eval", "--crf needs --images DIR (the RGB images, same file names as --gt)");
    if (!o.crf && (o.images || crf_flags)) return cli_usage("eval", "--images and the CRF parameters need --crf");
    if (o.crf && o.num_classes > 256) return cli_usage("eval", "--crf handles at most 256 classes");
    if (!images && (o.y_channel || o.crop_border))
        return cli_usage("eval", "--y-channel and --crop-border are for --task images");
    if (!coco && o.results) return cli_usage("eval", "--results is for --task coco (predictions go in --pred)");
    if (!o.gt) return cli_usage("eval", "--gt is required");
    if (coco) {
        if (!o.results) return cli_usage("eval", "--task coco needs --results RES.json");
        if (strcmp(o.iou_type, "segm") && strcmp(o.iou_type, "bbox"))
            return cli_usage("eval", "--iou-type is segm or bbox, got '%s'", o.iou_type);
        return eval_coco(&o);
    }
    if (!o.pred) return cli_usage("eval", "--pred is required");
    if (semseg) {
        if (o.num_classes < 0) return cli_usage("eval", "--task semseg needs --num-classes");
        if (o.palette && strcmp(o.palette, "camvid") && strcmp(o.palette, "voc"))
            return cli_usage("eval", "--palette is camvid or voc, got '%s'", o.palette);
        return eval_semseg(&o);
    }
    return eval_images(&o);
}
