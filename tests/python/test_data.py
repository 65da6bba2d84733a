"""ed.imread / ed.imwrite and ed.metrics against numpy formulas and stored
references (no torch, skimage or PIL needed): image decodes against
tests/golden/images_expected.safetensors, COCO stats against
tests/golden/coco.safetensors (pycocotools), SSIM against values that
skimage 0.26 gave for the inputs made by pair() below."""
import json
import os
import struct
import tempfile

import numpy as np

import encdec as ed

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(os.path.dirname(HERE), "golden")
from harness import case, finish, raises  # noqa: E402  (tests/python/harness.py)


def close(got, want, rtol=1e-6, atol=1e-9):
    assert abs(got - want) <= atol + rtol * abs(want), f"got {got!r}, want {want!r}"


_ST = {"U8": np.uint8, "I32": np.int32, "I64": np.int64, "F32": np.float32, "F64": np.float64}


def read_safetensors(path):
    """(tensors by name, metadata): the format is an 8-byte little-endian
    header length, a JSON header, then the raw data."""
    with open(path, "rb") as f:
        buf = f.read()
    n = struct.unpack("<Q", buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, v in header.items():
        a, b = v["data_offsets"]
        out[name] = np.frombuffer(buf[8 + n + a:8 + n + b], dtype=np.dtype(_ST[v["dtype"]]).newbyteorder("<"))
        out[name] = out[name].reshape(v["shape"])
    return out, meta


def pair(h, w, c):
    """Two deterministic images (no RNG, so every numpy makes the same)."""
    i = np.arange(h * w * c, dtype=np.int64)
    a = (i * i * 37 + i * 11) % 256 // 2 + 64
    b = np.clip(a + (i * 13) % 121 - 60, 0, 255)
    shp = (h, w) if c == 1 else (h, w, c)
    return a.reshape(shp).astype(np.float64), b.reshape(shp).astype(np.float64)


def luma(x):
    x = x / 255.0
    return 16 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def psnr_ref(a, b, r):
    return 10 * np.log10(r * r / np.mean((a - b) ** 2))


# ---- image files ---------------------------------------------------------------------------------


@case
def imread_matches_golden_decodes():
    t, meta = read_safetensors(os.path.join(GOLDEN, "images_expected.safetensors"))
    checked = 0
    for k in range(int(meta["cases"])):
        args = json.loads(meta[str(k)])
        path = os.path.join(GOLDEN, "images", args["file"])
        if "status" in args:
            raises(lambda: ed.imread(path), args["msg"], args["file"])
            continue
        want = t[f"{k}.pixels"]
        got, pal = ed.imread(path, with_palette=True)
        if args["file"].startswith("pal"):
            # imread keeps palette indices; flags 0 cases hold the RGB(A) the palette gives.
            assert got.dtype == np.uint8 and got.ndim == 2
            if args["flags"]:
                assert np.array_equal(got, want[:, :, 0])
                wp = t[f"{k}.palette"]
                assert np.array_equal(pal, wp if (wp[:, 3] != 255).any() else wp[:, :3]), (pal, wp)
            else:
                full = pal if pal.shape[1] == want.shape[2] else pal[:, :want.shape[2]]
                assert np.array_equal(full[got], want)
        else:
            assert pal is None
            assert got.dtype == (np.uint16 if args["bit_depth"] == 16 else np.uint8), got.dtype
            w = want[:, :, 0] if args["channels"] == 1 else want
            assert got.shape == w.shape, (args["file"], got.shape, w.shape)
            assert np.array_equal(got.astype(np.int64), w.astype(np.int64)), args["file"]
        checked += 1
    assert checked >= 20, checked


@case
def imread_errors_name_the_file():
    raises(lambda: ed.imread(os.path.join(GOLDEN, "images", "nosuch.png")), "nosuch.png")
    raises(lambda: ed.imread(os.path.join(GOLDEN, "images", "badsig.png")), "badsig.png", "not a PNG or JPEG")


@case
def imwrite_roundtrips():
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as d:
        for shape, dt in [((5, 7), np.uint8), ((5, 7, 1), np.uint8), ((4, 6, 2), np.uint8), ((3, 8, 3), np.uint8),
                          ((6, 5, 4), np.uint8), ((5, 7), np.uint16), ((4, 3, 3), np.uint16), ((2, 9, 4), np.uint16)]:
            a = rng.integers(0, np.iinfo(dt).max + 1, shape).astype(dt)
            p = os.path.join(d, "x.png")
            ed.imwrite(p, a)
            b = ed.imread(p)
            want = a[:, :, 0] if a.ndim == 3 and a.shape[2] == 1 else a
            assert b.dtype == dt and np.array_equal(b, want), (shape, dt)
        assert os.listdir(d) == ["x.png"], os.listdir(d)   # no .tmp left behind
        # non-contiguous input
        a = rng.integers(0, 256, (8, 10, 3)).astype(np.uint8)[:, ::2, ::-1]
        ed.imwrite(os.path.join(d, "nc.png"), a)
        assert np.array_equal(ed.imread(os.path.join(d, "nc.png")), a)


@case
def imwrite_palette():
    with tempfile.TemporaryDirectory() as d:
        idx = (np.arange(30).reshape(5, 6) % 3).astype(np.uint8)
        for pal in (np.array([[0, 0, 0], [255, 0, 0], [0, 128, 255]], np.uint8),
                    np.array([[0, 0, 0, 0], [255, 0, 0, 255], [0, 128, 255, 128]], np.uint8)):
            p = os.path.join(d, "p.png")
            ed.imwrite(p, idx, palette=pal)
            got, gp = ed.imread(p, with_palette=True)
            assert np.array_equal(got, idx) and np.array_equal(gp, pal), (gp, pal)
            assert np.array_equal(ed.imread(p), idx)
        raises(lambda: ed.imwrite(os.path.join(d, "q.png"), idx + 3, palette=pal), "past the palette", "q.png")
        raises(lambda: ed.imwrite(os.path.join(d, "q.png"), np.zeros((2, 2, 3), np.uint8), palette=pal), "indices")
        raises(lambda: ed.imwrite(os.path.join(d, "q.png"), idx, palette=np.zeros((3, 5), np.uint8)), "palette")
        assert not os.path.exists(os.path.join(d, "q.png"))


@case
def imwrite_errors():
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "f.png")
        raises(lambda: ed.imwrite(p, np.zeros((4, 4), np.float32)), "convert to uint8", "f.png")
        raises(lambda: ed.imwrite(p, np.zeros((4, 4), np.int32)), "uint8 or uint16")
        raises(lambda: ed.imwrite(p, np.zeros((4, 4, 5), np.uint8)), "shape")
        raises(lambda: ed.imwrite(p, np.zeros((4,), np.uint8)), "shape")
        raises(lambda: ed.imwrite(p, np.zeros((0, 4), np.uint8)), "empty")
        raises(lambda: ed.imwrite(os.path.join(d, "nodir", "g.png"), np.zeros((4, 4), np.uint8)), "g.png")
        assert os.listdir(d) == []


# ---- image quality -------------------------------------------------------------------------------

# skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
# data_range=..., channel_axis=-1 for colour) of pair(); "y" rows on luma(), "crop" rows on a[c:-c, c:-c].
SSIM_SKIMAGE = {
    "gray": 0.6894964469942187,          # pair(24, 20, 1), range 255
    "rgb": 0.6905179542508121,           # pair(23, 19, 3), range 255 (and /255 with range 1)
    "rgb_y": 0.6586661743396482,
    "rgb_y_crop3": 0.5807617279416224,
    "rgb_crop2": 0.6734548539593148,
}


@case
def psnr_matches_numpy():
    a, b = pair(24, 20, 1)
    close(ed.metrics.psnr(a, b), psnr_ref(a, b, 255))
    close(ed.metrics.psnr(a, b), 17.26138005292772)   # skimage's peak_signal_noise_ratio
    close(ed.metrics.psnr(a.astype(np.uint8), b.astype(np.uint8)), psnr_ref(a, b, 255))
    close(ed.metrics.psnr(a / 255, b / 255, data_range=1), psnr_ref(a, b, 255), rtol=1e-5)
    a, b = pair(23, 19, 3)
    close(ed.metrics.psnr(a, b), psnr_ref(a, b, 255))
    close(ed.metrics.psnr(a, b, crop_border=4), psnr_ref(a[4:-4, 4:-4], b[4:-4, 4:-4], 255))
    close(ed.metrics.psnr(a, b, y_channel=True), psnr_ref(luma(a), luma(b), 255))
    close(ed.metrics.psnr(a, b, y_channel=True, crop_border=2), psnr_ref(luma(a)[2:-2, 2:-2], luma(b)[2:-2, 2:-2], 255))
    a16, b16 = (a * 257).astype(np.uint16), (b * 257).astype(np.uint16)
    close(ed.metrics.psnr(a16, b16, data_range=65535), psnr_ref(a16.astype(float), b16.astype(float), 65535))
    assert ed.metrics.psnr(a, a) == float("inf")


@case
def ssim_matches_skimage():
    a, b = pair(24, 20, 1)
    close(ed.metrics.ssim(a, b), SSIM_SKIMAGE["gray"])
    close(ed.metrics.ssim(a.astype(np.uint8), b.astype(np.uint8)), SSIM_SKIMAGE["gray"])
    a, b = pair(23, 19, 3)
    close(ed.metrics.ssim(a, b), SSIM_SKIMAGE["rgb"])
    close(ed.metrics.ssim(a / 255, b / 255, data_range=1.0), SSIM_SKIMAGE["rgb"], rtol=1e-5)
    close(ed.metrics.ssim(a, b, y_channel=True), SSIM_SKIMAGE["rgb_y"])
    close(ed.metrics.ssim(a, b, y_channel=True, crop_border=3), SSIM_SKIMAGE["rgb_y_crop3"])
    close(ed.metrics.ssim(a, b, crop_border=2), SSIM_SKIMAGE["rgb_crop2"])
    close(ed.metrics.ssim(a, a), 1.0)


@case
def image_metric_errors():
    a, b = pair(24, 20, 1)
    for f in (ed.metrics.psnr, ed.metrics.ssim):
        raises(lambda: f(a, b[:, :19]), "same shape", "(24, 20)", "(24, 19)")
        raises(lambda: f(a[None, None], b[None, None]), "(H, W)")
        raises(lambda: f(a, b, y_channel=True), "y_channel", "3")
        raises(lambda: f(a, b, crop_border=12), "crop_border")
        raises(lambda: f(a, b, data_range=0), "data_range")
        raises(lambda: f(np.array([["x"]]), np.array([["y"]])), "numeric")
    c = a.copy()
    c[3, 4] = np.nan
    raises(lambda: ed.metrics.psnr(c, b), "non-finite")
    raises(lambda: ed.metrics.ssim(a[:10, :10], b[:10, :10]), "ssim")


# ---- segmentation --------------------------------------------------------------------------------


@case
def confusion_matrix_matches_bincount():
    rng = np.random.default_rng(0)
    C = 5
    t = rng.integers(0, C + 1, (3, 17, 13))      # C is the ignored label
    p = rng.integers(0, C, t.shape).astype(np.uint8)
    conf = ed.metrics.confusion_matrix(p, t, C, ignore_index=C)
    keep = t != C
    want = np.bincount(t[keep] * C + p[keep].astype(np.int64), minlength=C * C).reshape(C, C)
    assert conf.dtype == np.int64 and conf.shape == (C, C) and np.array_equal(conf, want)
    t2 = np.minimum(t, C - 1).astype(np.int32)
    want2 = np.bincount(t2.ravel() * C + p.ravel(), minlength=C * C).reshape(C, C)
    assert np.array_equal(ed.metrics.confusion_matrix(p, t2, C), want2)


@case
def confusion_matrix_errors():
    p = np.array([0, 1, 2])
    raises(lambda: ed.metrics.confusion_matrix(p, np.array([0, 1]), 3), "same shape", "(3,)", "(2,)")
    raises(lambda: ed.metrics.confusion_matrix(p, np.array([0, 1, 3]), 3), "target value 3")
    raises(lambda: ed.metrics.confusion_matrix(np.array([0, 5, 1]), p, 3), "pred value 5")
    raises(lambda: ed.metrics.confusion_matrix(p, p, 0), "num_classes")
    raises(lambda: ed.metrics.confusion_matrix(p * 0.5, p, 3), "integers")
    # the prediction of an ignored pixel is not looked at
    assert ed.metrics.confusion_matrix(np.array([0, 7]), np.array([1, 255]), 3, ignore_index=255).sum() == 1


@case
def segmentation_scores_match_numpy():
    conf = np.array([[50, 2, 3, 0], [4, 30, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], np.int64)
    s = ed.metrics.segmentation_scores(conf)
    tp = np.diag(conf).astype(float)
    fn, fp = conf.sum(1) - tp, conf.sum(0) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        iou, dice, rec = tp / (tp + fp + fn), 2 * tp / (2 * tp + fp + fn), tp / (tp + fn)
    for k in range(3):
        close(s["iou"][k], iou[k])
        close(s["dice"][k], dice[k])
        close(s["recall"][k], rec[k])
    assert s["iou"][2] == 0.0 and np.isnan(s["iou"][3]) and np.isnan(s["dice"][3])
    close(s["miou"], np.nanmean(iou))
    close(s["mean_dice"], np.nanmean(dice))
    close(s["class_accuracy"], np.nanmean(rec))
    close(s["global_accuracy"], tp.sum() / conf.sum())
    perfect = ed.metrics.segmentation_scores(np.diag([3, 4, 5]))
    assert perfect["miou"] == 1.0 and perfect["global_accuracy"] == 1.0
    raises(lambda: ed.metrics.segmentation_scores(np.zeros((2, 3), np.int64)), "square")
    raises(lambda: ed.metrics.segmentation_scores(np.array([[1, -1], [0, 1]])), "negative")


# ---- COCO --------------------------------------------------------------------------------------


@case
def coco_eval_matches_pycocotools():
    t, meta = read_safetensors(os.path.join(GOLDEN, "coco.safetensors"))
    n = 0
    for k in range(int(meta["cases"])):
        args = json.loads(meta[str(k)])
        if args["kind"] != "eval":
            continue
        gt, res = os.path.join(GOLDEN, "coco", args["gt"]), os.path.join(GOLDEN, "coco", args["res"])
        for iou_type in ("bbox", "segm"):
            got = ed.metrics.coco_eval(gt, res, iou_type=iou_type)
            want = t[f"{k}.{iou_type}"]
            assert isinstance(got, list) and len(got) == 12 and all(isinstance(v, float) for v in got)
            assert np.allclose(got, want, rtol=1e-9, atol=1e-12), (args, iou_type, got, want)
            n += 1
    assert n >= 20, n
    # parsed JSON in place of paths gives the same
    with open(gt) as f:
        gj = json.load(f)
    with open(res) as f:
        rj = json.load(f)
    assert ed.metrics.coco_eval(gj, rj, "segm") == ed.metrics.coco_eval(gt, res, "segm")
    assert len(ed.metrics.STATS_NAMES) == 12


@case
def coco_eval_errors():
    gt = os.path.join(GOLDEN, "coco", "case0_gt.json")
    res = os.path.join(GOLDEN, "coco", "case0_res_box.json")
    raises(lambda: ed.metrics.coco_eval(gt, res, iou_type="keypoints"), "iou_type")
    raises(lambda: ed.metrics.coco_eval(gt, os.path.join(GOLDEN, "coco", "nosuch.json")), "nosuch.json")
    raises(lambda: ed.metrics.coco_eval(gt, [{"image_id": 123456, "category_id": 1, "score": 1.0,
                                              "bbox": [0, 0, 1, 1]}], "bbox"), "123456")
    raises(lambda: ed.metrics.coco_eval(gt, 5), "file path")


finish()
