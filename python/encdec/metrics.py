"""ed.metrics: evaluation metrics computed by libencdec.

Image quality, as skimage.metrics (see include/encdec/metrics.h):
    psnr(a, b, data_range=255, y_channel=False, crop_border=0)
    ssim(a, b, data_range=255, y_channel=False, crop_border=0)
  a, b: (H, W) or (H, W, C) arrays of any numeric dtype, on the
  0..data_range scale (converted to float32). y_channel compares the BT.601
  luma of RGB images, as super-resolution papers do. psnr of identical
  images is inf.
Segmentation:
    confusion_matrix(pred, target, num_classes, ignore_index=None)
  (C, C) int64, rows are target classes and columns predictions.
    segmentation_scores(conf)
  {'iou', 'dice', 'recall': per-class lists (NaN for a class that cannot be
  scored), 'miou', 'mean_dice', 'global_accuracy', 'class_accuracy'}.
Detection and instance segmentation, as pycocotools' COCOeval:
    coco_eval(gt_json, results_json, iou_type='segm')
  the 12 stats in pycocotools' order (STATS_NAMES)."""
import ctypes
import json
import os

import numpy as np

from . import _lib as _L
from . import Error, _check

__all__ = ["psnr", "ssim", "confusion_matrix", "segmentation_scores", "coco_eval", "STATS_NAMES"]

_lib = _L.lib
_c = ctypes
_PF = _c.POINTER(_c.c_float)
_PI64 = _c.POINTER(_c.c_int64)
_PD = _c.POINTER(_c.c_double)
_INT64_MIN = -(1 << 63)


class _SegScores(_c.Structure):
    """struct ed_seg_scores."""
    _fields_ = [("num_classes", _c.c_int), ("iou", _PD), ("dice", _PD), ("recall", _PD), ("mean_iou", _c.c_double),
                ("mean_dice", _c.c_double), ("global_acc", _c.c_double), ("class_acc", _c.c_double)]


for _n in ("ed_psnr", "ed_ssim"):
    _L._decl(_n, [_PF, _PF, _c.c_int, _c.c_int, _c.c_int, _c.c_double, _c.c_int, _c.c_int, _PD])
_L._decl("ed_confusion_update", [_PI64, _PI64, _PI64, _c.c_int64, _c.c_int, _c.c_int64])
_L._decl("ed_segmentation_scores", [_PI64, _c.c_int, _c.POINTER(_SegScores)])
_L._decl("ed_seg_scores_free", [_c.POINTER(_SegScores)], None)
_L._decl("ed_coco_eval", [_c.c_char_p, _c.c_char_p, _c.c_char_p, _PD])
_L._decl("ed_coco_eval_memory", [_c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_char_p, _PD])

# The labels pycocotools' summarize() prints, in the order of its stats.
STATS_NAMES = (
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    "Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ]",
    "Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ]",
)


def _image_pair(op, a, b):
    a, b = np.asarray(a), np.asarray(b)
    for name, x in (("a", a), ("b", b)):
        if x.dtype.kind not in "uifb":
            raise Error(f"{op}: {name} must be a numeric array, got dtype {x.dtype}")
        if x.ndim not in (2, 3):
            raise Error(f"{op}: {name} must be (H, W) or (H, W, C), got shape {x.shape}")
    if a.shape != b.shape:
        raise Error(f"{op}: a and b must have the same shape, got a {a.shape} and b {b.shape}")
    if a.size == 0:
        raise Error(f"{op}: the images are empty, shape {a.shape}")
    h, w = a.shape[:2]
    c = a.shape[2] if a.ndim == 3 else 1
    return np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32), h, w, c


def _iq(fn, op, a, b, data_range, y_channel, crop_border):
    fa, fb, h, w, c = _image_pair(op, a, b)
    out = _c.c_double()
    _check(getattr(_lib, fn)(fa.ctypes.data_as(_PF), fb.ctypes.data_as(_PF), h, w, c, float(data_range),
                             int(bool(y_channel)), int(crop_border), _c.byref(out)))
    return out.value


def psnr(a, b, data_range=255, y_channel=False, crop_border=0):
    """Peak signal-to-noise ratio in dB, as skimage's peak_signal_noise_ratio
    (inf for identical images)."""
    return _iq("ed_psnr", "psnr", a, b, data_range, y_channel, crop_border)


def ssim(a, b, data_range=255, y_channel=False, crop_border=0):
    """Structural similarity, as skimage's structural_similarity with
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False (the
    setting of Wang et al. and of papers); colour images are averaged over
    channels. H and W after cropping must be at least 11."""
    return _iq("ed_ssim", "ssim", a, b, data_range, y_channel, crop_border)


def _labels(name, x):
    x = np.asarray(x)
    if x.dtype.kind not in "uib":
        raise Error(f"confusion_matrix: {name} must hold integers, got dtype {x.dtype}")
    return np.ascontiguousarray(x, np.int64)


def confusion_matrix(pred, target, num_classes, ignore_index=None):
    """(num_classes, num_classes) int64 counts: [t, p] counts pixels of
    target class t predicted as p. Pixels whose target is ignore_index are
    skipped; any other value outside 0..num_classes-1 is an ed.Error."""
    p, t = _labels("pred", pred), _labels("target", target)
    if p.shape != t.shape:
        raise Error(f"confusion_matrix: pred and target must have the same shape, got pred {p.shape} "
                    f"and target {t.shape}")
    n = int(num_classes)
    if n <= 0:
        raise Error(f"confusion_matrix: num_classes must be positive, got {num_classes}")
    conf = np.zeros((n, n), np.int64)
    ign = _INT64_MIN if ignore_index is None else int(ignore_index)
    _check(_lib.ed_confusion_update(conf.ctypes.data_as(_PI64), p.ctypes.data_as(_PI64), t.ctypes.data_as(_PI64),
                                    p.size, n, ign))
    return conf


def segmentation_scores(conf):
    """Scores of a confusion matrix (see the module's doc). Means skip NaN
    classes, as numpy's nanmean."""
    m = np.asarray(conf)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise Error(f"segmentation_scores: conf must be a square (C, C) matrix, got shape {m.shape}")
    if m.dtype.kind not in "ui":
        raise Error(f"segmentation_scores: conf must hold integer counts, got dtype {m.dtype}")
    m = np.ascontiguousarray(m, np.int64)
    n = m.shape[0]
    s = _SegScores()
    _check(_lib.ed_segmentation_scores(m.ctypes.data_as(_PI64), n, _c.byref(s)))
    try:
        return {"iou": [s.iou[i] for i in range(n)], "miou": s.mean_iou, "global_accuracy": s.global_acc,
                "class_accuracy": s.class_acc, "dice": [s.dice[i] for i in range(n)], "mean_dice": s.mean_dice,
                "recall": [s.recall[i] for i in range(n)]}
    finally:
        _lib.ed_seg_scores_free(_c.byref(s))


def _json_arg(x):
    """A path (str or os.PathLike) -> (path bytes, None); a parsed JSON value
    (dict or list) -> (None, text bytes)."""
    if isinstance(x, (str, bytes, os.PathLike)):
        return os.fsencode(x), None
    if isinstance(x, (dict, list)):
        return None, json.dumps(x).encode()
    raise Error(f"coco_eval: expected a file path or a parsed COCO JSON (dict or list), got {type(x).__name__}")


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise Error(f"coco_eval: cannot read {os.fsdecode(path)}: {e.strerror}") from None


def coco_eval(gt_json, results_json, iou_type="segm"):
    """COCOeval(gt, gt.loadRes(results), iou_type).stats as a list of 12
    floats in pycocotools' order (STATS_NAMES); -1 where undefined.
    gt_json and results_json are file paths, or the parsed JSON itself."""
    if iou_type not in ("segm", "bbox"):
        raise Error(f"coco_eval: iou_type must be 'segm' or 'bbox', got {iou_type!r}")
    (gp, gt), (rp, rt) = _json_arg(gt_json), _json_arg(results_json)
    stats = (_c.c_double * 12)()
    if gp is not None and rp is not None:
        _check(_lib.ed_coco_eval(gp, rp, iou_type.encode(), stats))
    else:
        gt = _read(gp) if gt is None else gt
        rt = _read(rp) if rt is None else rt
        _check(_lib.ed_coco_eval_memory(gt, len(gt), rt, len(rt), iou_type.encode(), stats))
    return [float(v) for v in stats]
