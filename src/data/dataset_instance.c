/* Instance sets (Penn-Fudan): an id mask per image, 0 background and each
 * other value one object, turned into per-instance binary masks, boxes and
 * classes, as torchvision's Penn-Fudan tutorial does (ids sorted
 * ascending; one class, 1 = object). Boxes follow augment.h: pixel x covers
 * [x, x+1), so a mask's box is (min x, min y, max x + 1, max y + 1).
 *
 * Penn-Fudan also ships PASCAL text boxes (1-based, inclusive). When an
 * image has one, the k-th annotated box must match the k-th id's mask box
 * roughly (IoU >= 0.5; the real set agrees to >= 0.93) and the counts must
 * be equal; a disagreement is a problem (error, or warning). */
#include "data/dataset_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define ANN_MIN_IOU 0.5
#define MAX_ID 65535     /* ids come from 8 or 16-bit PNGs */

ed_status ds__inst_list(ds_core *c, const char *root, const char *split, ds_list *l)
{
    const char *id = c->opt.image_dir ? c->opt.image_dir : "PNGImages";
    const char *md = c->opt.mask_dir ? c->opt.mask_dir : "PedMasks";
    const char *ad = c->opt.ann_dir ? c->opt.ann_dir : "Annotation";
    char base[DS_PATH], img_dir[DS_PATH], mask_dir[DS_PATH], ann_dir[DS_PATH];
    ED_TRY(ds__path(base, "%s/%s", root, split ? split : ""));
    ED_TRY(ds__path(img_dir, "%s/%s", root, id));
    /* Penn-Fudan has no split folders: its "train" split is the whole set. */
    if (split && !strcmp(split, "train") && !ds__is_dir(base) && ds__is_dir(img_dir)) {
        ED_TRY(ds__path(base, "%s", root));
        ED_TRY(ds__check_test(c, base));
    } else {
        ED_TRY(ds__split_folder(c, root, split, base));
    }
    ED_TRY(ds__path(img_dir, "%s/%s", base, id));
    ED_TRY(ds__path(mask_dir, "%s/%s", base, md));
    ED_TRY(ds__path(ann_dir, "%s/%s", base, ad));
    ED_TRY(ds__check_test(c, img_dir));
    ED_TRY(ds__check_test(c, mask_dir));
    return ds__pair_list(c, img_dir, mask_dir, c->opt.mask_suffix ? c->opt.mask_suffix : "_mask", ann_dir, l);
}

ed_status ed_sample_instances_from_ids(ed_sample *s, const int64_t *keep_ids, int n_keep)
{
    if (!s || !s->labels) return ed__err(ED_E_ARG, "sample_instances_from_ids: sample or its id map is NULL");
    ed_tensor *lt = s->labels;
    char sb[ED_SHAPE_BUF];
    if (lt->dtype != ED_I64 || lt->ndim != 2)
        return ed__err(ED_E_SHAPE, "sample_instances_from_ids: the id map must be int64 (H, W), got %s %s",
                       ed_dtype_name(lt->dtype), ed__shape_str(lt, sb));
    const int64_t H = lt->shape[0], W = lt->shape[1], HW = H * W;
    int64_t *lab = ed__i64(lt);
    uint8_t *keep = NULL;
    if (n_keep > 0) {
        if (!(keep = calloc(MAX_ID + 1, 1))) return ed__err(ED_E_NOMEM, "sample_instances_from_ids: out of memory");
        for (int k = 0; k < n_keep; k++)
            if (keep_ids[k] >= 0 && keep_ids[k] <= MAX_ID) keep[keep_ids[k]] = 1;
    }
    /* slot[id]: the instance's number + 1, or 0 when the id is absent. */
    int32_t *slot = calloc(MAX_ID + 1, sizeof *slot);
    if (!slot) {
        free(keep);
        return ed__err(ED_E_NOMEM, "sample_instances_from_ids: out of memory");
    }
    for (int64_t p = 0; p < HW; p++) {
        int64_t v = lab[p];
        if (v < 0 || v > MAX_ID) {
            free(keep), free(slot);
            return ed__err(ED_E_RANGE, "sample_instances_from_ids: %s: id %lld at (x %lld, y %lld) is outside 0..%d",
                           s->path ? s->path : "sample", (long long)v, (long long)(p % W), (long long)(p / W), MAX_ID);
        }
        if (keep && !keep[v]) v = lab[p] = 0;
        if (v) slot[v] = 1;
    }
    int K = 0;
    for (int v = 1; v <= MAX_ID; v++)
        if (slot[v]) slot[v] = ++K;
    ed_tensor *masks = NULL, *boxes = NULL, *classes = NULL, *ids = NULL;
    ed_status st = ed_tensor_new(ED_U8, 3, (int64_t[]){ K, H, W }, &masks);
    if (st == ED_OK) st = ed_tensor_new(ED_F32, 2, (int64_t[]){ K, 4 }, &boxes);
    if (st == ED_OK) st = ed_tensor_new(ED_I64, 1, (int64_t[]){ K }, &classes);
    if (st == ED_OK) st = ed_tensor_new(ED_I64, 1, (int64_t[]){ K }, &ids);
    if (st == ED_OK) {
        uint8_t *m = ed_tensor_data(masks);
        float *b = ed_tensor_data(boxes);
        int64_t *cl = ed_tensor_data(classes), *idv = ed_tensor_data(ids);
        for (int k = 0; k < K; k++) {
            b[4 * k + 0] = (float)W, b[4 * k + 1] = (float)H, b[4 * k + 2] = 0, b[4 * k + 3] = 0;
            cl[k] = 1;
        }
        for (int v = 1; v <= MAX_ID; v++)
            if (slot[v]) idv[slot[v] - 1] = v;
        for (int64_t p = 0; p < HW; p++) {
            if (!lab[p]) continue;
            int k = slot[lab[p]] - 1;
            float x = (float)(p % W), y = (float)(p / W), *bk = b + 4 * k;
            m[(int64_t)k * HW + p] = 1;
            if (x < bk[0]) bk[0] = x;
            if (y < bk[1]) bk[1] = y;
            if (x + 1 > bk[2]) bk[2] = x + 1;
            if (y + 1 > bk[3]) bk[3] = y + 1;
        }
    }
    free(keep), free(slot);
    if (st != ED_OK) {
        ed_tensor_free(masks), ed_tensor_free(boxes), ed_tensor_free(classes), ed_tensor_free(ids);
        return st;
    }
    ed_tensor_free(s->masks), ed_tensor_free(s->boxes), ed_tensor_free(s->classes), ed_tensor_free(s->ids);
    s->masks = masks, s->boxes = boxes, s->classes = classes, s->ids = ids;
    s->n_instances = K;
    return ED_OK;
}

/* ---- PASCAL annotations ------------------------------------------------------- */

ed_status ed_pascal_boxes_load(const char *path, ed_tensor **out)
{
    if (!out) return ed__err(ED_E_ARG, "pascal_boxes_load: out is NULL");
    *out = NULL;
    if (!path) return ed__err(ED_E_ARG, "pascal_boxes_load: path is NULL");
    FILE *f = fopen(path, "r");
    if (!f) return ed__err(ED_E_IO, "pascal_boxes_load: %s: cannot open: %s", path, strerror(errno));
    float *b = NULL;
    int n = 0, cap = 0, declared = -1, lineno = 0;
    ed_status st = ED_OK;
    char line[2048];
    while (st == ED_OK && fgets(line, sizeof line, f)) {
        lineno++;
        const char *p = strstr(line, "Objects with ground truth :");
        if (p) sscanf(p, "Objects with ground truth : %d", &declared);
        if (strncmp(line, "Bounding box for object ", 24) != 0) continue;
        int k = 0, x0, y0, x1, y1;
        const char *q = strstr(line, "(Xmax, Ymax) :");
        if (sscanf(line + 24, "%d", &k) != 1 || !q ||
            sscanf(q, "(Xmax, Ymax) : ( %d , %d ) - ( %d , %d )", &x0, &y0, &x1, &y1) != 4) {
            st = ed__err(ED_E_FORMAT, "pascal_boxes_load: %s:%d: cannot read the box", path, lineno);
        } else if (k != n + 1) {
            st = ed__err(ED_E_FORMAT, "pascal_boxes_load: %s:%d: object %d where %d was expected", path, lineno, k,
                         n + 1);
        } else if (x1 < x0 || y1 < y0) {
            st = ed__err(ED_E_FORMAT, "pascal_boxes_load: %s:%d: box (%d, %d) - (%d, %d) is empty", path, lineno, x0,
                         y0, x1, y1);
        } else {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                float *nb = realloc(b, (size_t)cap * 4 * sizeof *nb);
                if (!nb) { st = ed__err(ED_E_NOMEM, "pascal_boxes_load: out of memory"); break; }
                b = nb;
            }
            b[4 * n + 0] = (float)(x0 - 1), b[4 * n + 1] = (float)(y0 - 1);
            b[4 * n + 2] = (float)x1, b[4 * n + 3] = (float)y1;
            n++;
        }
    }
    fclose(f);
    if (st == ED_OK && declared >= 0 && declared != n)
        st = ed__err(ED_E_FORMAT, "pascal_boxes_load: %s declares %d objects but has %d boxes", path, declared, n);
    if (st == ED_OK) st = ed_tensor_from_data(ED_F32, 2, (int64_t[]){ n, 4 }, b, out);
    free(b);
    return st;
}

static double box_iou(const float *a, const float *b)
{
    double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]), ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
    double inter = iw > 0 && ih > 0 ? iw * ih : 0;
    double u = (double)(a[2] - a[0]) * (a[3] - a[1]) + (double)(b[2] - b[0]) * (b[3] - b[1]) - inter;
    return u > 0 ? inter / u : 0;
}

static ed_status check_annotation(ds_core *c, int i, const ed_sample *s)
{
    ed_tensor *ann = NULL;
    ed_status st = ed_pascal_boxes_load(c->anns[i], &ann);
    if (st != ED_OK) return ds__problem(c, i, st, "dataset: %s", ed_last_error());
    const int64_t na = ann->shape[0];
    if (na != s->n_instances) {
        st = ds__problem(c, i, ED_E_FORMAT, "dataset: %s lists %lld objects but mask %s has %d instance ids",
                         c->anns[i], (long long)na, c->masks[i], s->n_instances);
    } else {
        const float *a = ed_tensor_cdata(ann), *m = ed_tensor_cdata(s->boxes);
        const int64_t *id = ed_tensor_cdata(s->ids);
        for (int64_t k = 0; st == ED_OK && k < na; k++) {
            double iou = box_iou(a + 4 * k, m + 4 * k);
            if (iou >= ANN_MIN_IOU) continue;
            const float *p = a + 4 * k, *q = m + 4 * k;
            st = ds__problem(c, i, ED_E_FORMAT,
                             "dataset: %s: object %lld's box (%g, %g, %g, %g) and the box (%g, %g, %g, %g) of id "
                             "%lld in %s disagree (IoU %.2f < %.2f)",
                             c->anns[i], (long long)k + 1, p[0], p[1], p[2], p[3], q[0], q[1], q[2], q[3],
                             (long long)id[k], c->masks[i], iou, ANN_MIN_IOU);
        }
    }
    ed_tensor_free(ann);
    return st;
}

ed_status ds__inst_get(ds_core *c, int i, ed_sample *s)
{
    ed_image *m = NULL;
    ED_TRY(ds__load_pair(c, i, &m, &s->image));
    ed_status st = ed_image_to_labels(m, &s->labels);
    ed_image_free(m);
    s->path = c->images[i];
    if (st == ED_OK) st = ed_sample_instances_from_ids(s, NULL, 0);
    if (st == ED_OK && c->anns && c->anns[i]) st = check_annotation(c, i, s);
    return st;
}
