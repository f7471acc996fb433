"""The one interface every density of the latent space has (as pythae's samplers), and the two
shapes several of them share: a Gaussian mixture, and a density fitted on the active units only.

    g = Kind.fit(codes, params, capacity, seed, val_z)  # params: the posterior section; capacity: None or one of
                                                  # its grid; val_z: validation draws a density may stop on
    g.log_prob(z)                                 # (M,) float64, nats
    g.log_prob_draws(z)                           # (k, images, d) draws, as an IWAE bound takes them -> (k, images)
    g.sample(n, seed)                             # (n, d) float32, seeded
    g.state(); Kind.from_state(state)             # tensors, numbers and strings: torch.load(weights_only=True)-safe

`kind` names the class in a saved file (save/load in densities.py); `name` is the role the density
plays in the pipeline ("prior", "gmm", ...), which is also its file's name.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import schema
from . import em

KINDS: dict[str, type] = {}  # kind -> class: how a saved file finds the class that reads it


@dataclass(frozen=True)
class Entry:
    """How the pipeline uses a density: each density's module declares its own (ENTRY), and
    densities.py registers it. Code picks densities by these properties, never by their names."""

    name: str  # the density's role and file name (data/posterior/densities/<name>.pt)
    cls: type  # its class: fit, log_prob, sample, state / from_state (this module's interface)
    on_active: bool = False  # fitted on the active units only (OnActive)
    capacity: str | None = None  # the key of its params section that lists the capacities to try
    section: str | None = None  # its params section under posterior (None: it reads none of its own)
    candidate: bool = False  # a density a user would sample from instead of the prior (the headline's fd.<name>, ...)
    sampler: bool = False
    params: type | None = None  # the model of its params section (schema.Section), in its own module


REGISTRY: dict[str, Entry] = {}  # name -> entry, in the order densities.py imports the modules


def register(entry: Entry) -> None:
    """Called by each density's module as it is imported: the registry, the kind a saved file
    names, and its params section under posterior (validated from now on)."""
    REGISTRY[entry.name] = entry
    KINDS[entry.cls.kind] = entry.cls
    if entry.params is not None:
        schema.add_density_section(entry.section, entry.params)


def loadable(cls):
    KINDS[cls.kind] = cls
    return cls


class LatentDensity:
    kind: str
    name: str
    replays_q = False  # True for q itself: its log density at the diagnostics' draws is already known
    mixes_codes = False  # True for a mixture of the training codes' own posteriors (q, widened or not)
    fit_info: dict = {}  # what fitting chose beyond the capacity (a network's steps): into the density's scores

    @classmethod
    def fit(cls, codes, params, capacity, seed: int, val_z=None) -> "LatentDensity":
        raise NotImplementedError(f"{cls.__name__} is not fitted to q")

    @classmethod
    def from_state(cls, state: dict) -> "LatentDensity":
        raise NotImplementedError

    @classmethod
    def least_codes(cls, params, capacities: list) -> int:
        """Training codes it needs to be fitted at these capacities (priorgap.measure checks a user's
        splits against it before fitting)."""
        return 0

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def log_prob_draws(self, z: torch.Tensor) -> torch.Tensor:
        """log_prob of (k, images, d) draws on any device: (k, images), on that device."""
        return self.log_prob(z.reshape(-1, z.shape[-1]).cpu()).to(z.device).view(z.shape[:-1])

    def sample(self, n: int, seed: int) -> torch.Tensor:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError


@dataclass
class Mixture(LatentDensity):
    """A Gaussian mixture: N(0, I), q's moment-matched Gaussian and the gmm are all one."""

    name: str
    weights: torch.Tensor  # (K,)
    means: torch.Tensor  # (K, d)
    covs: torch.Tensor  # (K, d, d)
    kind = "mixture"

    def __post_init__(self):
        self.weights, self.means, self.covs = (t.double() for t in (self.weights, self.means, self.covs))
        self._chol = torch.linalg.cholesky(self.covs)
        self._coef = em.coefficients(self.weights, self.means, self.covs)

    @classmethod
    def from_state(cls, state: dict) -> "Mixture":
        return cls(state["name"], state["weights"], state["means"], state["covs"])

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
        return {"name": self.name, "weights": self.weights, "means": self.means, "covs": self.covs}


@dataclass
class OnActive(LatentDensity):
    """inner(z_active) x rest(z_inactive): a density of z whose inner part sees only the units that
    carry information. `rest` is the moment-matched Gaussian of the inactive units, which are
    N(0, 1) up to a small spread of their means. The product is still a density of z, so every
    held-out gain of it stays a lower bound."""

    inner: LatentDensity
    rest: Mixture
    active: torch.Tensor  # (d,) bool
    kind = "on_active"

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def fit_info(self) -> dict:
        return self.inner.fit_info

    @classmethod
    def from_state(cls, state: dict) -> "OnActive":
        inner = KINDS[state["inner_kind"]].from_state(state["inner"])
        return cls(inner, Mixture.from_state(state["rest"]), state["active"])

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.inner.log_prob(z[:, self.active]).double() + self.rest.log_prob(z[:, ~self.active])

    def log_prob_draws(self, z: torch.Tensor) -> torch.Tensor:
        """The inner density's own log_prob_draws (a mixture of codes sums over the near components)."""
        rest = self.rest.log_prob(z[..., ~self.active].reshape(-1, int((~self.active).sum())).cpu())
        return self.inner.log_prob_draws(z[..., self.active]).double() + rest.to(z.device).view(z.shape[:-1])

    def sample(self, n: int, seed: int) -> torch.Tensor:
        z = torch.empty(n, len(self.active))
        z[:, self.active] = self.inner.sample(n, seed).float()
        z[:, ~self.active] = self.rest.sample(n, seed + 1)
        return z

    def state(self) -> dict:
        return {
            "active": self.active,
            "inner_kind": self.inner.kind,
            "inner": self.inner.state(),
            "rest": self.rest.state(),
        }


loadable(Mixture)
loadable(OnActive)
