"""Golden cases for pooling (tests/test_pool.c): max_pool2d with indices,
max_unpool2d, avg_pool2d and adaptive_avg_pool2d. float32 in, torch's
float32 out, indices (int64), and the input gradient of sum(y * gy) for a
random gy. Corners: odd sizes, stride > kernel, padding, dilation 2,
ceil_mode with padding, ties (constant regions, where the index must be
torch's), NaN, unpool with output_size and after overlapping windows,
count_include_pad False, divisor_override, adaptive to non-divisible sizes."""
import torch
import torch.nn.functional as F

from golden_common import seeded, write


def randn(g, *shape):
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32)


def pair(v):
    return list(v) if isinstance(v, (tuple, list)) else [v, v]


def max_case(g, shape, k, s=None, p=0, d=1, ceil=False, x=None):
    x = (randn(g, *shape) if x is None else x).clone().requires_grad_()
    y, ind = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    gy = randn(g, *y.shape)
    y.backward(gy)
    args = {"op": "max_pool2d", "kernel_size": pair(k), "stride": pair(s or 0), "padding": pair(p),
            "dilation": pair(d), "ceil_mode": ceil}
    return args, {"x": x, "gy": gy, "y": y, "indices": ind, "gx": x.grad}


def unpool_case(g, xin, k, s=None, p=0, output_size=None, pool=None):
    """Pool xin with pool=(k, s, p) to get realistic indices, then unpool."""
    pk, ps, pp = pool or (k, s, p)
    pooled, ind = F.max_pool2d(xin, pk, ps, pp, return_indices=True)
    x = pooled.detach().clone().requires_grad_()
    y = F.max_unpool2d(x, ind, k, s, p, output_size=output_size)
    gy = randn(g, *y.shape)
    y.backward(gy)
    args = {"op": "max_unpool2d", "kernel_size": pair(k), "stride": pair(s or 0), "padding": pair(p)}
    if output_size is not None:
        args["output_size"] = list(output_size)
    return args, {"x": x, "indices": ind, "gy": gy, "y": y, "gx": x.grad}


def unpool_custom(g, shape, ind, k, s=None, p=0, output_size=None):
    x = randn(g, *shape).requires_grad_()
    y = F.max_unpool2d(x, ind, k, s, p, output_size=output_size)
    gy = randn(g, *y.shape)
    y.backward(gy)
    args = {"op": "max_unpool2d", "kernel_size": pair(k), "stride": pair(s or 0), "padding": pair(p)}
    if output_size is not None:
        args["output_size"] = list(output_size)
    return args, {"x": x, "indices": ind, "gy": gy, "y": y, "gx": x.grad}


def avg_case(g, shape, k, s=None, p=0, ceil=False, cip=True, div=None):
    x = randn(g, *shape).requires_grad_()
    y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=cip, divisor_override=div)
    gy = randn(g, *y.shape)
    y.backward(gy)
    args = {"op": "avg_pool2d", "kernel_size": pair(k), "stride": pair(s or 0), "padding": pair(p),
            "ceil_mode": ceil, "count_include_pad": cip, "divisor_override": div or 0}
    return args, {"x": x, "gy": gy, "y": y, "gx": x.grad}


def adaptive_case(g, shape, out):
    x = randn(g, *shape).requires_grad_()
    y = F.adaptive_avg_pool2d(x, out)
    gy = randn(g, *y.shape)
    y.backward(gy)
    return {"op": "adaptive_avg_pool2d", "output_size": list(out)}, {"x": x, "gy": gy, "y": y, "gx": x.grad}


def main():
    g = seeded(2024)
    c = []
    # max_pool2d
    c.append(max_case(g, (2, 3, 7, 9), 3, 2, 1))
    c.append(max_case(g, (1, 2, 9, 7), 2, 3))                       # stride > kernel
    c.append(max_case(g, (2, 2, 11, 10), 3, 1, 1, 2))               # dilation 2
    c.append(max_case(g, (1, 3, 8, 7), 3, 2, 1, ceil=True))         # ceil_mode with padding
    c.append(max_case(g, (1, 2, 6, 6), 2, 2, 1, ceil=True))         # last window rule
    c.append(max_case(g, (1, 2, 10, 9), 3, 3, 1, 2, ceil=True))     # ceil + dilation
    c.append(max_case(g, (1, 2, 5, 6), (2, 3), (1, 2), (1, 0), (2, 1)))
    c.append(max_case(g, (3, 6, 5), 2))                             # 3-D input
    ties = torch.randint(0, 3, (2, 2, 8, 8), generator=g).float()
    c.append(max_case(g, None, 3, 2, 1, ceil=True, x=ties))         # ties in overlapping windows
    c.append(max_case(g, None, 3, 1, 1, x=torch.zeros(1, 1, 5, 5)))  # constant: every index is torch's
    c.append(max_case(g, None, 2, 1, 1, 2, x=torch.full((1, 1, 6, 5), -1.0)))
    nan = randn(g, 1, 2, 4, 5)
    nan[0, 0, 1, 1] = float("nan")
    nan[0, 1, 0, 0] = float("nan")
    nan[0, 1, 1, 1] = float("nan")                                  # two NaNs in a window: the last wins
    c.append(max_case(g, None, 2, 1, x=nan))
    # max_unpool2d
    c.append(unpool_case(g, randn(g, 1, 2, 6, 6), 2))
    c.append(unpool_case(g, randn(g, 1, 2, 7, 7), 2, output_size=(7, 7)))
    c.append(unpool_case(g, randn(g, 2, 2, 9, 9), 3, 2, 1))        # overlapping windows: repeated indices
    c.append(unpool_case(g, randn(g, 1, 2, 8, 9), 3, 2, 1, output_size=(8, 9)))
    c.append(unpool_case(g, randn(g, 2, 7, 7), 3, 3, 0, output_size=(8, 7), pool=(3, 3, 0)))
    ind = torch.tensor([[[[0, 15], [4, 7]], [[3, 3], [11, 2]]]])   # 4x4 output, smaller than the default 6x6
    c.append(unpool_custom(g, (1, 2, 2, 2), ind, 3, 3, output_size=(4, 4)))
    # avg_pool2d
    c.append(avg_case(g, (2, 3, 7, 9), 3, 2, 1))
    c.append(avg_case(g, (2, 3, 7, 9), 3, 2, 1, cip=False))
    c.append(avg_case(g, (1, 2, 8, 7), 3, 2, 1, ceil=True))
    c.append(avg_case(g, (1, 2, 8, 7), 3, 2, 1, ceil=True, cip=False))
    c.append(avg_case(g, (1, 2, 7, 7), 3, 2, 1, div=5))
    c.append(avg_case(g, (1, 2, 7, 8), 3, 2, 1, ceil=True, div=4))
    c.append(avg_case(g, (1, 2, 9, 8), 2, 3))                       # stride > kernel
    c.append(avg_case(g, (1, 1, 6, 6), 4, 3, ceil=True))            # window past the input, no padding
    c.append(avg_case(g, (1, 2, 5, 7), (3, 2), (2, 1), (1, 0), ceil=True, cip=False))
    c.append(avg_case(g, (3, 5, 6), 2))                             # 3-D input
    # adaptive_avg_pool2d
    c.append(adaptive_case(g, (2, 3, 5, 7), (3, 2)))
    c.append(adaptive_case(g, (1, 2, 8, 8), (4, 4)))
    c.append(adaptive_case(g, (1, 2, 5, 7), (7, 9)))                # larger than the input
    c.append(adaptive_case(g, (1, 2, 6, 10), (1, 1)))
    c.append(adaptive_case(g, (3, 7, 5), (2, 3)))                   # 3-D input
    write("pool", c)


if __name__ == "__main__":
    main()
