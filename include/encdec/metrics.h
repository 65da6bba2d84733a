/* encdec: evaluation metrics. Included by encdec.h.
 *
 * Image quality (restoration, super-resolution). a and b are H x W x C
 * interleaved float arrays on the 0..data_range scale.
 *   crop_border: that many pixels are cut from each of the four borders
 *     first (super-resolution papers crop `scale` pixels).
 *   y_channel (C must be 3, RGB order): both images become the BT.601 luma
 *     Y = 16 + (65.481 R + 128.553 G + 24.966 B) with R, G, B = value /
 *     data_range in [0, 1], so Y is on the 0..255 scale (16..235), as
 *     MATLAB's rgb2ycbcr and BasicSR (no rounding); the metric then uses a
 *     data range of 255.
 * ed_psnr: 10 log10(data_range^2 / MSE), the MSE over all pixels and
 *   channels, as skimage.metrics.peak_signal_noise_ratio. Identical images
 *   give +inf.
 * ed_ssim: Wang et al. 2004 as skimage.metrics.structural_similarity(
 *   gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
 *   data_range=data_range, channel_axis=-1): an 11-tap Gaussian window
 *   (truncate 3.5), K1 = 0.01, K2 = 0.03, the SSIM map averaged over the
 *   region 5 pixels in from each border (where the window fits), colour
 *   images averaged over channels. Needs H and W (after cropping) >= 11.
 * Both compute in double. */
#ifndef ENCDEC_METRICS_H
#define ENCDEC_METRICS_H

#ifdef __cplusplus
extern "C" {
#endif

ed_status ed_psnr(const float *a, const float *b, int h, int w, int c, double data_range,
                  int y_channel, int crop_border, double *out);
ed_status ed_ssim(const float *a, const float *b, int h, int w, int c, double data_range,
                  int y_channel, int crop_border, double *out);

/* ---- segmentation ---------------------------------------------------------
 * conf is a C x C row-major matrix of counts: conf[t * C + p] counts pixels
 * of target class t predicted as p. ed_confusion_update adds n pixels to it.
 * Pixels whose target equals ignore_index are skipped (pass INT64_MIN for
 * none); any other target or prediction outside 0..C-1 is ED_E_RANGE naming
 * the value and its position, and conf is then left unchanged. */
ed_status ed_confusion_update(int64_t *conf, const int64_t *pred, const int64_t *target, int64_t n,
                              int num_classes, int64_t ignore_index);

/* Scores from a confusion matrix, with tp = conf[c][c], fn = row sum - tp,
 * fp = column sum - tp:
 *   iou[c]    = tp / (tp + fp + fn)        NaN when the class is absent from
 *   dice[c]   = 2 tp / (2 tp + fp + fn)    both target and prediction
 *   recall[c] = tp / (tp + fn)             NaN when absent from the target
 *   mean_iou, mean_dice, class_acc: the means of iou, dice, recall over
 *     their non-NaN entries (numpy's nanmean; NaN if all are NaN)
 *   global_acc = trace / total (NaN when the matrix is empty). */
typedef struct ed_seg_scores {
    int num_classes;
    double *iou, *dice, *recall;   /* num_classes each; freed by ed_seg_scores_free */
    double mean_iou, mean_dice, global_acc, class_acc;
} ed_seg_scores;

ed_status ed_segmentation_scores(const int64_t *conf, int num_classes, ed_seg_scores *out);
void ed_seg_scores_free(ed_seg_scores *s);   /* frees the arrays, not s */

#ifdef __cplusplus
}
#endif
#endif
