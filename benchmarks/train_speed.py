"""Seconds per training epoch on the full 60,000 MNIST training images, three ways; with --vamp,
the VampPrior's epoch against the N(0, I) model's.

    python benchmarks/train_speed.py [--reps 2] [--vamp [--latent 10]]

For the default model (784-500-500-2, mirrored decoder) and the widely copied PyTorch example VAE
(784-400-20, ReLU):
  ours        priorgap.model.training.train: the data in memory as one tensor, index-slice batches;
  dataloader  the example's loop: DataLoader(torchvision MNIST, ToTensor(), batch_size=128,
              shuffle=True), BCE on sigmoid outputs, default Adam;
  floor       the same forward+backward matrix multiplications alone (no data, no optimizer).
Repetitions are interleaved so the machine's noise hits all three alike; the best of each is shown.
Targets (2-core CPU): ours <= 1.2 x floor, dataloader >= 2.5 x ours.

--vamp: the default model (784-500-500-10 by default, --latent sets it) with N(0, I) and with a
VampPrior of K = 50, 100 and 500 pseudo-inputs, which pass through the encoder every step.
Interleaved, best of --reps; the ratio is to the N(0, I) epoch. Target: the default K <= 1.5x.
"""
import argparse
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]

import torch
import torch.nn.functional as F

from priorgap.config.device import to_tensor
from priorgap.data import mnist
from priorgap.model import training, vae

BATCH = 128
MODELS = {
    "default 784-500-500-2": vae.VAEConfig(2, 2, 500, 2, 500),
    "pytorch example 784-400-20": vae.VAEConfig(20, 1, 400, 1, 400),
}


VAMP_K = (0, 50, 100, 500)  # 0: N(0, I)


def ours(cfg, x, val) -> float:
    torch.manual_seed(0)
    model = vae.VAE(cfg)
    params = SimpleNamespace(epochs=1, batch_size=BATCH, lr=1e-3, seed=0, beta=1.0, kl_warmup_epochs=0)
    seconds = []
    training.train(model, x, val, params, on_epoch=lambda row, s: seconds.append(s))
    return seconds[0]


def dataloader(cfg, root) -> float:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(0)
    model = vae.VAE(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(datasets.MNIST(root, train=True, download=False, transform=transforms.ToTensor()),
                        batch_size=BATCH, shuffle=True)
    start = time.perf_counter()
    for data, _ in loader:
        data = data.view(-1, 784)
        mu, logvar = model.encode(data)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        bce = F.binary_cross_entropy(torch.sigmoid(model.decode(z)), data, reduction="sum")
        loss = bce + vae.kl_to_standard_normal(mu, logvar).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def floor(cfg, n) -> float:
    """Forward (x W^T), weight gradient (g^T h) and input gradient (g W, not for the pixels)."""
    model = vae.VAE(cfg)
    shapes = [(m.in_features, m.out_features) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    ws = [torch.randn(o, i) for i, o in shapes]
    hs = [torch.randn(BATCH, i) for i, _ in shapes]
    gs = [torch.randn(BATCH, o) for _, o in shapes]
    start = time.perf_counter()
    for _ in range(-(-n // BATCH)):
        for j, (w, h, g) in enumerate(zip(ws, hs, gs)):
            torch.mm(h, w.t())
            torch.mm(g.t(), h)
            if j > 0:
                torch.mm(g, w)
    return time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--vamp", action="store_true", help="only the VampPrior's epochs against N(0, I)")
    ap.add_argument("--latent", type=int, default=10, help="latent size of the --vamp models")
    args = ap.parse_args()

    arrays, source = mnist.load(ROOT / "data" / "raw")
    with tempfile.TemporaryDirectory() as root:
        raw = Path(root) / "MNIST" / "raw"  # torchvision's layout, so DataLoader reads real IDX files
        raw.mkdir(parents=True)
        for key, (fname, _) in mnist.FILES.items():
            (raw / fname).write_bytes(mnist.idx_bytes(arrays[key]))
        x = to_tensor(arrays["train_images"], "cpu")
        val = training.fixed_binarization(x[:1000])
        print(f"MNIST from {source}: {len(x)} training images; torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads; best of {args.reps} interleaved runs\n")
        if args.vamp:
            models = {
                f"vamp K={k}" if k else "N(0,I)": vae.VAEConfig(
                    args.latent, 2, 500, 2, 500, "vamp" if k else "normal", k
                )
                for k in VAMP_K
            }
            times = {name: [] for name in models}
            for _ in range(args.reps):
                for name, cfg in models.items():
                    times[name].append(ours(cfg, x, val))
            base = min(times["N(0,I)"])
            for name, t in times.items():
                print(
                    f"latent {args.latent}  {name:12s} {min(t):6.2f}s per epoch  {min(t) / base:5.2f}x the N(0,I) epoch"
                )
            return
        print(f"{'model':28s} {'ours':>7s} {'loader':>7s} {'floor':>7s}  {'ours/floor':>10s} {'loader/ours':>11s}")
        for name, cfg in MODELS.items():
            best = {"ours": [], "loader": [], "floor": []}
            for _ in range(args.reps):
                best["ours"].append(ours(cfg, x, val))
                best["loader"].append(dataloader(cfg, root))
                best["floor"].append(floor(cfg, len(x)))
            o, d, f = (min(best[k]) for k in ("ours", "loader", "floor"))
            print(
                f"{name:28s} {o:6.2f}s {d:6.2f}s {f:6.2f}s  {o / f:9.2f}x {d / o:10.2f}x"
                f"   (targets: <= 1.2x {'met' if o / f <= 1.2 else 'MISSED'}, "
                f">= 2.5x {'met' if d / o >= 2.5 else 'MISSED'})"
            )


if __name__ == "__main__":
    main()
