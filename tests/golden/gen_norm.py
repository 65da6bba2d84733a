"""Golden cases for batch_norm, group_norm, softmax and log_softmax
(tests/test_norm.c): float32 inputs; torch's float32 outputs and the
gradients of sum(y * gy) for a random gy; and the same computed by torch in
float64 from the same inputs (names ending in "64"). PyTorch's float32
results of these reductions can be 1e-4 away from the float64 truth (a
channel mean of 100, a saturated softmax's gradient), so the C test holds
its float32 results to the float64 truth at 1e-5 and to torch's float32
ones within torch's own error, and its float64 results to 1e-9."""
import torch
import torch.nn.functional as F

from golden_common import seeded, write


def randn(g, *shape):
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32)


def run(fn, inputs, gy, dtype):
    """fn(**inputs) in dtype; returns y, the gradients and the running
    stats after the call."""
    t = {}
    for k, v in inputs.items():
        if v is None:
            t[k] = None
        else:
            t[k] = v.to(dtype).clone()
            if not k.startswith("running"):
                t[k].requires_grad_()
    y = fn(**t)
    y.backward(gy.to(dtype))
    out = {"y": y}
    for k, name in (("x", "gx"), ("weight", "gweight"), ("bias", "gbias")):
        if t.get(k) is not None:
            out[name] = t[k].grad
    for k in ("running_mean", "running_var"):
        if t.get(k) is not None:
            out[k + "_out"] = t[k]
    return out


def case(args, fn, inputs, gy):
    tensors = {k: v for k, v in inputs.items() if v is not None}
    tensors["gy"] = gy
    tensors.update(run(fn, inputs, gy, torch.float32))
    tensors.update({k + "64": v for k, v in run(fn, inputs, gy, torch.float64).items()})
    return args, tensors


def batch_norm_case(g, shape, training, affine, running, momentum=0.1, eps=1e-5, offset=0.0, weight_only=False):
    C = shape[1]
    inp = {"x": randn(g, *shape) * 2 + offset, "weight": None, "bias": None, "running_mean": None, "running_var": None}
    if affine or weight_only:
        inp["weight"] = randn(g, C) * 0.5 + 1
    if affine:
        inp["bias"] = randn(g, C)
    if running:
        inp["running_mean"] = randn(g, C)
        inp["running_var"] = torch.rand(C, generator=g) + 0.5
    gy = randn(g, *shape)

    def fn(x, weight, bias, running_mean, running_var):
        return F.batch_norm(x, running_mean, running_var, weight, bias, training=training, momentum=momentum, eps=eps)
    return case({"op": "batch_norm", "training": training, "momentum": momentum, "eps": eps}, fn, inp, gy)


def group_norm_case(g, shape, groups, affine, eps=1e-5):
    C = shape[1]
    inp = {"x": randn(g, *shape) * 1.5 + 0.3, "weight": None, "bias": None}
    if affine:
        inp["weight"] = randn(g, C) * 0.5 + 1
        inp["bias"] = randn(g, C)
    gy = randn(g, *shape)

    def fn(x, weight, bias):
        return F.group_norm(x, groups, weight, bias, eps=eps)
    return case({"op": "group_norm", "groups": groups, "eps": eps}, fn, inp, gy)


def softmax_case(g, shape, dim, log, large):
    x = randn(g, *shape) * 3
    if large:
        x = x * 20 + 1000   # exp(x) overflows without the max shift
    gy = randn(g, *shape)

    def fn(x):
        return (F.log_softmax if log else F.softmax)(x, dim)
    return case({"op": "log_softmax" if log else "softmax", "dim": dim}, fn, {"x": x}, gy)


def main():
    g = seeded(1234)
    cases = [
        batch_norm_case(g, (8, 5), True, True, True, momentum=0.3, eps=1e-3),
        batch_norm_case(g, (2, 3, 4, 5), True, True, True, momentum=0.3, eps=1e-3),
        batch_norm_case(g, (2, 3, 4, 5), True, False, False),
        batch_norm_case(g, (1, 4, 3, 3), True, True, True, momentum=0.3, eps=1e-3),
        batch_norm_case(g, (4, 3, 7), True, False, True, weight_only=True),
        batch_norm_case(g, (4, 3, 3, 3), True, True, True, offset=100.0),
        batch_norm_case(g, (6, 4), True, False, True, momentum=0.3, eps=1e-3),
        batch_norm_case(g, (2, 3, 4, 5), False, True, True, momentum=0.3, eps=1e-3),
        batch_norm_case(g, (6, 4), False, False, True),
        batch_norm_case(g, (1, 3, 2, 2), False, True, True, eps=1e-3),
        group_norm_case(g, (2, 4, 3, 3), 1, True),
        group_norm_case(g, (2, 4, 3, 3), 2, True, eps=1e-3),
        group_norm_case(g, (2, 4, 3, 3), 4, True),
        group_norm_case(g, (2, 6, 5), 2, False),
        group_norm_case(g, (3, 4), 2, True),
        group_norm_case(g, (1, 6, 2, 2), 6, False),
    ]
    for log in (False, True):
        for shape in ((2, 3, 4), (2, 3, 4, 5)):
            for dim in (0, 1, -1):
                cases.append(softmax_case(g, shape, dim, log, False))
        cases.append(softmax_case(g, (2, 3, 4), -1, log, True))
        cases.append(softmax_case(g, (2, 5, 3, 2), 1, log, True))
        cases.append(softmax_case(g, (3, 4, 2, 2), -2, log, False))
    write("norm", cases)


if __name__ == "__main__":
    main()
