/* Segmentation sets: pairing images with label masks, and reading a pair.
 *   Pairing: image <dir>/x.<ext> goes with <mask_dir>/x<suffix>.png (masks
 *   are PNG: a JPEG would blur the class indices). An image without its
 *   mask, or a mask without its image, is a problem (see ds__problem).
 *   VOC's layout (root/ImageSets/Segmentation/<split>.txt listing ids,
 *   JPEGImages/<id>.jpg (or .png), SegmentationClass/<id>.png) is read when
 *   present.
 *   Reading: the mask keeps palette indices; it must have one channel and
 *   the image's size; each label must lie in 0..num_classes-1 or be the
 *   ignore value. Out-of-range labels are reported with the first one's
 *   value and (x, y) and the count; under warn_only they become the ignore
 *   value. */
#include "data/dataset_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Masks of mask_dir that no image claimed (claimed: sorted mask paths). */
static ed_status check_orphans(ds_core *c, const char *mask_dir, char **claimed, int n)
{
    ed_file_list *fl = NULL;
    if (ed_file_list_images(mask_dir, 0, &fl) != ED_OK) return ED_OK;   /* empty: images already complained */
    ed_status st = ED_OK;
    for (int i = 0; st == ED_OK && i < fl->n; i++)
        if (!bsearch(&fl->paths[i], claimed, (size_t)n, sizeof *claimed, cmp_str))
            st = ds__problem(c, -1, ED_E_IO, "dataset: mask %s has no image", fl->paths[i]);
    ed_file_list_free(fl);
    return st;
}

ed_status ds__pair_list(ds_core *c, const char *img_dir, const char *mask_dir, const char *suffix,
                        const char *ann_dir, ds_list *l)
{
    if (!ds__is_dir(mask_dir)) return ed__err(ED_E_IO, "dataset: mask folder %s does not exist", mask_dir);
    ed_file_list *fl = NULL;
    ED_TRY(ed_file_list_images(img_dir, 0, &fl));
    const bool anns = ann_dir && ds__is_dir(ann_dir);
    char **claimed = malloc((size_t)fl->n * sizeof *claimed);
    int n_claimed = 0;
    ed_status st = claimed ? ED_OK : ed__err(ED_E_NOMEM, "dataset: out of memory");
    char stem[1024], mask[DS_PATH], ann[DS_PATH];
    for (int i = 0; st == ED_OK && i < fl->n; i++) {
        ds__stem(fl->paths[i], stem, sizeof stem);
        if ((st = ds__path(mask, "%s/%s%s.png", mask_dir, stem, suffix)) != ED_OK) break;
        if (!(claimed[n_claimed] = strdup(mask))) { st = ed__err(ED_E_NOMEM, "dataset: out of memory"); break; }
        n_claimed++;
        const char *a = NULL;
        if (anns) {
            if (ds__path(ann, "%s/%s.txt", ann_dir, stem) == ED_OK && ds__file_ok(ann) == ED_OK) a = ann;
        }
        ed_status fs = ds__file_ok(fl->paths[i]);
        if (fs != ED_OK) {
            st = ds__problem(c, -1, fs, "%s", ed_last_error());
        } else if (ds__file_ok(mask) != ED_OK) {
            bool missing = ed_last_error()[0] && strstr(ed_last_error(), "cannot open");
            st = missing ? ds__problem(c, -1, ED_E_IO, "dataset: image %s has no mask (expected %s)", fl->paths[i], mask)
                         : ds__problem(c, -1, ED_E_FORMAT, "%s", ed_last_error());
        } else {
            st = ds__list_push(l, fl->paths[i], mask, a);
        }
    }
    if (st == ED_OK) {
        qsort(claimed, (size_t)n_claimed, sizeof *claimed, cmp_str);
        st = check_orphans(c, mask_dir, claimed, n_claimed);
    }
    for (int i = 0; i < n_claimed; i++) free(claimed[i]);
    free(claimed);
    ed_file_list_free(fl);
    return st;
}

/* VOC: ids from ImageSets/Segmentation/<split>.txt. */
static ed_status voc_list(ds_core *c, const char *root, const char *split, ds_list *l)
{
    if (!split || !split[0]) return ed__err(ED_E_ARG, "dataset: a VOC-style set (%s) needs a split name", root);
    char list[DS_PATH], img[DS_PATH], mask[DS_PATH], line[1024];
    ED_TRY(ds__path(list, "%s/ImageSets/Segmentation/%s.txt", root, split));
    FILE *f = fopen(list, "r");
    if (!f) return ed__err(ED_E_IO, "dataset: %s: cannot open: %s", list, strerror(errno));
    ed_status st = ED_OK;
    while (st == ED_OK && fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
        if (!n) continue;
        if ((st = ds__path(img, "%s/JPEGImages/%s.jpg", root, line)) != ED_OK ||
            (st = ds__path(mask, "%s/SegmentationClass/%s.png", root, line)) != ED_OK)
            break;
        if (ds__file_ok(img) != ED_OK && (st = ds__path(img, "%s/JPEGImages/%s.png", root, line)) != ED_OK) break;
        if (ds__file_ok(img) != ED_OK) st = ds__problem(c, -1, ED_E_IO, "%s (listed in %s)", ed_last_error(), list);
        else if (ds__file_ok(mask) != ED_OK)
            st = ds__problem(c, -1, ED_E_IO, "dataset: image %s has no mask (expected %s)", img, mask);
        else st = ds__list_push(l, img, mask, NULL);
    }
    fclose(f);
    return st;
}

ed_status ds__seg_list(ds_core *c, const char *root, const char *split, ds_list *l)
{
    char img_dir[DS_PATH], mask_dir[DS_PATH];
    ED_TRY(ds__path(img_dir, "%s/ImageSets/Segmentation", root));
    if (!c->opt.image_dir && !c->opt.mask_dir && ds__is_dir(img_dir)) return voc_list(c, root, split, l);
    if (c->opt.image_dir) {
        ED_TRY(ds__path(img_dir, "%s/%s", root, c->opt.image_dir));
        ED_TRY(ds__check_test(c, img_dir));
    } else {
        ED_TRY(ds__split_folder(c, root, split, img_dir));
    }
    if (c->opt.mask_dir) ED_TRY(ds__path(mask_dir, "%s/%s", root, c->opt.mask_dir));
    else ED_TRY(ds__path(mask_dir, "%sannot", img_dir));
    ED_TRY(ds__check_test(c, mask_dir));
    return ds__pair_list(c, img_dir, mask_dir, c->opt.mask_suffix ? c->opt.mask_suffix : "", NULL, l);
}

ed_status ds__load_pair(const ds_core *c, int i, ed_image **mask, ed_tensor **image)
{
    *mask = NULL;
    ED_TRY(ds__load_image(c, c->images[i], NULL, image));
    ed_image *m = NULL;
    ed_status st = ed_image_load(c->masks[i], ED_IMAGE_KEEP_PALETTE, &m);
    const int64_t *sh = ed_tensor_shape(*image);
    if (st == ED_OK && c->kind == ED_DATASET_SEG_PALETTE && !m->indexed)
        st = ed__err(ED_E_FORMAT, "dataset: mask %s is not a palette PNG (%d channels, %d-bit)", c->masks[i],
                     m->channels, m->bit_depth);
    if (st == ED_OK && m->channels != 1)
        st = ed__err(ED_E_FORMAT, "dataset: mask %s has %d channels; a label mask has one (the indices)", c->masks[i],
                     m->channels);
    if (st == ED_OK && (m->width != sh[2] || m->height != sh[1]))
        st = ed__err(ED_E_SHAPE, "dataset: image %s is %lld x %lld (W x H) but its mask %s is %d x %d", c->images[i],
                     (long long)sh[2], (long long)sh[1], c->masks[i], m->width, m->height);
    if (st != ED_OK) {
        ed_image_free(m);
        ed_tensor_free(*image);
        *image = NULL;
        return st;
    }
    *mask = m;
    return ED_OK;
}

ed_status ds__seg_get(ds_core *c, int i, ed_sample *s)
{
    ed_image *m = NULL;
    ED_TRY(ds__load_pair(c, i, &m, &s->image));
    ed_status st = ed_image_to_labels(m, &s->labels);
    ed_image_free(m);
    if (st != ED_OK) return st;
    const int64_t C = c->opt.num_classes, ign = c->opt.ignore_index, W = s->labels->shape[1];
    s->ignore_index = ign;
    int64_t *lab = ed__i64(s->labels), bad = 0, first = -1;
    for (int64_t k = 0; k < s->labels->numel; k++)
        if ((lab[k] < 0 || lab[k] >= C) && lab[k] != ign && bad++ == 0) first = k;
    if (!bad) return ED_OK;
#define LABEL_FMT "dataset: mask %s: label %lld at (x %lld, y %lld) is outside 0..%lld and is not the ignore " \
                  "value %lld (%lld pixels out of range)%s"
    const long long v = (long long)lab[first], x = (long long)(first % W), y = (long long)(first / W);
    if (ign < 0) return ed__err(ED_E_RANGE, LABEL_FMT, c->masks[i], v, x, y, (long long)C - 1, (long long)ign, (long long)bad, "");
    ED_TRY(ds__problem(c, i, ED_E_RANGE, LABEL_FMT, c->masks[i], v, x, y, (long long)C - 1, (long long)ign, (long long)bad,
                       "; they become the ignore value"));
    for (int64_t k = 0; k < s->labels->numel; k++)
        if ((lab[k] < 0 || lab[k] >= C) && lab[k] != ign) lab[k] = ign;
    return ED_OK;
}
