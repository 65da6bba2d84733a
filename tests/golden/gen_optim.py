"""Golden cases for the optimizers, schedules and gradient clipping
(tests/test_optim.c, tests/test_params.c).

optim: start from parameters p<j>, feed 10 gradient sets g<s>.<j> (absent =
  grad None at that step, which torch skips) and record the parameters
  out<s>.<j> after each torch.optim step (foreach=False, float32).
  args["lrs"], when present, is the lr set before each step.
sched: lr (float64, 30 values): the optimizer's lr after t calls to
  scheduler.step(), for the main scheduler chained after LinearLR warm-up.
clip: grads c_in<j> (absent = None), torch.nn.utils.clip_grad_norm_'s total
  norm and the clipped grads c_out<j>."""
import math

import torch

from golden_common import seeded, write

SHAPES = [(4, 3, 3, 3), (4,), (5, 7), (1,)]
STEPS = 10


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=torch.float32)


def optim_case(g, args, none_at=(), lrs=None):
    """none_at: (step, param) pairs whose gradient is None."""
    params = [torch.nn.Parameter(randn(g, *s)) for s in SHAPES]
    t = {f"p{j}": p.detach().clone() for j, p in enumerate(params)}
    kind = args["kind"]
    if kind == "sgd":
        opt = torch.optim.SGD(params, lr=args["lr"], momentum=args["momentum"], dampening=args["dampening"],
                              nesterov=bool(args["nesterov"]), weight_decay=args["weight_decay"], foreach=False)
    else:
        cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
        opt = cls(params, lr=args["lr"], betas=(args["beta1"], args["beta2"]), eps=args["eps"],
                  weight_decay=args["weight_decay"], foreach=False)
    for s in range(STEPS):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[s]
        for j, p in enumerate(params):
            if (s, j) in none_at:
                p.grad = None
            else:
                p.grad = randn(g, *p.shape) * (0.5 + j)
                t[f"g{s}.{j}"] = p.grad.clone()
        opt.step()
        for j, p in enumerate(params):
            t[f"out{s}.{j}"] = p.detach().clone()
    a = dict(args, type="optim", nparams=len(SHAPES), steps=STEPS)
    if lrs is not None:
        a["lrs"] = lrs
    return a, t


def sgd(lr, momentum=0.0, dampening=0.0, nesterov=0, wd=0.0):
    return {"kind": "sgd", "lr": lr, "momentum": momentum, "dampening": dampening, "nesterov": nesterov,
            "weight_decay": wd}


def adam(kind, lr, wd, beta1=0.9, beta2=0.999, eps=1e-8):
    return {"kind": kind, "lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": wd}


def sched_case(args, n=30):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=args["base_lr"])
    kind = args["kind"]
    S = torch.optim.lr_scheduler

    def main():
        if kind == "step":
            return S.StepLR(opt, step_size=args["step_size"], gamma=args["gamma"])
        if kind == "multistep":
            return S.MultiStepLR(opt, milestones=args["milestones"], gamma=args["gamma"])
        if kind == "poly":
            return S.PolynomialLR(opt, total_iters=args["total_steps"], power=args["power"])
        if kind == "cosine":
            return S.CosineAnnealingLR(opt, T_max=args["total_steps"], eta_min=args["eta_min"])
        return S.ConstantLR(opt, factor=1.0, total_iters=0)

    w = args["warmup_steps"]
    lrs = []
    if w > 0 and kind == "cosine" and args["eta_min"] != 0:
        # torch's recursive cosine does not chain exactly when eta_min != 0:
        # the product of the two schedulers run on their own is the definition.
        cos_lrs, lin = [], []
        s = main()
        for _ in range(n):
            cos_lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
        opt2 = torch.optim.SGD([p], lr=1.0)
        s2 = S.LinearLR(opt2, start_factor=args["warmup_start_factor"], end_factor=1.0, total_iters=w)
        for _ in range(n):
            lin.append(opt2.param_groups[0]["lr"])
            opt2.step()
            s2.step()
        lrs = [a * b for a, b in zip(cos_lrs, lin)]
    else:
        scheds = []
        if w > 0:
            scheds.append(S.LinearLR(opt, start_factor=args["warmup_start_factor"], end_factor=1.0, total_iters=w))
        scheds.append(main())
        sch = S.ChainedScheduler(scheds, optimizer=opt) if len(scheds) > 1 else scheds[0]
        for _ in range(n):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sch.step()
    return dict(args, type="sched"), {"lr": torch.tensor(lrs, dtype=torch.float64)}


def sched(kind, warmup=0, start=0.1, **kw):
    a = {"kind": kind, "base_lr": 0.1, "step_size": 1, "gamma": 0.1, "milestones": [], "total_steps": 1,
         "power": 1.0, "eta_min": 0.0, "warmup_steps": warmup, "warmup_start_factor": start}
    a.update(kw)
    return a


def clip_case(g, max_norm, scale, none=()):
    grads = [None if j in none else randn(g, *s) * scale for j, s in enumerate(SHAPES)]
    params = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
    t = {}
    for j, (p, gr) in enumerate(zip(params, grads)):
        p.grad = gr
        if gr is not None:
            t[f"c_in{j}"] = gr.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=False)
    t["total"] = total.reshape(1).float()
    for j, p in enumerate(params):
        if p.grad is not None:
            t[f"c_out{j}"] = p.grad.clone()
    return {"type": "clip", "max_norm": max_norm, "nparams": len(SHAPES)}, t


def main():
    g = seeded(1234)
    cases = [
        optim_case(g, sgd(0.1)),
        optim_case(g, sgd(0.05, momentum=0.9, dampening=0.1, wd=1e-2)),
        optim_case(g, sgd(0.05, momentum=0.9, nesterov=1, wd=1e-3), none_at={(0, 1), (3, 1), (5, 3)}),
        optim_case(g, adam("adam", 1e-2, 1e-2), none_at={(2, 2), (3, 2), (0, 3)}),
        optim_case(g, adam("adamw", 1e-2, 0.1, beta1=0.8, beta2=0.99), lrs=[1e-2 * 0.8 ** s for s in range(STEPS)]),
        optim_case(g, adam("adam", 1e-3, 0.0, beta1=0.3, eps=1e-6)),
        optim_case(g, adam("adamw", 3e-3, 1e-2), none_at={(4, 0)}),
    ]
    for w in (0, 5):
        cases += [
            sched_case(sched("constant", w)),
            sched_case(sched("step", w, step_size=7, gamma=0.5)),
            sched_case(sched("multistep", w, milestones=[3, 10, 10, 22], gamma=0.3)),
            sched_case(sched("poly", w, total_steps=20, power=0.9)),
            sched_case(sched("poly", w, total_steps=25, power=2.0, base_lr=0.01)),
            sched_case(sched("cosine", w, total_steps=20)),
            sched_case(sched("cosine", w, total_steps=12, eta_min=1e-3)),
        ]
    cases.append(sched_case(sched("cosine", 8, start=0.01, total_steps=30, eta_min=0.0)))
    cases += [
        clip_case(g, 1.0, 1.0),
        clip_case(g, 1e3, 1.0),
        clip_case(g, 0.5, 3.0, none=(1,)),
    ]
    write("optim", cases)


if __name__ == "__main__":
    main()
