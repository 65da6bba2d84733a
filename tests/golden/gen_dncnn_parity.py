"""DnCNN (src/models/dncnn.c) trained for 50 steps in PyTorch with Adam and
a cosine schedule, from stored initial weights on stored batches, so
test_dncnn_parity.c can hold encdec's training loop (forward, BatchNorm in
training mode, backward, Adam, schedule) against PyTorch's loss curve. Also
one inference forward each of rednet, fsrcnn (x3), edsr (x2, x4) and
drunet (two configurations), and dncnn and unet in eval mode (BatchNorm
folded into the convolutions) with
PyTorch's modules of the same state_dict names, to pin their wiring."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_common import write


class DnCNN(nn.Module):
    def __init__(self, c=1, w=16, depth=5):
        super().__init__()
        layers = [nn.Conv2d(c, w, 3, padding=1, bias=True), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        layers += [nn.Conv2d(w, c, 3, padding=1, bias=False)]
        self.dncnn = nn.Sequential(*layers)

    def forward(self, x):
        return x - self.dncnn(x)


class RED(nn.Module):
    def __init__(self, c=1, w=8, depth=6):
        super().__init__()
        n = depth // 2
        self.n = n
        self.encoder = nn.ModuleList(nn.Conv2d(c if i == 0 else w, w, 3) for i in range(n))
        self.decoder = nn.ModuleList(nn.ConvTranspose2d(w, c if k == n - 1 else w, 3) for k in range(n))

    def forward(self, x):
        e = [x]
        for conv in self.encoder:
            e.append(F.relu(conv(e[-1])))
        h = e[-1]
        n = self.n
        for k in range(1, n + 1):
            t = self.decoder[k - 1](h)
            if k == n:
                return t + x
            h = F.relu(t + e[n - k]) if k % 2 == 0 else F.relu(t)


class FSRCNN(nn.Module):
    def __init__(self, scale=3, d=8, s=4, m=2):
        super().__init__()
        self.first_part = nn.Sequential(nn.Conv2d(1, d, 5, padding=2), nn.PReLU(d))
        mid = [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            mid += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        mid += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.mid_part = nn.Sequential(*mid)
        self.last_part = nn.ConvTranspose2d(d, 1, 9, stride=scale, padding=4, output_padding=scale - 1)

    def forward(self, x):
        return self.last_part(self.mid_part(self.first_part(x)))


class ResBlock(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


class EDSR(nn.Module):
    def __init__(self, scale, w=8, blocks=2):
        super().__init__()
        self.scale = scale
        self.head = nn.Sequential(nn.Conv2d(1, w, 3, padding=1))
        self.body = nn.Sequential(*[ResBlock(w) for _ in range(blocks)], nn.Conv2d(w, w, 3, padding=1))
        if scale == 4:
            up = [nn.Conv2d(w, 4 * w, 3, padding=1), nn.PixelShuffle(2), nn.Conv2d(w, 4 * w, 3, padding=1), nn.PixelShuffle(2)]
        else:
            up = [nn.Conv2d(w, scale * scale * w, 3, padding=1), nn.PixelShuffle(scale)]
        self.tail = nn.Sequential(nn.Sequential(*up), nn.Conv2d(w, 1, 3, padding=1))

    def forward(self, x):
        f = self.head(x)
        r = f + self.body(f)
        return self.tail(r) + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)


class Res(nn.Module):
    """KAIR's ResBlock('CRC', bias=False)."""
    def __init__(self, w):
        super().__init__()
        self.res = nn.Sequential(nn.Conv2d(w, w, 3, 1, 1, bias=False), nn.ReLU(), nn.Conv2d(w, w, 3, 1, 1, bias=False))

    def forward(self, x):
        return x + self.res(x)


class DRUNet(nn.Module):
    """KAIR's UNetRes without the noise-level channel, any number of levels,
    plus the global residual of src/models/drunet.c."""
    def __init__(self, c=1, w=4, levels=2, blocks=1, residual=True):
        super().__init__()
        self.levels, self.residual = levels, residual
        self.m_head = nn.Conv2d(c, w, 3, 1, 1, bias=False)
        for k in range(1, levels + 1):
            wk = w << (k - 1)
            setattr(self, f"m_down{k}", nn.Sequential(*[Res(wk) for _ in range(blocks)], nn.Conv2d(wk, 2 * wk, 2, 2, 0, bias=False)))
        self.m_body = nn.Sequential(*[Res(w << levels) for _ in range(blocks)])
        for k in range(levels, 0, -1):
            wk = w << (k - 1)
            setattr(self, f"m_up{k}", nn.Sequential(nn.ConvTranspose2d(2 * wk, wk, 2, 2, 0, bias=False), *[Res(wk) for _ in range(blocks)]))
        self.m_tail = nn.Conv2d(w, c, 3, 1, 1, bias=False)

    def forward(self, x0):
        xs = [self.m_head(x0)]
        for k in range(1, self.levels + 1):
            xs.append(getattr(self, f"m_down{k}")(xs[-1]))
        h = self.m_body(xs[-1])
        for k in range(self.levels, 0, -1):
            h = getattr(self, f"m_up{k}")(h + xs[k])
        t = self.m_tail(h + xs[0])
        return x0 + t if self.residual else t


def dc(i, o):
    return nn.Sequential(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                         nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU())


class Level(nn.Module):
    def __init__(self, i, o, up=False):
        super().__init__()
        if up:
            self.up = nn.ConvTranspose2d(2 * o, o, 2, stride=2)
        self.conv = dc(i, o)


class UNet(nn.Module):
    """src/models/unet.c's module (the doc comment there), batch_norm true."""
    def __init__(self, cin=3, classes=2, base=4, depth=2):
        super().__init__()
        w = [base << k for k in range(depth + 1)]
        self.depth = depth
        for k in range(1, depth + 1):
            setattr(self, f"down{k}", Level(cin if k == 1 else w[k - 2], w[k - 1]))
        self.bottleneck = Level(w[depth - 1], w[depth])
        for k in range(1, depth + 1):
            setattr(self, f"up{k}", Level(2 * w[k - 1], w[k - 1], up=True))
        self.out = nn.Conv2d(base, classes, 1)

    def forward(self, x):
        s, h = [], x
        for k in range(1, self.depth + 1):
            h = getattr(self, f"down{k}").conv(h if k == 1 else F.max_pool2d(h, 2))
            s.append(h)
        h = self.bottleneck.conv(F.max_pool2d(h, 2))
        for k in range(self.depth, 0, -1):
            lv = getattr(self, f"up{k}")
            h = lv.conv(torch.cat([s[k - 1], lv.up(h)], 1))
        return self.out(h)


def forward_case(name, config, model, shape):
    with torch.no_grad():
        for p in model.parameters():   # move PReLU slopes etc. off their defaults
            p.add_(0.05 * torch.randn(p.shape))
        for mod in model.modules():    # BatchNorm statistics off 0 and 1, so folding them is tested
            if isinstance(mod, nn.BatchNorm2d):
                mod.running_mean.copy_(0.2 * torch.randn(mod.running_mean.shape))
                mod.running_var.copy_(0.5 + torch.rand(mod.running_var.shape))
        x = torch.rand(*shape)
        y = model.eval()(x)
    t = {f"w.{k}": v.clone() for k, v in model.state_dict().items()}
    t.update({"x": x, "y": y})
    return ({"arch": name, "config": config}, t)


def main():
    torch.manual_seed(0)
    m = DnCNN()
    tensors = {f"init.{k}": v.clone() for k, v in m.state_dict().items()}
    n_batches, steps, sigma = 10, 50, 25 / 255
    clean = torch.rand(n_batches, 4, 1, 20, 20)
    noisy = clean + sigma * torch.randn(clean.shape)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=1e-4)
    losses = []
    m.train()
    for s in range(steps):
        b = s % n_batches
        opt.zero_grad()
        loss = F.mse_loss(m(noisy[b]), clean[b])
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    tensors.update({"clean": clean, "noisy": noisy, "losses": torch.tensor(losses, dtype=torch.float64)})
    tensors.update({f"final.{k}": v.clone() for k, v in m.state_dict().items()})
    cases = [({"width": 16, "depth": 5, "lr": 1e-3, "eta_min": 1e-4, "steps": steps, "batches": n_batches}, tensors)]
    cases.append(forward_case("rednet", '{"width":8,"depth":6}', RED(), (2, 1, 13, 11)))
    cases.append(forward_case("fsrcnn", '{"scale":3,"d":8,"s":4,"m":2}', FSRCNN(), (2, 1, 7, 6)))
    cases.append(forward_case("edsr", '{"scale":2,"width":8,"blocks":2}', EDSR(2), (2, 1, 6, 7)))
    cases.append(forward_case("edsr", '{"scale":4,"width":8,"blocks":2}', EDSR(4), (1, 1, 5, 6)))
    cases.append(forward_case("drunet", '{"width":4,"levels":2,"blocks":1}', DRUNet(), (2, 1, 8, 12)))
    cases.append(forward_case("drunet", '{"channels":3,"width":2,"levels":3,"blocks":2,"residual":0}',
                              DRUNet(3, 2, 3, 2, False), (1, 3, 16, 8)))
    cases.append(forward_case("dncnn", '{"width":8,"depth":5}', DnCNN(1, 8, 5), (2, 1, 9, 7)))
    cases.append(forward_case("unet", '{"in_channels":3,"num_classes":2,"base_width":4,"depth":2}', UNet(), (2, 3, 8, 12)))
    write("dncnn_parity", cases)


if __name__ == "__main__":
    main()
