"""Densities of the latent space, all behind one small interface (as pythae's samplers):

    density = fit_density(name, codes, params)   # fit to the training codes
    density.log_prob(z)                          # (M,) float64, nats
    density.sample(n, seed)                      # (n, d) float32
    save(density, path); load(path)              # torch.load(weights_only=True)-safe files

  prior      N(0, I), what users sample from today
  gaussian   the full-covariance Gaussian with q's mean and covariance (q's moment match)
  gmm        scikit-learn's GaussianMixture, fitted on mu (default, as in "From Variational to
             Deterministic Autoencoders") or on one z ~ Q(z|x) per image (as pythae)
  aggregate  q itself: pick i at random, then z ~ Q(z|x_i)
  flow       a neural spline flow (zuko) trained by maximum likelihood on fresh draws from q

prior, gaussian and gmm are all Gaussian mixtures and share one implementation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import PriorgapError, aggregate

NAMES = ("prior", "gaussian", "gmm", "aggregate", "flow")


@dataclass
class Codes:
    """The encoder's output for one split: Q(z|x_i) = N(mu_i, diag exp(logvar_i))."""

    mu: torch.Tensor
    logvar: torch.Tensor
    labels: np.ndarray

    @classmethod
    def load(cls, path: Path) -> "Codes":
        path = Path(path)
        if not path.is_file():
            raise PriorgapError(f"{path} not found; run `dvc repro encode` first")
        try:
            with np.load(path) as f:
                mu, logvar, labels = f["mu"], f["logvar"], f["labels"]
        except Exception as e:
            raise PriorgapError(f"{path}: not a codes file with mu, logvar, labels ({type(e).__name__}: {e})") from None
        if mu.ndim != 2 or mu.shape != logvar.shape or len(labels) != len(mu) or len(mu) == 0:
            raise PriorgapError(f"{path}: mu and logvar must both be N x latent_dim with N labels, got {mu.shape}, {logvar.shape}")
        if not (np.isfinite(mu).all() and np.isfinite(logvar).all()):
            raise PriorgapError(f"{path}: mu or logvar holds NaN or inf; retrain the VAE (`dvc repro train`)")
        return cls(torch.from_numpy(mu.astype(np.float32)), torch.from_numpy(logvar.astype(np.float32)), labels)

    @property
    def dim(self) -> int:
        return self.mu.shape[1]

    def sample(self, m: int, seed: int) -> torch.Tensor:
        return aggregate.sample(self.mu, self.logvar, m, torch.Generator().manual_seed(seed))


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
    from sklearn.mixture import GaussianMixture

    data = codes.mu if fit_on == "mu" else codes.sample(len(codes.mu), seed)
    if components > len(data):
        raise PriorgapError(f"params.yaml: posterior.gmm.components ({components}) exceeds the {len(data)} training codes")
    gm = GaussianMixture(components, covariance_type=covariance_type, random_state=seed, reg_covar=1e-6)
    gm.fit(data.double().numpy())
    k, d = components, codes.dim
    covs = {
        "full": lambda c: c,
        "tied": lambda c: np.broadcast_to(c, (k, d, d)),
        "diag": lambda c: np.stack([np.diag(v) for v in c]),
        "spherical": lambda c: c[:, None, None] * np.eye(d),
    }[covariance_type](gm.covariances_)
    return Mixture("gmm", torch.from_numpy(gm.weights_), torch.from_numpy(gm.means_), torch.from_numpy(np.array(covs)))


# --- q itself -----------------------------------------------------------------------------------


@dataclass
class Aggregate:
    mu: torch.Tensor
    logvar: torch.Tensor
    chunk: int = 1024
    name: str = "aggregate"

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return aggregate.log_q(z, self.mu, self.logvar, self.chunk)

    def sample(self, n: int, seed: int) -> torch.Tensor:
        return aggregate.sample(self.mu, self.logvar, n, torch.Generator().manual_seed(seed))

    def state(self) -> dict:
        return {"mu": self.mu, "logvar": self.logvar}


# --- a normalising flow -------------------------------------------------------------------------


class Flow:
    name = "flow"

    def __init__(self, dim: int, transforms: int, hidden: int, seed: int = 0):
        import zuko

        self.config = {"dim": dim, "transforms": transforms, "hidden": hidden}
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, global RNG untouched
            torch.manual_seed(seed)
            self.net = zuko.flows.NSF(features=dim, transforms=transforms, hidden_features=[hidden, hidden])

    def fit(self, codes: Codes, steps: int, batch_size: int, lr: float, seed: int) -> "Flow":
        """Maximum likelihood on fresh draws from q each step: q is known exactly, so the flow
        never sees the same point twice and cannot overfit the N codes."""
        g = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
        for _ in range(steps):
            z = aggregate.sample(codes.mu, codes.logvar, batch_size, g)
            loss = -self.net().log_prob(z).mean()
            if not torch.isfinite(loss):
                raise PriorgapError(f"flow training diverged (loss {loss.item()}); lower posterior.flow.lr (now {lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        self.net.eval()
        return self

    @torch.no_grad()
    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net().log_prob(c.float()) for c in z.split(8192)]).double()

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> torch.Tensor:
        with torch.random.fork_rng(devices=[]):  # zuko draws from the global generator
            torch.manual_seed(seed)
            return self.net().sample((n,)).float()

    def state(self) -> dict:
        return {"config": self.config, "state_dict": self.net.state_dict()}


# --- fitting and files --------------------------------------------------------------------------


def fit_density(name: str, codes: Codes, params):
    """Fit one density to the training codes; `params` is the `posterior` section."""
    if name == "prior":
        return prior(codes.dim)
    if name == "gaussian":
        return moment_matched_gaussian(codes)
    if name == "gmm":
        gmm = params.gmm
        return fit_gmm(codes, gmm.components, gmm.covariance_type, gmm.fit_on, params.seed)
    if name == "aggregate":
        return Aggregate(codes.mu, codes.logvar, params.chunk_size)
    if name == "flow":
        f = params.flow
        return Flow(codes.dim, f.transforms, f.hidden, params.seed).fit(codes, f.steps, f.batch_size, f.lr, params.seed)
    raise ValueError(f"unknown density {name!r}")


def save(density, path: Path) -> None:
    torch.save({"kind": density.name, "state": density.state()}, path)


def load(path: Path):
    path = Path(path)
    if not path.is_file():
        raise PriorgapError(f"{path} not found; run `dvc repro fit_posterior` first")
    try:
        saved = torch.load(path, weights_only=True)
        kind, state = saved["kind"], saved["state"]
        if kind in ("prior", "gaussian", "gmm"):
            return Mixture(kind, state["weights"], state["means"], state["covs"])
        if kind == "aggregate":
            return Aggregate(state["mu"], state["logvar"])
        flow = Flow(**state["config"])
        flow.net.load_state_dict(state["state_dict"])
        flow.net.eval()
        return flow
    except Exception as e:
        raise PriorgapError(f"{path}: not a saved density ({type(e).__name__}: {e}); re-run `dvc repro fit_posterior`") from None
