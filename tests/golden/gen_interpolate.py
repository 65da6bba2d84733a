"""Golden cases for interpolate and pixel_shuffle (tests/test_interpolate.c).
float32 in, torch's float32 out, and the input gradient of sum(y * gy) for
a random gy. interpolate: nearest and bilinear (align_corners both ways),
up- and down-scaling by size and by scale_factor (recompute_scale_factor
None, so the given scale maps coordinates), non-integer factors (1.7, 0.6),
and PyTorch's shortcuts (out == in, out == 2*in with a scale of 2.05).
pixel_shuffle: r = 2, 3, and more than 4 dims."""
import torch
import torch.nn.functional as F

from golden_common import seeded, write


def randn(g, *shape):
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32)


def interp_case(g, shape, mode, size=None, scale=None, ac=None):
    # Positive inputs (image-like) for bilinear: torch's float32 forward
    # rounds in its own order (1-2 ulp), which on outputs near zero from
    # cancelling signs would read as a large relative error. Weights and
    # gradients match torch's bit for bit, so gy stays signed.
    x = randn(g, *shape)
    if mode == "bilinear":
        x = x.abs() + 0.5
    x.requires_grad_()
    y = F.interpolate(x, size=size, scale_factor=scale, mode=mode, align_corners=ac)
    gy = randn(g, *y.shape)
    y.backward(gy)
    args = {"op": "interpolate", "mode": mode, "align_corners": bool(ac)}
    if size is not None:
        args["size"] = list(size)
    if scale is not None:
        args["scale_factor"] = list(scale) if isinstance(scale, (tuple, list)) else [scale, scale]
    return args, {"x": x, "gy": gy, "y": y, "gx": x.grad}


def shuffle_case(g, shape, r):
    x = randn(g, *shape).requires_grad_()
    y = F.pixel_shuffle(x, r)
    gy = randn(g, *y.shape)
    y.backward(gy)
    return {"op": "pixel_shuffle", "r": r}, {"x": x, "gy": gy, "y": y, "gx": x.grad}


def main():
    g = seeded(77)
    c = []
    for mode, acs in (("nearest", [None]), ("bilinear", [False, True])):
        for ac in acs:
            c.append(interp_case(g, (2, 2, 5, 7), mode, size=(11, 13), ac=ac))      # up by size
            c.append(interp_case(g, (1, 2, 9, 11), mode, size=(4, 5), ac=ac))       # down by size
            c.append(interp_case(g, (1, 2, 6, 7), mode, scale=1.7, ac=ac))          # non-integer up
            c.append(interp_case(g, (1, 2, 9, 10), mode, scale=0.6, ac=ac))         # non-integer down
            c.append(interp_case(g, (1, 2, 4, 5), mode, scale=(2.0, 3.0), ac=ac))
            c.append(interp_case(g, (1, 1, 10, 5), mode, scale=(2.05, 1.1), ac=ac))  # out = 2*in, out = in
            c.append(interp_case(g, (1, 2, 6, 5), mode, scale=(2.5, 1.3), ac=ac))
            c.append(interp_case(g, (1, 2, 5, 6), mode, size=(1, 3), ac=ac))        # out of 1
            c.append(interp_case(g, (1, 1, 3, 4), mode, size=(8, 9), ac=ac))
    c.append(shuffle_case(g, (2, 8, 3, 4), 2))
    c.append(shuffle_case(g, (1, 18, 2, 3), 3))
    c.append(shuffle_case(g, (2, 1, 4, 2, 3), 2))                                   # extra leading dim
    c.append(shuffle_case(g, (9, 2, 2), 3))                                         # 3-D
    write("interpolate", c)


if __name__ == "__main__":
    main()
