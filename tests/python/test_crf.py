"""ed.DenseCRF2D / ed.DenseCRF / ed.crf.* against pydensecrf's numbers stored
in tests/golden/crf.safetensors (written by tests/golden/gen_crf.py), with
Debian's python3 and numpy only: the cases are rebuilt here with the same
calls gen_crf.py makes to pydensecrf, so these calls are checked as a
drop-in. Also: the step-wise API equals inference(n), and every misuse that
pydensecrf asserts on, crashes on or silently misreads raises ed.Error
naming what was expected."""
import json
import os
import struct

import numpy as np

import encdec as ed
import encdec.crf as dcrf
from encdec.crf import (create_pairwise_bilateral, create_pairwise_gaussian, unary_from_labels,
                        unary_from_softmax)

Q_TOL = 1e-3          # the bound against pydensecrf (observed: ~1e-6)
from harness import case, finish, raises  # noqa: E402  (tests/python/harness.py)


def read_safetensors(path):
    """{name: array}, metadata: 8-byte little-endian header length, JSON
    header, then the raw little-endian tensors at their data_offsets."""
    dt = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    out = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        out[name] = np.frombuffer(blob[base + a:base + b], dtype=dt[h["dtype"]]).reshape(h["shape"])
    return out, meta


ROOT = os.environ.get("ED_SOURCE_DIR") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
G, META = read_safetensors(os.path.join(ROOT, "tests", "golden", "crf.safetensors"))
ARGS = [json.loads(META[str(k)]) for k in range(int(META["cases"]))]
W, H, L = ARGS[0]["w"], ARGS[0]["h"], ARGS[0]["labels"]
N = W * H
RGB, PROBS, UNARY, FEATS = G["0.rgb"], G["0.probs"], G["0.unary"], G["0.feats"]
KERNELS = {"const": dcrf.CONST_KERNEL, "diag": dcrf.DIAG_KERNEL, "full": dcrf.FULL_KERNEL}
NORMS = {"none": dcrf.NO_NORMALIZATION, "before": dcrf.NORMALIZE_BEFORE, "after": dcrf.NORMALIZE_AFTER,
         "symmetric": dcrf.NORMALIZE_SYMMETRIC}


def compat_value(t):
    c = t.get("compat", "potts")
    if c == "potts":
        return float(t["w"])
    if c == "diag":
        return np.asarray(t["weights"], dtype=np.float32)
    return np.asarray(t["weights"], dtype=np.float32).reshape(L, L)


def build(terms):
    """gen_crf.py's build(), verbatim but for the module."""
    d = dcrf.DenseCRF2D(W, H, L) if all(t["type"] != "features" for t in terms) else dcrf.DenseCRF(N, L)
    d.setUnaryEnergy(np.ascontiguousarray(UNARY))
    for t in terms:
        kw = dict(kernel=KERNELS[t.get("kernel", "diag")], normalization=NORMS[t.get("norm", "symmetric")])
        c = compat_value(t)
        if t["type"] == "gaussian":
            d.addPairwiseGaussian(sxy=(t["sx"], t["sy"]), compat=c, **kw)
        elif t["type"] == "bilateral":
            d.addPairwiseBilateral(sxy=(t["sx"], t["sy"]), srgb=tuple(t["srgb"]), rgbim=RGB, compat=c, **kw)
        else:
            d.addPairwiseEnergy(np.ascontiguousarray(FEATS[t["dims"]]), compat=c, **kw)
    return d


def close_to(q, ref, what):
    assert q.dtype == np.float32 and q.shape == ref.shape, (what, q.dtype, q.shape, ref.shape)
    err = float(np.abs(q - ref).max())
    agree = float((q.argmax(0) == ref.argmax(0)).mean())
    assert err <= Q_TOL, f"{what}: max |dQ| {err:.3g} > {Q_TOL}"
    assert agree >= 0.999, f"{what}: labels agree on {agree:.4%}"


@case
def golden_crf_cases():
    n = 0
    for k, a in enumerate(ARGS):
        if a["kind"] != "crf":
            continue
        for it in a["iters"]:
            ref = G[f"{a.get('same_as', k)}.q{it}"]
            close_to(build(a["terms"]).inference(it), ref, f"case {k} ({a['note']}), {it} iterations")
            n += 1
    assert n >= 13, n


@case
def golden_steps_and_kl():
    a = next(x for x in ARGS if x["kind"] == "steps")
    k = ARGS.index(a)
    d = build(a["terms"])
    Q, t1, t2 = d.startInference()
    kls = [d.klDivergence(Q)]
    for _ in range(a["steps"]):
        d.stepInference(Q, t1, t2)
        kls.append(d.klDivergence(Q))
    close_to(Q, G[f"{k}.q"], "startInference + 3 x stepInference")
    ref = G[f"{k}.kl"]
    for s, (x, r) in enumerate(zip(kls, ref)):
        assert abs(x - r) <= 1e-4 * abs(r) + 1e-3, f"KL after {s} steps: {x} vs pydensecrf {r}"
    assert all(kls[i + 1] < kls[i] for i in range(len(kls) - 1)), kls


@case
def steps_equal_inference():
    G5 = {"type": "gaussian", "sx": 3.0, "sy": 3.0, "w": 3.0}
    B5 = {"type": "bilateral", "sx": 8.0, "sy": 8.0, "srgb": [13.0, 13.0, 13.0], "w": 10.0}
    for n in (0, 1, 5):
        d = build([G5, B5])
        Q, t1, t2 = d.startInference()
        for _ in range(n):
            d.stepInference(Q, t1, t2)
        assert np.array_equal(Q, d.inference(n)), n
        assert np.allclose(Q.sum(0), 1, atol=1e-5)
    d = build([G5])
    Q, _, _ = d.startInference()
    p = np.exp(-UNARY.astype(np.float64))
    assert np.allclose(Q, p / p.sum(0), atol=1e-6)


@case
def golden_unary_helpers():
    for k, a in enumerate(ARGS):
        if a["kind"] == "unary_softmax":
            scale = a["scale"] or None
            clip = None if a["clip"] < 0 else a["clip"]
            u = unary_from_softmax(G[f"{k}.probs"], scale=scale, clip=clip)
            assert u.dtype == np.float32 and u.shape == G[f"{k}.unary"].shape
            assert np.allclose(u, G[f"{k}.unary"], rtol=1e-6, atol=1e-6), k
        elif a["kind"] == "unary_labels":
            u = unary_from_labels(G[f"{k}.labels"], a["n_labels"], gt_prob=a["gt_prob"], zero_unsure=a["zero_unsure"])
            assert u.dtype == np.float32 and np.allclose(u, G[f"{k}.unary"], rtol=1e-6, atol=1e-6), k
    # (L, H, W) probabilities flatten as pydensecrf's; the default clip is 1e-5
    u = unary_from_softmax(PROBS.reshape(L, H, W))
    assert u.shape == (L, N) and np.allclose(u, UNARY, rtol=1e-6, atol=1e-6)
    assert np.allclose(unary_from_softmax(PROBS.astype(np.float64)), UNARY, rtol=1e-6, atol=1e-6)


@case
def golden_refine_recipe():
    k = next(i for i, a in enumerate(ARGS) if a["kind"] == "refine")
    d = ed.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(unary_from_softmax(PROBS))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=RGB, compat=10)
    q = d.inference(5)
    close_to(q, G[f"{k}.q"], "refine recipe")
    assert (q.argmax(0) == G[f"{k}.labels"]).mean() >= 0.999
    # the defaults are the recipe's numbers
    d = ed.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(unary_from_softmax(PROBS))
    d.addPairwiseGaussian()
    d.addPairwiseBilateral(rgbim=RGB)
    assert np.array_equal(d.inference(5), q)


@case
def golden_camvid_crop():
    k = next(i for i, a in enumerate(ARGS) if a["kind"] == "camvid")
    a = ARGS[k]
    w, h, C = a["w"], a["h"], a["labels"]
    packed = G[f"{k}.unary4"]
    q4 = np.empty((C, w * h), np.uint8)
    q4[:, 0::2], q4[:, 1::2] = packed & 15, packed >> 4
    d = ed.DenseCRF2D(w, h, C)
    d.setUnaryEnergy(q4.astype(np.float32) * np.float32(0.5))
    d.addPairwiseGaussian(sxy=3, compat=3)
    d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=G[f"{k}.rgb"], compat=10)
    q = d.inference(a["iters"]).reshape(C, h, w)
    agree = (q.argmax(0).ravel() == G[f"{k}.labels"]).mean()
    assert agree >= 0.999, agree
    wy, wx, wh, ww = a["win"]
    err = np.abs(q[:, wy:wy + wh, wx:wx + ww] - G[f"{k}.qwin"]).max()
    assert err <= Q_TOL, err


@case
def pairwise_feature_helpers():
    # create_pairwise_* as pydensecrf.utils: (y / sy, x / sx [, channels / s])
    f = create_pairwise_gaussian(sdims=(3, 5), shape=(H, W))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    assert f.dtype == np.float32 and f.shape == (2, N)
    assert np.array_equal(f, np.stack([yy.ravel() / np.float32(3), xx.ravel() / np.float32(5)]))
    b = create_pairwise_bilateral(sdims=(80, 80), schan=(13, 13, 13), img=RGB, chdim=2)
    assert b.shape == (5, N)
    assert np.array_equal(b[2:], np.moveaxis(RGB, 2, 0).reshape(3, N).astype(np.float32) / np.float32(13))
    b1 = create_pairwise_bilateral(sdims=(4, 4), schan=2, img=RGB[..., 0])
    assert b1.shape == (3, N) and np.array_equal(b1[2], RGB[..., 0].ravel().astype(np.float32) / 2)
    # the N-D route gives the 2-D helpers' result once the features are in
    # their order (x, y, r, g, b): create_pairwise_* put y first, and the
    # lattice's approximation depends on the order (pydensecrf's too)
    q = {}
    for route in ("2d", "nd"):
        d = ed.DenseCRF2D(W, H, L) if route == "2d" else ed.DenseCRF(N, L)
        d.setUnaryEnergy(UNARY)
        if route == "2d":
            d.addPairwiseGaussian(sxy=3, compat=3)
            d.addPairwiseBilateral(sxy=8, srgb=13, rgbim=RGB, compat=10)
        else:
            d.addPairwiseEnergy(create_pairwise_gaussian((3, 3), (H, W))[[1, 0]], compat=3)
            d.addPairwiseEnergy(create_pairwise_bilateral((8, 8), (13, 13, 13), RGB, chdim=2)[[1, 0, 2, 3, 4]],
                                compat=10)
        q[route] = d.inference(5)
    assert np.array_equal(q["2d"], q["nd"])


@case
def conversions_and_layouts():
    ref = build([{"type": "gaussian", "sx": 3.0, "sy": 3.0, "w": 3.0}]).inference(3)
    for u in (UNARY.astype(np.float64), np.asfortranarray(UNARY), UNARY.reshape(L, H, W)):
        d = ed.DenseCRF2D(W, H, L)
        d.setUnaryEnergy(u)
        d.addPairwiseGaussian(sxy=3, compat=3)
        assert np.array_equal(d.inference(3), ref)
    # a non-contiguous image (a view) reads the same pixels as its copy
    big = np.zeros((H, 2 * W, 3), np.uint8)
    big[:, ::2] = RGB
    q = []
    for img in (RGB, big[:, ::2]):
        d = ed.DenseCRF2D(W, H, L)
        d.setUnaryEnergy(UNARY)
        d.addPairwiseBilateral(sxy=8, srgb=13, rgbim=img, compat=10)
        q.append(d.inference(2))
    assert np.array_equal(q[0], q[1])
    # compat: a number, its 0-d array and numpy scalars are Potts
    qs = []
    for c in (3, 3.0, np.float32(3), np.array(3.0)):
        d = ed.DenseCRF2D(W, H, L)
        d.setUnaryEnergy(UNARY)
        d.addPairwiseGaussian(sxy=3, compat=c)
        qs.append(d.inference(3))
    assert all(np.array_equal(x, ref) for x in qs)
    assert isinstance(ed.DenseCRF2D(W, H, L), ed.DenseCRF) and dcrf.DIAG_KERNEL == 1 and dcrf.NORMALIZE_SYMMETRIC == 3


@case
def errors_unary():
    d = ed.DenseCRF2D(W, H, L)
    raises(lambda: d.setUnaryEnergy(UNARY[:, :-1]), "(n_labels, n_pixels)", f"({L}, {N})", f"({L}, {N - 1})")
    raises(lambda: d.setUnaryEnergy(UNARY[:-1]), f"({L}, {N})", f"({L - 1}, {N})")
    raises(lambda: d.setUnaryEnergy(np.ascontiguousarray(UNARY.T)), "transposed")
    raises(lambda: d.setUnaryEnergy(UNARY.reshape(L, W, H)), "swapped", f"({L}, {W}, {H})")
    raises(lambda: d.setUnaryEnergy(np.zeros((L, N), np.int64)), "float32", "int64")
    raises(lambda: d.setUnaryEnergy(None), "float32")
    raises(lambda: d.setUnaryEnergy(UNARY, UNARY), "not supported")
    u = UNARY.copy()
    u[2, 7] = np.nan
    raises(lambda: d.setUnaryEnergy(u), "unary[2, 7]")
    raises(lambda: ed.DenseCRF(N, L).setUnaryEnergy(UNARY.reshape(L, H, W)), f"({L}, {N})")


@case
def errors_image_and_sizes():
    d = ed.DenseCRF2D(W, H, L)
    img_swapped = np.ascontiguousarray(np.transpose(RGB, (1, 0, 2)))
    raises(lambda: d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=img_swapped, compat=10),
           f"({H}, {W}, 3)", f"({W}, {H}, 3)", "swapped")
    raises(lambda: d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=RGB.astype(np.float32), compat=10), "uint8", "float32")
    raises(lambda: d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=RGB[:-1], compat=10), f"({H - 1}, {W}, 3)")
    raises(lambda: d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.zeros((H, W, 4), np.uint8), compat=10), "4 channels")
    raises(lambda: d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=np.ascontiguousarray(np.moveaxis(RGB, 2, 0))),
           "channels first")
    raises(lambda: d.addPairwiseBilateral(sxy=80, srgb=13), "rgbim is required")
    raises(lambda: d.addPairwiseBilateral(sxy=80, srgb=(13, 13), rgbim=RGB), "srgb", "3 numbers")
    raises(lambda: d.addPairwiseGaussian(sxy=(3, 3, 3)), "sxy", "2 numbers")
    raises(lambda: d.addPairwiseGaussian(sxy=0), "sxy", "> 0")
    raises(lambda: d.addPairwiseGaussian(kernel=7), "kernel")
    raises(lambda: d.addPairwiseGaussian(normalization=9), "normalization")
    raises(lambda: ed.DenseCRF2D(W, 0, L), "h", ">= 1")
    raises(lambda: ed.DenseCRF2D(W, H, 2.5), "n_labels", "integer")
    raises(lambda: ed.DenseCRF(N, 0), "n_labels")
    raises(lambda: d.inference(-1), "n_iterations")
    # a Gaussian-only swap has nothing to check against; the unary shape does
    raises(lambda: ed.DenseCRF2D(H, W, L).setUnaryEnergy(UNARY.reshape(L, H, W)), "swapped")


@case
def errors_compat_and_features():
    d = ed.DenseCRF2D(W, H, L)
    raises(lambda: d.addPairwiseGaussian(sxy=3, compat=np.ones((L + 1, L + 1), np.float32)),
           f"({L}, {L})", f"({L + 1}, {L + 1})")
    raises(lambda: d.addPairwiseGaussian(sxy=3, compat=np.ones(L - 1)), f"({L},)", f"({L - 1},)")
    raises(lambda: d.addPairwiseGaussian(sxy=3, compat=np.ones((L, L, 1))), "shape")
    raises(lambda: d.addPairwiseGaussian(sxy=3, compat="potts"), "compat")
    raises(lambda: d.addPairwiseGaussian(sxy=3, compat=float("nan")), "finite")
    c = ed.DenseCRF(N, L)
    raises(lambda: c.addPairwiseEnergy(FEATS[:, :-1], compat=3), f"(?, {N})", f"(3, {N - 1})")
    raises(lambda: c.addPairwiseEnergy(np.ascontiguousarray(FEATS.T), compat=3), "transposed")
    raises(lambda: c.addPairwiseEnergy(FEATS.astype(np.int32), compat=3), "float32", "int32")
    Q, t1, t2 = build([]).startInference()
    raises(lambda: c.stepInference(Q[:, :-1], t1, t2), "writable float32", f"({L}, {N})")
    raises(lambda: c.stepInference(Q.tolist(), t1, t2), "list")
    Q.flags.writeable = False
    raises(lambda: c.stepInference(Q, t1, t2), "read-only")
    raises(lambda: c.klDivergence(Q[:-1]), f"({L}, {N})")


@case
def errors_utils():
    raises(lambda: unary_from_softmax(PROBS, scale=0), "scale")
    raises(lambda: unary_from_softmax(PROBS, scale=1.5), "scale")
    raises(lambda: unary_from_softmax(PROBS, clip=-0.1), "clip")
    raises(lambda: unary_from_softmax(np.zeros((0, 4), np.float32)), "zero size")
    raises(lambda: unary_from_softmax(np.array(["a"])), "dtype")
    lab = np.array([[0, 1], [5, 2]])
    raises(lambda: unary_from_labels(lab, 5, gt_prob=1.0), "gt_prob")
    raises(lambda: unary_from_labels(lab, 5, gt_prob=0.7, zero_unsure=False), "0..4", "got 5")
    raises(lambda: unary_from_labels(lab - 1, 5, gt_prob=0.7), "got -1")
    raises(lambda: unary_from_labels(lab.astype(np.float32), 5, gt_prob=0.7), "integer", "float32")
    raises(lambda: create_pairwise_gaussian(sdims=(3,), shape=(H, W)), "sdims", "2 numbers")
    raises(lambda: create_pairwise_gaussian(sdims=(3, 0), shape=(H, W)), "> 0")
    raises(lambda: create_pairwise_bilateral(sdims=(80, 80), schan=(13, 13, 13), img=RGB), "chdim=2")
    raises(lambda: create_pairwise_bilateral(sdims=(80, 80), schan=(13, 13), img=RGB, chdim=2), "schan", "3 numbers")
    raises(lambda: create_pairwise_bilateral(sdims=(80, 80), schan=13, img=RGB, chdim=3), "chdim")


@case
def errors_do_not_poison_the_crf():
    d = ed.DenseCRF2D(W, H, L)
    d.setUnaryEnergy(UNARY)
    raises(lambda: d.addPairwiseBilateral(rgbim=RGB[:-1]))
    d.addPairwiseGaussian(sxy=3, compat=3)
    ref = build([{"type": "gaussian", "sx": 3.0, "sy": 3.0, "w": 3.0}]).inference(5)
    assert np.array_equal(d.inference(5), ref)


finish()
