"""PyTorch side of bench/denoise_race.sh: DnCNN-S trained with the recipe of
`encdec train --task denoise --arch dncnn`, validated on Set12 every K steps.

Same semantics as cli/trainer.c (not the same random draws):
  - model: the module of src/models/dncnn.c (conv+ReLU, (depth-2) x
    conv+BN+ReLU, conv; output x - net(x)); PyTorch's default init, as
    ed_model_init;
  - batches: item = a patch x patch crop of a training image chosen with
    probability proportional to its number of crop positions, a uniform
    position, one of the 8 flips/rotations; clean in [0, 1], noisy = clean +
    N(0, (sigma/255)^2) in float, not clipped; MSE (mean), Adam (PyTorch
    defaults) with lr cosine from --lr to --lr-min over epochs * steps;
  - training in bf16 autocast with channels_last (the issue's PyTorch
    measurement); validation in float32, eval mode;
  - validation: encdec eval's conventions, with the SAME noise: image k of
    the sorted folder gets noise from Philox-4x32-10 stream (seed 0, counter
    k << 36), ported below from src/core/rng.c; the output is quantised to
    8 bits; PSNR on 0..255 per image, averaged;
  - clock: only the training steps (batches made, forward, backward,
    update), not validation; --time-limit stops on it; --target-psnr stops
    once validation reaches it.
Prints, after each validation,
  epoch E/N  loss L  val PSNR P dB  lr R  step S  elapsed T s
the line format of `encdec train`, so the race parses both the same way.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

# ---- Philox-4x32-10 and the normal draw of src/core/rng.c ------------------

M64 = np.uint64(0xFFFFFFFF)


def philox(seed, counters):
    """(seed, counters: uint64 array) -> four uint32 arrays (as uint64)."""
    c0 = counters & M64
    c1 = counters >> np.uint64(32)
    c2 = np.full_like(c0, 0x2545F491)
    c3 = np.full_like(c0, 0x9E3779B9)
    k0, k1 = seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        n0 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0)
        n2 = (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1)
        c1 = p1 & M64
        c3 = p0 & M64
        c0, c2 = n0, n2
        k0 = (k0 + 0x9E3779B9) & 0xFFFFFFFF
        k1 = (k1 + 0xBB67AE85) & 0xFFFFFFFF
    return c0, c1, c2, c3


def unit(a, b):
    v = ((a << np.uint64(21)) ^ (b >> np.uint64(11))) & np.uint64((1 << 53) - 1)
    return v.astype(np.float64) * (1.0 / 9007199254740992.0)


def normal_at(seed, base, n):
    o = philox(seed, np.uint64(base) + np.arange(n, dtype=np.uint64))
    u1, u2 = unit(o[0], o[1]), unit(o[2], o[3])
    u1 = np.maximum(u1, 1e-300)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)


# ---- data and model ------------------------------------------------------------


def load_gray(folder):
    names = sorted(f for f in os.listdir(folder) if f.lower().endswith((".png", ".jpg", ".jpeg")))
    out = []
    for f in names:
        a = np.asarray(Image.open(os.path.join(folder, f)))
        if a.ndim == 3:
            raise SystemExit(f"{f}: expected a gray image")
        out.append((a.astype(np.float64) / (65535.0 if a.dtype == np.uint16 else 255.0)).astype(np.float32))
    return names, out


class DnCNN(nn.Module):
    def __init__(self, c=1, w=64, depth=17):
        super().__init__()
        layers = [nn.Conv2d(c, w, 3, padding=1, bias=True), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        layers += [nn.Conv2d(w, c, 3, padding=1, bias=False)]
        self.dncnn = nn.Sequential(*layers)

    def forward(self, x):
        return x - self.dncnn(x)


class Batches:
    def __init__(self, images, patch, batch, sigma, seed):
        self.im, self.P, self.B, self.std = images, patch, batch, sigma / 255.0
        self.im = [a for a in images if a.shape[0] >= patch and a.shape[1] >= patch]
        pos = np.array([(a.shape[0] - patch + 1) * (a.shape[1] - patch + 1) for a in self.im], np.float64)
        self.p = pos / pos.sum()
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)

    def next(self):
        P, r = self.P, self.rng
        which = r.choice(len(self.im), size=self.B, p=self.p)
        clean = np.empty((self.B, 1, P, P), np.float32)
        for i, k in enumerate(which):
            a = self.im[k]
            top, left = r.integers(0, a.shape[0] - P + 1), r.integers(0, a.shape[1] - P + 1)
            q = a[top:top + P, left:left + P]
            mode = r.integers(0, 8)
            if mode & 1:
                q = q[:, ::-1]
            if mode & 2:
                q = q[::-1, :]
            if mode & 4:
                q = q.T
            clean[i, 0] = q
        y = torch.from_numpy(clean)
        x = y + self.std * torch.randn(y.shape, generator=self.gen)
        return x, y


def q8(v):
    return np.where(v <= 0, 0, np.where(v >= 1, 255, np.floor(v * 255 + 0.5)))


def validate(model, val, noisy):
    model.eval()
    ps = []
    with torch.no_grad():
        for clean, x in zip(val, noisy):
            t = torch.from_numpy(x)[None, None].contiguous(memory_format=torch.channels_last)
            out = model(t)[0, 0].float().numpy().astype(np.float64)
            mse = np.mean((q8(clean.astype(np.float64)) - q8(out)) ** 2)
            ps.append(math.inf if mse == 0 else 10 * math.log10(255.0 ** 2 / mse))
    model.train()
    return float(np.mean(ps))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--val-limit", type=int, default=0)
    ap.add_argument("--sigma", type=float, default=25)
    ap.add_argument("--patch", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=17)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--steps", type=int, default=100, help="steps per epoch = between validations")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-min", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--precision", choices=["bf16", "f32"], default="bf16")
    ap.add_argument("--time-limit", type=float, default=0)
    ap.add_argument("--target-psnr", type=float, default=0)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(a.seed)
    _, train = load_gray(a.data)
    vnames, val = load_gray(a.val)
    if a.val_limit > 0:
        val = val[:a.val_limit]
    # encdec eval's noise: seed 0, image k at counter k << 36, float32 result
    noisy = [(c.astype(np.float64) + a.sigma / 255.0 * normal_at(0, k << 36, c.size).reshape(c.shape)).astype(np.float32)
             for k, c in enumerate(val)]
    pin = np.mean([10 * math.log10(255.0 ** 2 / np.mean((q8(c.astype(np.float64)) - q8(n.astype(np.float64))) ** 2))
                   for c, n in zip(val, noisy)])
    model = DnCNN(1, a.width, a.depth).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    data = Batches(train, a.patch, a.batch, a.sigma, a.seed)
    total = a.epochs * a.steps
    print(f"training torch DnCNN (width {a.width}, depth {a.depth}, "
          f"{sum(p.numel() for p in model.parameters())} parameters) on {len(data.im)} images of {a.data}: "
          f"{a.epochs} epochs of {a.steps} steps, batch {a.batch} of {a.patch}x{a.patch} patches, sigma {a.sigma:g}, "
          f"MSE loss, {a.precision} autocast, channels_last, {torch.get_num_threads()} threads, torch {torch.__version__}; "
          f"val noisy PSNR {pin:.4f} dB on {len(val)} images", flush=True)
    clock, step, best, stop = 0.0, 0, -math.inf, False
    for epoch in range(a.epochs):
        t0, lsum, done = time.perf_counter(), 0.0, 0
        for _ in range(a.steps):
            lr = a.lr_min + (a.lr - a.lr_min) * (1 + math.cos(math.pi * step / total)) / 2
            for g in opt.param_groups:
                g["lr"] = lr
            x, y = data.next()
            x = x.contiguous(memory_format=torch.channels_last)
            y = y.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                out = model(x)
            loss = nn.functional.mse_loss(out.float(), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lsum += loss.item()
            step += 1
            done += 1
            if a.time_limit > 0 and clock + time.perf_counter() - t0 >= a.time_limit:
                stop = True
                break
        train_s = time.perf_counter() - t0
        clock += train_s
        v = validate(model, val, noisy)
        improved = v > best
        best = max(best, v)
        print(f"epoch {epoch + 1}/{a.epochs}  loss {lsum / done:.6f}  val PSNR {v:.3f} dB{' (best)' if improved else ''}  "
              f"lr {lr:.3g}  train {train_s:.1f} s  total {time.perf_counter() - t0:.1f} s  step {step}  elapsed {clock:.1f} s",
              flush=True)
        if stop:
            print(f"stopping: --time-limit {a.time_limit:g} s of training reached at step {step}")
            break
        if a.target_psnr > 0 and v >= a.target_psnr:
            print(f"stopping: --target-psnr {a.target_psnr:g} dB reached after {clock:.1f} s of training (step {step})")
            break
    print(json.dumps({"task": "denoise", "who": "torch", "best_psnr": round(best, 4), "epochs": epoch + 1, "steps": step,
                      "elapsed_s": round(clock, 1)}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
