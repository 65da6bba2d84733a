"""Golden cases for the losses (tests/test_loss.c): cross_entropy,
binary_cross_entropy_with_logits, mse/l1/smooth_l1 and the soft Dice loss,
whose torch reference (dice_ref) is written out here.

Each case: args {op, reduction, ...}; tensors input, target, [weight],
[pos_weight], gy (the gradient fed to backward: 0-d for mean/sum, the
output's shape for none), out, grad_input and, for the float-target losses,
grad_target. Run: /tmp/peers/bin/python tests/golden/gen_loss.py"""
import torch
import torch.nn.functional as F

from golden_common import seeded, write

RED = ["mean", "sum", "none"]


def dice_ref(x, target, smooth=1.0, ignore_index=-100, reduction="mean"):
    """Soft Dice as documented in include/encdec.h."""
    C = x.shape[1]
    valid = (target != ignore_index).unsqueeze(1).to(x.dtype)
    safe = torch.where(target == ignore_index, torch.zeros_like(target), target)
    if C == 1:
        p = torch.sigmoid(x)
        t = safe.unsqueeze(1).to(x.dtype)
    else:
        p = torch.softmax(x, 1)
        t = F.one_hot(safe, C).movedim(-1, 1).to(x.dtype)
    p, t = p * valid, t * valid
    dims = tuple(range(2, x.dim()))
    inter = (p * t).sum(dims) if dims else p * t
    ps = p.sum(dims) if dims else p
    ts = t.sum(dims) if dims else t
    loss = 1 - (2 * inter + smooth) / (ps + ts + smooth)
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def finish(args, tensors, out, x, t, g):
    """Backward with a seeded gradient; record out and the gradients."""
    gy = torch.randn(out.shape, generator=g) if args["reduction"] == "none" else torch.tensor(1.3)
    out.backward(gy)
    tensors.update(gy=gy, out=out, grad_input=x.grad)
    if t.requires_grad:
        tensors["grad_target"] = t.grad
    return (args, tensors)


def ce_case(shape, red, g, weight=False, ls=0.0, ignore=-100, n_ignored=0, ignore_image=False):
    C = shape[1] if len(shape) > 1 else shape[0]
    x = (torch.randn(shape, generator=g) * 2).requires_grad_()
    tshape = (shape[0],) + tuple(shape[2:]) if len(shape) > 1 else ()
    t = torch.randint(0, C, tshape, generator=g)
    flat = t.view(-1)
    if n_ignored:
        flat[torch.randperm(flat.numel(), generator=g)[:n_ignored]] = ignore
    if ignore_image:
        t[0] = ignore
    w = torch.rand(C, generator=g) + 0.5 if weight else None
    out = F.cross_entropy(x, t, weight=w, ignore_index=ignore, reduction=red, label_smoothing=ls)
    args = {"op": "cross_entropy", "reduction": red, "ignore_index": ignore, "label_smoothing": ls}
    tensors = {"input": x, "target": t}
    if w is not None:
        tensors["weight"] = w
    return finish(args, tensors, out, x, t, g)


def bce_case(shape, red, g, wshape=None, pwshape=None):
    x = (torch.randn(shape, generator=g) * 2).requires_grad_()
    t = torch.rand(shape, generator=g)
    t.view(-1)[::3] = torch.randint(0, 2, t.view(-1)[::3].shape, generator=g).float()   # hard 0/1 labels too
    t.requires_grad_()
    w = torch.rand(wshape, generator=g) + 0.5 if wshape else None
    pw = torch.rand(pwshape, generator=g) * 3 + 0.2 if pwshape else None
    out = F.binary_cross_entropy_with_logits(x, t, weight=w, pos_weight=pw, reduction=red)
    tensors = {"input": x, "target": t}
    if w is not None:
        tensors["weight"] = w
    if pw is not None:
        tensors["pos_weight"] = pw
    return finish({"op": "bce_with_logits", "reduction": red}, tensors, out, x, t, g)


def reg_case(op, shape, red, g, beta=1.0, ties=False):
    x = torch.randn(shape, generator=g).requires_grad_()
    t = torch.randn(shape, generator=g)
    if ties:   # exact ties: l1's gradient there is sign(0) = 0
        t.view(-1)[::4] = x.detach().view(-1)[::4]
    t.requires_grad_()
    if op == "mse_loss":
        out = F.mse_loss(x, t, reduction=red)
    elif op == "l1_loss":
        out = F.l1_loss(x, t, reduction=red)
    else:
        out = F.smooth_l1_loss(x, t, reduction=red, beta=beta)
    return finish({"op": op, "reduction": red, "beta": beta}, {"input": x, "target": t}, out, x, t, g)


def dice_case(shape, red, g, smooth=1.0, ignore=-100, n_ignored=0, ignore_image=False):
    C = shape[1]
    x = (torch.randn(shape, generator=g) * 2).requires_grad_()
    tshape = (shape[0],) + tuple(shape[2:])
    t = torch.randint(0, 2 if C == 1 else C, tshape, generator=g)
    if n_ignored:
        t.view(-1)[torch.randperm(t.numel(), generator=g)[:n_ignored]] = ignore
    if ignore_image:
        t[0] = ignore
    out = dice_ref(x, t, smooth=smooth, ignore_index=ignore, reduction=red)
    args = {"op": "dice_loss", "reduction": red, "ignore_index": ignore, "smooth": smooth}
    return finish(args, {"input": x, "target": t}, out, x, t, g)


def main():
    g = seeded(1234)
    cases = []
    # cross_entropy: (N, C), (N, C, d), (N, C, H, W); weights, smoothing,
    # ignored pixels, every reduction.
    for shape in [(6, 4), (2, 5, 7), (2, 3, 4, 5)]:
        for red in RED:
            for weight in (False, True):
                for ls in (0.0, 0.1):
                    cases.append(ce_case(shape, red, g, weight=weight, ls=ls, n_ignored=3))
    # ignore_index 255 on every pixel of image 0 (but not image 1)
    for red in RED:
        for ls in (0.0, 0.1):
            cases.append(ce_case((2, 3, 4, 5), red, g, weight=True, ls=ls, ignore=255, n_ignored=4, ignore_image=True))
    cases.append(ce_case((6, 4), "mean", g, ignore=0))            # an in-range ignore_index
    cases.append(ce_case((5,), "none", g, weight=True, ls=0.1))   # one unbatched sample
    cases.append(ce_case((2, 3, 4, 5), "sum", g, ignore=255, ignore_image=True))
    # BCE with logits: weight and pos_weight broadcast
    for red in RED:
        cases.append(bce_case((4, 3), red, g))
        cases.append(bce_case((4, 3), red, g, wshape=(4, 1), pwshape=(3,)))
        cases.append(bce_case((2, 3, 4, 5), red, g, wshape=(5,), pwshape=(5,)))
        cases.append(bce_case((2, 3, 4, 5), red, g, wshape=(2, 1, 4, 5), pwshape=(3, 1, 1)))
    # mse / l1 / smooth_l1 (beta 1, 0.5, 0 = l1)
    for red in RED:
        cases.append(reg_case("mse_loss", (3, 4), red, g))
        cases.append(reg_case("l1_loss", (2, 3, 4), red, g, ties=True))
        for beta in (1.0, 0.5, 0.0):
            cases.append(reg_case("smooth_l1_loss", (2, 3, 4), red, g, beta=beta, ties=beta == 0.0))
    # Dice: softmax and sigmoid, ignored pixels, a fully ignored image
    for red in RED:
        cases.append(dice_case((2, 3, 4, 5), red, g, n_ignored=5))
        cases.append(dice_case((2, 1, 4, 4), red, g, smooth=0.5, ignore=255, n_ignored=3))
        cases.append(dice_case((2, 4, 3, 3), red, g, ignore=255, ignore_image=True))
        cases.append(dice_case((3, 4), red, g, smooth=1.0))
    write("loss", cases)


if __name__ == "__main__":
    main()
