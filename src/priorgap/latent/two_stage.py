"""two_stage: the second VAE of Dai & Wipf's (2019) two-stage VAE, trained on fresh draws from q in
q's whitened coordinates; its log density is an importance-weighted estimate (a lower bound)."""
from __future__ import annotations

import math

import torch
from pydantic import Field
from torch import nn

from ..config.schema import Number, Section
from ..model.vae import gaussian_log_prob, kl_to_standard_normal, mlp
from .density import Entry, register, loadable
from .neural_densities import Trained, Whitening, fit_on_draws


class Params(Section):
    """posterior.two_stage"""

    hidden: int = Field(ge=1)
    steps: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: Number = Field(gt=0.0)
    kl_warmup: Number = Field(ge=0.0, le=1.0)  # share of steps over which the KL weight ramps 0 -> 1
    importance_samples: int = Field(ge=1)  # draws per z for the importance-weighted log g(z)


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


@loadable
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


register(Entry("two_stage", TwoStage, on_active=True, section="two_stage", candidate=True, params=Params))
