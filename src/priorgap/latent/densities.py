"""The densities fitted to q, in one registry: fit_posterior fits every entry, evaluate samples
every one, and the headline and the study read their names from here. Each density is one module
holding its class, its params model and the register() call that adds it; catalog.py's import
line lists them.

  aggregate  q itself (aggregate.Codes): pick i at random, then z ~ Q(z|x_i); replays training codes
  gaussian   the full-covariance Gaussian with q's mean and covariance (q's moment match)
  gmm        a Gaussian mixture (EM, em.py) on `draws` z ~ Q(z|x) per image (pythae uses one), or
             on mu with each component widened by its members' posterior variance
  flow       a neural spline flow (zuko), trained on fresh draws from q until the validation codes
             stop gaining (neural_densities.py)
  two_stage  the second VAE of Dai & Wipf's two-stage VAE, trained on fresh draws from q
  widened    q with every posterior widened by one bandwidth h (widened.py): a bound, not a sampler
  tempered   N(0, tau^2 I), the prior at a temperature tau: the practitioner's first fix, not fitted to q's shape

Beside them stands the model's own prior (priors.py), which is not fitted: every gain is measured
against it. Each density has the interface of density.py. Adding one, say a kernel density
estimate, takes its module, its name on catalog.py's line, and its params in params.yaml
(docs/adding-a-density.md).

A density `on_active` is fitted on the active units only, times the moment-matched Gaussian of the
inactive ones (density.OnActive): a mixture or a network spends its capacity where q has
structure. A density with a `capacity` key is fitted at each value its params section lists, and
fit_posterior keeps the one the validation codes prefer (capacity.py).
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import PriorgapError
from ..io.files import load_or_explain
from . import aggregate, seeds
from .aggregate import Codes
from .density import KINDS, REGISTRY, OnActive, register  # noqa: F401  (register: for a density added in a test)
from .gaussian import MomentMatched
from .priors import StandardNormal, VampPrior  # noqa: F401  (their kinds, for load)

from . import catalog  # noqa: E402, F401  (registers every density, in its order)


def names() -> tuple[str, ...]:
    """Every density fit_posterior saves and evaluate samples: the model's prior, then the registry."""
    return ("prior", *REGISTRY)


def candidates() -> tuple[str, ...]:
    """The fitted densities a user would sample from: the "best fitted density" is chosen among these."""
    return tuple(name for name, e in REGISTRY.items() if e.candidate)


def samplers() -> tuple[str, ...]:
    """The densities whose samples the headline scores beside the candidates (q replayed, tempered)."""
    return tuple(name for name, e in REGISTRY.items() if e.sampler and not e.candidate)


def of_codes() -> tuple[str, ...]:
    """The densities that are mixtures of the training codes' own posteriors (q, widened or not):
    a known answer made of those very posteriors would flatter them (analysis/known_answer.py)."""
    return tuple(name for name, e in REGISTRY.items() if e.cls.mixes_codes)


def replaying() -> tuple[str, ...]:
    """The densities that replay the training codes (q itself): no density of a population the
    codes do not already hold."""
    return tuple(name for name, e in REGISTRY.items() if e.cls.replays_q)


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
        inner = entry.cls.fit(
            codes.restrict(active), params, capacity, seed, None if val_z is None else val_z[:, active]
        )
        return OnActive(inner, MomentMatched.fit(codes.restrict(~active)), active)
    return entry.cls.fit(codes, params, capacity, seed, val_z)


def save(density, path: Path) -> None:
    torch.save({"kind": density.kind, "state": density.state()}, path)


def load(path: Path):
    def read(path):
        saved = torch.load(path, weights_only=True)
        if saved.get("kind") not in KINDS:
            raise PriorgapError(
                f"{path}: a density of kind {saved.get('kind')!r}, which this code does not know; "
                "re-run `dvc repro fit_posterior`"
            )
        return KINDS[saved["kind"]].from_state(saved["state"])

    return load_or_explain(path, "saved density", "fit_posterior", read)
