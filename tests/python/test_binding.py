"""The Python binding against numpy references (no torch needed): tensors,
autograd, ops called as torch.nn.functional, errors as ed.Error."""

import numpy as np

import encdec as ed

from harness import case, finish, raises  # noqa: E402  (tests/python/harness.py)


rng = np.random.default_rng(0)


def conv2d_ref(x, w, b, stride, pad):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    y = np.zeros((n, o, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            y[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return y + b[None, :, None, None]


@case
def tensor_roundtrip():
    for dt in (np.float32, np.float64, np.int64, np.uint8):
        a = (rng.random((2, 3, 4)) * 10).astype(dt)
        t = ed.tensor(a)
        assert t.shape == (2, 3, 4) and t.dtype == np.dtype(dt)
        assert np.array_equal(t.numpy(), a)
    assert ed.tensor(np.zeros((0, 3), np.float32)).shape == (0, 3)
    raises(lambda: ed.tensor(np.zeros(3, np.complex64)), "unsupported dtype")
    a = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]   # non-contiguous input is copied correctly
    assert np.array_equal(ed.tensor(a).numpy(), a)


@case
def conv_forward_and_grad():
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    y = ed.conv2d(ed.tensor(x), ed.tensor(w), ed.tensor(b), stride=2, padding=1)
    np.testing.assert_allclose(y.numpy(), conv2d_ref(x, w, b, 2, 1), rtol=1e-4, atol=1e-4)
    # gradient of sum(y) w.r.t. x by finite differences in float64
    xd = ed.tensor(x.astype(np.float64), requires_grad=True)
    ed.sum(ed.conv2d(xd, ed.tensor(w.astype(np.float64)), None, stride=2, padding=1)).backward()
    g = xd.grad.numpy()
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (1, 2, 3, 4), (0, 1, 6, 5)]:
        xp, xm = x.astype(np.float64).copy(), x.astype(np.float64).copy()
        xp[idx] += eps
        xm[idx] -= eps
        num = (conv2d_ref(xp, w, np.zeros(4), 2, 1).sum() - conv2d_ref(xm, w, np.zeros(4), 2, 1).sum()) / (2 * eps)
        assert abs(num - g[idx]) < 1e-5 * max(1, abs(num)), (idx, num, g[idx])


@case
def pool_unpool_indices():
    x = rng.standard_normal((1, 2, 4, 6)).astype(np.float32)
    y, idx = ed.max_pool2d(ed.tensor(x), 2, return_indices=True)
    yn, ix = y.numpy(), idx.numpy()
    assert ix.dtype == np.int64 and yn.shape == (1, 2, 2, 3)
    for c in range(2):
        for i in range(2):
            for j in range(3):
                win = x[0, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2]
                a = np.unravel_index(np.argmax(win), (2, 2))
                assert ix[0, c, i, j] == (2 * i + a[0]) * 6 + (2 * j + a[1])
                assert yn[0, c, i, j] == win.max()
    u = ed.max_unpool2d(y, idx, 2).numpy()
    assert u.shape == x.shape and np.count_nonzero(u) == yn.size
    assert np.array_equal(u.reshape(2, -1)[0][ix[0, 0].ravel()], yn[0, 0].ravel())
    assert ed.max_pool2d(ed.tensor(x), 2).shape == (1, 2, 2, 3)   # without indices: one tensor


@case
def nonscalar_backward_and_accumulation():
    x = ed.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = ed.tanh(x)
    g = rng.standard_normal((3, 4))
    raises(lambda: y.backward(), "scalar")
    y.backward(g)
    y2 = ed.tanh(x)
    y2.backward(g)
    want = 2 * g * (1 - np.tanh(x.numpy()) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-12)
    x.zero_grad()
    assert x.grad is None


@case
def no_grad_scope():
    x = ed.tensor(np.ones(3), requires_grad=True)
    with ed.no_grad():
        y = ed.relu(x)
    assert not y.requires_grad


@case
def interpolate_and_losses():
    x = rng.random((1, 1, 3, 3)).astype(np.float32)
    y = ed.interpolate(ed.tensor(x), scale_factor=2, mode="nearest").numpy()
    np.testing.assert_array_equal(y, x.repeat(2, 2).repeat(2, 3))
    yb = ed.interpolate(ed.tensor(x), size=(5, 5), mode="bilinear", align_corners=True).numpy()
    np.testing.assert_allclose(yb[0, 0, ::2, ::2], x[0, 0], rtol=1e-6)
    logits = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    target = np.array([[[0, 1], [2, -100]], [[1, 1], [0, 2]]], dtype=np.int64)
    lp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    mask = target != -100
    t = np.where(mask, target, 0)
    nll = -np.take_along_axis(lp, t[:, None], 1)[:, 0]
    want = nll[mask].mean()
    got = ed.cross_entropy(ed.tensor(logits), ed.tensor(target)).item()
    assert abs(got - want) < 1e-5 * abs(want), (got, want)
    raises(lambda: ed.cross_entropy(ed.tensor(logits), ed.tensor(np.full((2, 2, 2), 7, np.int64))), "7")
    a, b = rng.random((4, 5)).astype(np.float32), rng.random((4, 5)).astype(np.float32)
    assert abs(ed.mse_loss(a, b).item() - ((a - b) ** 2).mean()) < 1e-6


@case
def errors_never_crash():
    x = ed.tensor(np.zeros((1, 3, 8, 8), np.float32))
    w = ed.tensor(np.zeros((4, 2, 3, 3), np.float32))
    raises(lambda: ed.conv2d(x, w), "conv2d")                      # channel mismatch
    raises(lambda: ed.conv2d(x, ed.tensor(np.zeros((4, 3, 3, 3), np.float32)), stride=0), "stride")
    raises(lambda: ed.conv2d(x, w, padding="full"), "same")
    raises(lambda: ed.max_pool2d(x, 0), "kernel")
    raises(lambda: ed.max_pool2d(ed.tensor(np.zeros((2, 2), np.float32)), 2))
    raises(lambda: ed.conv2d("abc", w), "expected an encdec.Tensor")
    raises(lambda: ed.add(ed.tensor(np.zeros(3, np.float32)), ed.tensor(np.zeros(4, np.float32))), "broadcast")
    raises(lambda: ed.max_unpool2d(ed.tensor(np.ones((1, 1, 2, 2), np.float32)),
                                   ed.tensor(np.full((1, 1, 2, 2), 99, np.int64)), 2), "99")
    raises(lambda: ed.mse_loss(np.array([np.nan], np.float32), np.zeros(1, np.float32)), "NaN")
    raises(lambda: ed.interpolate(x, size=4, mode="bicubic"), "mode")
    raises(lambda: ed.conv2d(x, w, stride=2 ** 40), "out of range")     # never silently truncated to 32 bits
    raises(lambda: ed.relu(None), "required")
    raises(lambda: ed.mse_loss(x, None), "required")
    raises(lambda: ed.conv2d(x, None), "weight")


@case
def numpy_inputs_directly():
    # Temporaries made from arrays must live through the C call.
    import gc
    gc.disable()
    try:
        for _ in range(50):
            a = rng.standard_normal((2, 3, 6, 6)).astype(np.float32)
            np.testing.assert_array_equal(ed.relu(a).numpy(), np.maximum(a, 0))
            y, i = ed.max_pool2d(a, 2, return_indices=True)
            assert y.shape == (2, 3, 3, 3)
            np.testing.assert_allclose(ed.batch_norm(a, None, None, np.ones(3, np.float32), np.zeros(3, np.float32),
                                                     training=True).numpy().mean(), 0, atol=1e-5)
            np.testing.assert_allclose((ed.tensor(a) * 2.0).numpy(), a * 2)
    finally:
        gc.enable()


@case
def module_surface():
    for name in ("conv2d", "conv_transpose2d", "max_pool2d", "max_unpool2d", "avg_pool2d", "adaptive_avg_pool2d",
                 "interpolate", "pixel_shuffle", "batch_norm", "group_norm", "relu", "leaky_relu", "sigmoid", "tanh",
                 "softmax", "log_softmax", "dropout", "dropout2d", "add", "sub", "mul", "sum", "mean", "cat", "pad",
                 "center_crop", "linear", "matmul", "cross_entropy", "binary_cross_entropy_with_logits", "mse_loss",
                 "l1_loss", "smooth_l1_loss", "dice_loss", "load_model"):
        assert callable(getattr(ed, name)), name


@case
def conv_settings():
    x = ed.tensor(rng.standard_normal((2, 16, 32, 32)).astype(np.float32))
    w = ed.tensor((rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32))
    assert ed.get_conv_algo() == "direct" and ed.get_conv_precision() == "f32"
    with ed.no_grad():
        ref = ed.conv2d(x, w, padding=1).numpy()
        ed.set_conv_algo("winograd")
        wino = ed.conv2d(x, w, padding=1).numpy()
        ed.set_conv_algo("direct")
        ed.set_conv_precision("bf16")
        assert ed.get_conv_precision() == "bf16"
        lo = ed.conv2d(x, w, padding=1).numpy()
        ed.set_conv_precision("f32")
    scale = np.abs(ref).max()
    assert np.abs(wino - ref).max() <= 1e-5 * scale, np.abs(wino - ref).max() / scale
    assert np.abs(lo - ref).max() <= 3e-2 * scale, np.abs(lo - ref).max() / scale
    raises(lambda: ed.set_conv_algo("fft"), "'direct' or 'winograd'")
    raises(lambda: ed.set_conv_precision("f16"), "'f32' or 'bf16'")


finish()
