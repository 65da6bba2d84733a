"""Golden cases for tests/test_shape.c: sum, mean, cat, pad, center_crop,
linear, matmul. Each case holds float32 inputs, the upstream gradient gy,
torch's float32 output y and the gradient of every input (g_<name>).
Run: /path/to/python tests/golden/gen_shape.py"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_common  # noqa: E402

g = golden_common.seeded(20240607)


def randn(*shape):
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32)


def run(args, fn, inputs):
    """inputs: dict name -> tensor (all differentiable). Returns a case."""
    leaves = {k: v.clone().requires_grad_(True) for k, v in inputs.items()}
    y = fn(**leaves)
    gy = randn(*y.shape)
    y.backward(gy)
    tensors = dict(inputs)
    tensors["y"] = y.detach()
    tensors["gy"] = gy
    for k, v in leaves.items():
        tensors["g_" + k] = v.grad if v.grad is not None else torch.zeros_like(v)
    return (args, tensors)


def center_crop(x, h, w):
    # torchvision.transforms.functional.center_crop for h <= H, w <= W
    H, W = x.shape[-2], x.shape[-1]
    top, left = int(round((H - h) / 2.0)), int(round((W - w) / 2.0))
    return x[..., top:top + h, left:left + w]


cases = []

# ---- sum / mean on a 4-D tensor ------------------------------------------
for op in ("sum", "mean"):
    f = torch.sum if op == "sum" else torch.mean
    for dims in (None, [0], [1, 3], [-1], [0, 2, 3], [-4, -2], [3, 0, 1, 2]):
        for keepdim in (0, 1):
            d = tuple(dims) if dims is not None else ()
            cases.append(run({"op": op, "dims": dims, "keepdim": keepdim},
                             lambda x, d=d, k=keepdim, f=f: f(x, dim=d, keepdim=bool(k)),
                             {"x": randn(2, 3, 4, 5)}))
    # a reduction over an empty dim: sum 0, mean NaN
    cases.append(run({"op": op, "dims": [1], "keepdim": 0},
                     lambda x, f=f: f(x, dim=(1,)), {"x": randn(2, 0, 3)}))

# ---- cat: three inputs of different sizes in the cat dim -------------------
for dim, shapes in ((0, [(1, 3, 4), (2, 3, 4), (3, 3, 4)]),
                    (1, [(2, 2, 4), (2, 1, 4), (2, 3, 4)]),
                    (-1, [(2, 3, 3), (2, 3, 1), (2, 3, 2)]),
                    (1, [(2, 2, 3), (2, 0, 3), (2, 4, 3)])):
    names = [f"x{i}" for i in range(len(shapes))]
    cases.append(run({"op": "cat", "dim": dim, "n": len(shapes)},
                     lambda dim=dim, **kw: torch.cat([kw[n] for n in sorted(kw)], dim),
                     {n: randn(*s) for n, s in zip(names, shapes)}))

# ---- pad ---------------------------------------------------------------------
pads = [
    ("constant", (2, 3, 5, 6), [1, 2], 0.0),
    ("constant", (2, 3, 5, 6), [1, 0, 2, 1], -1.5),
    ("constant", (2, 3, 5, 6), [-1, -2], 0.0),
    ("constant", (2, 3, 5, 6), [-1, -2, -2, 0], 0.0),
    ("constant", (2, 3, 5, 6), [2, -1, -2, 3], 0.25),
    ("constant", (2, 3, 5, 6), [1, 0, 0, 1, 1, 1, 0, 2], 0.5),
    ("constant", (2, 3, 5, 6), [-6, 0], 0.0),
    ("reflect", (2, 3, 7), [2, 1], 0.0),
    ("reflect", (2, 3, 7), [-1, 3], 0.0),
    ("reflect", (2, 3, 5, 6), [2, 1, 0, 3], 0.0),
    ("reflect", (2, 3, 5, 6), [-1, 4, 3, -2], 0.0),
    ("reflect", (3, 4, 5), [4, 2, 3, 1], 0.0),
    ("replicate", (2, 3, 7), [3, 1], 0.0),
    ("replicate", (2, 3, 7), [-2, 4], 0.0),
    ("replicate", (2, 3, 5, 6), [2, 1, 0, 3], 0.0),
    ("replicate", (2, 3, 5, 6), [7, -2, -1, 6], 0.0),
    ("replicate", (3, 4, 5), [0, 2, 4, 1], 0.0),
]
for mode, shape, pad, value in pads:
    cases.append(run({"op": "pad", "mode": mode, "pad": pad, "value": value},
                     lambda x, p=tuple(pad), m=mode, v=value: F.pad(x, p, mode=m, value=v) if m == "constant"
                     else F.pad(x, p, mode=m),
                     {"x": randn(*shape)}))

# ---- center_crop ------------------------------------------------------------
for shape, h, w in (((2, 3, 9, 8), 4, 5), ((1, 1, 7, 7), 6, 6), ((2, 10, 11), 3, 4),
                    ((2, 3, 8, 9), 3, 2), ((4, 5), 4, 5), ((1, 2, 12, 6), 7, 1)):
    cases.append(run({"op": "center_crop", "h": h, "w": w},
                     lambda x, h=h, w=w: center_crop(x, h, w), {"x": randn(*shape)}))

# ---- linear -----------------------------------------------------------------
for xs, out, bias in (((5, 7), 4, True), ((5, 7), 4, False), ((2, 3, 7), 6, True),
                      ((2, 3, 7), 6, False), ((7,), 3, True), ((3, 1, 2, 9), 5, True)):
    inp = {"x": randn(*xs), "weight": randn(out, xs[-1])}
    if bias:
        inp["bias"] = randn(out)
    cases.append(run({"op": "linear", "bias": int(bias)},
                     lambda x, weight, bias=None: F.linear(x, weight, bias), inp))

# ---- matmul -------------------------------------------------------------------
for sa, sb in (((5, 6), (6, 7)), ((1, 9), (9, 1)), ((3, 4, 5), (3, 5, 2)), ((2, 2, 3, 4), (2, 2, 4, 5))):
    cases.append(run({"op": "matmul"}, lambda a, b: torch.matmul(a, b), {"a": randn(*sa), "b": randn(*sb)}))

if __name__ == "__main__":
    golden_common.write("shape", cases)
