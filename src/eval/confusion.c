/* Segmentation: the confusion matrix and the scores read from it.
 *   conf (C x C, int64, row-major): conf[t * C + p] += 1 for each pixel of
 *   target t predicted p. Target pixels equal to ignore_index are skipped
 *   (their prediction is not looked at); anything else outside 0..C-1 is
 *   ED_E_RANGE, found in a first pass so conf is never half-updated.
 * Scores (NaN marks a class that cannot be scored, and means skip NaNs, as
 * numpy's nanmean, which is how semantic segmentation reports mean IoU):
 *   iou = tp / (tp + fp + fn), dice = 2 tp / (2 tp + fp + fn): NaN when the
 *   class is in neither target nor prediction; recall = tp / (tp + fn): NaN
 *   when not in the target. global_acc = trace / total. */
#include "core/ed_internal.h"

#include <math.h>
#include <stdlib.h>

ed_status ed_confusion_update(int64_t *conf, const int64_t *pred, const int64_t *target, int64_t n, int num_classes,
                              int64_t ignore_index)
{
    if (!conf || (n > 0 && (!pred || !target)))
        return ed__err(ED_E_ARG, "confusion_update: conf, pred or target is NULL");
    if (num_classes <= 0) return ed__err(ED_E_ARG, "confusion_update: num_classes must be positive, got %d", num_classes);
    if (n < 0) return ed__err(ED_E_ARG, "confusion_update: n must be >= 0, got %lld", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        if (target[i] == ignore_index) continue;
        if (target[i] < 0 || target[i] >= num_classes)
            return ed__err(ED_E_RANGE, "confusion_update: target value %lld at position %lld is outside 0..%d "
                                       "(and is not ignore_index)", (long long)target[i], (long long)i, num_classes - 1);
        if (pred[i] < 0 || pred[i] >= num_classes)
            return ed__err(ED_E_RANGE, "confusion_update: pred value %lld at position %lld is outside 0..%d",
                           (long long)pred[i], (long long)i, num_classes - 1);
    }
    for (int64_t i = 0; i < n; i++)
        if (target[i] != ignore_index) conf[target[i] * num_classes + pred[i]]++;
    return ED_OK;
}

/* Mean over the non-NaN entries, summed in index order. */
static double nanmean(const double *v, int n)
{
    double s = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (!isnan(v[i])) { s += v[i]; k++; }
    return k ? s / k : NAN;
}

ed_status ed_segmentation_scores(const int64_t *conf, int num_classes, ed_seg_scores *out)
{
    if (!out) return ed__err(ED_E_ARG, "segmentation_scores: out is NULL");
    memset(out, 0, sizeof *out);
    if (!conf) return ed__err(ED_E_ARG, "segmentation_scores: conf is NULL");
    if (num_classes <= 0)
        return ed__err(ED_E_ARG, "segmentation_scores: num_classes must be positive, got %d", num_classes);
    const int C = num_classes;
    for (int64_t i = 0; i < (int64_t)C * C; i++)
        if (conf[i] < 0)
            return ed__err(ED_E_RANGE, "segmentation_scores: negative count %lld at row %lld, column %lld",
                           (long long)conf[i], (long long)(i / C), (long long)(i % C));
    double *buf = malloc(sizeof(double) * 3 * (size_t)C);
    if (!buf) return ed__err(ED_E_NOMEM, "segmentation_scores: out of memory for %d classes", C);
    out->num_classes = C;
    out->iou = buf;
    out->dice = buf + C;
    out->recall = buf + 2 * C;
    int64_t total = 0, trace = 0;
    for (int c = 0; c < C; c++) {
        int64_t tp = conf[(int64_t)c * C + c], row = 0, col = 0;
        for (int k = 0; k < C; k++) {
            row += conf[(int64_t)c * C + k];
            col += conf[(int64_t)k * C + c];
        }
        int64_t fn = row - tp, fp = col - tp;
        total += row;
        trace += tp;
        out->iou[c] = tp + fp + fn ? (double)tp / (double)(tp + fp + fn) : NAN;
        out->dice[c] = tp + fp + fn ? 2.0 * (double)tp / (double)(2 * tp + fp + fn) : NAN;
        out->recall[c] = row ? (double)tp / (double)row : NAN;
    }
    out->mean_iou = nanmean(out->iou, C);
    out->mean_dice = nanmean(out->dice, C);
    out->class_acc = nanmean(out->recall, C);
    out->global_acc = total ? (double)trace / (double)total : NAN;
    return ED_OK;
}

void ed_seg_scores_free(ed_seg_scores *s)
{
    if (!s) return;
    free(s->iou);
    s->iou = s->dice = s->recall = NULL;
}
