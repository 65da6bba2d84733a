"""Golden cases for the dense CRF (src/crf, tests/test_crf.c), written by
pydensecrf (pip install pydensecrf2; Krahenbuhl's C++ code).

Case 0 holds the shared small inputs: a blocky random RGB image (H, W, 3)
u8, noisy softmax probabilities (L, N) around a blocky label map, their
unary_from_softmax energies, and N-D features. Each "crf" case lists its
pairwise terms in args["terms"] and stores Q after each count in
args["iters"] as "q<iters>"; a case whose args hold "same_as" expects the
Q of that case (pydensecrf's kernel type changes nothing without kernel
parameters; the generator asserts that). "steps" stores the KL divergence
after start and each step; "unary_labels"/"unary_softmax" test the helpers;
"refine" is pydensecrf's usual recipe from probabilities to labels.

The "camvid" case is a 120x90 crop of a CamVid validation frame with noisy
probabilities made from its ground truth; to stay small its unary energies
are quantised to multiples of 0.5 in 0..7.5 and stored 4-bit packed (two
pixels a byte, low nibble first), and the outputs are the argmax labels of
the whole crop plus Q over a 20x15 window."""
import os

import numpy as np
import pydensecrf.densecrf as dcrf
import torch
from pydensecrf.utils import unary_from_labels, unary_from_softmax

from golden_common import write

W, H, L = 24, 20, 5
N = W * H
KERNELS = {"const": dcrf.CONST_KERNEL, "diag": dcrf.DIAG_KERNEL, "full": dcrf.FULL_KERNEL}
NORMS = {"none": dcrf.NO_NORMALIZATION, "before": dcrf.NORMALIZE_BEFORE, "after": dcrf.NORMALIZE_AFTER,
         "symmetric": dcrf.NORMALIZE_SYMMETRIC}


def T(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def blocky(rng, h, w, levels, block):
    small = rng.integers(0, levels, size=(h // block + 1, w // block + 1))
    return np.kron(small, np.ones((block, block), dtype=small.dtype))[:h, :w]


def make_inputs(rng):
    img = blocky(rng, H, W, 4, 6).astype(np.float64) * 60 + rng.normal(0, 12, (H, W))
    rgb = np.stack([img, np.roll(img, 3, 1) * 0.7 + 40, 255 - img], -1)
    rgb = np.clip(rgb, 0, 255).astype(np.uint8)
    lab = blocky(rng, H, W, L, 5)
    logits = rng.normal(0, 1.2, (L, H, W)) + 1.5 * (np.arange(L)[:, None, None] == lab[None])
    p = np.exp(logits)
    probs = (p / p.sum(0)).astype(np.float32)
    feats = np.stack([np.tile(np.arange(W), H) / 4.0, np.repeat(np.arange(H), W) / 4.0,
                      rgb[..., 0].ravel() / 30.0]).astype(np.float32)
    return rgb, probs.reshape(L, N), feats


def compat_value(t, rng_state):
    c = t.get("compat", "potts")
    if c == "potts":
        return float(t["w"])
    if c == "diag":
        return np.asarray(t["weights"], dtype=np.float32)
    return np.asarray(t["weights"], dtype=np.float32).reshape(L, L)


def build(terms, rgb, unary, feats):
    d = dcrf.DenseCRF2D(W, H, L) if all(t["type"] != "features" for t in terms) else dcrf.DenseCRF(N, L)
    d.setUnaryEnergy(np.ascontiguousarray(unary))
    for t in terms:
        kw = dict(kernel=KERNELS[t.get("kernel", "diag")], normalization=NORMS[t.get("norm", "symmetric")])
        c = compat_value(t, None)
        if t["type"] == "gaussian":
            d.addPairwiseGaussian(sxy=(t["sx"], t["sy"]), compat=c, **kw)
        elif t["type"] == "bilateral":
            d.addPairwiseBilateral(sxy=(t["sx"], t["sy"]), srgb=tuple(t["srgb"]), rgbim=rgb, compat=c, **kw)
        else:
            f = np.ascontiguousarray(feats[t["dims"]])
            d.addPairwiseEnergy(f, compat=c, **kw)
    return d


def crf_case(terms, iters, rgb, unary, feats):
    out = {}
    for n in iters:
        d = build(terms, rgb, unary, feats)
        out[f"q{n}"] = T(np.array(d.inference(n), dtype=np.float32).reshape(L, N))
    return out


def camvid_case():
    import skimage.io
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "shared", "data", "camvid")
    name = "0016E5_07959.png"
    img = skimage.io.imread(os.path.join(root, "val", name))[:, :, :3]
    gt = skimage.io.imread(os.path.join(root, "valannot", name))
    y0, x0, ch, cw, C = 200, 180, 90, 120, 11
    rgb = np.ascontiguousarray(img[y0:y0 + ch, x0:x0 + cw])
    g = gt[y0:y0 + ch, x0:x0 + cw].astype(np.int64)
    rng = np.random.default_rng(7)
    # Noisy probabilities: the true class boosted, smooth per-class noise,
    # and some 8x8 blocks where a wrong class is boosted instead.
    lab = np.where(g == 11, rng.integers(0, C, g.shape), g)
    wrong = np.kron(rng.random((ch // 8 + 1, cw // 8 + 1)) < 0.15, np.ones((8, 8), bool))[:ch, :cw]
    lab = np.where(wrong, (lab + 1 + blocky(rng, ch, cw, C - 1, 8)) % C, lab)
    noise = rng.normal(0, 1.0, (C, ch // 6 + 1, cw // 6 + 1))
    noise = np.kron(noise, np.ones((1, 6, 6)))[:, :ch, :cw] + rng.normal(0, 0.6, (C, ch, cw))
    logits = noise + 2.2 * (np.arange(C)[:, None, None] == lab[None])
    p = np.exp(logits)
    p = (p / p.sum(0)).astype(np.float32)
    u = unary_from_softmax(p, clip=1e-5)
    q4 = np.clip(np.round(u / 0.5), 0, 15).astype(np.uint8)          # (C, n)
    unary = (q4.astype(np.float32) * np.float32(0.5))
    packed = (q4[:, 0::2] | (q4[:, 1::2] << 4)).astype(np.uint8)
    d = dcrf.DenseCRF2D(cw, ch, C)
    d.setUnaryEnergy(np.ascontiguousarray(unary))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=rgb, compat=10)
    q = np.array(d.inference(5), dtype=np.float32).reshape(C, ch, cw)
    wy, wx, wh, ww = 40, 50, 15, 20
    args = {"kind": "camvid", "w": cw, "h": ch, "labels": C, "iters": 5, "win": [wy, wx, wh, ww]}
    ts = {"rgb": T(rgb), "unary4": T(packed), "labels": T(q.argmax(0).astype(np.uint8).ravel()),
          "qwin": T(q[:, wy:wy + wh, wx:wx + ww])}
    return args, ts


def main():
    rng = np.random.default_rng(2024)
    rgb, probs, feats = make_inputs(rng)
    unary = unary_from_softmax(probs)
    cases = [({"kind": "inputs", "w": W, "h": H, "labels": L},
              {"rgb": T(rgb), "probs": T(probs), "unary": T(unary), "feats": T(feats)})]

    G = {"type": "gaussian", "sx": 3.0, "sy": 3.0, "w": 3.0}
    B = {"type": "bilateral", "sx": 8.0, "sy": 8.0, "srgb": [13.0, 13.0, 13.0], "w": 10.0}
    diag_w = [-2.0, 1.0, -0.5, 3.0, -1.5]
    mat = rng.normal(0, 1.5, (L, L)).round(3).tolist()

    def add(terms, iters=(5,), note=""):
        args = {"kind": "crf", "terms": terms, "iters": list(iters), "note": note}
        cases.append((args, crf_case(terms, iters, rgb, unary, feats)))
        return len(cases) - 1

    base = add([G, B], (1, 5, 10), "potts gaussian + bilateral, 1/5/10 iterations")
    add([G], note="gaussian only")
    add([dict(B, sx=5.0, sy=4.0, srgb=[20.0, 10.0, 30.0])], note="bilateral only, anisotropic")
    add([dict(G, compat="diag", weights=diag_w), dict(B, compat="diag", weights=[-w for w in diag_w])],
        note="diagonal compatibility")
    add([dict(G, compat="matrix", weights=sum(mat, [])), B], note="matrix compatibility (asymmetric input)")
    # Without normalisation the filter sums a whole neighbourhood: small
    # weights keep Q away from 0/1.
    add([dict(G, norm="none", w=0.03), dict(B, norm="none", w=0.004)], note="normalization none")
    for nm in ("before", "after"):
        add([dict(G, norm=nm), dict(B, norm=nm)], note=f"normalization {nm}")
    add([{"type": "features", "dims": [0, 1, 2], "w": 4.0}, {"type": "features", "dims": [2], "w": 2.0,
                                                            "norm": "after"}], note="N-D features (3 and 1 dims)")
    base_q = cases[base][1]["q5"]
    for kn in ("const", "full"):
        terms = [dict(G, kernel=kn), dict(B, kernel=kn)]
        q = crf_case(terms, (5,), rgb, unary, feats)["q5"]
        assert torch.equal(q, base_q), kn
        cases.append(({"kind": "crf", "terms": terms, "iters": [5], "same_as": base,
                       "note": f"kernel {kn}: same as diag in pydensecrf"}, {}))

    # Step-wise inference and the KL divergence.
    d = build([G, B], rgb, unary, feats)
    Q, t1, t2 = d.startInference()
    kls = [d.klDivergence(Q)]
    for _ in range(3):
        d.stepInference(Q, t1, t2)
        kls.append(d.klDivergence(Q))
    cases.append(({"kind": "steps", "terms": [G, B], "steps": 3},
                  {"kl": T(np.array(kls, dtype=np.float64)),
                   "q": T(np.array(Q, dtype=np.float32).reshape(L, N))}))

    # Unary helpers.
    for scale, clip in ((None, 1e-5), (0.8, 1e-3), (None, None), (0.5, None)):
        p = probs[:, :60].copy()
        p[0, :5] = 0.0
        if clip is None:
            p[0, :5] = 1e-9
        u = unary_from_softmax(p, scale=scale, clip=clip)
        cases.append(({"kind": "unary_softmax", "scale": scale or 0.0, "clip": -1.0 if clip is None else clip},
                      {"probs": T(p), "unary": T(u)}))
    lab = rng.integers(0, L + 1, size=(6, 10))
    for zu, gt in ((True, 0.7), (False, 0.5)):
        lb = lab if zu else np.minimum(lab, L - 1)
        u = unary_from_labels(lb, L, gt_prob=gt, zero_unsure=zu)
        cases.append(({"kind": "unary_labels", "n_labels": L, "gt_prob": gt, "zero_unsure": zu},
                      {"labels": T(lb.astype(np.int64)), "unary": T(u)}))

    # The usual recipe from probabilities (what ed_crf_refine_image runs).
    d = dcrf.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(unary_from_softmax(probs))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=rgb, compat=10)
    q = np.array(d.inference(5), dtype=np.float32).reshape(L, N)
    cases.append(({"kind": "refine", "iters": 5}, {"q": T(q), "labels": T(q.argmax(0).astype(np.uint8))}))

    cases.append(camvid_case())
    write("crf", cases)


if __name__ == "__main__":
    main()
