"""What the latent densities that are trained networks share (flow.py, a normalising flow, and
two_stage.py, the second stage of Dai & Wipf's (2019) two-stage VAE).

Both are fitted by stochastic gradient on fresh draws from q each step: q is known exactly, so
they never see one point twice and cannot overfit the N codes. Both work in q's whitened
coordinates u = L^-1 (z - m), where m and L L^T are q's mean and covariance. The map is affine
with an exact log-determinant, so densities stay exact; a Gaussian q is then N(0, I) in u, which
both models represent from the start, and inactive units need no learning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PriorgapError
from . import aggregate
from .density import LatentDensity


@dataclass
class Whitening:
    mean: torch.Tensor  # (d,)
    chol: torch.Tensor  # (d, d), lower triangular: cov = chol @ chol.T

    @classmethod
    def of(cls, mu: torch.Tensor, logvar: torch.Tensor) -> "Whitening":
        mean, cov = aggregate.moments(mu, logvar)
        return cls(mean.float(), torch.linalg.cholesky(cov).float())

    def to_u(self, z: torch.Tensor) -> torch.Tensor:
        return torch.linalg.solve_triangular(self.chol, (z.float() - self.mean).T, upper=False).T

    def to_z(self, u: torch.Tensor) -> torch.Tensor:
        return self.mean + u @ self.chol.T

    def log_det(self) -> float:
        """log |dz/du|: subtract it from a density in u to get the density in z."""
        return torch.log(torch.diagonal(self.chol)).sum().item()

    def state(self) -> dict:
        return {"mean": self.mean, "chol": self.chol}


def fit_on_draws(module: nn.Module, loss_fn, white: Whitening, mu, logvar, steps: int, batch_size: int,
                 lr: float, seed: int, what: str, stop: "EarlyStop | None" = None) -> int:
    """Adam with a cosine schedule over `steps`, one fresh batch of whitened draws from q per step;
    `loss_fn(u, progress)` gets the share of steps done. With `stop`, training ends once the
    validation score has not risen for `stop.patience` checks, and the module keeps the weights of
    its best check. Returns the steps taken."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    module.train()
    for step in range(steps):
        loss = loss_fn(white.to_u(aggregate.sample(mu, logvar, batch_size, g)), step / steps)
        if not torch.isfinite(loss):
            raise PriorgapError(f"{what} training diverged (loss {loss.item()}); lower posterior.{what}.lr (now {lr})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if stop is not None and (step + 1) % stop.every == 0 and stop.check(module, step + 1):
            break
    module.eval()
    if stop is None:
        return steps
    stop.restore(module)
    return stop.best_step


class EarlyStop:
    """Stops training on the validation codes (Prechelt 1998): every `every` steps the score
    (mean log-density of the validation draws, higher is better) is taken; once `patience` checks
    in a row have not beaten the best by `min_gain`, training stops and the best check's weights
    come back. The validation draws were seen by no step, so the stopped density stays a density
    fitted without the test images: every held-out gain of it is still a lower bound."""

    def __init__(self, score, every: int, patience: int, min_gain: float = 1e-3):
        self.score, self.every, self.patience, self.min_gain = score, every, patience, min_gain
        self.best, self.best_step, self.best_state, self.waited = -math.inf, 0, None, 0

    @torch.no_grad()
    def check(self, module: nn.Module, step: int) -> bool:
        module.eval()
        value = self.score()
        module.train()
        if value > self.best + self.min_gain:
            self.best, self.best_step, self.waited = value, step, 0
            self.best_state = {k: v.clone() for k, v in module.state_dict().items()}
            return False
        self.waited += 1
        return self.waited >= self.patience

    def restore(self, module: nn.Module) -> None:
        if self.best_state is not None:
            module.load_state_dict(self.best_state)
        module.eval()


class Trained(LatentDensity):
    """What a trained density saves: its constructor's config, its network and its whitening."""

    config: dict
    net: nn.Module
    white: Whitening

    def state(self) -> dict:
        return {"config": self.config, "state_dict": self.net.state_dict(), "white": self.white.state()}

    @classmethod
    def from_state(cls, state: dict):
        density = cls(**state["config"], white=Whitening(**state["white"]))
        density.net.load_state_dict(state["state_dict"])
        density.net.eval()
        return density
