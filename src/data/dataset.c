/* Data sets: opening (folder resolution, the test-split rule, listing and
 * the checks at open), views made by splits and subsets, warnings, and the
 * class-folder and plain-image kinds. Segmentation pairs live in
 * dataset_seg.c, instance masks in dataset_instance.c. See
 * include/encdec/dataset.h for the layouts and the validation rules.
 *
 * A data set is a view (a list of positions) over a shared, reference-
 * counted core holding the sorted file lists; nothing else is cached, so
 * ed_dataset_get may run on many threads at once. */
#include "data/dataset_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/stat.h>

void ed_dataset_options_default(ed_dataset_options *o)
{
    memset(o, 0, sizeof *o);
    o->ignore_index = 255;
    o->check = ED_CHECK_BASIC;
}

/* ---- small helpers ----------------------------------------------------------- */

ed_status ds__file_ok(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) return ed__err(ED_E_IO, "dataset: %s: cannot open: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode)) return ed__err(ED_E_IO, "dataset: %s is not a regular file", path);
    if (sb.st_size == 0) return ed__err(ED_E_FORMAT, "dataset: %s is empty (0 bytes)", path);
    return ED_OK;
}

ed_status ds__path(char *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, DS_PATH, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= DS_PATH) return ed__err(ED_E_ARG, "dataset: path %.200s... is longer than %d bytes", out, DS_PATH - 1);
    return ED_OK;
}

bool ds__is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

void ds__stem(const char *path, char *buf, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, size, "%s", base);
    char *dot = strrchr(buf, '.');
    if (dot && dot != buf) *dot = '\0';
}

static const char *base_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;       /* "a/test/" names "test" */
    const char *p = path + n;
    while (p > path && p[-1] != '/') p--;
    return p;
}

ed_status ds__check_test(const ds_core *c, const char *name)
{
    if (!name || c->opt.allow_test || strncasecmp(base_name(name), "test", 4) != 0) return ED_OK;
    return ed__err(ED_E_ARG,
                   "dataset: %s is a test split, held back for independent evaluation; open it only "
                   "with options.allow_test = 1",
                   name);
}

void ds__rng(uint64_t seed, uint32_t tag, uint64_t a, uint64_t b, ed_rng *r)
{
    uint32_t o[4];
    ed__philox(seed, ((uint64_t)tag << 32) ^ a, o);
    uint64_t k = (uint64_t)o[0] | (uint64_t)o[1] << 32;
    ed__philox(k, b, o);
    ed_rng_init(r, (uint64_t)o[0] | (uint64_t)o[1] << 32);
}

void ds__shuffle(int *v, int n, ed_rng *r)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(((uint64_t)ed_rng_u32(r) * (uint64_t)(i + 1)) >> 32);
        int t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

ed_status ds__list_push(ds_list *l, const char *image, const char *mask, const char *ann)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **a = realloc(l->images, (size_t)cap * sizeof *a);
        if (a) l->images = a;
        char **b = a ? realloc(l->masks, (size_t)cap * sizeof *b) : NULL;
        if (b) l->masks = b;
        char **d = b ? realloc(l->anns, (size_t)cap * sizeof *d) : NULL;
        if (d) l->anns = d;
        if (!d) return ed__err(ED_E_NOMEM, "dataset: out of memory listing files");
        l->cap = cap;
    }
    char *i = strdup(image), *m = mask ? strdup(mask) : NULL, *n = ann ? strdup(ann) : NULL;
    if (!i || (mask && !m) || (ann && !n)) {
        free(i), free(m), free(n);
        return ed__err(ED_E_NOMEM, "dataset: out of memory listing files");
    }
    l->images[l->n] = i;
    l->masks[l->n] = m;
    l->anns[l->n] = n;
    l->n++;
    return ED_OK;
}

void ds__list_free(ds_list *l)
{
    for (int i = 0; i < l->n; i++) free(l->images[i]), free(l->masks[i]), free(l->anns[i]);
    free(l->images), free(l->masks), free(l->anns);
    memset(l, 0, sizeof *l);
}

/* ---- warnings ------------------------------------------------------------------ */

ed_status ds__problem(ds_core *c, int i, ed_status st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!c->opt.warn_only) return ed__err(st, "%s", msg);
    pthread_mutex_lock(&c->lock);
    if (i < 0 || !c->warned[i]) {
        if (i >= 0) c->warned[i] = 1;
        if (c->n_warn < DS_MAX_WARNINGS && (c->warn[c->n_warn] = strdup(msg))) c->n_warn++;
        if (c->opt.on_warning) c->opt.on_warning(msg, c->opt.warning_ctx);
    }
    pthread_mutex_unlock(&c->lock);
    return ED_OK;
}

int ed_dataset_num_warnings(const ed_dataset *ds)
{
    if (!ds) return 0;
    pthread_mutex_lock(&ds->core->lock);
    int n = ds->core->n_warn;
    pthread_mutex_unlock(&ds->core->lock);
    return n;
}

const char *ed_dataset_warning(const ed_dataset *ds, int k)
{
    if (!ds) return NULL;
    pthread_mutex_lock(&ds->core->lock);
    const char *w = k >= 0 && k < ds->core->n_warn ? ds->core->warn[k] : NULL;
    pthread_mutex_unlock(&ds->core->lock);
    return w;
}

/* ---- images -------------------------------------------------------------------- */

/* Sample k of an 8 or 16-bit image as a fraction of its maximum. */
static inline float unit(const ed_image *im, int64_t k)
{
    return im->bit_depth == 8 ? (float)((const uint8_t *)im->data)[k] / 255.0f
                              : (float)((const uint16_t *)im->data)[k] / 65535.0f;
}

/* PIL's "L" conversion, (R 19595 + G 38470 + B 7471 + 2^15) >> 16 on 8-bit
 * samples; 16-bit ones use the same weights in double. */
static inline float luma(const ed_image *im, int64_t px)
{
    const int64_t C = im->channels;
    if (im->bit_depth == 8) {
        const uint8_t *p = (const uint8_t *)im->data + px * C;
        return (float)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16) / 255.0f;
    }
    const uint16_t *p = (const uint16_t *)im->data + px * C;
    return (float)((0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) / 65535.0);
}

ed_status ds__load_image(const ds_core *c, const char *path, ed_image **keep, ed_tensor **out)
{
    *out = NULL;
    ed_image *im = NULL;
    ED_TRY(ed_image_load(path, 0, &im));
    const int C = im->channels, color = C >= 3;
    int oc = c->opt.channels ? c->opt.channels : (C == 2 || C == 4) ? C - 1 : C;
    const int64_t H = im->height, W = im->width, HW = H * W;
    ed_tensor *t = NULL;
    ed_status st = ed_tensor_new(ED_F32, 3, (int64_t[]){ oc, H, W }, &t);
    if (st == ED_OK) {
        float *o = ed__f32(t);
        for (int ch = 0; ch < oc; ch++) {
            float *d = o + ch * HW;
            if (oc == 1 && color) {
                for (int64_t px = 0; px < HW; px++) d[px] = luma(im, px);
            } else if (ch == 3 && C != 4) {
                for (int64_t px = 0; px < HW; px++) d[px] = 1.0f;      /* opaque */
            } else {
                int src = color ? ch : 0;                              /* gray -> R, G, B */
                for (int64_t px = 0; px < HW; px++) d[px] = unit(im, px * C + src);
            }
        }
    }
    if (keep && st == ED_OK) *keep = im;
    else ed_image_free(im);
    *out = t;
    return st;
}

/* ---- opening ------------------------------------------------------------------- */

static ed_status list_sub_folders(const char *root, char *buf, size_t size)
{
    buf[0] = '\0';
    DIR *d = opendir(root);
    if (!d) return ed__err(ED_E_IO, "dataset: cannot open folder %s: %s", root, strerror(errno));
    struct dirent *e;
    size_t used = 0;
    char path[DS_PATH];
    while ((e = readdir(d)) && used + 2 < size) {
        if (e->d_name[0] == '.') continue;
        if (ds__path(path, "%s/%s", root, e->d_name) != ED_OK || !ds__is_dir(path)) continue;
        used += (size_t)snprintf(buf + used, size - used, used ? ", %s" : "%s", e->d_name);
    }
    closedir(d);
    if (!buf[0]) snprintf(buf, size, "none");
    return ED_OK;
}

/* root/<split>, or root for an empty split. */
ed_status ds__split_folder(const ds_core *c, const char *root, const char *split, char *out)
{
    if (!split || !split[0]) {
        ED_TRY(ds__path(out, "%s", root));
    } else {
        ED_TRY(ds__path(out, "%s/%s", root, split));
        if (!ds__is_dir(out)) {
            char subs[512];
            ED_TRY(list_sub_folders(root, subs, sizeof subs));
            return ed__err(ED_E_IO,
                           "dataset: %s has no '%s' split (its folders: %s); make a validation split "
                           "with ed_dataset_split",
                           root, split, subs);
        }
    }
    return ds__check_test(c, out);
}

static ed_status list_classes(ds_core *c, const char *dir, ds_list *l)
{
    ed_file_list *fl = NULL;
    ED_TRY(ed_file_list_images(dir, 1, &fl));
    ed_status st = ED_OK;
    if (c->opt.num_classes > 0 && c->opt.num_classes != fl->n_classes)
        st = ed__err(ED_E_ARG, "dataset: options.num_classes is %d but %s has %d class folders", c->opt.num_classes,
                     dir, fl->n_classes);
    if (st == ED_OK && !(c->classes = malloc((size_t)fl->n * sizeof *c->classes)))
        st = ed__err(ED_E_NOMEM, "dataset: out of memory");
    for (int i = 0; st == ED_OK && i < fl->n; i++) {
        c->classes[l->n] = fl->labels[i];
        ed_status fs = ds__file_ok(fl->paths[i]);
        if (fs != ED_OK) st = ds__problem(c, -1, fs, "%s", ed_last_error());
        else st = ds__list_push(l, fl->paths[i], NULL, NULL);
    }
    if (st == ED_OK) {
        c->n_classes = fl->n_classes;
        c->class_names = fl->class_names;     /* taken over */
        fl->class_names = NULL;
        fl->n_classes = 0;
    }
    ed_file_list_free(fl);
    return st;
}

static ed_status list_images(ds_core *c, const char *dir, ds_list *l)
{
    ed_file_list *fl = NULL;
    ED_TRY(ed_file_list_images(dir, 0, &fl));
    ed_status st = ED_OK;
    for (int i = 0; st == ED_OK && i < fl->n; i++) {
        ed_status fs = ds__file_ok(fl->paths[i]);
        if (fs != ED_OK) st = ds__problem(c, -1, fs, "%s", ed_last_error());
        else st = ds__list_push(l, fl->paths[i], NULL, NULL);
    }
    ed_file_list_free(fl);
    return st;
}

static ed_status get_core(ds_core *c, int i, ed_sample *s);

static void core_release(ds_core *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->lock);
    int left = --c->refs;
    pthread_mutex_unlock(&c->lock);
    if (left > 0) return;
    for (int i = 0; i < c->n; i++) {
        free(c->images[i]);
        if (c->masks) free(c->masks[i]);
        if (c->anns) free(c->anns[i]);
    }
    free(c->images), free(c->masks), free(c->anns), free(c->classes), free(c->warned);
    for (int i = 0; i < c->n_classes; i++) free(c->class_names[i]);
    free(c->class_names);
    for (int i = 0; i < c->n_warn; i++) free(c->warn[i]);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static ed_status new_view(ds_core *c, int n, ed_dataset **out)
{
    ed_dataset *ds = calloc(1, sizeof *ds);
    int *idx = malloc((size_t)(n > 0 ? n : 1) * sizeof *idx);
    if (!ds || !idx) {
        free(ds), free(idx);
        return ed__err(ED_E_NOMEM, "dataset: out of memory");
    }
    pthread_mutex_lock(&c->lock);
    c->refs++;
    pthread_mutex_unlock(&c->lock);
    ds->core = c;
    ds->n = n;
    ds->idx = idx;
    *out = ds;
    return ED_OK;
}

/* ED_CHECK_FULL: read every sample now; with warn_only drop those that fail. */
static ed_status check_all(ds_core *c)
{
    int kept = 0;
    for (int i = 0; i < c->n; i++) {
        ed_sample s;
        ed_arena_begin(NULL);
        ed_status st = get_core(c, i, &s);
        ed_arena_end();
        ed_sample_free(&s);
        if (st != ED_OK) {
            if (!c->opt.warn_only) return st;
            ED_TRY(ds__problem(c, -1, st, "%s (dropped)", ed_last_error()));
            free(c->images[i]);
            if (c->masks) free(c->masks[i]);
            if (c->anns) free(c->anns[i]);
            continue;
        }
        c->images[kept] = c->images[i];
        if (c->masks) c->masks[kept] = c->masks[i];
        if (c->anns) c->anns[kept] = c->anns[i];
        if (c->classes) c->classes[kept] = c->classes[i];
        c->warned[kept] = c->warned[i];
        kept++;
    }
    c->n = kept;
    return ED_OK;
}

static const char *kind_name(ed_dataset_kind k)
{
    switch (k) {
    case ED_DATASET_CLASSES: return "class folders";
    case ED_DATASET_SEG_INDEX: return "index masks";
    case ED_DATASET_SEG_PALETTE: return "palette masks";
    case ED_DATASET_INSTANCE: return "instance masks";
    case ED_DATASET_IMAGES: return "plain images";
    }
    return "?";
}

static ed_status open_core(ds_core *c, const char *root, const char *split)
{
    ED_TRY(ds__check_test(c, split));
    if (!ds__is_dir(root)) return ed__err(ED_E_IO, "dataset: %s is not a folder", root);
    const bool seg = c->kind == ED_DATASET_SEG_INDEX || c->kind == ED_DATASET_SEG_PALETTE;
    if (seg && c->opt.num_classes <= 0)
        return ed__err(ED_E_ARG, "dataset: a segmentation set needs options.num_classes > 0, got %d",
                       c->opt.num_classes);
    if (c->opt.num_classes < 0 || c->opt.ignore_index < -1)
        return ed__err(ED_E_ARG, "dataset: num_classes %d must be >= 0 and ignore_index %lld >= -1",
                       c->opt.num_classes, (long long)c->opt.ignore_index);
    if (c->opt.channels != 0 && c->opt.channels != 1 && c->opt.channels != 3 && c->opt.channels != 4)
        return ed__err(ED_E_ARG, "dataset: options.channels must be 0, 1, 3 or 4, got %d", c->opt.channels);
    ds_list l = { 0 };
    char dir[DS_PATH];
    ed_status st = ED_OK;
    switch (c->kind) {
    case ED_DATASET_CLASSES:
    case ED_DATASET_IMAGES:
        if (c->opt.image_dir) {
            st = ds__path(dir, "%s/%s", root, c->opt.image_dir);
            if (st == ED_OK) st = ds__check_test(c, dir);
        } else {
            st = ds__split_folder(c, root, split, dir);
        }
        if (st == ED_OK) st = c->kind == ED_DATASET_CLASSES ? list_classes(c, dir, &l) : list_images(c, dir, &l);
        break;
    case ED_DATASET_SEG_INDEX:
    case ED_DATASET_SEG_PALETTE: st = ds__seg_list(c, root, split, &l); break;
    case ED_DATASET_INSTANCE: st = ds__inst_list(c, root, split, &l); break;
    default: st = ed__err(ED_E_ARG, "dataset: unknown kind %d", (int)c->kind);
    }
    if (st == ED_OK && l.n == 0)
        st = ed__err(ED_E_IO, "dataset: no usable samples (%s) under %s", kind_name(c->kind), root);
    c->n = l.n;
    c->images = l.images;
    c->masks = (seg || c->kind == ED_DATASET_INSTANCE) ? l.masks : (free(l.masks), NULL);
    c->anns = c->kind == ED_DATASET_INSTANCE ? l.anns : (free(l.anns), NULL);
    if (st == ED_OK && !(c->warned = calloc((size_t)c->n, 1))) st = ed__err(ED_E_NOMEM, "dataset: out of memory");
    if (st == ED_OK && c->kind == ED_DATASET_SEG_PALETTE) {
        ed_image *m = NULL;
        st = ed_image_load(c->masks[0], ED_IMAGE_KEEP_PALETTE, &m);
        if (st == ED_OK && !m->indexed)
            st = ed__err(ED_E_FORMAT, "dataset: mask %s is not a palette PNG (%d channels, %d-bit)", c->masks[0],
                         m->channels, m->bit_depth);
        if (st == ED_OK) {
            c->palette_size = m->palette_size;
            memcpy(c->palette, m->palette, sizeof c->palette);
        }
        ed_image_free(m);
    }
    if (st == ED_OK && c->opt.check == ED_CHECK_FULL) st = check_all(c);
    if (st == ED_OK && c->n == 0)
        st = ed__err(ED_E_IO, "dataset: every sample under %s failed its checks (see the warnings)", root);
    return st;
}

ed_status ed_dataset_open(ed_dataset_kind kind, const char *root, const char *split,
                          const ed_dataset_options *options, ed_dataset **out)
{
    if (!out) return ed__err(ED_E_ARG, "dataset_open: out is NULL");
    *out = NULL;
    if (!root) return ed__err(ED_E_ARG, "dataset_open: root is NULL");
    ds_core *c = calloc(1, sizeof *c);
    if (!c) return ed__err(ED_E_NOMEM, "dataset: out of memory");
    if (options) c->opt = *options;
    else ed_dataset_options_default(&c->opt);
    c->kind = kind;
    c->refs = 0;
    pthread_mutex_init(&c->lock, NULL);
    ed_status st = open_core(c, root, split);
    /* Folder names were used while listing; the copy must not point at them. */
    c->opt.image_dir = c->opt.mask_dir = c->opt.mask_suffix = c->opt.ann_dir = NULL;
    if (st == ED_OK) st = new_view(c, c->n, out);
    if (st != ED_OK) {
        c->refs = 1;
        core_release(c);
        return st;
    }
    for (int i = 0; i < c->n; i++) (*out)->idx[i] = i;
    return ED_OK;
}

void ed_dataset_free(ed_dataset *ds)
{
    if (!ds) return;
    core_release(ds->core);
    free(ds->idx);
    free(ds);
}

/* ---- views --------------------------------------------------------------------- */

ed_status ed_dataset_subset(const ed_dataset *ds, const int *indices, int n, ed_dataset **out)
{
    if (!out) return ed__err(ED_E_ARG, "dataset_subset: out is NULL");
    *out = NULL;
    if (!ds || (!indices && n > 0) || n < 0)
        return ed__err(ED_E_ARG, "dataset_subset: NULL data set or indices, or n < 0 (n = %d)", n);
    for (int k = 0; k < n; k++)
        if (indices[k] < 0 || indices[k] >= ds->n)
            return ed__err(ED_E_RANGE, "dataset_subset: indices[%d] = %d is outside 0..%d", k, indices[k], ds->n - 1);
    ED_TRY(new_view(ds->core, n, out));
    for (int k = 0; k < n; k++) (*out)->idx[k] = ds->idx[indices[k]];
    return ED_OK;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

ed_status ed_dataset_split(const ed_dataset *ds, double val_fraction, uint64_t seed, ed_dataset **train,
                           ed_dataset **val)
{
    if (!train || !val) return ed__err(ED_E_ARG, "dataset_split: train or val is NULL");
    *train = *val = NULL;
    if (!ds) return ed__err(ED_E_ARG, "dataset_split: data set is NULL");
    if (!(val_fraction > 0 && val_fraction < 1))
        return ed__err(ED_E_ARG, "dataset_split: val_fraction must lie in (0, 1), got %g", val_fraction);
    const ds_core *c = ds->core;
    const int n = ds->n, groups = c->classes ? c->n_classes : 1;
    int *pos = malloc((size_t)n * sizeof *pos), *is_val = calloc((size_t)n, sizeof *is_val);
    int *tr = malloc((size_t)n * sizeof *tr), *va = malloc((size_t)n * sizeof *va);
    ed_status st = ED_OK;
    if (!pos || !is_val || !tr || !va) st = ed__err(ED_E_NOMEM, "dataset_split: out of memory");
    /* Per group (class), the positions in order, shuffled from (seed, group);
     * the first round(fraction * size) of them go to val. */
    for (int g = 0; st == ED_OK && g < groups; g++) {
        int m = 0;
        for (int k = 0; k < n; k++)
            if (!c->classes || c->classes[ds->idx[k]] == g) pos[m++] = k;
        ed_rng r;
        ds__rng(seed, 0x53504c54u /* "SPLT" */, (uint64_t)g, 0, &r);
        ds__shuffle(pos, m, &r);
        int nv = (int)(val_fraction * m + 0.5);
        for (int k = 0; k < nv; k++) is_val[pos[k]] = 1;
    }
    int ntr = 0, nva = 0;
    for (int k = 0; st == ED_OK && k < n; k++) {
        if (is_val[k]) va[nva++] = k;
        else tr[ntr++] = k;
    }
    if (st == ED_OK && (ntr == 0 || nva == 0))
        st = ed__err(ED_E_ARG, "dataset_split: val_fraction %g of %d samples leaves the %s split empty", val_fraction,
                     n, nva == 0 ? "val" : "train");
    if (st == ED_OK) {
        qsort(tr, (size_t)ntr, sizeof *tr, cmp_int);
        qsort(va, (size_t)nva, sizeof *va, cmp_int);
        st = ed_dataset_subset(ds, tr, ntr, train);
    }
    if (st == ED_OK) st = ed_dataset_subset(ds, va, nva, val);
    if (st != ED_OK) {
        ed_dataset_free(*train);
        *train = NULL;
    }
    free(pos), free(is_val), free(tr), free(va);
    return st;
}

/* ---- accessors ------------------------------------------------------------------ */

int ed_dataset_size(const ed_dataset *ds) { return ds ? ds->n : 0; }
ed_dataset_kind ed_dataset_get_kind(const ed_dataset *ds) { return ds ? ds->core->kind : ED_DATASET_CLASSES; }

int ed_dataset_num_classes(const ed_dataset *ds)
{
    if (!ds) return 0;
    const ds_core *c = ds->core;
    if (c->kind == ED_DATASET_CLASSES) return c->n_classes;
    if (c->kind == ED_DATASET_SEG_INDEX || c->kind == ED_DATASET_SEG_PALETTE) return c->opt.num_classes;
    return 0;
}

const char *ed_dataset_class_name(const ed_dataset *ds, int k)
{
    return ds && ds->core->class_names && k >= 0 && k < ds->core->n_classes ? ds->core->class_names[k] : NULL;
}

const char *ed_dataset_image_path(const ed_dataset *ds, int i)
{
    return ds && i >= 0 && i < ds->n ? ds->core->images[ds->idx[i]] : NULL;
}

const char *ed_dataset_mask_path(const ed_dataset *ds, int i)
{
    return ds && ds->core->masks && i >= 0 && i < ds->n ? ds->core->masks[ds->idx[i]] : NULL;
}

int ed_dataset_label(const ed_dataset *ds, int i)
{
    return ds && ds->core->classes && i >= 0 && i < ds->n ? ds->core->classes[ds->idx[i]] : -1;
}

int ed_dataset_palette(const ed_dataset *ds, uint8_t rgba[256][4])
{
    if (!ds || !ds->core->palette_size) return 0;
    if (rgba) memcpy(rgba, ds->core->palette, sizeof ds->core->palette);
    return ds->core->palette_size;
}

/* ---- samples --------------------------------------------------------------------- */

void ed_sample_free(ed_sample *s)
{
    if (!s) return;
    ed_tensor_free(s->image);
    ed_tensor_free(s->target);
    ed_tensor_free(s->labels);
    ed_tensor_free(s->masks);
    ed_tensor_free(s->boxes);
    ed_tensor_free(s->classes);
    ed_tensor_free(s->ids);
    memset(s, 0, sizeof *s);
    s->label = -1;
    s->ignore_index = -1;
}

static ed_status get_core(ds_core *c, int i, ed_sample *s)
{
    memset(s, 0, sizeof *s);
    s->label = -1;
    s->ignore_index = -1;
    s->path = c->images[i];
    switch (c->kind) {
    case ED_DATASET_CLASSES: s->label = c->classes[i]; /* fall through */
    case ED_DATASET_IMAGES: return ds__load_image(c, c->images[i], NULL, &s->image);
    case ED_DATASET_SEG_INDEX:
    case ED_DATASET_SEG_PALETTE: return ds__seg_get(c, i, s);
    case ED_DATASET_INSTANCE: return ds__inst_get(c, i, s);
    }
    return ed__err(ED_E_ARG, "dataset: unknown kind %d", (int)c->kind);
}

ed_status ed_dataset_get(const ed_dataset *ds, int i, ed_sample *out)
{
    if (!out) return ed__err(ED_E_ARG, "dataset_get: out is NULL");
    memset(out, 0, sizeof *out);
    out->label = out->ignore_index = -1;
    if (!ds) return ed__err(ED_E_ARG, "dataset_get: data set is NULL");
    if (i < 0 || i >= ds->n)
        return ed__err(ED_E_RANGE, "dataset_get: index %d is outside 0..%d", i, ds->n - 1);
    /* Samples are heap tensors whatever arena the caller has active. */
    ed_arena_begin(NULL);
    ed_status st = get_core(ds->core, ds->idx[i], out);
    ed_arena_end();
    if (st != ED_OK) ed_sample_free(out);
    out->index = i;
    if (st == ED_OK) out->path = ds->core->images[ds->idx[i]];
    return st;
}
