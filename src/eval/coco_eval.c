/* COCO detection / instance segmentation evaluation, the algorithm of
 * pycocotools' cocoeval.py (COCOeval.evaluate, accumulate, summarize) with
 * its default Params, step for step so that every stat agrees:
 *
 *   prepare   gt and detections are grouped by (image, category), gts in
 *             file order, detections sorted by score (stable, descending)
 *             and cut to maxDets[-1] = 100; gt ignore = iscrowd.
 *   IoU       D x G per group: boxes (bbIou) or masks (rleIou); a crowd gt's
 *             union is the detection's area alone.
 *   match     per area range and IoU threshold t, each detection in score
 *             order takes the unmatched (or crowd) gt of highest IoU >=
 *             min(t, 1 - 1e-10), gts sorted non-ignored first and a
 *             non-ignored match never given up for an ignored one; a
 *             detection matched to an ignored gt is ignored, an unmatched
 *             one outside the area range too.
 *   accumulate per (category, area, maxDet): the first maxDet detections of
 *             every image, sorted by score (stable); cumulative tp / fp give
 *             recall tp / npig and precision tp / (tp + fp + eps), made
 *             non-increasing from the right and read at the 101 recall
 *             thresholds (first index with recall >= r, numpy's searchsorted
 *             'left'; 0 past the last); recall is the last one. A category
 *             with no gt and no detection, or no non-ignored gt, is -1.
 *   summarize the mean over entries > -1 of the 12 (T, R, K) or (T, K)
 *             slices, -1 if none.
 * The thresholds are numpy.linspace's exact doubles (i * step + start, the
 * last one = stop), so IoUs equal to a threshold fall as in numpy. */
#include "eval/coco_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_N 10
#define R_N 101
#define A_N 4
#define M_N 3
#define MAX_DET 100

static const int max_dets[M_N] = { 1, 10, 100 };
static const double area_rng[A_N][2] = { { 0, 1e10 }, { 0, 1024 }, { 1024, 9216 }, { 9216, 1e10 } };

typedef struct {
    int img, cat;         /* indices into the sorted image / category ids */
    int64_t id;
    double area, score;
    int iscrowd;
    const double *bbox;   /* the annotation's, or box[] */
    double box[4];
    ed_coco_rle rle;      /* segm only */
} item;

typedef struct { int64_t id; int idx; } id_pair;

static int pair_cmp(const void *a, const void *b)
{
    const id_pair *x = a, *y = b;
    if (x->id != y->id) return x->id < y->id ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

static int pair_find(const id_pair *p, int n, int64_t id)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (p[mid].id < id) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && p[lo].id == id ? lo : -1;   /* the rank, not the index */
}

/* Detections by score, descending; ties keep their order (pos), as numpy's
 * stable argsort(-score, kind='mergesort'). */
typedef struct { double score; int pos; } scored;
static int by_scored(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

typedef struct {
    int I, K, segm;
    id_pair *imgs, *cats;     /* sorted */
    const ed_coco *gt;
    item *g, *d;
    int ng, nd;
    int *g_off, *g_idx;       /* groups: key = cat * I + img, gts in file order */
    int *d_off, *d_idx;       /* detections by score, at most MAX_DET per group */
    int *d_cnt;               /* detections kept per group */
    double thr[T_N], rec[R_N];
    /* summary sums over entries > -1 */
    double ap_sum[A_N], ap_n[A_N], ap50_sum, ap50_n, ap75_sum, ap75_n;
    double ar_sum[A_N][M_N], ar_n[A_N][M_N];
} evaluator;

static void ev_free(evaluator *e)
{
    for (int i = 0; i < e->ng; i++) ed_coco_rle_free(&e->g[i].rle);
    for (int i = 0; i < e->nd; i++) ed_coco_rle_free(&e->d[i].rle);
    free(e->imgs); free(e->cats); free(e->g); free(e->d);
    free(e->g_off); free(e->g_idx); free(e->d_off); free(e->d_idx); free(e->d_cnt);
}

static ed_status sorted_ids(const int64_t *ids, size_t stride, int n, const char *what, id_pair **out)
{
    id_pair *p = malloc(sizeof *p * (size_t)(n > 0 ? n : 1));
    if (!p) return ed__err(ED_E_NOMEM, "coco_eval: out of memory");
    for (int i = 0; i < n; i++) { p[i].id = *(const int64_t *)((const char *)ids + stride * (size_t)i); p[i].idx = i; }
    qsort(p, (size_t)n, sizeof *p, pair_cmp);
    for (int i = 1; i < n; i++)
        if (p[i].id == p[i - 1].id) {
            ed_status st = ed__err(ED_E_FORMAT, "coco_eval: ground truth: %s id %lld appears twice", what,
                                   (long long)p[i].id);
            free(p);
            return st;
        }
    *out = p;
    return ED_OK;
}

/* The image (rank, and its size) and category rank of an annotation. */
static ed_status place(evaluator *e, const ed_coco_ann *a, const char *what, item *it, int *h, int *w)
{
    it->img = pair_find(e->imgs, e->I, a->image_id);
    if (it->img < 0)
        return ed__err(ED_E_FORMAT, "coco_eval: %s: image_id %lld is not among the ground truth images", what,
                       (long long)a->image_id);
    it->cat = pair_find(e->cats, e->K, a->category_id);
    if (it->cat < 0)
        return ed__err(ED_E_FORMAT, "coco_eval: %s: category_id %lld is not among the ground truth categories", what,
                       (long long)a->category_id);
    const ed_coco_image *im = &e->gt->images[e->imgs[it->img].idx];
    *h = im->height; *w = im->width;
    return ED_OK;
}

static ed_status prepare_gt(evaluator *e)
{
    const ed_coco *gt = e->gt;
    for (int i = 0; i < gt->n_anns; i++) {
        const ed_coco_ann *a = &gt->anns[i];
        item *it = &e->g[i];
        char what[96];
        snprintf(what, sizeof what, "ground truth annotations[%d] (id %lld)", i, (long long)a->id);
        int h, w;
        ED_TRY(place(e, a, what, it, &h, &w));
        it->id = a->id;
        it->iscrowd = a->iscrowd != 0;
        if (!a->has_area) return ed__err(ED_E_FORMAT, "coco_eval: %s has no \"area\"", what);
        it->area = a->area;
        if (e->segm) {
            ED_TRY(ed__coco_segm_to_rle(a, h, w, what, &it->rle));
        } else {
            if (!a->has_bbox) return ed__err(ED_E_FORMAT, "coco_eval: %s has no \"bbox\"", what);
            it->bbox = a->bbox;
        }
        e->ng = i + 1;
    }
    return ED_OK;
}

/* loadRes: ids 1.., iscrowd 0; the first detection decides whether area
 * and a missing segmentation come from the box or area and a missing box
 * from the mask. */
static ed_status prepare_dt(evaluator *e, const ed_coco *res)
{
    int box_mode = res->n_anns > 0 && res->anns[0].has_bbox;
    for (int i = 0; i < res->n_anns; i++) {
        const ed_coco_ann *a = &res->anns[i];
        item *it = &e->d[i];
        char what[64];
        snprintf(what, sizeof what, "results[%d]", i);
        int h, w;
        ED_TRY(place(e, a, what, it, &h, &w));
        it->id = i + 1;
        if (!isfinite(a->score)) return ed__err(ED_E_NAN, "coco_eval: %s: score is %g", what, a->score);
        it->score = a->score;
        e->nd = i + 1;
        if (box_mode) {
            if (!a->has_bbox)
                return ed__err(ED_E_FORMAT, "coco_eval: %s has no \"bbox\" (results[0] has one, so all need one)",
                               what);
            it->bbox = a->bbox;
            it->area = a->bbox[2] * a->bbox[3];
            if (e->segm) {
                if (a->segm_kind == ED_COCO_SEGM_NONE) ED_TRY(ed_coco_rle_from_bbox(a->bbox, h, w, &it->rle));
                else ED_TRY(ed__coco_segm_to_rle(a, h, w, what, &it->rle));
            }
        } else {
            if (a->segm_kind == ED_COCO_SEGM_NONE)
                return ed__err(ED_E_FORMAT,
                               "coco_eval: %s has no \"segmentation\" (results[0] has no bbox, so all need one)", what);
            ED_TRY(ed__coco_segm_to_rle(a, h, w, what, &it->rle));
            it->area = (double)ed_coco_rle_area(&it->rle);
            if (a->has_bbox) it->bbox = a->bbox;
            else { ed_coco_rle_to_bbox(&it->rle, it->box); it->bbox = it->box; }
            if (!e->segm) ed_coco_rle_free(&it->rle);
        }
    }
    return ED_OK;
}

/* Stable grouping by key = cat * I + img (a counting sort). */
static ed_status group(const item *its, int n, int I, int groups, int **off_out, int **idx_out)
{
    int *off = calloc((size_t)groups + 1, sizeof *off), *idx = malloc(sizeof *idx * (size_t)(n > 0 ? n : 1));
    int *fill = malloc(sizeof *fill * ((size_t)groups + 1));
    if (!off || !idx || !fill) { free(off); free(idx); free(fill); return ed__err(ED_E_NOMEM, "coco_eval: out of memory"); }
    for (int i = 0; i < n; i++) off[its[i].cat * I + its[i].img + 1]++;
    for (int k = 0; k < groups; k++) off[k + 1] += off[k];
    memcpy(fill, off, sizeof *fill * (size_t)groups);
    for (int i = 0; i < n; i++) idx[fill[its[i].cat * I + its[i].img]++] = i;
    free(fill);
    *off_out = off; *idx_out = idx;
    return ED_OK;
}

/* Per-image results of one group for one area range (evaluateImg). */
typedef struct {
    uint8_t tp[T_N][MAX_DET], fp[T_N][MAX_DET];
    int npig;
} img_eval;

static ed_status evaluate_img(evaluator *e, const int *gi, int G, const int *di, int D, const double *ious,
                              int a, img_eval *out)
{
    double lo = area_rng[a][0], hi = area_rng[a][1];
    int *order = malloc(sizeof *order * (size_t)(G > 0 ? G : 1));
    uint8_t *ig = malloc((size_t)(G > 0 ? G : 1));
    uint8_t *gtm = calloc((size_t)(G > 0 ? G : 1), 1);
    if (!order || !ig || !gtm) { free(order); free(ig); free(gtm); return ed__err(ED_E_NOMEM, "coco_eval: out of memory"); }
    /* gts: non-ignored first, each part in file order (a stable sort). */
    int n = 0;
    out->npig = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int g = 0; g < G; g++) {
            const item *it = &e->g[gi[g]];
            int ignore = it->iscrowd || it->area < lo || it->area > hi;
            if (ignore == pass) { order[n] = g; ig[n] = (uint8_t)ignore; n++; }
        }
    for (int g = 0; g < G; g++) out->npig += !ig[g];
    for (int t = 0; t < T_N; t++) {
        memset(gtm, 0, (size_t)G);
        for (int d = 0; d < D; d++) {
            double iou = fmin(e->thr[t], 1 - 1e-10);
            int m = -1;
            for (int g = 0; g < G; g++) {
                const item *gt = &e->g[gi[order[g]]];
                if (gtm[g] && !gt->iscrowd) continue;
                if (m > -1 && !ig[m] && ig[g]) break;
                double v = ious[(int64_t)d * G + order[g]];
                if (v < iou) continue;
                iou = v;
                m = g;
            }
            /* dtm holds the gt's id and "matched" is dtm != 0, so a gt
             * with id 0 leaves its detection unmatched, as in pycocotools. */
            int matched = m > -1 && e->g[gi[order[m]]].id != 0;
            int dt_ig = m > -1 ? ig[m] : 0;
            if (m > -1) gtm[m] = 1;
            const item *dt = &e->d[di[d]];
            if (!matched && (dt->area < lo || dt->area > hi)) dt_ig = 1;
            out->tp[t][d] = matched && !dt_ig;
            out->fp[t][d] = !matched && !dt_ig;
        }
    }
    free(order); free(ig); free(gtm);
    return ED_OK;
}

static ed_status group_ious(evaluator *e, const int *gi, int G, const int *di, int D, double *ious)
{
    if (G == 0 || D == 0) return ED_OK;
    uint8_t crowd[1];
    uint8_t *iscrowd = G <= 1 ? crowd : malloc((size_t)G);
    if (!iscrowd) return ed__err(ED_E_NOMEM, "coco_eval: out of memory");
    for (int g = 0; g < G; g++) iscrowd[g] = (uint8_t)e->g[gi[g]].iscrowd;
    ed_status st = ED_OK;
    if (e->segm) {
        ed_coco_rle *gr = malloc(sizeof *gr * (size_t)G), dr[MAX_DET];
        if (!gr) st = ed__err(ED_E_NOMEM, "coco_eval: out of memory");
        else {
            for (int g = 0; g < G; g++) gr[g] = e->g[gi[g]].rle;
            for (int d = 0; d < D; d++) dr[d] = e->d[di[d]].rle;
            st = ed_coco_rle_iou(dr, D, gr, G, iscrowd, ious);
        }
        free(gr);
    } else {
        double *gb = malloc(sizeof *gb * 4 * (size_t)G), db[4 * MAX_DET];
        if (!gb) st = ed__err(ED_E_NOMEM, "coco_eval: out of memory");
        else {
            for (int g = 0; g < G; g++) memcpy(gb + 4 * g, e->g[gi[g]].bbox, sizeof(double) * 4);
            for (int d = 0; d < D; d++) memcpy(db + 4 * d, e->d[di[d]].bbox, sizeof(double) * 4);
            ed_coco_bbox_iou(db, D, gb, G, iscrowd, ious);
        }
        free(gb);
    }
    if (iscrowd != crowd) free(iscrowd);
    return st;
}

/* accumulate for one category and area range, all maxDets; adds to the
 * summary sums. res[i] is image i's evaluation (NULL: no gt, no det). */
static ed_status accumulate(evaluator *e, int a, img_eval *const *res, const int *dcount, const double *const *dscore,
                            int npig)
{
    int total = 0;
    for (int i = 0; i < e->I; i++) total += res[i] ? dcount[i] : 0;
    scored *s = malloc(sizeof *s * (size_t)(total > 0 ? total : 1));
    int *src = malloc(sizeof *src * 2 * (size_t)(total > 0 ? total : 1));
    double *rc = malloc(sizeof *rc * (size_t)(total > 0 ? total : 1)), *pr = malloc(sizeof *pr * (size_t)(total > 0 ? total : 1));
    if (!s || !src || !rc || !pr) { free(s); free(src); free(rc); free(pr); return ed__err(ED_E_NOMEM, "coco_eval: out of memory"); }
    for (int mi = 0; mi < M_N; mi++) {
        int md = max_dets[mi], n = 0;
        for (int i = 0; i < e->I; i++) {
            if (!res[i]) continue;
            int c = dcount[i] < md ? dcount[i] : md;
            for (int d = 0; d < c; d++) { s[n].score = dscore[i][d]; s[n].pos = n; src[2 * n] = i; src[2 * n + 1] = d; n++; }
        }
        qsort(s, (size_t)n, sizeof *s, by_scored);
        for (int t = 0; t < T_N; t++) {
            double tp = 0, fp = 0;
            for (int j = 0; j < n; j++) {
                int i = src[2 * s[j].pos], d = src[2 * s[j].pos + 1];
                tp += res[i]->tp[t][d];
                fp += res[i]->fp[t][d];
                rc[j] = tp / npig;
                pr[j] = tp / (fp + tp + 2.220446049250313e-16);   /* np.spacing(1) */
            }
            double recall = n ? rc[n - 1] : 0;
            for (int j = n - 1; j > 0; j--)
                if (pr[j] > pr[j - 1]) pr[j - 1] = pr[j];
            double q_sum = 0;
            int j = 0;
            for (int r = 0; r < R_N; r++) {
                while (j < n && rc[j] < e->rec[r]) j++;   /* searchsorted 'left' */
                if (j >= n) break;                        /* the rest stay 0 */
                q_sum += pr[j];
            }
            if (mi == M_N - 1) {
                e->ap_sum[a] += q_sum;
                e->ap_n[a] += R_N;
                if (a == 0 && t == 0) { e->ap50_sum += q_sum; e->ap50_n += R_N; }
                if (a == 0 && t == 5) { e->ap75_sum += q_sum; e->ap75_n += R_N; }
            }
            e->ar_sum[a][mi] += recall;
            e->ar_n[a][mi] += 1;
        }
    }
    free(s); free(src); free(rc); free(pr);
    return ED_OK;
}

/* evaluate + accumulate, one category at a time. */
static ed_status run(evaluator *e)
{
    int I = e->I;
    img_eval *ev = malloc(sizeof *ev * (size_t)A_N * (size_t)(I > 0 ? I : 1));
    img_eval **res = malloc(sizeof *res * (size_t)A_N * (size_t)(I > 0 ? I : 1));
    int *dcount = malloc(sizeof *dcount * (size_t)(I > 0 ? I : 1));
    const double **dscore = malloc(sizeof *dscore * (size_t)(I > 0 ? I : 1));
    double *scores = malloc(sizeof *scores * (size_t)(e->nd > 0 ? e->nd : 1));
    double *ious = malloc(sizeof *ious * MAX_DET * (size_t)(e->ng > 0 ? e->ng : 1));
    ed_status st = ED_OK;
    if (!ev || !res || !dcount || !dscore || !scores || !ious) st = ed__err(ED_E_NOMEM, "coco_eval: out of memory");
    for (int k = 0; k < e->K && st == ED_OK; k++) {
        int any = 0, npig[A_N] = { 0 };
        for (int i = 0; i < I && st == ED_OK; i++) {
            int key = k * I + i;
            const int *gi = e->g_idx + e->g_off[key], *di = e->d_idx + e->d_off[key];
            int G = e->g_off[key + 1] - e->g_off[key], D = e->d_cnt[key];
            dcount[i] = D;
            for (int d = 0; d < D; d++) scores[e->d_off[key] + d] = e->d[di[d]].score;
            dscore[i] = scores + e->d_off[key];
            for (int a = 0; a < A_N; a++) res[a * I + i] = NULL;
            if (G == 0 && D == 0) continue;
            any = 1;
            st = group_ious(e, gi, G, di, D, ious);
            for (int a = 0; a < A_N && st == ED_OK; a++) {
                img_eval *r = &ev[a * I + i];
                st = evaluate_img(e, gi, G, di, D, ious, a, r);
                res[a * I + i] = r;
                npig[a] += r->npig;
            }
        }
        if (!any) continue;
        for (int a = 0; a < A_N && st == ED_OK; a++)
            if (npig[a] > 0) st = accumulate(e, a, res + a * I, dcount, dscore, npig[a]);
    }
    free(ev); free(res); free(dcount); free(dscore); free(scores); free(ious);
    return st;
}

static double mean_or(double sum, double n) { return n > 0 ? sum / n : -1; }

ed_status ed_coco_eval_data(const ed_coco *gt, const ed_coco *results, const char *iou_type, double stats[12])
{
    if (!gt || !results || !iou_type || !stats) return ed__err(ED_E_ARG, "coco_eval: NULL argument");
    for (int i = 0; i < 12; i++) stats[i] = -1;
    int segm;
    if (!strcmp(iou_type, "bbox")) segm = 0;
    else if (!strcmp(iou_type, "segm")) segm = 1;
    else return ed__err(ED_E_ARG, "coco_eval: iou_type must be \"bbox\" or \"segm\", got \"%s\"", iou_type);
    if (gt->n_images < 0 || gt->n_categories < 0 || gt->n_anns < 0 || results->n_anns < 0 ||
        (gt->n_images && !gt->images) || (gt->n_categories && !gt->categories) || (gt->n_anns && !gt->anns) ||
        (results->n_anns && !results->anns))
        return ed__err(ED_E_ARG, "coco_eval: inconsistent counts and arrays in gt or results");
    if ((int64_t)gt->n_images * gt->n_categories > INT32_MAX / 2)
        return ed__err(ED_E_ARG, "coco_eval: %d images x %d categories is too many", gt->n_images, gt->n_categories);
    for (int i = 0; i < gt->n_images; i++) {
        const ed_coco_image *im = &gt->images[i];
        if (im->width < 1 || im->height < 1 || im->width > ED_COCO_MAX_SIDE || im->height > ED_COCO_MAX_SIDE)
            return ed__err(ED_E_FORMAT, "coco_eval: image %lld is %dx%d; sides must be 1..%d", (long long)im->id,
                           im->width, im->height, ED_COCO_MAX_SIDE);
    }

    evaluator e;
    memset(&e, 0, sizeof e);
    e.gt = gt;
    e.segm = segm;
    e.I = gt->n_images;
    e.K = gt->n_categories;
    /* numpy.linspace(.5, .95, 10) and linspace(0, 1, 101), bit for bit. */
    for (int t = 0; t < T_N; t++) e.thr[t] = t * ((0.95 - 0.5) / 9) + 0.5;
    e.thr[T_N - 1] = 0.95;
    for (int r = 0; r < R_N; r++) e.rec[r] = r * (1.0 / 100) + 0.0;
    e.rec[R_N - 1] = 1.0;

    ed_status st = sorted_ids(&gt->images[0].id, sizeof *gt->images, e.I, "image", &e.imgs);
    if (st == ED_OK) st = sorted_ids(&gt->categories[0].id, sizeof *gt->categories, e.K, "category", &e.cats);
    if (st == ED_OK) {
        e.g = calloc((size_t)gt->n_anns + 1, sizeof *e.g);
        e.d = calloc((size_t)results->n_anns + 1, sizeof *e.d);
        if (!e.g || !e.d) st = ed__err(ED_E_NOMEM, "coco_eval: out of memory");
    }
    if (st == ED_OK) st = prepare_gt(&e);
    if (st == ED_OK) st = prepare_dt(&e, results);
    int groups = e.I * e.K;
    if (st == ED_OK) st = group(e.g, e.ng, e.I, groups, &e.g_off, &e.g_idx);
    if (st == ED_OK) st = group(e.d, e.nd, e.I, groups, &e.d_off, &e.d_idx);
    if (st == ED_OK) {
        e.d_cnt = malloc(sizeof *e.d_cnt * (size_t)(groups > 0 ? groups : 1));
        if (!e.d_cnt) st = ed__err(ED_E_NOMEM, "coco_eval: out of memory");
    }
    if (st == ED_OK) {
        scored *tmp = malloc(sizeof *tmp * (size_t)(e.nd > 0 ? e.nd : 1));
        if (!tmp) st = ed__err(ED_E_NOMEM, "coco_eval: out of memory");
        for (int k = 0; k < groups && st == ED_OK; k++) {
            int n = e.d_off[k + 1] - e.d_off[k], *idx = e.d_idx + e.d_off[k];
            for (int j = 0; j < n; j++) { tmp[j].score = e.d[idx[j]].score; tmp[j].pos = idx[j]; }
            qsort(tmp, (size_t)n, sizeof *tmp, by_scored);
            for (int j = 0; j < n; j++) idx[j] = tmp[j].pos;
            e.d_cnt[k] = n < MAX_DET ? n : MAX_DET;
        }
        free(tmp);
        if (st == ED_OK) st = run(&e);
    }
    if (st == ED_OK) {
        stats[0] = mean_or(e.ap_sum[0], e.ap_n[0]);
        stats[1] = mean_or(e.ap50_sum, e.ap50_n);
        stats[2] = mean_or(e.ap75_sum, e.ap75_n);
        for (int a = 1; a < A_N; a++) stats[2 + a] = mean_or(e.ap_sum[a], e.ap_n[a]);
        for (int m = 0; m < M_N; m++) stats[6 + m] = mean_or(e.ar_sum[0][m], e.ar_n[0][m]);
        for (int a = 1; a < A_N; a++) stats[8 + a] = mean_or(e.ar_sum[a][M_N - 1], e.ar_n[a][M_N - 1]);
    }
    ev_free(&e);
    return st;
}

ed_status ed_coco_eval_memory(const char *gt_json, size_t gt_len, const char *results_json, size_t results_len,
                              const char *iou_type, double stats[12])
{
    ed_coco *gt = NULL, *res = NULL;
    ed_status st = ed_coco_load_memory(gt_json, gt_len, &gt);
    if (st == ED_OK) st = ed_coco_load_results_memory(results_json, results_len, &res);
    if (st == ED_OK) st = ed_coco_eval_data(gt, res, iou_type, stats);
    ed_coco_free(gt); ed_coco_free(res);
    return st;
}

ed_status ed_coco_eval(const char *gt_json_path, const char *results_json_path, const char *iou_type,
                       double stats[12])
{
    ed_coco *gt = NULL, *res = NULL;
    ed_status st = ed_coco_load(gt_json_path, &gt);
    if (st == ED_OK) st = ed_coco_load_results(results_json_path, &res);
    if (st == ED_OK) st = ed_coco_eval_data(gt, res, iou_type, stats);
    ed_coco_free(gt); ed_coco_free(res);
    return st;
}
