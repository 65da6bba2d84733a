"""Golden cases for degradations and augmentation (tests/test_augment.c).

imresize: a numpy port of MATLAB's imresize(..., 'bicubic') written here
(contributions() and resizeAlongDim of imresize.m: Keys cubic a = -0.5,
kernel stretched by 1/scale when shrinking with antialiasing, weights
normalised per output pixel, indices mirrored through [1..n, n..1], the dim
with the smaller scale first), computed in float64 from float32 inputs. It
is checked below on values known in closed form: the x2 antialiased
downscale taps and the x2 upscale taps every MATLAB-compatible port
reproduces, constants staying constant and ramps staying ramps.
sr: a 50 x 50 crop of Set5's baby_GT.png (never the whole image) and its
x2, x3, x4 low-resolution versions (modcrop to a multiple of the scale, then
imresize 1/scale).
ycbcr: MATLAB's rgb2ycbcr / ycbcr2rgb formulas on [0, 1] images.
jitter: torchvision.transforms.functional's adjust_brightness / contrast /
saturation, re-written here in torch (torchvision is not installed) from
its _blend and rgb_to_grayscale, in float32 as torchvision computes them.
geometry: torch.rot90 and torch.flip on int64 maps; F.interpolate bilinear
for images and nearest for label maps."""
import os

import numpy as np
import torch
import torch.nn.functional as F

from golden_common import seeded, write

DATA = os.environ.get("ED_DATA_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                                                  "shared", "data"))


# ---- MATLAB imresize, numpy port -----------------------------------------------

def cubic(x):
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


def contributions(in_len, out_len, scale, antialias):
    if scale < 1 and antialias:
        h, width = (lambda d: scale * cubic(scale * d)), 4.0 / scale
    else:
        h, width = cubic, 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    p = int(np.ceil(width)) + 2
    ind = left[:, None] + np.arange(p, dtype=np.float64)[None, :]
    w = h(u[:, None] - ind)
    w = w / w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(1, in_len + 1), np.arange(in_len, 0, -1)])
    ind = aux[np.mod(ind.astype(np.int64) - 1, aux.size)] - 1          # 0-based
    keep = np.any(w != 0, axis=0)
    return w[:, keep], ind[:, keep]


def resize_dim(a, dim, w, ind):
    a = np.moveaxis(a, dim, 0)
    out = np.einsum("ij,ij...->i...", w, a[ind])
    return np.moveaxis(out, 0, dim)


def imresize(img, scale=None, size=None, antialias=True):
    """img (..., H, W) float64. scale: one number (size = ceil(scale * in));
    size: (out_h, out_w) (scale = out / in per dim)."""
    h, w = img.shape[-2:]
    if size is None:
        size = (int(np.ceil(scale * h)), int(np.ceil(scale * w)))
        sc = (scale, scale)
    else:
        sc = (size[0] / h, size[1] / w)
    out = img.astype(np.float64)
    for k in np.argsort(sc, kind="stable"):
        dim = out.ndim - 2 + k
        wt, ind = contributions(out.shape[dim], size[k], sc[k], antialias)
        out = resize_dim(out, dim, wt, ind)
    return out


def self_check():
    # x2 antialiased downscale: the 8 taps 0.5 * cubic((d) / 2), d = +-0.5 .. +-3.5.
    w, _ = contributions(16, 8, 0.5, True)
    taps = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]
    row = w[3][w[3] != 0]
    assert np.allclose(row, taps, atol=1e-15), row
    # x2 upscale without a stretched kernel: cubic at 1.75, 0.75, 0.25, 1.25.
    w, ind = contributions(8, 16, 2.0, True)
    assert np.allclose(w[6][w[6] != 0], [-0.0234375, 0.2265625, 0.8671875, -0.0703125], atol=1e-15), w[6]
    assert list(ind[6][w[6] != 0]) == [1, 2, 3, 4], ind[6]
    # mirrored edges: output 0 of a x2 upscale reads input 1, 0, 0, 1, 2 (0-based).
    w, ind = contributions(8, 16, 2.0, True)
    assert list(ind[0][:4]) == [1, 0, 0, 1] or list(ind[0][:5]) == [1, 0, 0, 1, 2], ind[0]
    # constants stay constant; a linear ramp stays linear away from the edges.
    c = imresize(np.full((1, 7, 9), 0.3), size=(5, 13))
    assert np.allclose(c, 0.3, atol=1e-14)
    ramp = np.tile(np.arange(16, dtype=np.float64), (1, 4, 1))
    r = imresize(ramp, scale=2.0)[0, 0]
    expect = (np.arange(1, 33) - 0.5) / 2 - 0.5
    assert np.allclose(r[4:-4], expect[4:-4], atol=1e-12), r


# ---- cases -----------------------------------------------------------------------

def rand(g, *shape):
    return torch.rand(tuple(shape), generator=g, dtype=torch.float32)


def resize_case(g, shape, scale=None, size=None, antialias=True):
    x = rand(g, *shape)
    y = imresize(x.double().numpy(), scale=scale, size=size, antialias=antialias)
    args = {"op": "imresize", "antialias": antialias}
    if size is not None:
        args["size"] = list(size)
    else:
        args["scale"] = scale
    return args, {"x": x, "y": torch.from_numpy(y).float()}


def set5_case():
    from PIL import Image
    img = np.asarray(Image.open(os.path.join(DATA, "sr", "set5", "baby_GT.png")).convert("RGB"))
    crop = img[200:250, 230:280].astype(np.float32) / 255.0          # 50 x 50, HWC
    x = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))
    t = {"x": x}
    for s in (2, 3, 4):
        hr = x.double().numpy()
        hr = hr[:, :hr.shape[1] - hr.shape[1] % s, :hr.shape[2] - hr.shape[2] % s]
        t[f"lr{s}"] = torch.from_numpy(imresize(hr, scale=1.0 / s)).float()
    return {"op": "sr", "image": "set5/baby_GT.png[200:250, 230:280]"}, t


M = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]])
OFF = np.array([16.0, 128.0, 128.0])


def ycbcr_case(g):
    x = rand(g, 3, 8, 9)
    v = x.double().numpy()
    ycc = (np.einsum("ij,jhw->ihw", M, v) + OFF[:, None, None]) / 255.0
    z = rand(g, 3, 5, 4) * 0.8 + 0.1                                  # a YCbCr image to invert
    rgb = np.einsum("ij,jhw->ihw", np.linalg.inv(M), z.double().numpy() * 255.0 - OFF[:, None, None])
    t = {"x": x, "ycbcr": torch.from_numpy(ycc).float(), "y": torch.from_numpy(ycc[:1]).float(),
         "z": z, "rgb": torch.from_numpy(rgb).float()}
    return {"op": "ycbcr"}, t


def gray(img):
    if img.shape[-3] == 1:
        return img
    r, g, b = img.unbind(dim=-3)
    return (0.2989 * r + 0.587 * g + 0.114 * b).to(img.dtype).unsqueeze(dim=-3)


def blend(a, b, ratio):
    return (ratio * a + (1.0 - ratio) * b).clamp(0, 1.0).to(a.dtype)


def jitter_case(g, c, kind, f):
    x = rand(g, c, 6, 7)
    if kind == "brightness":
        y = blend(x, torch.zeros_like(x), f)
    elif kind == "contrast":
        mean = torch.mean(gray(x).to(torch.float32), dim=(-3, -2, -1), keepdim=True)
        y = blend(x, mean, f)
    else:
        y = x.clone() if c == 1 else blend(x, gray(x), f)
    return {"op": "jitter", "kind": kind, "factor": f}, {"x": x, "y": y}


def geometry_case(g, kind, k=0):
    x = torch.randint(0, 100, (2, 3, 5), generator=g, dtype=torch.int64)
    y = torch.rot90(x, k, dims=(-2, -1)) if kind == "rot90" else torch.flip(x, dims=(-1,) if k else (-2,))
    return {"op": kind, "k": k}, {"x": x, "y": y}


def resize_aug_case(g, shape, size):
    x = rand(g, *shape)
    lab = torch.randint(0, 12, shape[-2:], generator=g, dtype=torch.int64)
    y = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False)[0]
    ly = F.interpolate(lab[None, None].double(), size=size, mode="nearest")[0, 0].long()
    return {"op": "aug_resize", "size": list(size)}, {"x": x, "y": y, "labels": lab, "labels_y": ly}


def main():
    self_check()
    g = seeded(5150)
    c = []
    c.append(resize_case(g, (3, 11, 9), scale=0.5))
    c.append(resize_case(g, (1, 7, 5), size=(4, 12)))                 # shrink H, grow W
    c.append(resize_case(g, (1, 7, 5), size=(4, 12), antialias=False))
    c.append(resize_case(g, (2, 5, 6), scale=2.0))
    c.append(resize_case(g, (1, 4, 5), scale=3.0))
    c.append(resize_case(g, (1, 1, 1), size=(3, 4)))                  # one pixel
    c.append(resize_case(g, (1, 2, 3), scale=0.25))                   # taps mirror past 2n
    c.append(resize_case(g, (1, 13, 17), size=(5, 6)))                # non-integer shrink
    c.append(resize_case(g, (1, 12, 9), scale=1.0 / 3))
    c.append(resize_case(g, (2, 10, 8), scale=0.7))
    c.append(resize_case(g, (1, 6, 6), size=(16, 16)))                # x 8/3
    c.append(resize_case(g, (1, 9, 10), scale=0.3, antialias=False))
    c.append(resize_case(g, (2, 3, 16, 12), scale=0.25))              # leading dims
    c.append(set5_case())
    c.append(ycbcr_case(g))
    for kind, f in (("brightness", 1.3), ("brightness", 0.4), ("contrast", 1.6), ("contrast", 0.3),
                    ("saturation", 1.8), ("saturation", 0.2)):
        c.append(jitter_case(g, 3, kind, f))
    c.append(jitter_case(g, 1, "contrast", 1.4))
    c.append(jitter_case(g, 1, "saturation", 0.5))
    for k in (1, 2, 3, -1, 5):
        c.append(geometry_case(g, "rot90", k))
    c.append(geometry_case(g, "flip", 1))
    c.append(geometry_case(g, "flip", 0))
    c.append(resize_aug_case(g, (3, 7, 9), (11, 5)))
    c.append(resize_aug_case(g, (2, 8, 6), (16, 12)))                 # out = 2 * in shortcut
    write("augment", c)


if __name__ == "__main__":
    main()
