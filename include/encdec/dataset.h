/* encdec: data sets (classification folders, segmentation pairs, instance
 * masks, plain image folders), deterministic splits, a background batch
 * loader, and padding to a size multiple. Included by encdec.h.
 *
 * Layouts (root is the set's folder; split is "train", "val", "test"...):
 *   ED_DATASET_CLASSES    root/<split>/<class>/<image>; the class index is
 *                         the folder's place in the sorted folder names.
 *   ED_DATASET_SEG_INDEX  image root/<split>/x.png, label map
 *                         root/<split>annot/x.png (SegNet's CamVid layout):
 *                         a one-channel PNG whose samples are class indices
 *                         (palette PNGs: their indices).
 *   ED_DATASET_SEG_PALETTE the same with palette PNG masks whose indices are
 *                         the classes (VOC); root/ImageSets/Segmentation/
 *                         <split>.txt, when present, selects VOC's layout:
 *                         JPEGImages/<id>.jpg + SegmentationClass/<id>.png.
 *   ED_DATASET_INSTANCE   Penn-Fudan: root/PNGImages/x.png, instance ids in
 *                         root/PedMasks/x_mask.png (0 background, each other
 *                         value one object), PASCAL boxes in
 *                         root/Annotation/x.txt (optional, cross-checked).
 *   ED_DATASET_IMAGES     root/<split>/ holds clean images only (denoising,
 *                         super-resolution); noise or downscaling is made by
 *                         a sample hook.
 * Folder resolution: split NULL or "" reads root itself; else root/<split>
 * (for pairs: root/<split> and root/<split>annot). A set with no such
 * folder (Penn-Fudan, rps28's val) has no split of that name: "train" of
 * an instance set whose layout sits in root is the whole set, other names
 * are an error; make a validation split with ed_dataset_split.
 * options.image_dir / mask_dir (relative to root) override the folders.
 * Mask name: the image's name without its extension + mask_suffix + ".png".
 *
 * Test splits are held back for independent evaluation: a split whose name,
 * or a resolved folder whose name, starts with "test" is opened only with
 * options.allow_test = 1; else ED_E_ARG.
 *
 * Validation. At open: the listing is sorted, every image has its mask
 * (and no mask lacks an image), no file is empty; ED_CHECK_FULL also
 * decodes every pair now (slow on big sets). At ed_dataset_get: the image
 * and mask sizes agree, the mask has one channel, and each label lies in
 * 0..num_classes-1 or equals ignore_index. A problem is an error naming
 * the file, the value and its position (x, y); with options.warn_only it
 * becomes a warning instead: an unpaired or unreadable file found at open
 * is dropped, an out-of-range label becomes ignore_index, a disagreeing
 * annotation is kept. Size mismatches stay errors. Warnings are kept (see
 * ed_dataset_warning) and passed to options.on_warning when set (which may
 * run on a loader thread, under the set's lock: it must not call back into
 * the data set); each sample warns once.
 *
 * Threads: ed_dataset_get may run concurrently on one data set. */
#ifndef ENCDEC_DATASET_H
#define ENCDEC_DATASET_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ed_dataset_kind {
    ED_DATASET_CLASSES = 0,
    ED_DATASET_SEG_INDEX,
    ED_DATASET_SEG_PALETTE,
    ED_DATASET_INSTANCE,
    ED_DATASET_IMAGES
} ed_dataset_kind;

typedef enum ed_check_level {
    ED_CHECK_BASIC = 0,   /* listing and pairing at open; contents at get */
    ED_CHECK_FULL         /* also decode and check every sample at open */
} ed_check_level;

typedef struct ed_dataset_options {
    int num_classes;        /* segmentation: required, labels 0..num_classes-1;
                               classes: when > 0, must equal the folder count */
    int64_t ignore_index;   /* label meaning void, exempt from the range
                               check; default 255; -1: none */
    ed_check_level check;   /* default ED_CHECK_BASIC */
    int warn_only;          /* default 0: problems are errors */
    int allow_test;         /* default 0: test splits are refused */
    int channels;           /* 0 (default): the file's colour channels, alpha
                               dropped; 1 gray (PIL's "L" luma), 3 RGB, 4 RGBA */
    const char *image_dir;  /* NULL: by kind (see above) */
    const char *mask_dir;   /* NULL: by kind */
    const char *mask_suffix;/* NULL: "" (segmentation), "_mask" (instance) */
    const char *ann_dir;    /* instance: NULL = "Annotation" */
    void (*on_warning)(const char *msg, void *ctx);
    void *warning_ctx;
} ed_dataset_options;
void ed_dataset_options_default(ed_dataset_options *o);

typedef struct ed_dataset ed_dataset;

/* options NULL: the defaults. */
ed_status ed_dataset_open(ed_dataset_kind kind, const char *root, const char *split,
                          const ed_dataset_options *options, ed_dataset **out);
/* Data sets made by split/subset share the files; free each. NULL is fine. */
void ed_dataset_free(ed_dataset *ds);

int ed_dataset_size(const ed_dataset *ds);
ed_dataset_kind ed_dataset_get_kind(const ed_dataset *ds);
/* Class folders: their count; segmentation: options.num_classes; else 0. */
int ed_dataset_num_classes(const ed_dataset *ds);
const char *ed_dataset_class_name(const ed_dataset *ds, int c);   /* class folders; else NULL */
const char *ed_dataset_image_path(const ed_dataset *ds, int i);   /* NULL when i is out of range */
const char *ed_dataset_mask_path(const ed_dataset *ds, int i);    /* NULL without masks */
/* The class of sample i of a class-folder set, without reading it; else -1. */
int ed_dataset_label(const ed_dataset *ds, int i);
/* Palette sets: copies the first mask's palette (RGBA, read at open) into
 * rgba and returns its number of entries; else 0. */
int ed_dataset_palette(const ed_dataset *ds, uint8_t rgba[256][4]);
int ed_dataset_num_warnings(const ed_dataset *ds);
const char *ed_dataset_warning(const ed_dataset *ds, int k);      /* the first 256 are kept */

/* A split for sets without a validation folder: round(val_fraction * n)
 * samples go to *val, the rest to *train, both in the set's order. Class-
 * folder sets are split per class (stratified). The choice is a Fisher-
 * Yates shuffle on Philox numbers from seed: integers only, so the same on
 * every machine. Either side empty is an error. */
ed_status ed_dataset_split(const ed_dataset *ds, double val_fraction, uint64_t seed, ed_dataset **train,
                           ed_dataset **val);
/* The samples indices[0..n-1] of ds (repeats allowed), in that order. */
ed_status ed_dataset_subset(const ed_dataset *ds, const int *indices, int n, ed_dataset **out);

/* ---- samples ---------------------------------------------------------------
 * Boxes are (x0, y0, x1, y1) in pixel units with pixel x covering [x, x+1)
 * (augment.h's convention): a mask's box is (min x, min y, max x + 1,
 * max y + 1). */
typedef struct ed_sample {
    int index;                  /* position in the data set */
    const char *path;           /* the image file (owned by the data set) */
    ed_tensor *image;           /* float32 (C, H, W), values in [0, 1] */
    ed_tensor *target;          /* float32; NULL, unless a sample hook sets it
                                   (e.g. the clean image of a noisy pair) */
    ed_tensor *labels;          /* int64 (H, W): class map (segmentation) or
                                   instance id map (instance sets); else NULL */
    int64_t label;              /* class index (class folders); else -1 */
    int64_t ignore_index;       /* the set's void label (segmentation); else -1 */
    int n_instances;            /* instance sets: K, one per id in the map */
    ed_tensor *masks;           /* uint8 (K, H, W), 1 inside instance k */
    ed_tensor *boxes;           /* float32 (K, 4), each mask's box */
    ed_tensor *classes;         /* int64 (K): 1 (object) */
    ed_tensor *ids;             /* int64 (K): the ids in the map, ascending */
} ed_sample;

/* Reads sample i (new heap tensors, whatever arena is active). */
ed_status ed_dataset_get(const ed_dataset *ds, int i, ed_sample *out);
void ed_sample_free(ed_sample *s);     /* frees the tensors and zeroes s */

/* Rebuilds masks, boxes, classes and ids of an instance sample from its id
 * map s->labels (int64 (H, W), ids 0..65535, else ED_E_RANGE) after a hook
 * changed it; with n_keep > 0, ids not in keep_ids become background (0),
 * in the map too. */
ed_status ed_sample_instances_from_ids(ed_sample *s, const int64_t *keep_ids, int n_keep);

/* PASCAL annotation text (Penn-Fudan): the "Bounding box for object k ...
 * (Xmin, Ymin) - (Xmax, Ymax)" lines, 1-based inclusive, as float32 (K, 4)
 * boxes (Xmin - 1, Ymin - 1, Xmax, Ymax) in the convention above. */
ed_status ed_pascal_boxes_load(const char *path, ed_tensor **out);

/* ---- the loader ------------------------------------------------------------
 * A sample hook changes a sample in place (augmentation, noise, pairs); rng
 * is the sample's own stream (ed_loader_sample_rng), so what it draws does
 * not depend on timing or on which thread runs it. */
typedef ed_status (*ed_sample_fn)(ed_sample *s, const void *params, ed_rng *rng);

/* A ready hook: params is a const ed_augment_params * (augment.h); the image
 * and label map go through ed_augment_apply with the same draw. Instance
 * sets then rebuild masks and boxes from the transformed id map (padding
 * becomes background). Segmentation sets padded with pad_if_needed must
 * use label_pad_value == the set's ignore_index (else ED_E_ARG). */
ed_status ed_sample_augment(ed_sample *s, const void *params, ed_rng *rng);

/* The stream of sample index in epoch: Philox keyed by (seed, epoch, index). */
void ed_loader_sample_rng(uint64_t seed, int64_t epoch, int64_t index, ed_rng *rng);

#define ED_LOADER_DROP_LAST 1   /* drop the last, smaller batch of an epoch */

typedef struct ed_batch {
    int n;                  /* samples; 0 marks the end of an epoch */
    int64_t epoch, step;    /* step: the batch's number within its epoch */
    ed_tensor *images;      /* float32 (N, C, H, W) */
    ed_tensor *targets;     /* float32 (N, ...) when the hook set targets, else NULL */
    ed_tensor *labels;      /* int64 (N, H, W) label / id maps, (N) class
                               indices, or NULL (plain images) */
    ed_sample *samples;     /* instance sets: the N samples (masks, boxes;
                               their image and labels moved into the stacks) */
    int *indices;           /* the data set positions of the N samples */
} ed_batch;
void ed_batch_free(ed_batch *b);    /* frees the contents and zeroes b */

typedef struct ed_loader ed_loader;

/* Batches of batch_size samples in order, or in a shuffled order drawn per
 * epoch from (seed, epoch). workers threads read and prefetch ahead; 0 reads
 * in ed_loader_next. Batch k of epoch e is a pure function of (ds, seed, e,
 * k, hook): identical whatever the worker count or timing. Samples of a
 * batch must share one size (else an error naming both files). ds must
 * outlive the loader. hook may be NULL; params is passed to it as is and
 * must outlive the loader. flags: ED_LOADER_DROP_LAST. */
ed_status ed_loader_new(const ed_dataset *ds, int batch_size, int shuffle, uint64_t seed, int workers,
                        ed_sample_fn hook, const void *params, int flags, ed_loader **out);
/* The next batch. After the last batch of an epoch, one call returns
 * ED_OK with batch->n == 0, and the next starts the following epoch. A
 * failed sample gives its error here (naming the file) and the loader goes
 * on with the next batch. */
ed_status ed_loader_next(ed_loader *ld, ed_batch *batch);
int64_t ed_loader_num_batches(const ed_loader *ld);    /* per epoch */
void ed_loader_free(ed_loader *ld);   /* stops and joins the workers; NULL is fine */

/* ---- sizes divisible by 2^k --------------------------------------------------
 * x (..., H, W) float is padded at the bottom and right only (top-left stays
 * at (0, 0), so predictions line up with the input's pixels) to the next
 * multiples of `multiple`; reflect needs each pad < its size (else ED_E_ARG
 * suggesting replicate), constant pads zeros. ed_crop_back takes y (..., H',
 * W') with H' = s * padded H, W' = s * padded W for one integer s >= 1
 * (s > 1: an upscaling model) and keeps the top-left (s H, s W): the
 * original area. Any other size is ED_E_SHAPE. Both record autograd. */
typedef struct ed_pad_info {
    int64_t height, width;          /* before padding */
    int64_t pad_bottom, pad_right;
} ed_pad_info;
ed_status ed_pad_to_multiple(const ed_tensor *x, int multiple, ed_pad_mode mode, ed_tensor **out,
                             ed_pad_info *info);
ed_status ed_crop_back(const ed_tensor *y, const ed_pad_info *info, ed_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
