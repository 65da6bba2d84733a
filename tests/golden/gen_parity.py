"""The demo's auto-encoder (src/models/dae.c) trained for 20 Adam steps in
PyTorch: initial weights, the batches and the loss curve, so test_parity.c
can check that encdec's training loop, not only its ops, matches."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from golden_common import write


class DAE(nn.Module):
    def __init__(self, c=3, w=8):
        super().__init__()
        self.enc1 = nn.Sequential(nn.Conv2d(c, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU())
        self.dec2 = nn.Sequential(nn.ConvTranspose2d(2 * w, w, 3, padding=1), nn.ReLU())
        self.dec1 = nn.Sequential(nn.ConvTranspose2d(w, w, 3, padding=1), nn.ReLU(), nn.ConvTranspose2d(w, c, 3, padding=1))

    def forward(self, x):
        e1 = self.enc1(x)
        p1, i1 = F.max_pool2d(e1, 2, return_indices=True)
        e2 = self.enc2(p1)
        p2, i2 = F.max_pool2d(e2, 2, return_indices=True)
        d2 = self.dec2(F.max_unpool2d(p2, i2, 2, output_size=e2.shape[-2:]))
        return self.dec1(F.max_unpool2d(d2, i1, 2, output_size=e1.shape[-2:]))


def main():
    torch.manual_seed(0)
    m = DAE()
    tensors = {f"init.{k}": v.clone() for k, v in m.state_dict().items()}
    n_batches, steps = 5, 20
    clean = torch.rand(n_batches, 4, 3, 16, 16)
    noisy = clean + 0.2 * torch.randn(clean.shape)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    losses = []
    for s in range(steps):
        b = s % n_batches
        opt.zero_grad()
        loss = F.mse_loss(m(noisy[b]), clean[b])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    tensors.update({"clean": clean, "noisy": noisy, "losses": torch.tensor(losses, dtype=torch.float64)})
    tensors.update({f"final.{k}": v.clone() for k, v in m.state_dict().items()})
    write("parity", [({"width": 8, "in_channels": 3, "lr": 1e-3, "steps": steps, "batches": n_batches}, tensors)])


if __name__ == "__main__":
    main()
