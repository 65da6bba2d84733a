#!/usr/bin/env python3
"""The workloads of `encdec bench` in PyTorch, for side-by-side ratios.

    peer_torch.py op conv2d|conv_transpose2d|max_pool2d [--batch B] [--size S] [--cin C] [--cout C]
    peer_torch.py model unet32 [--batch B] [--size S] [--train|--infer] [--precision f32|bf16]
    common: --threads T (torch.set_num_threads), --reps R

Each workload runs in the default memory format and in channels_last; the
faster counts (both are printed). Warm-up 2 steps, then R timed steps, the
median. Ends each measurement with one JSON line shaped like encdec's
(bench, name, mode, ms, images_per_s, gflop, gflops, peak_rss_mb, format).
bf16 = torch.autocast("cpu", dtype=torch.bfloat16).
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def dc(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True),
                         nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))


class Block(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.conv = dc(i, o)


class Up(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.up = nn.ConvTranspose2d(i, o, 2, stride=2)
        self.conv = dc(i, o)


class UNet(nn.Module):
    """models/unet.c, same state_dict names."""

    def __init__(self, cin=3, classes=4, base=32, depth=4):
        super().__init__()
        self.depth = depth
        c = cin
        for k in range(depth):
            setattr(self, f"down{k + 1}", Block(c, base << k))
            c = base << k
        self.bottleneck = Block(c, base << depth)
        for k in range(depth):
            setattr(self, f"up{k + 1}", Up(base << (k + 1), base << k))
        self.out = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        skips = []
        h = x
        for k in range(self.depth):
            if k:
                h = F.max_pool2d(h, 2)
            h = getattr(self, f"down{k + 1}").conv(h)
            skips.append(h)
        h = self.bottleneck.conv(F.max_pool2d(h, 2))
        for k in reversed(range(self.depth)):
            u = getattr(self, f"up{k + 1}")
            h = u.conv(torch.cat([skips[k], u.up(h)], 1))
        return self.out(h)


def unet_flop(n, s, cin=3, classes=4, base=32, depth=4):
    mac, c = 0.0, cin
    for k in range(depth + 1):
        r, w = s >> k, base << k
        mac += 9.0 * n * r * r * (c * w + w * w)
        c = w
    for k in range(depth):
        r, w = s >> k, base << k
        mac += n * r * r * 2 * w * w + 9.0 * n * r * r * 3 * w * w
    mac += n * s * s * base * classes
    return 2 * mac


def timeit(step, reps):
    for _ in range(2):
        step()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        step()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts), min(ts)


def op_steps(a, fmt):
    mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    b = a.batch
    if a.name == "conv2d":
        s, cin, cout = a.size or 128, a.cin or 64, a.cout or 64
        x = torch.randn(b, cin, s, s).to(memory_format=mf).requires_grad_()
        w = torch.randn(cout, cin, 3, 3).to(memory_format=mf).requires_grad_()
        bias = torch.randn(cout, requires_grad=True)
        gy = torch.randn(b, cout, s, s).to(memory_format=mf)
        f = lambda: F.conv2d(x, w, bias, padding=1)
        flop = 2.0 * b * cout * s * s * cin * 9
    elif a.name == "conv_transpose2d":
        s, cin, cout = a.size or 64, a.cin or 128, a.cout or 64
        x = torch.randn(b, cin, s, s).to(memory_format=mf).requires_grad_()
        w = torch.randn(cin, cout, 2, 2).to(memory_format=mf).requires_grad_()
        bias = torch.randn(cout, requires_grad=True)
        gy = torch.randn(b, cout, 2 * s, 2 * s).to(memory_format=mf)
        f = lambda: F.conv_transpose2d(x, w, bias, stride=2)
        flop = 2.0 * b * cin * s * s * cout * 4
    elif a.name == "max_pool2d":
        s, cin = a.size or 128, a.cin or 64
        x = torch.randn(b, cin, s, s).to(memory_format=mf).requires_grad_()
        gy = torch.randn(b, cin, s, s).to(memory_format=mf)

        def f():
            p, i = F.max_pool2d(x, 2, return_indices=True)
            return F.max_unpool2d(p, i, 2, output_size=x.shape[-2:])
        flop = 0.0
    else:
        raise SystemExit(f"unknown op {a.name}")

    bf16 = a.precision == "bf16"   # autocast, as for the models

    def fwd():
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            f()

    def fwdbwd():
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = f()
        y.backward(gy.to(y.dtype))
    return [("forward", fwd, flop), ("forward+backward", fwdbwd, 3 * flop)], s


def model_steps(a, fmt):
    mf = torch.channels_last if fmt == "channels_last" else torch.contiguous_format
    s = a.size or 128
    torch.manual_seed(0)
    m = UNet().to(memory_format=mf)
    x = torch.randn(a.batch, 3, s, s).to(memory_format=mf)
    y = torch.randint(0, 4, (a.batch, s, s))
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    bf16 = a.precision == "bf16"

    def train():
        m.train()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer():
        m.eval()
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            m(x)
    flop = unet_flop(a.batch, s)
    return [("train", train, 3 * flop)] if a.train else [("infer", infer, flop)], s


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["op", "model"])
    p.add_argument("name")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--cin", type=int, default=0)
    p.add_argument("--cout", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--train", dest="train", action="store_true", default=True)
    p.add_argument("--infer", dest="train", action="store_false")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    best = {}
    for fmt in ("default", "channels_last"):
        steps, s = op_steps(a, fmt) if a.what == "op" else model_steps(a, fmt)
        for mode, step, flop in steps:
            med, mn = timeit(step, a.reps)
            print(f"torch {a.name} {mode} {a.precision} {fmt}: {med:.2f} ms/step (min {mn:.2f})", flush=True)
            if mode not in best or med < best[mode][0]:
                best[mode] = (med, mn, fmt, flop, s)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    for mode, (med, mn, fmt, flop, s) in best.items():
        print(json.dumps({"bench": a.what, "name": a.name, "mode": mode, "peer": "torch " + torch.__version__,
                          "format": fmt, "batch": a.batch, "size": s, "threads": a.threads,
                          "precision": a.precision, "ms": round(med, 3), "ms_min": round(mn, 3),
                          "images_per_s": round(a.batch / (med * 1e-3), 2), "gflop": round(flop * 1e-9, 3),
                          "gflops": round(flop * 1e-9 / (med * 1e-3), 2), "peak_rss_mb": round(rss, 1)}),
              flush=True)


if __name__ == "__main__":
    main()
