"""Every op of the binding called exactly as torch.nn.functional, on the
same inputs, outputs and input gradients compared. Needs torch, so it is
not part of `make test` (the C golden tests cover the kernels); run it by
hand after changing the binding:

    PYTHONPATH=python ENCDEC_LIB=build/libencdec.so /tmp/peers/bin/python tests/python/compare_torch.py
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F

import encdec as ed

rng = np.random.default_rng(1)
fails = 0
count = 0


def r(*shape, lo=None):
    a = rng.standard_normal(shape).astype(np.float32)
    return a if lo is None else (np.abs(a) + lo).astype(np.float32)


def compare(name, fn, arrays, kwargs=None, grad=True, tol=1e-4, ints=()):
    """fn(module, *tensors, **kwargs) with module = F (torch) or ed."""
    global fails, count
    kwargs = kwargs or {}
    tt = [torch.tensor(a, requires_grad=(grad and i not in ints and a.dtype == np.float32)) for i, a in enumerate(arrays)]
    et = [ed.tensor(a, requires_grad=(grad and i not in ints and a.dtype == np.float32)) for i, a in enumerate(arrays)]
    yt = fn(F, *tt, **kwargs)
    ye = fn(ed, *et, **kwargs)
    if isinstance(yt, tuple):
        yt, ye = yt[0], ye[0]
    a, b = ye.numpy(), yt.detach().numpy()
    ok = a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max(initial=0))))
    if ok and grad:
        g = rng.standard_normal(b.shape).astype(np.float32)
        yt.backward(torch.tensor(g))
        ye.backward(g)
        for i, (x1, x2) in enumerate(zip(et, tt)):
            if x2.grad is None:
                continue
            ga, gb = x1.grad.numpy(), x2.grad.numpy()
            if not np.allclose(ga, gb, rtol=tol, atol=tol * max(1.0, float(np.abs(gb).max()))):
                ok = False
                print(f"  {name}: grad of input {i} differs: max {np.abs(ga - gb).max():.3g}")
    count += 1
    if not ok:
        fails += 1
        print(f"FAIL {name}: shapes {a.shape} vs {b.shape}, max diff {np.abs(a - b).max() if a.shape == b.shape else 'n/a'}")


x4 = r(2, 4, 9, 8)
compare("conv2d", lambda m, x, w, b: m.conv2d(x, w, b, stride=2, padding=1, dilation=1, groups=2), [x4, r(6, 2, 3, 3), r(6)])
compare("conv2d same", lambda m, x, w: m.conv2d(x, w, padding="same", dilation=2), [x4, r(3, 4, 4, 4)])
compare("conv2d valid", lambda m, x, w: m.conv2d(x, w, None, 1, "valid"), [x4, r(3, 4, 3, 2)])
compare("conv_transpose2d", lambda m, x, w, b: m.conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=1,
                                                                  dilation=2), [x4, r(4, 3, 3, 3), r(3)])
compare("conv_transpose2d groups", lambda m, x, w: m.conv_transpose2d(x, w, stride=(3, 2), groups=2), [x4, r(4, 2, 2, 3)])
compare("max_pool2d", lambda m, x: m.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), [x4], tol=1e-6)
compare("max_pool2d dilation", lambda m, x: m.max_pool2d(x, (2, 3), 1, 0, 2), [x4], tol=1e-6)
yt, it = F.max_pool2d(torch.tensor(x4), 2, return_indices=True)
ye, ie = ed.max_pool2d(ed.tensor(x4), 2, return_indices=True)
count += 1
if not np.array_equal(it.numpy(), ie.numpy()):
    fails += 1
    print("FAIL max_pool2d indices")
compare("max_unpool2d", lambda m, x, i: m.max_unpool2d(x, i, 2, output_size=(9, 8)), [yt.numpy(), it.numpy()], ints=(1,),
        tol=1e-6)
compare("avg_pool2d", lambda m, x: m.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [x4], tol=1e-5)
compare("avg_pool2d divisor", lambda m, x: m.avg_pool2d(x, 2, divisor_override=3), [x4], tol=1e-5)
compare("adaptive_avg_pool2d", lambda m, x: m.adaptive_avg_pool2d(x, (4, 3)), [x4], tol=1e-5)
xi = r(1, 2, 5, 7, lo=0.5)
compare("interpolate nearest", lambda m, x: m.interpolate(x, scale_factor=1.7, mode="nearest"), [xi], tol=1e-5)
compare("interpolate bilinear", lambda m, x: m.interpolate(x, size=(9, 4), mode="bilinear", align_corners=False), [xi], tol=1e-5)
compare("interpolate bilinear ac", lambda m, x: m.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True), [xi], tol=1e-5)
compare("pixel_shuffle", lambda m, x: m.pixel_shuffle(x, 2), [r(1, 8, 3, 4)], tol=1e-6)
rm, rv = np.zeros(4, np.float32), np.ones(4, np.float32)
compare("batch_norm train", lambda m, x, w, b: m.batch_norm(x, np.zeros(4, np.float32) if m is ed else torch.zeros(4),
                                                            np.ones(4, np.float32) if m is ed else torch.ones(4), w, b,
                                                            training=True, momentum=0.3, eps=1e-3), [x4, r(4), r(4)])
compare("batch_norm eval", lambda m, x: m.batch_norm(x, torch.tensor(rm + 0.1) if m is F else rm + 0.1,
                                                     torch.tensor(rv * 2) if m is F else rv * 2), [x4])
compare("group_norm", lambda m, x, w, b: m.group_norm(x, 2, w, b, eps=1e-4), [x4, r(4), r(4)])
for f in ("relu", "sigmoid", "tanh"):
    compare(f, lambda m, x, f=f: getattr(m, f)(x), [x4], tol=1e-5)
compare("leaky_relu", lambda m, x: m.leaky_relu(x, 0.2), [x4], tol=1e-5)
compare("softmax", lambda m, x: m.softmax(x, dim=1), [x4], tol=1e-5)
compare("log_softmax", lambda m, x: m.log_softmax(x, -1), [x4], tol=1e-5)
compare("add broadcast", lambda m, a, b: (torch.add if m is F else ed.add)(a, b), [x4, r(4, 1, 8)], tol=1e-6)
compare("sub", lambda m, a, b: (torch.sub if m is F else ed.sub)(a, b), [x4, r(8)], tol=1e-6)
compare("mul", lambda m, a, b: (torch.mul if m is F else ed.mul)(a, b), [x4, r(1, 4, 1, 1)], tol=1e-6)
compare("sum dims", lambda m, x: (torch.sum if m is F else ed.sum)(x, dim=(1, 3), keepdim=True), [x4], tol=1e-5)
compare("mean all", lambda m, x: (torch.mean if m is F else ed.mean)(x), [x4], tol=1e-5)
compare("cat", lambda m, a, b: (torch.cat if m is F else ed.cat)([a, b], dim=1), [x4, r(2, 3, 9, 8)], tol=1e-6)
compare("pad constant", lambda m, x: m.pad(x, (1, 2, -1, 3), value=0.5), [x4], tol=1e-6)
compare("pad reflect", lambda m, x: m.pad(x, (2, 1, 1, 2), mode="reflect"), [x4], tol=1e-6)
compare("pad replicate", lambda m, x: m.pad(x, (2, 1, 1, 2), mode="replicate"), [x4], tol=1e-6)
compare("linear", lambda m, x, w, b: m.linear(x, w, b), [r(3, 5, 7), r(4, 7), r(4)])
compare("matmul", lambda m, a, b: (torch.matmul if m is F else ed.matmul)(a, b), [r(2, 3, 5), r(2, 5, 4)])
lg = r(2, 5, 3, 4)
tg = rng.integers(0, 5, (2, 3, 4)).astype(np.int64)
tg[0, 0, :2] = -100
compare("cross_entropy", lambda m, x, t, w: m.cross_entropy(x, t, weight=w, ignore_index=-100, label_smoothing=0.1),
        [lg, tg, r(5, lo=0.1)], ints=(1, 2))
compare("cross_entropy sum", lambda m, x, t: m.cross_entropy(x, t, reduction="sum"), [lg, np.where(tg < 0, 1, tg)], ints=(1,))
compare("bce_with_logits", lambda m, x, t, pw: m.binary_cross_entropy_with_logits(x, t, pos_weight=pw),
        [r(4, 3), rng.random((4, 3)).astype(np.float32), r(3, lo=0.5)], ints=(2,))
compare("mse_loss", lambda m, a, b: m.mse_loss(a, b, reduction="sum"), [x4, r(2, 4, 9, 8)])
compare("l1_loss", lambda m, a, b: m.l1_loss(a, b), [x4, r(2, 4, 9, 8)])
compare("smooth_l1_loss", lambda m, a, b: m.smooth_l1_loss(a, b, beta=0.5), [x4, r(2, 4, 9, 8)])

print(f"{count - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
