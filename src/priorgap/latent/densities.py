"""The densities fitted to q, in one registry: fit_posterior fits every entry, evaluate samples
every one, and the headline and the study read their names from here.

  gaussian   the full-covariance Gaussian with q's mean and covariance (q's moment match)
  gmm        a Gaussian mixture (EM, em.py) on `draws` z ~ Q(z|x) per image (pythae uses one), or
             on mu with each component widened by its members' posterior variance
  aggregate  q itself (aggregate.Codes): pick i at random, then z ~ Q(z|x_i); replays training codes
  flow       a neural spline flow (zuko), trained on fresh draws from q until the validation codes
             stop gaining (neural_densities.py)
  two_stage  the second VAE of Dai & Wipf's two-stage VAE, trained on fresh draws from q
  widened    q with every posterior widened by one bandwidth h (widened.py): a bound, not a sampler
  tempered   N(0, tau^2 I), the prior at a temperature tau: the practitioner's first fix, not fitted to q's shape

Beside them stands the model's own prior (priors.py), which is not fitted: every gain is measured
against it. Each density has the interface of density.py. Adding one, say a kernel density
estimate, takes its class, one `register(Entry(...))` line and its params section
(docs/adding-a-density.md).

A density `on_active` is fitted on the active units only, times the moment-matched Gaussian of the
inactive ones (density.OnActive): a mixture or a network spends its capacity where q has
structure. A density with a `capacity` key is fitted at each value its params section lists, and
fit_posterior keeps the one the validation codes prefer (capacity.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .. import PriorgapError
from ..common import config
from ..common.files import load_or_explain
from . import aggregate, em, seeds
from .aggregate import Codes
from .density import KINDS, Mixture, OnActive, loadable
from .neural_densities import Flow, TwoStage
from .widened import Widened
from .priors import StandardNormal, VampPrior  # noqa: F401  (their kinds, for load)


@loadable
class MomentMatched(Mixture):
    """The Gaussian with q's mean and covariance (the maximum-likelihood Gaussian for q)."""

    kind = "gaussian"

    @classmethod
    def fit(cls, codes: Codes, params=None, capacity=None, seed: int = 0, val_z=None) -> "MomentMatched":
        mean, cov = aggregate.moments(codes.mu, codes.logvar)
        return cls("gaussian", torch.ones(1), mean[None], cov[None])


@loadable
class GaussianMixture(Mixture):
    """A Gaussian mixture (fitted by EM, em.py) that describes q, not only its means."""

    kind = "gmm"

    @classmethod
    def fit(cls, codes: Codes, params, capacity: int, seed: int, val_z=None) -> "GaussianMixture":
        """fit_on "z": fitted on `draws` z ~ Q(z|x) per image (pythae uses one), so each component
        sees the posterior spread through the draws; more draws feed more components. fit_on "mu":
        fitted on the means (as the RAE paper), then each component's covariance is widened by its
        members' responsibility-weighted mean posterior variance, the second term of the law of
        total covariance. Without it, a dimension where mu barely varies (an inactive unit, or
        identical codes) gets a spike of width ~1e-3 while q has width ~1 there, and KL(q || gmm)
        runs to thousands of nats."""
        p = params.gmm
        data = codes.mu if p.fit_on == "mu" else codes.sample(p.draws * len(codes.mu), seed)
        if capacity > len(data):
            raise PriorgapError(f"params.yaml: posterior.gmm.components ({capacity}) exceeds the {len(data)} training codes")
        weights, means, covs = em.fit(data, capacity, p.covariance_type, seed)
        if p.fit_on == "mu":
            resp = em.e_step(data.double(), weights, means, covs)[0]
            sigma2 = codes.logvar.double().exp()
            # one pseudo-member with q's mean variance: a component that owns no code stays a density
            var = (resp.T @ sigma2 + sigma2.mean(0)) / (resp.sum(0)[:, None] + 1.0)  # (K, d)
            covs = covs + torch.diag_embed(var)
        return cls("gmm", weights, means, covs)


@loadable
class Tempered(Mixture):
    """N(0, tau^2 I), the prior tempered: what practitioners try first when N(0, I)'s samples look
    poor (Kingma & Dhariwal 2018 sample their flow at a reduced temperature). tau is set, not
    chosen on the validation codes: there the likelihood picks tau = 1, the prior itself (a VAE's
    KL term holds E_q[z_j^2] near 1; measured at latent size 50: gain -0.59 nats at tau 0.9, 0 at 1,
    -0.43 at 1.1), while a practitioner lowers tau for fidelity. A sweep varies it
    (`dvc exp run -S posterior.tempered.scale=0.7`)."""

    kind = "tempered"

    @classmethod
    def fit(cls, codes: Codes, params, capacity=None, seed: int = 0, val_z=None) -> "Tempered":
        d, tau = codes.dim, params.tempered.scale
        return cls("tempered", torch.ones(1), torch.zeros(1, d), (tau**2 * torch.eye(d, dtype=torch.float64))[None])


@dataclass(frozen=True)
class Entry:
    name: str  # the density's role and file name (data/posterior/densities/<name>.pt)
    cls: type  # its class: fit, log_prob, sample, state / from_state (density.py)
    on_active: bool = False  # fitted on the active units only (density.OnActive)
    capacity: str | None = None  # the key of its params section that lists the capacities to try
    section: str | None = None  # its params section under posterior (None: it reads none of its own)
    candidate: bool = False  # a density a user would sample from instead of the prior (the headline's fd.<name>, ...)
    params: type | None = None  # the model of a new section (config.Section); the three built in are config's own


REGISTRY: dict[str, Entry] = {}


def register(entry: Entry) -> None:
    REGISTRY[entry.name] = entry
    KINDS[entry.cls.kind] = entry.cls
    if entry.params is not None:
        config.add_density_section(entry.section, entry.params)


register(Entry("gaussian", MomentMatched))
register(Entry("gmm", GaussianMixture, on_active=True, capacity="components", section="gmm", candidate=True))
register(Entry("aggregate", Codes))
register(Entry("flow", Flow, on_active=True, capacity="hidden", section="flow", candidate=True))
register(Entry("two_stage", TwoStage, on_active=True, section="two_stage", candidate=True))
register(Entry("widened", Widened, on_active=True, capacity="bandwidths", section="widened"))
register(Entry("tempered", Tempered, section="tempered"))


def names() -> tuple[str, ...]:
    """Every density fit_posterior saves and evaluate samples: the model's prior, then the registry."""
    return ("prior", *REGISTRY)


def candidates() -> tuple[str, ...]:
    """The fitted densities a user would sample from: the "best fitted density" is chosen among these."""
    return tuple(name for name, e in REGISTRY.items() if e.candidate)


def capacities(name: str, params) -> list:
    """The capacities to try for `name`, smallest first; [None] for a density without a grid."""
    entry = REGISTRY[name]
    if entry.capacity is None:
        return [None]
    values = getattr(getattr(params, entry.section), entry.capacity)
    return sorted(set(values)) if isinstance(values, (list, tuple)) else [values]


def fit_density(name: str, codes: Codes, params, capacity=None, val_z=None):
    """Fit one density to the training codes; `params` is the `posterior` section, `capacity` one of
    capacities(name, params) (None: the only one there is), `val_z` draws from the validation codes
    that a network may stop its training on (None: it trains its full steps)."""
    if name not in REGISTRY:
        raise PriorgapError(f"{name}: not a density fitted to q (fitted: {', '.join(REGISTRY)}); "
                            "the prior is the model's own (priors.model_prior)")
    entry = REGISTRY[name]
    if capacity is None:
        grid = capacities(name, params)
        if len(grid) > 1:
            raise PriorgapError(f"{name}: {len(grid)} capacities to choose from; fit each (priorgap.latent.capacity)")
        capacity = grid[0]
    seed = params.seed + seeds.FIT
    active = aggregate.active_units(codes.mu)
    if entry.on_active and active.any() and not active.all():
        inner = entry.cls.fit(codes.restrict(active), params, capacity, seed, None if val_z is None else val_z[:, active])
        return OnActive(inner, MomentMatched.fit(codes.restrict(~active)), active)
    return entry.cls.fit(codes, params, capacity, seed, val_z)


def save(density, path: Path) -> None:
    torch.save({"kind": density.kind, "state": density.state()}, path)


def load(path: Path):
    def read(path):
        saved = torch.load(path, weights_only=True)
        if saved.get("kind") not in KINDS:
            raise PriorgapError(f"{path}: a density of kind {saved.get('kind')!r}, which this code does not know; "
                                "re-run `dvc repro fit_posterior`")
        return KINDS[saved["kind"]].from_state(saved["state"])

    return load_or_explain(path, "saved density", "fit_posterior", read)
