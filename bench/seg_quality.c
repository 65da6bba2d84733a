/* seg_quality: a small segmentation training run on CamVid, to compare
 * float32 and bfloat16 training on one recipe (issue 4: bf16 within 0.5
 * mIoU point of f32). Uses only the public API (encdec.h).
 *
 * Recipe: U-Net (base width --base, depth 4, BatchNorm), CamVid's 367
 * training images scaled by U[0.4, 0.6] (bilinear, labels nearest), a random
 * --crop square, horizontal flip; pixel-wise cross-entropy with the void
 * class (11) ignored; Adam, lr cosine from --lr to --lr / 100 over --steps;
 * batch --batch. Validation: CamVid's 101 val images at half size
 * (240 x 180, padded to 240 x 192 at the bottom), mean IoU over the 11
 * classes with void ignored, plus global and class-average accuracy.
 * The seed fixes initialisation, data order and augmentation; the last
 * line is JSON.
 *
 *   build/seg_quality --precision bf16 --seed 0 --steps 1500
 *   bench/seg_quality.sh        (f32 and bf16 for seeds 0..2, one after the other) */
#include <encdec.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLASSES 11
#define VOID_LABEL 11

typedef struct opts {
    const char *data;
    ed_precision prec;
    unsigned long long seed;
    int steps, batch, crop, base, threads, eval_every;
    double lr;
} opts;

static int fail(const char *what)
{
    fprintf(stderr, "seg_quality: error: %s: %s\n", what, ed_last_error());
    return 1;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int parse(int argc, char **argv, opts *o)
{
    const char *env = getenv("ENCDEC_DATA");
    *o = (opts){ .data = env ? env : "../shared/data", .seed = 0, .steps = 1500, .batch = 8, .crop = 128,
                 .base = 16, .threads = 2, .eval_every = 0, .lr = 1e-3 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help")) {
            printf("usage: seg_quality [--data DIR] [--precision f32|bf16] [--seed S] [--steps N] [--batch B]\n"
                   "                   [--crop C] [--base W] [--lr LR] [--threads T] [--eval-every N]\n");
            exit(0);
        }
        if (!v) {
            fprintf(stderr, "seg_quality: error: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--precision")) {
            if (!strcmp(v, "f32")) o->prec = ED_PRECISION_F32;
            else if (!strcmp(v, "bf16")) o->prec = ED_PRECISION_BF16;
            else {
                fprintf(stderr, "seg_quality: error: --precision is f32 or bf16, not '%s'\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--seed")) o->seed = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--steps")) o->steps = atoi(v);
        else if (!strcmp(a, "--batch")) o->batch = atoi(v);
        else if (!strcmp(a, "--crop")) o->crop = atoi(v);
        else if (!strcmp(a, "--base")) o->base = atoi(v);
        else if (!strcmp(a, "--lr")) o->lr = atof(v);
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--eval-every")) o->eval_every = atoi(v);
        else {
            fprintf(stderr, "seg_quality: error: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (o->steps < 1 || o->batch < 1 || o->crop < 16 || o->crop % 16 || o->base < 1 || o->threads < 1 ||
        !(o->lr > 0)) {
        fprintf(stderr, "seg_quality: error: --steps, --batch, --base, --threads, --lr must be positive and --crop "
                        "a multiple of 16\n");
        return 2;
    }
    return 0;
}

/* Mean IoU etc. of m over the val split at half size (in float32). */
static ed_status evaluate(ed_model *m, const ed_dataset *val, ed_seg_scores *sc)
{
    ed_augment_params half;
    ed_augment_params_default(&half);
    half.p_scale = 1;
    half.scale_min = half.scale_max = 0.5;
    half.p_hflip = 0;
    ed_loader *ld = NULL;
    ed_status st = ed_loader_new(val, 1, 0, 0, 1, ed_sample_augment, &half, 0, &ld);
    int64_t *conf = calloc((size_t)CLASSES * CLASSES, sizeof *conf);
    if (!conf) st = ED_E_NOMEM;
    ed_precision was = ed_get_conv_precision();
    ed_set_conv_precision(ED_PRECISION_F32);   /* as encdec train validates */
    for (;;) {
        ed_batch b = { 0 };
        if (st == ED_OK) st = ed_loader_next(ld, &b);
        if (st != ED_OK || b.n == 0) {
            ed_batch_free(&b);
            break;
        }
        ed_tensor *xp = NULL, *y = NULL, *yc = NULL;
        ed_pad_info pi;
        ed_no_grad_begin();
        st = ed_pad_to_multiple(b.images, 16, ED_PAD_REFLECT, &xp, &pi);
        if (st == ED_OK) st = ed_model_forward(m, xp, 0, &y);
        if (st == ED_OK) st = ed_crop_back(y, &pi, &yc);
        ed_no_grad_end();
        if (st == ED_OK) {
            const int64_t *s = ed_tensor_shape(yc);
            int64_t hw = s[2] * s[3];
            const float *p = ed_tensor_data(yc);
            int64_t *pred = malloc((size_t)hw * sizeof *pred);
            if (!pred) st = ED_E_NOMEM;
            for (int64_t i = 0; pred && i < hw; i++) {
                int best = 0;
                for (int c = 1; c < CLASSES; c++)
                    if (p[c * hw + i] > p[best * hw + i]) best = c;
                pred[i] = best;
            }
            if (pred) st = ed_confusion_update(conf, pred, ed_tensor_data(b.labels), hw, CLASSES, VOID_LABEL);
            free(pred);
        }
        ed_tensor_free(xp);
        ed_tensor_free(y);
        ed_tensor_free(yc);
        ed_batch_free(&b);
    }
    ed_set_conv_precision(was);
    if (st == ED_OK) st = ed_segmentation_scores(conf, CLASSES, sc);
    free(conf);
    ed_loader_free(ld);
    return st;
}

static void print_scores(const char *tag, int step, const ed_seg_scores *sc)
{
    printf("%s step %d: mIoU %.2f, global acc %.2f, class acc %.2f; IoU", tag, step, 100 * sc->mean_iou,
           100 * sc->global_acc, 100 * sc->class_acc);
    for (int c = 0; c < CLASSES; c++) printf(" %.1f", 100 * sc->iou[c]);
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    opts o;
    int rc = parse(argc, argv, &o);
    if (rc) return rc;
    ed_set_num_threads(o.threads);
    if (ed_set_conv_precision(o.prec) != ED_OK) return fail("--precision");

    char root[4096];
    snprintf(root, sizeof root, "%s/camvid", o.data);
    ed_dataset_options dso;
    ed_dataset_options_default(&dso);
    dso.num_classes = CLASSES;
    dso.ignore_index = VOID_LABEL;
    dso.channels = 3;
    ed_dataset *train = NULL, *val = NULL;
    if (ed_dataset_open(ED_DATASET_SEG_INDEX, root, "train", &dso, &train) != ED_OK) return fail("CamVid train");
    if (ed_dataset_open(ED_DATASET_SEG_INDEX, root, "val", &dso, &val) != ED_OK) return fail("CamVid val");

    char cfg[160];
    snprintf(cfg, sizeof cfg, "{\"in_channels\":3,\"num_classes\":%d,\"base_width\":%d,\"depth\":4}", CLASSES,
             o.base);
    ed_model *m = NULL;
    ed_rng rng;
    ed_rng_init(&rng, o.seed);
    if (ed_model_create("unet", cfg, &m) != ED_OK || ed_model_init(m, &rng) != ED_OK) return fail("unet");

    ed_optim_args oa;
    ed_optim_args_default(&oa, ED_OPTIM_ADAM);
    oa.lr = o.lr;
    ed_optim *opt = NULL;
    if (ed_optim_new(ed_model_params(m), &oa, &opt) != ED_OK) return fail("Adam");
    ed_schedule sched = { .kind = ED_SCHED_COSINE, .base_lr = o.lr, .total_steps = o.steps, .eta_min = o.lr / 100 };

    ed_augment_params aug;
    ed_augment_params_default(&aug);
    aug.p_scale = 1;
    aug.scale_min = 0.4;
    aug.scale_max = 0.6;
    aug.crop_h = aug.crop_w = o.crop;
    aug.p_hflip = 0.5;
    ed_loader *ld = NULL;
    if (ed_loader_new(train, o.batch, 1, o.seed, 1, ed_sample_augment, &aug, ED_LOADER_DROP_LAST, &ld) != ED_OK)
        return fail("loader");
    ed_arena *ar = NULL;
    if (ed_arena_new(0, &ar) != ED_OK) return fail("arena");
    ed_loss_args la;
    ed_loss_args_default(&la);
    la.ignore_index = VOID_LABEL;

    const char *ptag = o.prec == ED_PRECISION_BF16 ? "bf16" : "f32";
    printf("seg_quality: unet base %d, %s, seed %llu, %d steps of batch %d x %d^2, lr %g, %d threads\n", o.base, ptag,
           o.seed, o.steps, o.batch, o.crop, o.lr, o.threads);
    double t0 = now(), t_train = 0, loss_avg = 0;
    int step = 0;
    ed_status st = ED_OK;
    while (step < o.steps && st == ED_OK) {
        ed_batch b = { 0 };
        st = ed_loader_next(ld, &b);
        if (st != ED_OK) break;
        if (b.n == 0) continue;   /* end of an epoch */
        double ts = now();
        ed_optim_set_lr(opt, ed_schedule_lr(&sched, step));
        ed_arena_begin(ar);
        ed_tensor *y = NULL, *loss = NULL;
        st = ed_model_forward(m, b.images, 1, &y);
        if (st == ED_OK) st = ed_cross_entropy(y, b.labels, &la, &loss);
        double lv = st == ED_OK ? *(float *)ed_tensor_data(loss) : NAN;
        if (st == ED_OK) st = ed_backward(loss, NULL);
        ed_arena_end();
        ed_arena_reset(ar);
        if (st == ED_OK) st = ed_optim_step(opt);
        ed_params_zero_grad(ed_model_params(m));
        ed_batch_free(&b);
        t_train += now() - ts;
        step++;
        loss_avg = step == 1 ? lv : 0.98 * loss_avg + 0.02 * lv;
        if (step % 100 == 0 || step == o.steps) {
            printf("step %d: loss %.4f (running %.4f), %.0f ms/step\n", step, lv, loss_avg, 1e3 * t_train / step);
            fflush(stdout);
        }
        if (st == ED_OK && o.eval_every > 0 && step % o.eval_every == 0 && step < o.steps) {
            ed_seg_scores sc = { 0 };
            st = evaluate(m, val, &sc);
            if (st == ED_OK) print_scores("val", step, &sc);
            ed_seg_scores_free(&sc);
        }
    }
    if (st != ED_OK) return fail("training");
    ed_seg_scores sc = { 0 };
    if (evaluate(m, val, &sc) != ED_OK) return fail("validation");
    print_scores("val", step, &sc);
    printf("{\"bench\":\"seg_quality\",\"precision\":\"%s\",\"seed\":%llu,\"steps\":%d,\"batch\":%d,\"crop\":%d,"
           "\"base\":%d,\"threads\":%d,\"mean_iou\":%.4f,\"global_acc\":%.4f,\"class_acc\":%.4f,"
           "\"train_s\":%.1f,\"total_s\":%.1f}\n",
           ptag, o.seed, o.steps, o.batch, o.crop, o.base, o.threads, 100 * sc.mean_iou, 100 * sc.global_acc,
           100 * sc.class_acc, t_train, now() - t0);
    ed_seg_scores_free(&sc);
    ed_arena_free(ar);
    ed_loader_free(ld);
    ed_optim_free(opt);
    ed_model_free(m);
    ed_dataset_free(train);
    ed_dataset_free(val);
    return 0;
}
