"""The dense CRF's worked example on CamVid val (docs/CRF.md), needing no
trained model: coarse class probabilities are made from the ground truth,
the CRF refines them along the image's edges, and mIoU is measured before
and after.

Coarse probabilities, per frame (seeded by its index, so runs repeat):
  1. the ground truth at 1/8 resolution: each 8x8 block takes its most
     frequent class (void, 11, left out; an all-void block knows nothing);
  2. label noise: each block's class is replaced by a random other class
     with probability --noise (0.15);
  3. one-hot, upsampled 8x bilinearly (ed.interpolate, align_corners=False);
  4. probabilities softmax(--sharpness (4) x upsampled one-hot), so a block
     deep inside one class says 0.85 for it and boundaries are soft.
The CRF is pydensecrf's recipe (ed.DenseCRF2D: unary_from_softmax, a
Gaussian term sxy 3 / Potts 3, a bilateral term, 5 iterations); the
bilateral term's sxy, srgb and Potts weight are chosen by mIoU on every
--every-th val frame (a grid of 36), then mIoU is reported on all 101 val
frames for the chosen parameters and for pydensecrf's defaults (80, 13,
10). mIoU is over the 11 classes with void ignored, from one confusion
matrix summed over the frames.

    PYTHONPATH=python ENCDEC_LIB=build/libencdec.so \\
        python3 scripts/crf_camvid_example.py [--data ../shared/data] [--out docs/crf_example.png]

Needs numpy and libencdec only. Writes the picture: for two frames the CRF
helps most, image | coarse | CRF | ground truth | pixels the CRF fixed
(green) and broke (red), at half resolution, and a full-resolution crop of
the first where it recovers the most boundary pixels."""
import argparse
import ctypes
import itertools
import os
import sys
import time

import numpy as np

import encdec as ed
from encdec import _lib as _L
from encdec.crf import unary_from_softmax
from encdec.image import _Image

C, VOID, F = 11, 11, 8
HERE = os.path.dirname(os.path.abspath(__file__))


def frames(data):
    d = os.path.join(data, "camvid", "val")
    names = sorted(n for n in os.listdir(d) if n.endswith(".png"))
    if not names:
        sys.exit(f"no CamVid val frames in {d}")
    return names


def load(data, name):
    img = ed.imread(os.path.join(data, "camvid", "val", name))[:, :, :3]
    gt = ed.imread(os.path.join(data, "camvid", "valannot", name))
    return np.ascontiguousarray(img), gt


def coarse_probs(gt, seed, noise, sharpness):
    H, W = gt.shape
    h, w = H // F, W // F
    blocks = gt[:h * F, :w * F].reshape(h, F, w, F).transpose(0, 2, 1, 3).reshape(h, w, F * F)
    counts = np.stack([(blocks == c).sum(-1) for c in range(C)])          # (C, h, w)
    lab = counts.argmax(0)
    known = counts.max(0) > 0
    rng = np.random.default_rng(seed)
    wrong = rng.random((h, w)) < noise
    lab = np.where(wrong, (lab + rng.integers(1, C, (h, w))) % C, lab)
    onehot = ((np.arange(C)[:, None, None] == lab[None]) & known[None]).astype(np.float32)
    x = ed.tensor(onehot[None])
    up = ed.interpolate(x, size=(h * F, w * F), mode="bilinear", align_corners=False).numpy()[0]
    if (h * F, w * F) != (H, W):      # CamVid's 360 x 480 divides by 8; others are padded at the edge
        up = np.pad(up, ((0, 0), (0, H - h * F), (0, W - w * F)), mode="edge")
    z = sharpness * up
    p = np.exp(z - z.max(0))
    return np.ascontiguousarray((p / p.sum(0)).astype(np.float32))


def crf_labels(img, unary, sxy, srgb, compat, iters=5):
    H, W = img.shape[:2]
    d = ed.DenseCRF2D(W, H, C)
    d.setUnaryEnergy(unary)
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=sxy, srgb=srgb, rgbim=img, compat=compat)
    return d.inference(iters).argmax(0).reshape(H, W)


def confusion(pred, gt):
    return ed.metrics.confusion_matrix(pred, gt, C, ignore_index=VOID)


def miou(conf):
    return ed.metrics.segmentation_scores(conf)["miou"]


# ---- the picture (include/encdec/picture.h through ctypes) ---------------------------

class _Palette(ctypes.Structure):
    _fields_ = [("size", ctypes.c_int), ("rgb", (ctypes.c_uint8 * 3) * 256), ("names", ctypes.c_char_p * 256)]


_PImage = ctypes.POINTER(_Image)
_L._decl("ed_palette_camvid", [ctypes.POINTER(_Palette)], None)
_L._decl("ed_grid", [ctypes.POINTER(_PImage), ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int, ctypes.c_int,
                     ctypes.c_int, ctypes.POINTER(_PImage)])


def camvid_colours():
    pal = _Palette()
    _L.lib.ed_palette_camvid(ctypes.byref(pal))
    return np.array([list(pal.rgb[i]) for i in range(pal.size)], np.uint8)


def to_image(a):
    p = _PImage()
    _check = ed._check
    _check(_L.lib.ed_image_new(a.shape[1], a.shape[0], 3, 8, ctypes.byref(p)))
    ctypes.memmove(p.contents.data, np.ascontiguousarray(a).ctypes.data, a.nbytes)
    return p


def picture(path, panels, captions, cols):
    ims = [to_image(a) for a in panels]
    arr = (_PImage * len(ims))(*ims)
    caps = (ctypes.c_char_p * len(ims))(*[c.encode() for c in captions])
    out = _PImage()
    try:
        ed._check(_L.lib.ed_grid(arr, caps, len(ims), cols, 4, 1, ctypes.byref(out)))
        ed._check(_L.lib.ed_image_save_png(os.fsencode(path), out))
    finally:
        for p in ims:
            _L.lib.ed_image_free(p)
        if out:
            _L.lib.ed_image_free(out)


def half(a):
    if a.ndim == 3:
        h, w = a.shape[0] // 2 * 2, a.shape[1] // 2 * 2
        b = a[:h, :w].astype(np.uint16)
        return ((b[0::2, 0::2] + b[1::2, 0::2] + b[0::2, 1::2] + b[1::2, 1::2] + 2) // 4).astype(np.uint8)
    return a[0::2, 0::2]


def edge_window(gt, fixed, h=180, w=240, step=20):
    """Top-left corner of the h x w window holding the most fixed pixels
    within 3 pixels of a ground-truth boundary."""
    edge = np.zeros(gt.shape, bool)
    edge[:, 1:] |= gt[:, 1:] != gt[:, :-1]
    edge[1:] |= gt[1:] != gt[:-1]
    near = edge.copy()
    for _ in range(3):
        near[:, 1:] |= near[:, :-1].copy()
        near[:, :-1] |= near[:, 1:].copy()
        near[1:] |= near[:-1].copy()
        near[:-1] |= near[1:].copy()
    s = np.pad((fixed & near).astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    best, at = -1, (0, 0)
    for y in range(0, gt.shape[0] - h + 1, step):
        for x in range(0, gt.shape[1] - w + 1, step):
            v = s[y + h, x + w] - s[y, x + w] - s[y + h, x] + s[y, x]
            if v > best:
                best, at = v, (y, x)
    return at


def panels_for(img, gt, before, after, colours, crop=None):
    fixed = (before != gt) & (after == gt) & (gt != VOID)
    broke = (before == gt) & (after != gt) & (gt != VOID)
    diff = np.full(img.shape, 255, np.uint8)
    diff[(gt != VOID) & ~fixed & ~broke & (after != gt)] = (200, 200, 200)
    diff[fixed] = (0, 170, 0)
    diff[broke] = (220, 0, 0)
    ps = [img, colours[before], colours[after], colours[gt], diff]
    if crop is None:
        return [half(p) for p in ps]
    y, x = crop
    return [np.ascontiguousarray(p[y:y + 180, x:x + 240]) for p in ps]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "docs", "crf_example.png"))
    ap.add_argument("--every", type=int, default=6, help="choose the parameters on every N-th val frame (6)")
    ap.add_argument("--noise", type=float, default=0.15)
    ap.add_argument("--sharpness", type=float, default=4.0)
    ap.add_argument("--limit", type=int, default=0, help="only the first N frames (a quick try)")
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        ed.set_num_threads(args.threads)
    names = frames(args.data)
    if args.limit:
        names = names[:args.limit]
    t0 = time.time()

    # 1. choose the bilateral term's parameters on a subset of val
    sub = list(range(0, len(names), args.every))
    cache = []
    for i in sub:
        img, gt = load(args.data, names[i])
        cache.append((img, gt, unary_from_softmax(coarse_probs(gt, i, args.noise, args.sharpness))))
    grid = list(itertools.product((5, 10, 20, 40), (5, 10, 20), (3, 5, 10)))
    scores = []
    for sxy, srgb, compat in grid:
        conf = sum(confusion(crf_labels(img, u, sxy, srgb, compat), gt) for img, gt, u in cache)
        scores.append(miou(conf))
        print(f"  subset of {len(sub)} frames: sxy {sxy:3d} srgb {srgb:3d} compat {compat:3d}  mIoU {100 * scores[-1]:.2f}",
              flush=True)
    sxy, srgb, compat = grid[int(np.argmax(scores))]
    del cache
    print(f"chosen on {len(sub)} val frames: sxy {sxy}, srgb {srgb}, compat {compat} ({time.time() - t0:.0f} s)")

    # 2. all of val: before, chosen, pydensecrf's defaults
    conf = {k: np.zeros((C, C), np.int64) for k in ("coarse", "chosen", "default")}
    gains = []
    for i, name in enumerate(names):
        img, gt = load(args.data, name)
        p = coarse_probs(gt, i, args.noise, args.sharpness)
        u = unary_from_softmax(p)
        before = p.argmax(0)
        after = crf_labels(img, u, sxy, srgb, compat)
        cb, ca = confusion(before, gt), confusion(after, gt)
        conf["coarse"] += cb
        conf["chosen"] += ca
        conf["default"] += confusion(crf_labels(img, u, 80, 13, 10), gt)
        gains.append((np.trace(ca) - np.trace(cb), i))
    print(f"all {len(names)} val frames ({time.time() - t0:.0f} s):")
    res = {k: ed.metrics.segmentation_scores(v) for k, v in conf.items()}
    for k, label in (("coarse", "coarse (argmax of the probabilities)"),
                     ("chosen", f"CRF, chosen: sxy {sxy}, srgb {srgb}, compat {compat}"),
                     ("default", "CRF, pydensecrf's defaults: sxy 80, srgb 13, compat 10")):
        print(f"  {label:58s} mIoU {100 * res[k]['miou']:.2f}  pixel accuracy {100 * res[k]['global_accuracy']:.2f}")
    print("  per-class IoU (coarse -> chosen CRF): " + ", ".join(
        f"{a * 100:.1f}->{b * 100:.1f}" for a, b in zip(res["coarse"]["iou"], res["chosen"]["iou"])))

    # 3. the picture: the frame the CRF helps most, and the best one a third
    # of val away from it (neighbouring frames look alike)
    colours = camvid_colours()
    panels, caps = [], []
    order = [i for _, i in sorted(gains, reverse=True)]
    pick = [order[0]] + [i for i in order if abs(i - order[0]) >= len(names) // 3][:1]
    for k, i in enumerate(pick):
        img, gt = load(args.data, names[i])
        p = coarse_probs(gt, i, args.noise, args.sharpness)
        before, after = p.argmax(0), crf_labels(img, unary_from_softmax(p), sxy, srgb, compat)
        panels += panels_for(img, gt, before, after, colours)
        caps += [names[i], "coarse (1/8, noisy)", "dense CRF", "ground truth", "fixed green, broken red"]
        if k == 0:      # and a full-resolution crop where it recovers the most edges
            y, x = edge_window(gt, (before != gt) & (after == gt) & (gt != VOID))
            crop = (panels_for(img, gt, before, after, colours, (y, x)),
                    [f"{names[i]} x {x}..{x + 239}, y {y}..{y + 179}", "coarse", "dense CRF", "ground truth",
                     "fixed / broken"])
    panels, caps = panels + crop[0], caps + crop[1]
    picture(args.out, panels, caps, 5)
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KB)")


if __name__ == "__main__":
    main()
