"""Golden cases for tests/test_metrics.c: PSNR and SSIM from scikit-image, the
confusion matrix and segmentation scores counted with numpy.

Image-quality cases: a, b float32 (H, W, C) on the 0..data_range scale. The
border crop and the BT.601 Y conversion (16 + 65.481 R + 128.553 G + 24.966 B,
R = v / data_range) are done here in float64, then
skimage.metrics.peak_signal_noise_ratio and structural_similarity(
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=R,
channel_axis=-1) run on float64 copies of the float32 inputs (range 255 for Y).

Segmentation cases: pred, target int64 (n); conf (C, C) with rows = target;
iou, dice, recall (C) with NaN for unscoreable classes; means = (mean_iou,
mean_dice, global_acc, class_acc), the means summed in class order as the C
code does (so the comparison can be exact; numpy's nanmean agrees to 1 ulp).
Run: /tmp/peers/bin/python tests/golden/gen_metrics.py
"""
import numpy as np
import skimage
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import golden_common

rng = np.random.default_rng(31337)


def to_y(x, data_range):
    x = x.astype(np.float64) / data_range
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def iq_case(h, w, c, data_range, y_channel, crop, noise, integer=False, identical=False):
    a = rng.uniform(0, data_range, (h, w, c))
    # Smooth structure plus texture, so SSIM is neither ~0 nor ~1.
    yy, xx = np.mgrid[0:h, 0:w]
    a = 0.5 * a + 0.5 * data_range * (0.5 + 0.5 * np.sin(xx / 3.0 + yy / 5.0))[:, :, None]
    if integer:
        a = np.round(a)
    b = a if identical else np.clip(a + rng.normal(0, noise * data_range, a.shape), 0, data_range)
    if integer:
        b = np.round(b)
    a, b = a.astype(np.float32), b.astype(np.float32)
    A, B = a.astype(np.float64), b.astype(np.float64)
    if crop:
        A, B = A[crop:-crop, crop:-crop], B[crop:-crop, crop:-crop]
    R = data_range
    if y_channel:
        A, B, R = to_y(A, data_range), to_y(B, data_range), 255.0
    elif c == 1:
        A, B = A[:, :, 0], B[:, :, 0]
    with np.errstate(divide="ignore"):
        psnr = peak_signal_noise_ratio(A, B, data_range=R)
    ssim = structural_similarity(A, B, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=R, channel_axis=-1 if A.ndim == 3 else None)
    args = {"kind": "iq", "h": h, "w": w, "c": c, "data_range": data_range, "y_channel": int(y_channel),
            "crop_border": crop}
    return args, {"a": torch.from_numpy(a), "b": torch.from_numpy(b),
                  "psnr": torch.tensor([psnr], dtype=torch.float64), "ssim": torch.tensor([ssim], dtype=torch.float64)}


def seq_nanmean(v):
    s, k = 0.0, 0
    for x in v:
        if not np.isnan(x):
            s += float(x)
            k += 1
    return s / k if k else float("nan")


def seg_case(C, n, ignore, absent=(), pred_only=()):
    target = rng.integers(0, C, n)
    pred = np.where(rng.random(n) < 0.6, target, rng.integers(0, C, n))
    for k in absent:                         # in neither: NaN IoU, Dice and recall
        target[target == k] = (k + 1) % C
        pred[pred == k] = (k + 1) % C
    for k in pred_only:                      # predicted only: IoU 0, recall NaN
        target[target == k] = (k + 2) % C
    if ignore is not None:
        target[rng.random(n) < 0.15] = ignore
    keep = target != ignore if ignore is not None else np.ones(n, bool)
    conf = np.zeros((C, C), np.int64)
    np.add.at(conf, (target[keep], pred[keep]), 1)
    tp = np.diag(conf).astype(np.float64)
    row, col = conf.sum(1).astype(np.float64), conf.sum(0).astype(np.float64)
    fn, fp = row - tp, col - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(tp + fp + fn > 0, tp / (tp + fp + fn), np.nan)
        dice = np.where(tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
        recall = np.where(row > 0, tp / row, np.nan)
    means = [seq_nanmean(iou), seq_nanmean(dice), float(tp.sum() / row.sum()), seq_nanmean(recall)]
    assert np.allclose(means, [np.nanmean(iou), np.nanmean(dice), means[2], np.nanmean(recall)], rtol=1e-15)
    args = {"kind": "seg", "C": C, "n": n, "ignore": ignore}
    t = {"pred": pred, "target": target, "conf": conf, "iou": iou, "dice": dice, "recall": recall,
         "means": np.array(means)}
    return args, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in t.items()}


def main():
    cases = [
        iq_case(16, 20, 1, 255.0, False, 0, 0.05, integer=True),
        iq_case(23, 17, 1, 1.0, False, 0, 0.1),
        iq_case(24, 24, 1, 255.0, False, 3, 0.02),
        iq_case(19, 22, 3, 255.0, False, 0, 0.05, integer=True),
        iq_case(18, 21, 3, 1.0, False, 2, 0.08),
        iq_case(20, 20, 3, 255.0, True, 0, 0.03, integer=True),
        iq_case(21, 23, 3, 1.0, True, 4, 0.05),
        iq_case(22, 19, 3, 255.0, True, 2, 0.2),
        iq_case(11, 11, 1, 1.0, False, 0, 0.1),            # the smallest SSIM allows
        iq_case(14, 15, 2, 1.0, False, 0, 0.1),            # any channel count
        iq_case(16, 16, 3, 255.0, False, 1, 0.0, identical=True),   # PSNR inf, SSIM 1
        seg_case(3, 60, None),
        seg_case(5, 300, 255, absent=(2,)),
        seg_case(11, 500, 11, absent=(4,), pred_only=(7,)),
        seg_case(4, 200, -1, pred_only=(0,)),
        seg_case(2, 1, None),
    ]
    for args, _ in cases:
        args["skimage"] = skimage.__version__
    golden_common.write("metrics", cases)


if __name__ == "__main__":
    main()
