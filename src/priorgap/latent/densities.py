"""Densities of the latent space, all behind one small interface (as pythae's samplers):

    density = fit_density(name, codes, params)   # fit to the training codes
    density.log_prob(z)                          # (M,) float64, nats
    density.sample(n, seed)                      # (n, d) float32
    save(density, path); load(path)              # torch.load(weights_only=True)-safe files

  prior      the VAE's own prior, fixed by training, not fitted: N(0, I) (StandardNormal), or a
             VampPrior, the mixture of Q(z|u_k) at its pseudo-inputs (a Codes named prior);
             encode writes it (model_prior), and every gain is measured against it
  gaussian   the full-covariance Gaussian with q's mean and covariance (q's moment match)
  gmm        a Gaussian mixture (EM, em.py) on `draws` z ~ Q(z|x) per image (pythae uses one), or
             on mu with each component widened by its members' posterior variance
  aggregate  q itself (aggregate.Codes): pick i at random, then z ~ Q(z|x_i); replays training codes
  flow       a neural spline flow (zuko), trained on fresh draws from q
  two_stage  the second VAE of Dai & Wipf's two-stage VAE, trained on fresh draws from q

N(0, I), gaussian and gmm are all Gaussian mixtures and share one implementation; flow and
two_stage live in neural_densities.py. FITTERS and LOADERS map each name to its code.

gmm, flow and two_stage are fitted on the active units only (OnActive), times the moment-matched
Gaussian of the inactive ones: a mixture or a network spends its capacity where q has structure,
and the product is still a density of z, so every held-out gain stays a lower bound. A density
with a capacity grid (CAPACITY: gmm's components) is fitted at each capacity, and the caller keeps
the one the validation codes prefer (priorgap.latent.capacity).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from .. import PriorgapError
from . import aggregate, em
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

    def __post_init__(self):
        self.weights, self.means, self.covs = (t.double() for t in (self.weights, self.means, self.covs))
        self._chol = torch.linalg.cholesky(self.covs)
        self._coef = em.coefficients(self.weights, self.means, self.covs)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        # EM's expanded quadratic form: one matrix product over all components per block of rows,
        # where a triangular solve per component and block took 8 s for the 500,000 draws of the
        # ex-post IWAE bound (13 units, 200 components)
        return em.log_density(z.double(), self._coef)

    def sample(self, n: int, seed: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        k = torch.multinomial(self.weights, n, replacement=True, generator=g)
        eps = torch.randn(n, self.means.shape[1], generator=g, dtype=torch.float64)
        return (self.means[k] + torch.einsum("nij,nj->ni", self._chol[k], eps)).float()

    def state(self) -> dict:
        return {"weights": self.weights, "means": self.means, "covs": self.covs}


class StandardNormal(Mixture):
    """N(0, I), the prior of a VAE with model.prior.kind normal: a one-component Mixture (it samples
    and saves as one), whose log-density is the closed form the diagnostics always used."""

    def __init__(self, dim: int):
        super().__init__("prior", torch.ones(1), torch.zeros(1, dim), torch.eye(dim)[None])

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return aggregate.log_standard_normal(z)

    def restrict(self, units: torch.Tensor) -> "StandardNormal":
        """The marginal of some units (a bool mask), as Codes.restrict."""
        return StandardNormal(int(units.sum()))

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.means[0], self.covs[0]


def model_prior(components: Codes) -> Mixture | Codes:
    """The VAE's prior from encode's prior file, a mixture of diagonal Gaussians: a single standard
    one is N(0, I) (StandardNormal, so an N(0, I) model's figures keep their closed forms); else the
    VampPrior (1/K) sum_k Q(z | u_k), which is exactly a Codes of its K components."""
    if len(components.mu) == 1 and not components.mu.any() and not components.logvar.any():
        return StandardNormal(components.dim)
    return Codes(components.mu, components.logvar, name="prior")


def moment_matched_gaussian(codes: Codes) -> Mixture:
    """The Gaussian with q's mean and covariance (the maximum-likelihood Gaussian for q)."""
    mean, cov = aggregate.moments(codes.mu, codes.logvar)
    return Mixture("gaussian", torch.ones(1), mean[None], cov[None])


def fit_gmm(codes: Codes, components: int, covariance_type: str, fit_on: str, seed: int, draws: int = 1) -> Mixture:
    """A Gaussian mixture (fitted by EM, em.py) that describes q, not only its means.

    fit_on "z": fitted on `draws` z ~ Q(z|x) per image (pythae uses one), so each component sees
    the posterior spread through the draws; more draws feed more components. fit_on "mu": fitted
    on the means (as the RAE paper), then each component's covariance is widened by its members'
    responsibility-weighted mean posterior variance, the second term of the law of total
    covariance. Without it, a dimension where mu barely varies (an inactive unit, or identical
    codes) gets a spike of width ~1e-3 while q has width ~1 there, and KL(q || gmm) runs to
    thousands of nats.
    """
    data = codes.mu if fit_on == "mu" else codes.sample(draws * len(codes.mu), seed)
    if components > len(data):
        raise PriorgapError(f"params.yaml: posterior.gmm.components ({components}) exceeds the {len(data)} training codes")
    weights, means, covs = em.fit(data, components, covariance_type, seed)
    if fit_on == "mu":
        resp = em.e_step(data.double(), weights, means, covs)[0]
        sigma2 = codes.logvar.double().exp()
        # one pseudo-member with q's mean variance: a component that owns no code stays a density
        var = (resp.T @ sigma2 + sigma2.mean(0)) / (resp.sum(0)[:, None] + 1.0)  # (K, d)
        covs = covs + torch.diag_embed(var)
    return Mixture("gmm", weights, means, covs)


# --- the active units apart -------------------------------------------------------------------


@dataclass
class OnActive:
    """inner(z_active) x rest(z_inactive): a density of z whose inner part sees only the units that
    carry information. `rest` is the moment-matched Gaussian of the inactive units, which are
    N(0, 1) up to a small spread of their means."""

    inner: Density
    rest: Mixture
    active: torch.Tensor  # (d,) bool

    @property
    def name(self) -> str:
        return self.inner.name

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.inner.log_prob(z[:, self.active]).double() + self.rest.log_prob(z[:, ~self.active])

    def sample(self, n: int, seed: int) -> torch.Tensor:
        z = torch.empty(n, len(self.active))
        z[:, self.active] = self.inner.sample(n, seed).float()
        z[:, ~self.active] = self.rest.sample(n, seed + 1)
        return z

    def state(self) -> dict:
        return {"active": self.active, "inner": self.inner.state(), "rest": self.rest.state()}


# --- fitting and files --------------------------------------------------------------------------


# posterior.seed + 0..2 seed the diagnostics' draws (from q, from the test codes, from each g):
# fitting draws its own stream, so no density is scored on the points it was fitted to.
FIT_SEED = 3
# name -> fit(codes, posterior params, capacity); capacity is None for a density without a grid
FITTERS = {
    "gaussian": lambda codes, p, c: moment_matched_gaussian(codes),
    "gmm": lambda codes, p, c: fit_gmm(codes, c, p.gmm.covariance_type, p.gmm.fit_on, p.seed + FIT_SEED, p.gmm.draws),
    "aggregate": lambda codes, p, c: dataclasses.replace(codes, chunk=p.chunk_size),
    "flow": lambda codes, p, c: Flow.fit(codes, p.flow, p.seed + FIT_SEED),
    "two_stage": lambda codes, p, c: TwoStage.fit(codes, p.two_stage, p.seed + FIT_SEED),
}
NAMES = ("prior", *FITTERS)  # the prior is the model's own (model_prior), the others are fitted to q
ON_ACTIVE = ("gmm", "flow", "two_stage")  # fitted on the active units (q's moments and q itself need no help)
# name -> (what its capacity is called, the capacities params.yaml lists)
CAPACITY = {"gmm": ("components", lambda p: p.gmm.components)}
LOADERS = {
    **{kind: lambda kind, s: Mixture(kind, s["weights"], s["means"], s["covs"]) for kind in ("gaussian", "gmm")},
    "prior": lambda kind, s: Codes(s["mu"], s["logvar"], name="prior") if "mu" in s else StandardNormal(s["means"].shape[1]),
    "aggregate": lambda kind, s: Codes(s["mu"], s["logvar"]),
    "flow": lambda kind, s: Flow.from_state(s),
    "two_stage": lambda kind, s: TwoStage.from_state(s),
}


def capacities(name: str, params) -> list:
    """The capacities to try for `name`, smallest first; [None] for a density without a grid."""
    if name not in CAPACITY:
        return [None]
    values = CAPACITY[name][1](params)
    return sorted(set(values)) if isinstance(values, (list, tuple)) else [values]


def fit_density(name: str, codes: Codes, params, capacity=None) -> Density:
    """Fit one density to the training codes; `params` is the `posterior` section, `capacity` one of
    capacities(name, params) (None: the only one there is)."""
    if name not in FITTERS:
        raise PriorgapError(f"{name}: not a density fitted to q (fitted: {', '.join(FITTERS)}); the prior is the model's own (model_prior)")
    if capacity is None:
        grid = capacities(name, params)
        if len(grid) > 1:
            raise PriorgapError(f"{name}: {len(grid)} capacities to choose from; fit each (priorgap.latent.capacity)")
        capacity = grid[0]
    active = aggregate.active_units(codes.mu)
    if name in ON_ACTIVE and active.any() and not active.all():
        inner = FITTERS[name](codes.restrict(active), params, capacity)
        return OnActive(inner, moment_matched_gaussian(codes.restrict(~active)), active)
    return FITTERS[name](codes, params, capacity)


def save(density: Density, path: Path) -> None:
    torch.save({"kind": density.name, "state": density.state()}, path)


def from_state(kind: str, state: dict) -> Density:
    if "active" in state:  # an OnActive: the inner density's own state inside
        return OnActive(from_state(kind, state["inner"]), LOADERS["gaussian"]("gaussian", state["rest"]), state["active"])
    return LOADERS[kind](kind, state)


def load(path: Path) -> Density:
    def read(path):
        saved = torch.load(path, weights_only=True)
        return from_state(saved["kind"], saved["state"])

    return load_or_explain(path, "saved density", "fit_posterior", read)
