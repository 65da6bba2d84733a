"""Golden data for conv2d and conv_transpose2d (tests/test_conv.c).

Each case stores x, w, b (when there is a bias), the output y, a random
upstream gradient gy and torch's gradients gx, gw, gb of sum(y * gy).
Arguments (JSON): op ("conv2d" | "conv_transpose2d"), stride, padding (a
pair, or "same" / "valid"), dilation, groups, output_padding, bias.
Inputs are 3-D when the case is unbatched."""
import torch
import torch.nn.functional as F

from golden_common import seeded, write


def case(op, x_shape, w_shape, bias=True, seed=0, **kw):
    g = seeded(seed)
    x = torch.randn(*x_shape, generator=g).requires_grad_()
    w = (torch.randn(*w_shape, generator=g) * 0.5).requires_grad_()
    cout = w_shape[0] if op == "conv2d" else w_shape[1] * kw.get("groups", 1)
    b = torch.randn(cout, generator=g).requires_grad_() if bias else None
    if op == "conv2d":
        y = F.conv2d(x, w, b, **kw)
    else:
        y = F.conv_transpose2d(x, w, b, **kw)
    gy = torch.randn(y.shape, generator=g)
    y.backward(gy)
    tensors = {"x": x, "w": w, "y": y, "gy": gy, "gw": w.grad}
    if x.grad is not None:
        tensors["gx"] = x.grad
    else:   # N = 0: torch leaves no gradient for an empty input
        tensors["gx"] = torch.zeros_like(x)
    if bias:
        tensors["b"] = b
        tensors["gb"] = b.grad
    args = {"op": op, "bias": bias}
    for k, v in kw.items():
        args[k] = list(v) if isinstance(v, tuple) else v
    return args, tensors


def main():
    c2 = "conv2d"
    ct = "conv_transpose2d"
    cases = [
        # conv2d
        case(c2, (2, 3, 7, 9), (4, 3, 3, 3), padding=1, seed=1),                       # odd sizes
        case(c2, (2, 2, 11, 10), (3, 2, 2, 2), stride=3, seed=2),                      # stride > kernel
        case(c2, (1, 3, 9, 8), (2, 3, 3, 3), padding=2, dilation=2, seed=3),           # dilation 2
        case(c2, (2, 4, 9, 9), (6, 2, 3, 3), stride=2, padding=1, groups=2, seed=4),   # groups 2
        case(c2, (1, 4, 8, 7), (8, 1, 5, 5), padding=2, groups=4, seed=5),             # depthwise x2
        case(c2, (2, 4, 6, 6), (4, 1, 3, 3), padding=1, groups=4, bias=False, seed=6), # depthwise
        case(c2, (1, 3, 7, 8), (2, 3, 4, 2), padding="same", dilation=(1, 3), seed=7), # same, even kernel
        case(c2, (1, 2, 6, 5), (3, 2, 2, 2), padding="same", dilation=2, seed=8),      # same, dilation 2
        case(c2, (2, 3, 7, 9), (2, 3, 3, 5), padding="valid", bias=False, seed=9),     # valid
        case(c2, (1, 3, 8, 7), (4, 3, 3, 3), stride=(2, 1), padding=(0, 2), bias=False, seed=10),
        case(c2, (2, 16, 6, 6), (8, 16, 1, 1), seed=11),                               # 1x1
        case(c2, (1, 5, 7, 6), (3, 5, 1, 1), stride=2, seed=12),                       # 1x1 strided
        case(c2, (0, 3, 7, 7), (4, 3, 3, 3), padding=1, seed=13),                      # N = 0
        case(c2, (1, 2, 3, 4), (3, 2, 5, 6), padding=1, seed=14),                      # kernel = padded input
        case(c2, (1, 2, 4, 5), (2, 2, 3, 3), padding=3, stride=2, seed=15),            # padding > kernel / 2
        case(c2, (3, 5, 6), (2, 3, 3, 3), padding=1, seed=16),                         # unbatched
        case(c2, (1, 6, 5, 5), (6, 2, 3, 3), padding="same", groups=3, dilation=2, seed=17),
        # conv_transpose2d
        case(ct, (2, 4, 5, 6), (4, 3, 3, 3), stride=2, padding=1, output_padding=1, seed=21),
        case(ct, (1, 3, 4, 4), (3, 2, 2, 2), stride=3, output_padding=2, seed=22),     # stride 3, op 2
        case(ct, (1, 3, 4, 5), (3, 2, 3, 3), stride=3, padding=1, output_padding=1, seed=23),
        case(ct, (2, 2, 5, 4), (2, 3, 3, 3), padding=1, dilation=2, output_padding=1, seed=24),  # op < dilation
        case(ct, (2, 4, 4, 4), (4, 3, 3, 3), stride=2, groups=2, seed=25),             # groups 2
        case(ct, (1, 4, 5, 5), (4, 1, 3, 3), stride=2, padding=1, output_padding=1, groups=4, seed=26),  # depthwise
        case(ct, (1, 3, 4, 5), (3, 2, 3, 3), stride=2, padding=2, dilation=2, seed=27),  # dilation 2
        case(ct, (2, 5, 4, 3), (5, 4, 1, 1), bias=False, seed=28),                     # 1x1
        case(ct, (1, 3, 4, 4), (3, 2, 4, 4), stride=2, padding=1, bias=False, seed=29),  # k4 s2 p1 upsampling
        case(ct, (1, 2, 4, 5), (2, 3, 3, 2), stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
             dilation=(1, 2), seed=30),
        case(ct, (0, 3, 4, 4), (3, 2, 3, 3), stride=2, seed=31),                       # N = 0
        case(ct, (1, 2, 5, 5), (2, 2, 3, 3), padding=3, seed=32),                      # output smaller than input
        case(ct, (3, 4, 5), (3, 2, 3, 3), stride=2, padding=1, output_padding=1, seed=33),  # unbatched
        case(ct, (2, 2, 3, 3), (2, 2, 2, 2), stride=2, bias=True, seed=34),            # k2 s2 (direct path)
    ]
    write("conv", cases)


if __name__ == "__main__":
    main()
