"""The latent densities that are trained networks: a normalising flow, and the second stage of
Dai & Wipf's (2019) two-stage VAE.

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

from .. import PriorgapError
from . import aggregate
from .density import LatentDensity
from ..model.vae import gaussian_log_prob, kl_to_standard_normal, mlp


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


ONE_UNIT_LR_SCALE = 10


class Flow(Trained):
    """A neural spline flow (zuko) on the whitened codes: coupling by default, or fully
    autoregressive (MAF-style, `autoregressive: true`)."""

    name = kind = "flow"

    def __init__(self, dim: int, transforms: int, hidden: int, autoregressive: bool = False, seed: int = 0,
                 white: Whitening | None = None):
        import zuko

        self.config = {"dim": dim, "transforms": transforms, "hidden": hidden, "autoregressive": autoregressive}
        self.white = white or Whitening(torch.zeros(dim), torch.eye(dim))
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, global RNG untouched
            torch.manual_seed(seed)
            # A coupling flow (passes=2) samples in two network passes; a fully autoregressive one in
            # `dim` passes: at latent size 50 that took 21 s per 10,000 samples against 0.6 s.
            self.net = zuko.flows.NSF(features=dim, transforms=transforms, hidden_features=[hidden, hidden],
                                      passes=None if autoregressive else 2)

    @classmethod
    def fit(cls, codes, params, capacity, seed: int, val_z: torch.Tensor | None = None) -> "Flow":
        """`params` is the posterior section: this reads posterior.flow. `capacity` is the hidden
        width (one of posterior.flow.hidden). With validation draws `val_z`, training stops once
        their log-density stops rising (EarlyStop), at most posterior.flow.steps steps: a step
        count fixed in advance left the flow at about 60% of the GMM's held-out gain."""
        p = params.flow
        white = Whitening.of(codes.mu, codes.logvar)
        flow = cls(codes.dim, p.transforms, capacity, p.autoregressive, seed, white)
        # On one unit there is nothing to condition on: zuko makes each spline's knots free
        # parameters, with no network in front. Adam moves a parameter by about lr per step, so 500
        # steps at 3e-3 cannot reach two modes (KL(q || flow) 0.28 nats where a mixture gets 0.005);
        # the network's output layer, which a wider flow has, moves its knots some ten times faster.
        lr = p.lr * (ONE_UNIT_LR_SCALE if codes.dim == 1 else 1)
        stop = None
        if val_z is not None:
            u_val = white.to_u(val_z)
            stop = EarlyStop(lambda: flow.net().log_prob(u_val).mean().item(), p.check_every, p.patience)
        steps = fit_on_draws(flow.net, lambda u, _: -flow.net().log_prob(u).mean(), white, codes.mu, codes.logvar,
                             p.steps, p.batch_size, lr, seed, "flow", stop)
        flow.fit_info = {"steps": steps}
        return flow

    @torch.no_grad()
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        log_u = torch.cat([self.net().log_prob(self.white.to_u(c)) for c in z.split(8192)]).double()
        return log_u - self.white.log_det()

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):  # zuko draws from the global generator
            torch.manual_seed(seed)
            return self.white.to_z(self.net().sample((n,))).float()


class SecondStage(nn.Module):
    """A small VAE on the whitened codes u: Q(v|u) diagonal Gaussian, prior N(0, I) on v, and a
    Gaussian decoder p(u|v) = N(f(v), diag gamma) with a learned gamma per dimension (Dai & Wipf
    learn one gamma; one per dimension lets inactive units stay pure noise)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.encoder = mlp([dim, hidden, hidden, 2 * dim])
        self.decoder = mlp([dim, hidden, hidden, dim])
        self.log_gamma = nn.Parameter(torch.zeros(dim))

    def gamma(self) -> torch.Tensor:
        return self.log_gamma.clamp(min=-12.0)  # keeps the Gaussian decoder a density

    def neg_elbo(self, u: torch.Tensor, beta: float = 1.0, generator=None) -> torch.Tensor:
        m, lv = self.encoder(u).chunk(2, dim=-1)
        v = m + torch.randn(m.shape, generator=generator) * torch.exp(0.5 * lv)
        return -gaussian_log_prob(u, self.decoder(v), self.gamma()) + beta * kl_to_standard_normal(m, lv)


class TwoStage(Trained):
    """The second stage of the two-stage VAE as a density of z. log_prob is an importance-weighted
    estimate with `importance_samples` draws from Q(v|u) (Burda et al. 2015): its expectation is a
    lower bound on log g(z) that tightens as the draws grow, so KL(q || g) is overstated, never
    understated. Samples go through the decoder with its noise, so sample and log_prob describe the
    same density.

    Trained on whitened codes, the collapsed model (v ignored, gamma = 1) is the moment-matched
    Gaussian and a local optimum from the first step: measured on the default codes it stayed
    there (held-out gain 0.017 nats against the flow's 0.31). The KL weight therefore ramps from 0
    to 1 over the first `kl_warmup` share of the steps (Bowman et al. 2016), so the decoder learns
    to use v before the KL term prices it; the remaining steps train on the true ELBO."""

    name = kind = "two_stage"

    def __init__(self, dim: int, hidden: int, importance_samples: int, seed: int = 0, white: Whitening | None = None):
        self.config = {"dim": dim, "hidden": hidden, "importance_samples": importance_samples, "seed": seed}
        self.white = white or Whitening(torch.zeros(dim), torch.eye(dim))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = SecondStage(dim, hidden)

    @classmethod
    def fit(cls, codes, params, capacity, seed: int, val_z=None) -> "TwoStage":
        """`params` is the posterior section: this reads posterior.two_stage."""
        p = params.two_stage
        white = Whitening.of(codes.mu, codes.logvar)
        model = cls(codes.dim, p.hidden, p.importance_samples, seed, white)
        g = torch.Generator().manual_seed(seed + 1)

        def loss(u, progress):
            beta = min(1.0, progress / p.kl_warmup) if p.kl_warmup > 0 else 1.0
            return model.net.neg_elbo(u, beta, g).mean()

        fit_on_draws(model.net, loss, white, codes.mu, codes.logvar,
                     p.steps, p.batch_size, p.lr, seed, "two_stage")
        return model

    @torch.no_grad()
    def log_prob(self, z: torch.Tensor, max_rows: int = 65536) -> torch.Tensor:
        k = self.config["importance_samples"]
        g = torch.Generator().manual_seed(self.config["seed"])  # the same z always scores the same
        zero = torch.zeros(())
        out = []
        for chunk in z.split(max(1, max_rows // k)):
            u = self.white.to_u(chunk)
            m, lv = self.net.encoder(u).chunk(2, dim=-1)
            v = m + torch.randn((k, *m.shape), generator=g) * torch.exp(0.5 * lv)  # (k, b, d)
            log_w = (gaussian_log_prob(u, self.net.decoder(v), self.net.gamma()) + gaussian_log_prob(v, zero, zero)
                     - gaussian_log_prob(v, m, lv))
            out.append(torch.logsumexp(log_w.double(), dim=0) - math.log(k))
        return torch.cat(out) - self.white.log_det()

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        d = self.config["dim"]
        v = torch.randn(n, d, generator=g)
        u = self.net.decoder(v) + torch.randn(n, d, generator=g) * torch.exp(0.5 * self.net.gamma())
        return self.white.to_z(u).float()
