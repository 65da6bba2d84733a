"""Golden cases for the elementwise ops of src/ops/elementwise.c
(tests/test_activation.c): add/sub/mul with broadcasting, relu,
leaky_relu, sigmoid, tanh and scale. float32 inputs; torch's float32
outputs and gradients of sum(y * gy) for a random gy; and the same computed
in float64 from the same inputs (names ending in "64"): torch's float32
sigmoid and tanh gradients are 2e-5 off the truth where 1 - y is small,
so the C test holds float32 results to the float64 truth and to torch's
float32 ones within twice torch's own error (at least 1e-5)."""
import torch
import torch.nn.functional as F

from golden_common import seeded, write


def randn(g, *shape):
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32)


BINARY = {"add": torch.add, "sub": torch.sub, "mul": torch.mul}


def with_f64(fn, inputs, gy, names):
    """y and the gradients of sum(y * gy), in float32 and (suffix "64") in
    float64 from the same values."""
    out = {}
    for dt, suffix in ((torch.float32, ""), (torch.float64, "64")):
        xs = [v.detach().to(dt).requires_grad_() for v in inputs]
        y = fn(*xs)
        y.backward(gy.to(dt))
        out["y" + suffix] = y
        for n, v in zip(names, xs):
            out[n + suffix] = v.grad
    return out


def binary_case(g, op, sa, sb):
    a = randn(g, *sa)
    b = randn(g, *sb)
    gy = randn(g, *torch.broadcast_shapes(a.shape, b.shape))
    t = {"a": a, "b": b, "gy": gy}
    t.update(with_f64(BINARY[op], [a, b], gy, ["ga", "gb"]))
    return {"op": op}, t


def unary_case(g, op, shape, alpha=0.0, big=False):
    x = randn(g, *shape) * (12 if big else 2)
    flat = x.view(-1)
    flat[:3] = 0.0   # the kink: relu'(0) = 0, leaky_relu'(0) = slope, as PyTorch

    def fn(x):
        if op == "relu":
            return F.relu(x)
        if op == "leaky_relu":
            return F.leaky_relu(x, alpha)
        if op == "sigmoid":
            return torch.sigmoid(x)
        if op == "tanh":
            return torch.tanh(x)
        return x * alpha
    gy = randn(g, *x.shape)
    t = {"x": x, "gy": gy}
    t.update(with_f64(fn, [x], gy, ["gx"]))
    return {"op": op, "alpha": alpha}, t


def main():
    g = seeded(4321)
    cases = []
    shapes = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (3, 1)), ((4,), (2, 3, 4)), ((2, 1, 4), (1, 3, 1)),
              ((1,), (2, 3)), ((3, 1, 2, 1), (5, 1, 1)), ((2, 3), ())]
    for op in BINARY:
        for sa, sb in shapes:
            cases.append(binary_case(g, op, sa, sb))
    for op, alpha in (("relu", 0.0), ("leaky_relu", 0.01), ("leaky_relu", 0.2), ("sigmoid", 0.0),
                      ("tanh", 0.0), ("scale", -1.5), ("scale", 0.25)):
        cases.append(unary_case(g, op, (2, 3, 4, 5), alpha))
        cases.append(unary_case(g, op, (7,), alpha, big=True))   # saturation: |x| up to ~40
    write("activation", cases)


if __name__ == "__main__":
    main()
