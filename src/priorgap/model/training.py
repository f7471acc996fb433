"""Training and evaluating the VAE with the data held in memory as one tensor.

Likelihoods are in nats per image and comparable with the literature: training sees a fresh
Bernoulli draw of the pixels in every batch (dynamic binarisation, seeded), evaluation sees one
fixed seeded binarisation of the split and fixed noise, so two evaluations of one model agree.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch

from ..errors import ParamError, PriorgapError
from .vae import VAE

EVAL_SEED = 20_160_101  # the fixed binarisation and noise used by every evaluation


class TrainingError(PriorgapError):
    pass


def binarize(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One Bernoulli draw per pixel (u < x with u uniform; 3x faster than torch.bernoulli on CPU)."""
    return torch.rand(x.shape, generator=generator, device=x.device).lt_(x).float()


def fixed_binarization(x: torch.Tensor, seed: int = EVAL_SEED) -> torch.Tensor:
    return binarize(x, torch.Generator(device=x.device).manual_seed(seed))


@torch.no_grad()
def elbo(model: VAE, x_binary: torch.Tensor, batch_size: int = 2000) -> dict[str, float]:
    """Mean ELBO, reconstruction term -log p(x|z) and KL over a fixed binarised split, in nats."""
    model.eval()
    g = torch.Generator(device=x_binary.device).manual_seed(EVAL_SEED)
    recon_sum = kl_sum = 0.0
    for i in range(0, len(x_binary), batch_size):
        recon, kl = model(x_binary[i : i + batch_size], g)
        recon_sum += recon.sum().item()
        kl_sum += kl.sum().item()
    n = len(x_binary)
    return {"elbo": -(recon_sum + kl_sum) / n, "recon": recon_sum / n, "kl": kl_sum / n}


def kl_weight(beta: float, warmup_epochs: int, progress: float) -> float:
    """beta, ramped linearly from 0 over the first `warmup_epochs` (progress counts epochs)."""
    return beta if warmup_epochs == 0 else beta * min(1.0, progress / warmup_epochs)


def train(model: VAE, train_x: torch.Tensor, val_binary: torch.Tensor, params, on_epoch=None) -> list[dict]:
    """Adam on dynamically binarised mini-batches; returns one row of figures per epoch and calls
    `on_epoch(row, seconds)` after each (seconds apart: results repeat, timings do not).

    `params` is the `train` section of params.yaml. A non-finite loss stops training with a
    TrainingError (checked once per epoch, so a GPU is not synchronised after every step).
    """
    device = train_x.device
    g = torch.Generator(device=device).manual_seed(params.seed)
    if model.vamp is not None:
        k = model.cfg.prior_components
        if k > len(train_x):
            raise ParamError("model.prior.components", f"({k}) exceeds the {len(train_x)} training images the "
                             "pseudo-inputs start from; lower it")
        model.vamp.init_from(train_x[torch.randperm(len(train_x), generator=g, device=device)[:k]])
    # fused: one kernel per step instead of a dozen per parameter (benchmarks/train_speed.py)
    opt = torch.optim.Adam(model.parameters(), lr=params.lr, fused=True)
    n, bs = len(train_x), params.batch_size
    steps = math.ceil(n / bs)
    history = []
    for epoch in range(1, params.epochs + 1):
        model.train()
        start = time.perf_counter()
        # One gather per epoch, then every batch is a contiguous slice of it.
        shuffled = train_x[torch.randperm(n, generator=g, device=device)]
        sums = torch.zeros(2, device=device)
        for step in range(steps):
            xb = binarize(shuffled[step * bs : (step + 1) * bs], g)
            recon, kl = model(xb, g)
            recon, kl = recon.mean(), kl.mean()
            beta = kl_weight(params.beta, params.kl_warmup_epochs, epoch - 1 + step / steps)
            loss = recon + beta * kl
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sums += torch.stack([recon.detach(), kl.detach()]) * len(xb)
        recon_sum, kl_sum = sums.tolist()
        seconds = time.perf_counter() - start
        if not (math.isfinite(recon_sum) and math.isfinite(kl_sum)):
            raise TrainingError(
                f"training loss became non-finite in epoch {epoch} (recon {recon_sum / n}, KL {kl_sum / n}); "
                f"lower train.lr (now {params.lr}) or check the prepared data"
            )
        val = elbo(model, val_binary)
        row = {
            "epoch": epoch,
            "train_elbo": -(recon_sum + kl_sum) / n,
            "train_recon": recon_sum / n,
            "train_kl": kl_sum / n,
            "val_elbo": val["elbo"],
            "val_recon": val["recon"],
            "val_kl": val["kl"],
            "beta": kl_weight(params.beta, params.kl_warmup_epochs, epoch),
        }
        history.append(row)
        if on_epoch is not None:
            on_epoch(row, seconds)
    return history


def elbo_slope(history: list[dict], share: float = 0.2, key: str = "val_elbo") -> float | None:
    """Least-squares slope of `key` against epoch over the last `share` of the epochs (at least
    two), in nats per epoch: how much the model was still gaining when training stopped."""
    n = max(2, math.ceil(share * len(history)))
    if len(history) < 2:
        return None
    xs = [r["epoch"] for r in history[-n:]]
    ys = [r[key] for r in history[-n:]]
    mx, my = sum(xs) / n, sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


@torch.no_grad()
def encode(model: VAE, x: torch.Tensor, batch_size: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """mu and logvar of Q(z|x) for every row of x, as float32 numpy arrays."""
    model.eval()
    mus, logvars = [], []
    for i in range(0, len(x), batch_size):
        mu, logvar = model.encode(x[i : i + batch_size])
        mus.append(mu.cpu())
        logvars.append(logvar.cpu())
    return torch.cat(mus).numpy(), torch.cat(logvars).numpy()


def prior_components(model: VAE) -> tuple[np.ndarray, np.ndarray]:
    """mu and logvar (K, latent_dim) of the model's prior as a mixture of diagonal Gaussians: one
    standard component for N(0, I), the encoder at the K pseudo-inputs for a VampPrior."""
    if model.vamp is None:
        zeros = np.zeros((1, model.cfg.latent_dim), dtype=np.float32)
        return zeros, zeros
    return encode(model, model.vamp.inputs().detach())
