"""The VAE's own prior p, fixed by training, not fitted: N(0, I), or a VampPrior (the mixture of
Q(z|u_k) at its K learned pseudo-inputs). encode writes it (data/codes/prior.npz) and every gain
and KL of fit_posterior is measured against it.

The two carry as methods what the diagnostics need of a prior, so no caller asks which one it
has: N(0, I) keeps its closed forms (and the figures their draws), a VampPrior is measured by
Monte Carlo through the same calls.
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from ..model.vae import gaussian_log_prob, kl_to_standard_normal
from . import aggregate
from .aggregate import Codes, mc_mean
from .density import Mixture, loadable


def gaussian_kl(mean: torch.Tensor, cov: torch.Tensor, mean_p: torch.Tensor, cov_p: torch.Tensor) -> float:
    """KL(N(mean, cov) || N(mean_p, cov_p))."""
    d, diff = len(mean), mean_p - mean
    solve = torch.linalg.solve(cov_p, torch.cat([cov, diff[:, None]], dim=1))
    logdet = torch.linalg.slogdet(cov_p).logabsdet - torch.linalg.slogdet(cov).logabsdet
    return 0.5 * (torch.trace(solve[:, :d]) + diff @ solve[:, d] - d + logdet).item()


@loadable
class StandardNormal(Mixture):
    """N(0, I), the prior of a VAE with model.prior.kind normal: a one-component Mixture (it samples
    and saves as one), whose log-density is the closed form."""

    kind = "standard_normal"
    closed_form = True  # its marginals are N(0, 1): the figures draw them, not draws of it

    def __init__(self, dim: int):
        super().__init__("prior", torch.ones(1), torch.zeros(1, dim), torch.eye(dim)[None])

    @classmethod
    def from_state(cls, state: dict) -> "StandardNormal":
        return cls(state["means"].shape[1])

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return aggregate.log_standard_normal(z)

    def restrict(self, units: torch.Tensor) -> "StandardNormal":
        """The marginal of some units (a bool mask), as Codes.restrict."""
        return StandardNormal(int(units.sum()))

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.means[0], self.covs[0]

    def draws(self, m: int, generator: torch.Generator, seed: int) -> torch.Tensor:
        """The diagnostics' M draws: they continue q's stream (`generator`), so the figures keep them."""
        return torch.randn(m, self.means.shape[1], generator=generator)

    def average_kl(self, codes: Codes, seed: int) -> tuple[float, float]:
        """Mean KL(Q(z|x) || p) over the codes, and its standard error: in closed form (error 0)."""
        return kl_to_standard_normal(codes.mu.double(), codes.logvar.double()).mean().item(), 0.0

    def gaussian_kl(self, mean: torch.Tensor, cov: torch.Tensor) -> float:
        """KL(N(mean, cov) || N(0, I)) = (tr cov + |mean|^2 - d - log det cov) / 2."""
        d = len(mean)
        return 0.5 * (torch.trace(cov) + mean @ mean - d - torch.linalg.slogdet(cov).logabsdet).item()

    def scale_and_correlation(self, mean: torch.Tensor, cov: torch.Tensor) -> tuple[float, float]:
        """gaussian_kl split exactly into a per-dimension part (each unit's mean and variance against
        0 and 1: scale) and the rest, -1/2 log det of the correlation matrix (correlation):
        sum_j (cov_jj + mean_j^2 - 1 - log cov_jj) / 2 + (sum_j log cov_jj - log det cov) / 2."""
        var = torch.diagonal(cov)
        scale = 0.5 * (var + mean.square() - 1 - var.log()).sum().item()
        return scale, 0.5 * (var.log().sum() - torch.linalg.slogdet(cov).logabsdet).item()

    def ks_test(self, z: np.ndarray):
        """Per-dimension Kolmogorov-Smirnov test of draws z (M, d) against N(0, 1)."""
        from scipy import stats

        return stats.ks_1samp(z, stats.norm.cdf, axis=0)


@loadable
class VampPrior(Codes):
    """(1/K) sum_k Q(z | u_k): exactly a mixture of codes, those of the K pseudo-inputs."""

    kind = "vamp_prior"
    closed_form = False
    replays_q = False

    @classmethod
    def from_state(cls, state: dict) -> "VampPrior":
        return cls(state["mu"], state["logvar"], name="prior")

    def draws(self, m: int, generator: torch.Generator, seed: int) -> torch.Tensor:
        """The diagnostics' M draws, from a stream of their own (`seed`)."""
        return self.sample(m, seed)

    def average_kl(self, codes: Codes, seed: int) -> tuple[float, float]:
        """Mean KL(Q(z|x) || p) over the codes, and its standard error: one draw z ~ Q(z|x) per
        image of log Q(z|x) - log p(z)."""
        mu, logvar = codes.mu.double(), codes.logvar.double()
        z = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * torch.exp(
            0.5 * logvar
        )
        return mc_mean(gaussian_log_prob(z, mu, logvar) - self.log_prob(z))

    def gaussian_kl(self, mean: torch.Tensor, cov: torch.Tensor) -> float:
        """KL(N(mean, cov) || the prior's moment-matched Gaussian)."""
        return gaussian_kl(mean, cov, *self.moments())

    def scale_and_correlation(self, mean: torch.Tensor, cov: torch.Tensor) -> tuple[None, None]:
        """A VampPrior's log density is not quadratic: the split of N(0, I) does not hold."""
        return None, None

    def ks_test(self, z: np.ndarray):
        """Per-dimension Kolmogorov-Smirnov test of draws z (M, d) against the prior's marginals,
        the mean of its components' normal cdfs."""
        from scipy import special, stats

        mu, sd = self.mu.double().numpy(), torch.exp(0.5 * self.logvar.double()).numpy()
        tests = [
            stats.ks_1samp(z[:, j], lambda x, j=j: special.ndtr((x[:, None] - mu[:, j]) / sd[:, j]).mean(1))
            for j in range(z.shape[1])
        ]
        return SimpleNamespace(
            statistic=np.array([t.statistic for t in tests]), pvalue=np.array([t.pvalue for t in tests])
        )


def model_prior(components: Codes) -> StandardNormal | VampPrior:
    """The VAE's prior from encode's prior file, a mixture of diagonal Gaussians: a single standard
    one is N(0, I), else the VampPrior of its K components."""
    if len(components.mu) == 1 and not components.mu.any() and not components.logvar.any():
        return StandardNormal(components.dim)
    return VampPrior(components.mu, components.logvar, name="prior")
