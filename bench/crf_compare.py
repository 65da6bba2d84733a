"""encdec's Python CRF (encdec.crf) against pydensecrf, called by the SAME
code: every run below takes the two modules as arguments (pydensecrf's
densecrf and utils, or encdec.crf for both), so the only difference is the
import. Reports, per setting, the share of pixels whose argmax label agrees
and max |Q_encdec - Q_pydensecrf|, for 1, 5 and 10 iterations and every
compatibility (Potts, diagonal, matrix), kernel type and normalisation, on
random inputs and on a CamVid validation frame (480x360, 11 labels) with
noisy probabilities made from its ground truth (no model needed), plus the
time of each side on the frame.

    ENCDEC_LIB=build/libencdec.so PYTHONPATH=python \\
        /tmp/peers/bin/python bench/crf_compare.py [--data ../shared/data] [--threads 2]

Needs numpy and pydensecrf (pip package pydensecrf2)."""
import argparse
import os
import sys
import time

import numpy as np

import encdec as ed
import encdec.crf
import pydensecrf.densecrf
import pydensecrf.utils

SIDES = {"pydensecrf": (pydensecrf.densecrf, pydensecrf.utils), "encdec": (encdec.crf, encdec.crf)}
HERE = os.path.dirname(os.path.abspath(__file__))


# ---- the shared code: dcrf and utils are either side's modules -------------------

def crf_2d(dcrf, utils, rgb, probs, terms, iters):
    """terms: list of (kind, compat, kernel name, normalization name)."""
    L, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, L)
    d.setUnaryEnergy(utils.unary_from_softmax(probs))
    for kind, compat, kn, nm in terms:
        kw = dict(compat=compat, kernel=getattr(dcrf, kn), normalization=getattr(dcrf, nm))
        if kind == "gaussian":
            d.addPairwiseGaussian(sxy=3, **kw)
        else:
            d.addPairwiseBilateral(sxy=(60, 50), srgb=(13, 15, 11), rgbim=rgb, **kw)
    return np.array(d.inference(iters), dtype=np.float32)


def crf_nd(dcrf, utils, rgb, probs, iters):
    """DenseCRF over N-D features from the utils helpers."""
    L, h, w = probs.shape
    d = dcrf.DenseCRF(h * w, L)
    d.setUnaryEnergy(utils.unary_from_softmax(probs, scale=0.9))
    d.addPairwiseEnergy(utils.create_pairwise_gaussian(sdims=(3, 3), shape=(h, w)), compat=3)
    d.addPairwiseEnergy(utils.create_pairwise_bilateral(sdims=(50, 50), schan=(13, 13, 13), img=rgb, chdim=2),
                        compat=10)
    d.addPairwiseEnergy(np.ascontiguousarray(rgb[..., 1].reshape(1, -1).astype(np.float32) / 20), compat=2,
                        normalization=dcrf.NORMALIZE_AFTER)
    return np.array(d.inference(iters), dtype=np.float32)


def crf_steps(dcrf, utils, rgb, probs, iters):
    """startInference / stepInference / klDivergence; returns Q and the KLs."""
    L, h, w = probs.shape
    labels = probs.argmax(0).astype(np.int64) + 1
    labels[::7, ::5] = 0
    d = dcrf.DenseCRF2D(w, h, L)
    d.setUnaryEnergy(utils.unary_from_labels(labels, L, gt_prob=0.7, zero_unsure=True))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=rgb, compat=10)
    Q, tmp1, tmp2 = d.startInference()
    kls = [d.klDivergence(Q)]
    for _ in range(iters):
        d.stepInference(Q, tmp1, tmp2)
        kls.append(d.klDivergence(Q))
    return np.array(Q, dtype=np.float32), kls


def recipe(dcrf, utils, rgb, probs):
    """pydensecrf's README recipe from probabilities to labels (timed)."""
    L, h, w = probs.shape
    d = dcrf.DenseCRF2D(w, h, L)
    d.setUnaryEnergy(utils.unary_from_softmax(probs))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=rgb, compat=10)
    Q = d.inference(5)
    return np.argmax(Q, axis=0).reshape(h, w), np.array(Q, dtype=np.float32)


# ---- inputs ---------------------------------------------------------------------------

def random_inputs(rng, h, w, L):
    def blocky(levels, block):
        small = rng.integers(0, levels, size=(h // block + 1, w // block + 1))
        return np.kron(small, np.ones((block, block), dtype=small.dtype))[:h, :w]
    img = blocky(5, 9).astype(np.float64) * 50 + rng.normal(0, 15, (h, w))
    rgb = np.clip(np.stack([img, np.roll(img, 4, 1) * 0.8 + 30, 255 - img], -1), 0, 255).astype(np.uint8)
    logits = rng.normal(0, 1.2, (L, h, w)) + 1.5 * (np.arange(L)[:, None, None] == blocky(L, 7)[None])
    p = np.exp(logits)
    return rgb, (p / p.sum(0)).astype(np.float32)


def camvid_inputs(data, name, C=11, seed=0):
    """A val frame and softmax of (2.2 on a corrupted ground-truth label +
    smooth and pixel noise): void pixels and 15% of 8x8 blocks get a wrong
    label (as bench/crf_bench.py)."""
    rgb = ed.imread(os.path.join(data, "camvid", "val", name))[:, :, :3]
    gt = ed.imread(os.path.join(data, "camvid", "valannot", name)).astype(np.int64)
    rng = np.random.default_rng(seed)
    h, w = gt.shape
    lab = np.where(gt >= C, rng.integers(0, C, gt.shape), gt)
    wrong = np.kron(rng.random((h // 8 + 1, w // 8 + 1)) < 0.15, np.ones((8, 8), bool))[:h, :w]
    shift = np.kron(rng.integers(1, C, (h // 8 + 1, w // 8 + 1)), np.ones((8, 8), np.int64))[:h, :w]
    lab = np.where(wrong, (lab + shift) % C, lab)
    noise = np.kron(rng.normal(0, 1.0, (C, h // 6 + 1, w // 6 + 1)), np.ones((1, 6, 6)))[:, :h, :w]
    logits = noise + rng.normal(0, 0.6, (C, h, w)) + 2.2 * (np.arange(C)[:, None, None] == lab[None])
    p = np.exp(logits - logits.max(0))
    return np.ascontiguousarray(rgb), np.ascontiguousarray((p / p.sum(0)).astype(np.float32))


# ---- comparison -------------------------------------------------------------------------

rows = []


def compare(what, fn):
    out = {side: fn(*mods) for side, mods in SIDES.items()}
    a, b = out["pydensecrf"], out["encdec"]
    agree = float((a.argmax(0) == b.argmax(0)).mean())
    dq = float(np.abs(a - b).max())
    rows.append((what, agree, dq))
    print(f"{what:58s} {100 * agree:9.4f}% {dq:10.2e}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared", "data"))
    ap.add_argument("--frame", default="0016E5_07959.png")
    ap.add_argument("--threads", type=int, default=0, help="encdec threads (0: its default)")
    args = ap.parse_args()
    if args.threads:
        ed.set_num_threads(args.threads)
    print(f"encdec threads {ed.get_num_threads()}; pydensecrf is single-threaded")
    print(f"{'setting':58s} {'labels agree':>10s} {'max |dQ|':>10s}")
    rng = np.random.default_rng(0)
    L = 6
    rgb, probs = random_inputs(rng, 60, 80, L)
    diag = rng.normal(0, 2, L).astype(np.float32)
    mat = rng.normal(0, 1.5, (L, L)).astype(np.float32)
    P = lambda w: w   # noqa: E731
    compats = {"potts": (P(3.0), P(10.0)), "diag": (-diag, diag * 2), "matrix": (-mat, np.ascontiguousarray(mat.T * 3))}
    for cname, (cg, cb) in compats.items():
        for it in (1, 5, 10):
            terms = [("gaussian", cg, "DIAG_KERNEL", "NORMALIZE_SYMMETRIC"),
                     ("bilateral", cb, "DIAG_KERNEL", "NORMALIZE_SYMMETRIC")]
            compare(f"random 80x60x{L}, {cname} compat, {it} it",
                    lambda dc, ut: crf_2d(dc, ut, rgb, probs, terms, it))
    for kn in ("CONST_KERNEL", "FULL_KERNEL"):
        terms = [("gaussian", 3.0, kn, "NORMALIZE_SYMMETRIC"), ("bilateral", 10.0, kn, "NORMALIZE_SYMMETRIC")]
        compare(f"random, {kn}, 5 it", lambda dc, ut: crf_2d(dc, ut, rgb, probs, terms, 5))
    for nm, wg, wb in (("NO_NORMALIZATION", 0.05, 0.004), ("NORMALIZE_BEFORE", 3.0, 10.0),
                       ("NORMALIZE_AFTER", 3.0, 10.0)):
        terms = [("gaussian", wg, "DIAG_KERNEL", nm), ("bilateral", wb, "DIAG_KERNEL", nm)]
        compare(f"random, {nm}, 5 it", lambda dc, ut: crf_2d(dc, ut, rgb, probs, terms, 5))
    compare("random, DenseCRF N-D features (utils helpers), 5 it", lambda dc, ut: crf_nd(dc, ut, rgb, probs, 5))
    kl = {}

    def steps(dc, ut):
        q, k = crf_steps(dc, ut, rgb, probs, 4)
        kl[dc.__name__] = k
        return q
    compare("random, unary_from_labels + 4 x stepInference", steps)
    ka, kb = kl["pydensecrf.densecrf"], kl["encdec.crf"]
    print(f"{'  klDivergence after 0..4 steps, max rel diff':58s} {max(abs(x - y) / abs(x) for x, y in zip(ka, kb)):21.2e}")

    frame = os.path.join(args.data, "camvid", "val", args.frame)
    if not os.path.exists(frame):
        print(f"(no CamVid frame at {frame}: skipped)")
        return 0
    rgb, probs = camvid_inputs(args.data, args.frame)
    for it in (1, 5, 10):
        terms = [("gaussian", 3.0, "DIAG_KERNEL", "NORMALIZE_SYMMETRIC"),
                 ("bilateral", 10.0, "DIAG_KERNEL", "NORMALIZE_SYMMETRIC")]
        compare(f"CamVid {args.frame} 480x360x11, {it} it", lambda dc, ut: crf_2d(dc, ut, rgb, probs, terms, it))
    times = {}
    for side, (dc, ut) in SIDES.items():
        best = 1e9
        for _ in range(5):
            t0 = time.perf_counter()
            lab, q = recipe(dc, ut, rgb, probs)
            best = min(best, time.perf_counter() - t0)
        times[side] = (best, lab, q)
    (ta, la, qa), (tb, lb, qb) = times["pydensecrf"], times["encdec"]
    print(f"{'CamVid README recipe (labels from Q)':58s} {100 * (la == lb).mean():9.4f}% {np.abs(qa - qb).max():10.2e}")
    print(f"time of the recipe, best of 5: pydensecrf {1000 * ta:.1f} ms, encdec {1000 * tb:.1f} ms "
          f"({ta / tb:.2f}x, {ed.get_num_threads()} threads)")
    worst_agree = min(r[1] for r in rows)
    worst_dq = max(r[2] for r in rows)
    print(f"worst over all settings: labels agree {100 * worst_agree:.4f}%, max |dQ| {worst_dq:.2e}")
    return 0 if worst_agree >= 0.999 and worst_dq <= 1e-3 else 1


if __name__ == "__main__":
    sys.exit(main())
