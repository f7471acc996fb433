"""Densities of the latent space, all behind one small interface (as pythae's samplers):

    density = fit_density(name, codes, params)   # fit to the training codes
    density.log_prob(z)                          # (M,) float64, nats
    density.sample(n, seed)                      # (n, d) float32
    save(density, path); load(path)              # torch.load(weights_only=True)-safe files

  prior      N(0, I), what users sample from today
  gaussian   the full-covariance Gaussian with q's mean and covariance (q's moment match)
  gmm        scikit-learn's GaussianMixture on one z ~ Q(z|x) per image (as pythae; default), or
             on mu with each component widened by its members' posterior variance
  aggregate  q itself (aggregate.Codes): pick i at random, then z ~ Q(z|x_i); replays training codes
  flow       a neural spline flow (zuko), trained on fresh draws from q
  two_stage  the second VAE of Dai & Wipf's two-stage VAE, trained on fresh draws from q

prior, gaussian and gmm are all Gaussian mixtures and share one implementation; flow and
two_stage live in neural_densities.py. FITTERS and LOADERS map each name to its code.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from .. import PriorgapError
from . import aggregate
from .aggregate import Codes
from ..common.files import load_or_explain
from .neural_densities import Flow, TwoStage


class Density(Protocol):
    """What the fit and evaluate stages need of any density of the latent space."""

    name: str

    def log_prob(self, z: torch.Tensor) -> torch.Tensor: ...  # (M,) float64, nats

    def sample(self, n: int, seed: int) -> torch.Tensor: ...  # (n, d) float32, seeded

    def state(self) -> dict: ...  # tensors, numbers and strings only: LOADERS[name] rebuilds it


# --- Gaussian mixtures: prior, gaussian, gmm ----------------------------------------------------


@dataclass
class Mixture:
    name: str
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, d)
    covs: torch.Tensor  # (K, d, d)
    chunk: int = 4096

    def __post_init__(self):
        self.weights, self.means, self.covs = (t.double() for t in (self.weights, self.means, self.covs))
        self._chol = torch.linalg.cholesky(self.covs)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        z = z.double()
        d = z.shape[1]
        half_logdet = torch.log(torch.diagonal(self._chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        const = torch.log(self.weights) - half_logdet - 0.5 * d * math.log(2 * math.pi)
        out = []
        for start in range(0, len(z), self.chunk):
            diff = (z[start : start + self.chunk, None, :] - self.means).permute(1, 2, 0)  # (K, d, m)
            white = torch.linalg.solve_triangular(self._chol, diff, upper=False)
            out.append(torch.logsumexp(const[:, None] - 0.5 * white.square().sum(1), dim=0))
        return torch.cat(out)

    def sample(self, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        k = torch.multinomial(self.weights, n, replacement=True, generator=g)
        eps = torch.randn(n, self.means.shape[1], generator=g, dtype=torch.float64)
        return (self.means[k] + torch.einsum("nij,nj->ni", self._chol[k], eps)).float()

    def state(self) -> dict:
        return {"weights": self.weights, "means": self.means, "covs": self.covs}


def prior(dim: int) -> Mixture:
    return Mixture("prior", torch.ones(1), torch.zeros(1, dim), torch.eye(dim)[None])


def moment_matched_gaussian(codes: Codes) -> Mixture:
    """The Gaussian with q's mean and covariance (the maximum-likelihood Gaussian for q)."""
    mean, cov = aggregate.moments(codes.mu, codes.logvar)
    return Mixture("gaussian", torch.ones(1), mean[None], cov[None])


def fit_gmm(codes: Codes, components: int, covariance_type: str, fit_on: str, seed: int) -> Mixture:
    """A GaussianMixture that describes q, not only its means.

    fit_on "z": fitted on one z ~ Q(z|x) per image (as pythae), so each component sees the
    posterior spread through the draws. fit_on "mu": fitted on the means (as the RAE paper), then
    each component's covariance is widened by its members' responsibility-weighted mean posterior
    variance, the second term of the law of total covariance. Without it, a dimension where mu
    barely varies (an inactive unit, or identical codes) gets a spike of width ~1e-3 while q has
    width ~1 there, and KL(q || gmm) runs to thousands of nats.
    """
    from sklearn.mixture import GaussianMixture

    data = codes.mu if fit_on == "mu" else codes.sample(len(codes.mu), seed)
    if components > len(data):
        raise PriorgapError(f"params.yaml: posterior.gmm.components ({components}) exceeds the {len(data)} training codes")
    data = data.double().numpy()
    gm = GaussianMixture(components, covariance_type=covariance_type, random_state=seed, reg_covar=1e-6)
    gm.fit(data)
    k, d = components, codes.dim
    covs = {
        "full": lambda c: c,
        "tied": lambda c: np.broadcast_to(c, (k, d, d)),
        "diag": lambda c: np.stack([np.diag(v) for v in c]),
        "spherical": lambda c: c[:, None, None] * np.eye(d),
    }[covariance_type](gm.covariances_)
    covs = torch.from_numpy(np.array(covs))
    if fit_on == "mu":
        resp = torch.from_numpy(gm.predict_proba(data))  # (N, K)
        sigma2 = codes.logvar.double().exp()
        # one pseudo-member with q's mean variance: a component that owns no code stays a density
        var = (resp.T @ sigma2 + sigma2.mean(0)) / (resp.sum(0)[:, None] + 1.0)  # (K, d)
        covs = covs + torch.diag_embed(var)
    return Mixture("gmm", torch.from_numpy(gm.weights_), torch.from_numpy(gm.means_), covs)


# --- fitting and files --------------------------------------------------------------------------


# posterior.seed + 0..2 seed the diagnostics' draws (from q, from the test codes, from each g):
# fitting draws its own stream, so no density is scored on the points it was fitted to.
FIT_SEED = 3
FITTERS = {
    "prior": lambda codes, p: prior(codes.dim),
    "gaussian": lambda codes, p: moment_matched_gaussian(codes),
    "gmm": lambda codes, p: fit_gmm(codes, p.gmm.components, p.gmm.covariance_type, p.gmm.fit_on, p.seed + FIT_SEED),
    "aggregate": lambda codes, p: dataclasses.replace(codes, chunk=p.chunk_size),
    "flow": lambda codes, p: Flow.fit(codes, p.flow, p.seed + FIT_SEED),
    "two_stage": lambda codes, p: TwoStage.fit(codes, p.two_stage, p.seed + FIT_SEED),
}
NAMES = tuple(FITTERS)
LOADERS = {
    **{kind: lambda kind, s: Mixture(kind, s["weights"], s["means"], s["covs"]) for kind in ("prior", "gaussian", "gmm")},
    "aggregate": lambda kind, s: Codes(s["mu"], s["logvar"]),
    "flow": lambda kind, s: Flow.from_state(s),
    "two_stage": lambda kind, s: TwoStage.from_state(s),
}


def fit_density(name: str, codes: Codes, params) -> Density:
    """Fit one density to the training codes; `params` is the `posterior` section."""
    return FITTERS[name](codes, params)


def save(density: Density, path: Path) -> None:
    torch.save({"kind": density.name, "state": density.state()}, path)


def load(path: Path) -> Density:
    def read(path):
        saved = torch.load(path, weights_only=True)
        return LOADERS[saved["kind"]](saved["kind"], saved["state"])

    return load_or_explain(path, "saved density", "fit_posterior", read)
