/* Shared by dataset.c (open, views, splits, class and plain sets),
 * dataset_seg.c (segmentation pairs), dataset_instance.c (instance masks),
 * dataset_augment.c and loader.c. */
#ifndef ED_DATASET_INTERNAL_H
#define ED_DATASET_INTERNAL_H

#include "core/ed_internal.h"

#include <pthread.h>

#define DS_PATH 4096
#define DS_MAX_WARNINGS 256

/* The files of an opened set; views (splits, subsets) share it. */
typedef struct ds_core {
    int refs;                      /* views holding it; changed under lock */
    ed_dataset_kind kind;
    ed_dataset_options opt;        /* strings not kept: they may not outlive open */
    int n;
    char **images;
    char **masks;                  /* NULL for kinds without masks */
    char **anns;                   /* instance: annotation files, entries may be NULL */
    int *classes;                  /* class folders: per sample */
    int n_classes;
    char **class_names;
    int palette_size;
    uint8_t palette[256][4];
    pthread_mutex_t lock;          /* refs and warnings */
    int n_warn;
    char *warn[DS_MAX_WARNINGS];
    unsigned char *warned;         /* per sample: has warned once */
} ds_core;

struct ed_dataset {
    ds_core *core;
    int n;
    int *idx;                      /* view position -> core sample */
};

/* A listing under construction: the kinds' list functions fill it. */
typedef struct ds_list {
    int n, cap;
    char **images, **masks, **anns;
} ds_list;
ed_status ds__list_push(ds_list *l, const char *image, const char *mask, const char *ann);
void ds__list_free(ds_list *l);

/* A problem with sample i: with warn_only a warning (once per sample, i may
 * be -1 for problems found at open) and ED_OK; else ed__err(st, ...). */
ed_status ds__problem(ds_core *c, int i, ed_status st, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* ED_OK when path is a non-empty regular file; else an error naming it. */
ed_status ds__file_ok(const char *path);
/* printf into a DS_PATH buffer; ED_E_ARG when the path is too long. */
ed_status ds__path(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
bool ds__is_dir(const char *path);
/* "name" of "dir/name.ext" without the extension, into buf. */
void ds__stem(const char *path, char *buf, size_t size);

/* An image file as float32 (C, H, W) in [0, 1], channels as options. */
ed_status ds__load_image(const ds_core *c, const char *path, ed_image **img, ed_tensor **out);
/* Image and mask of a pair, sizes checked; mask keeps palette indices. */
ed_status ds__load_pair(const ds_core *c, int i, ed_image **mask, ed_tensor **image);

/* Per kind. */
ed_status ds__seg_list(ds_core *c, const char *root, const char *split, ds_list *l);
ed_status ds__seg_get(ds_core *c, int i, ed_sample *s);
ed_status ds__inst_list(ds_core *c, const char *root, const char *split, ds_list *l);
ed_status ds__inst_get(ds_core *c, int i, ed_sample *s);

/* root/<split> (root itself for a NULL or empty split), which must exist;
 * refused when named test* and not allowed. */
ed_status ds__split_folder(const ds_core *c, const char *root, const char *split, char *out);
/* Pairs each image of img_dir with mask_dir/<stem><suffix>.png (and, when
 * ann_dir is a folder, ann_dir/<stem>.txt if present); unpaired files on
 * either side are problems. */
ed_status ds__pair_list(ds_core *c, const char *img_dir, const char *mask_dir, const char *suffix,
                        const char *ann_dir, ds_list *l);
/* Refuses a folder or split named test* unless allowed. */
ed_status ds__check_test(const ds_core *c, const char *name);

/* A Philox-keyed stream for (seed, tag, a, b); domain tags keep the
 * shuffles, splits and per-sample streams apart. */
void ds__rng(uint64_t seed, uint32_t tag, uint64_t a, uint64_t b, ed_rng *r);
/* Fisher-Yates on v[0..n-1] with r: j = (u32 * (i + 1)) >> 32, integers only. */
void ds__shuffle(int *v, int n, ed_rng *r);

#endif
