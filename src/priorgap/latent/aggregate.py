"""The aggregate posterior q(z) = (1/N) sum_i N(z; mu_i, diag sigma_i^2), evaluated exactly.

log q(z) needs all N components at every z. Expanding the quadratic form,

    log N(z; mu_i, diag s_i^2) = sum_d [ -z_d^2 / (2 s_id^2) + z_d mu_id / s_id^2 ] + c_i,
    c_i = -sum_d [ mu_id^2 / (2 s_id^2) + log s_id ] - (d/2) log 2 pi,

so the M x N matrix of log-densities is one matrix product [z^2, z, 1] @ coef^T with a
(2d + 1)-column coefficient row per component. Rows of z are taken at most `chunk` at a time, so
memory is at most chunk x N whatever M is; the log-sum-exp over components reuses one buffer and
clamps terms far below the row maximum (see log_q).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from ..data.files import read_codes
from .density import Entry, register, LatentDensity, loadable


def coefficients(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Per-component coefficients (N, 2d + 1) of [z^2, z, 1] in log N(z; mu_i, diag exp(logvar_i))."""
    precision = torch.exp(-logvar)
    const = -0.5 * (mu.square() * precision + logvar).sum(-1, keepdim=True) - 0.5 * mu.shape[1] * math.log(2 * math.pi)
    return torch.cat([-0.5 * precision, mu * precision, const], dim=1)


def features(z: torch.Tensor) -> torch.Tensor:
    return torch.cat([z.square(), z, torch.ones_like(z[:, :1])], dim=1)


SLICE_ROWS = 16  # rows of the log-density block per elementwise pass: 16 x N float64 stays in cache
NARROW = 32  # columns of [z^2, z, 1] (2d + 1) up to which the product is cheaper than moving its output


def log_q(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """log q(z) for each row of z (M, d) against all N components; float64 throughout. At most
    `chunk` rows of the M x N block are held at once.

    float64 because the expanded quadratic form cancels: with s = 0.01 the terms z^2/s^2 reach
    1e5 while their sum is O(1), which float32 would get wrong by ~0.01 nats per dimension.
    Each row's figure does not depend on how rows are grouped: the same numbers, bit for bit, on
    the development machine.
    """
    mu, logvar = mu.double(), logvar.double()
    return _log_sum_exp(z, coefficients(mu, logvar).T.contiguous(), chunk) - math.log(mu.shape[0])


def _log_sum_exp(z: torch.Tensor, coef_t: torch.Tensor, chunk: int) -> torch.Tensor:
    """log sum_i exp([z^2, z, 1] . coef_t[:, i]) per row of z.

    The log-sum-exp streams the block through five elementwise passes, so they run on slices of
    SLICE_ROWS rows (7 MB at N = 55,000) that stay in cache. The product itself runs on `chunk`
    rows, as BLAS needs for speed, unless it is narrow (latent size <= 15), where computing it a
    slice at a time saves writing the block to memory and reading it back (benchmarks/kl_speed.py)."""
    n = coef_t.shape[1]
    step = min(chunk, SLICE_ROWS) if coef_t.shape[0] <= NARROW else chunk
    out = torch.empty(len(z), dtype=torch.float64, device=z.device)
    buf = torch.empty(min(step, len(z)), n, dtype=torch.float64, device=z.device)
    for start in range(0, len(z), step):
        feats = features(z[start : start + step].double())
        block = torch.matmul(feats, coef_t, out=buf[: len(feats)])
        for s in range(0, len(feats), SLICE_ROWS):
            rows = block[s : s + SLICE_ROWS]
            peak = rows.amax(dim=1, keepdim=True)
            # exp of anything below -700 relative to the row maximum adds nothing to the sum in
            # float64, but takes exp's slow underflow path: clamping keeps every element on the fast path.
            rows.sub_(peak).clamp_(min=-700.0).exp_()
            out[start + s : start + s + len(rows)] = rows.sum(dim=1).log_().add_(peak.squeeze(1))
    return out


# A component whose log-density is below a group's lowest log q by more than this is left out of
# that group's sum: N e^-MARGIN (1e-17 at N = 60,000) is below float64's resolution of 1.
MARGIN = 50.0


def log_q_near(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, group: int, chunk: int = 1024) -> torch.Tensor:
    """log q(z) as log_q gives it, for rows that come in groups of `group` nearby rows (the draws
    of one Q(z|x), as an IWAE bound takes them): each group's sum runs over the components that
    can matter anywhere in the group's bounding box, and leaves out the rest.

    Over the box [lo, hi], component i's log-density is at most
    u_i = -1/2 sum_d gap_id^2 / s_id^2 + c'_i (gap_id: the distance from mu_id to [lo_d, hi_d]),
    and every row's log sum exceeds b, the least over the group's rows of the log-density of the
    component with the largest u. Components with u_i < b - MARGIN together add less than
    N e^-MARGIN relative to every row's sum, so the figure is log_q's to within float64 rounding
    (the product and the sum see fewer columns, so they round differently; the terms that count
    are the same). An image's draws lie near one another, so few of the N components count for
    them. Rows that are not near one another keep every component, and cost what log_q does."""
    mu, logvar = mu.double(), logvar.double()
    coef = coefficients(mu, logvar)  # (N, 2d + 1)
    out = torch.empty(len(z), dtype=torch.float64, device=z.device)
    for start in range(0, len(z), group):
        rows = z[start : start + group].double()
        keep = near_components(rows, mu, logvar, coef)
        out[start : start + group] = _log_sum_exp(rows, coef[keep].T.contiguous(), chunk)
    return out - math.log(mu.shape[0])


def near_components(rows: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """(N,) bool: the components that log_q_near keeps for one group of rows (float64 throughout;
    `coef` is coefficients(mu, logvar)). Every other one's log-density is below every row's log
    sum minus MARGIN."""
    lo, hi = rows.amin(0), rows.amax(0)
    gap = (lo - mu).clamp(min=0) + (mu - hi).clamp(min=0)  # (N, d): 0 inside the box
    head = -0.5 * logvar.sum(1) - 0.5 * mu.shape[1] * math.log(2 * math.pi)
    upper = head - 0.5 * (gap.square() * torch.exp(-logvar)).sum(1)
    floor = (features(rows) @ coef[upper.argmax()]).min()
    return upper >= floor - MARGIN


def sample(mu: torch.Tensor, logvar: torch.Tensor, m: int, generator: torch.Generator) -> torch.Tensor:
    """m draws from q: pick a component uniformly, then draw from it."""
    idx = torch.randint(len(mu), (m,), generator=generator, device=mu.device)
    eps = torch.randn(m, mu.shape[1], generator=generator, device=mu.device, dtype=mu.dtype)
    return mu[idx] + eps * torch.exp(0.5 * logvar[idx])


def mc_mean(values: torch.Tensor) -> tuple[float, float]:
    """Monte Carlo mean and its standard error."""
    values = values.double()
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()


def log_standard_normal(z: torch.Tensor) -> torch.Tensor:
    return -0.5 * (z.double().square().sum(-1) + z.shape[1] * math.log(2 * math.pi))


ACTIVE_THRESHOLD = 0.01  # Burda et al. (2016): a unit is active if Cov_x(mu) exceeds this


def active_units(mu: torch.Tensor) -> torch.Tensor:
    """(d,) bool: the units whose means vary across images. The others have mu ~ 0, sigma ~ 1 and
    carry no information about x."""
    return torch.var(mu.double(), dim=0, correction=0) > ACTIVE_THRESHOLD


def moments(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of q: Cov(mu) + mean of diag sigma^2 (law of total covariance)."""
    mu = mu.double()
    cov = torch.cov(mu.T, correction=0).reshape(mu.shape[1], mu.shape[1])
    return mu.mean(0), cov + torch.diag(logvar.double().exp().mean(0))


@loadable
@dataclass
class Codes(LatentDensity):
    """The encoder's output for one split, Q(z|x_i) = N(mu_i, diag exp(logvar_i)); the mixture of
    them is q itself, so Codes is also the density "aggregate", fitted by taking the training codes
    as they are: sampling it replays them. The VampPrior is the same kind of mixture, over the
    pseudo-inputs' codes (priors.py)."""

    mu: torch.Tensor
    logvar: torch.Tensor
    labels: np.ndarray | None = None
    chunk: int = 1024  # rows of z per block in log_prob (memory: chunk x N x 8 bytes)
    name: str = "aggregate"
    kind = "aggregate"
    replays_q = True
    mixes_codes = True

    @classmethod
    def fit(cls, codes: "Codes", params, capacity, seed: int, val_z=None) -> "Codes":
        return replace(codes, chunk=params.chunk_size)

    @classmethod
    def from_state(cls, state: dict) -> "Codes":
        return cls(state["mu"], state["logvar"])

    @classmethod
    def load(cls, path) -> "Codes":
        """A codes file of encode's format (priorgap.data.files)."""
        mu, logvar, labels = read_codes(path)
        return cls(torch.from_numpy(mu.astype(np.float32)), torch.from_numpy(logvar.astype(np.float32)), labels)

    @property
    def dim(self) -> int:
        return self.mu.shape[1]

    def restrict(self, units: torch.Tensor) -> "Codes":
        """The codes of some units only (a bool mask): their mixture is q's marginal there."""
        return replace(self, mu=self.mu[:, units], logvar=self.logvar[:, units])

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        return moments(self.mu, self.logvar)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return log_q(z, self.mu, self.logvar, self.chunk)

    def log_prob_draws(self, z: torch.Tensor) -> torch.Tensor:
        """log_prob of (k, images, d) draws, k per image as an IWAE bound takes them: (k, images).
        Each image's k draws lie near one another, so log_q_near sums over fewer components."""
        k, images, d = z.shape
        rows = z.transpose(0, 1).reshape(-1, d).cpu()  # image-major: each image's draws one group
        return log_q_near(rows, self.mu, self.logvar, k, self.chunk).to(z.device).view(images, k).T

    def sample(self, n: int, seed: int) -> torch.Tensor:
        return sample(self.mu, self.logvar, n, torch.Generator().manual_seed(seed))

    def state(self) -> dict:
        return {"mu": self.mu, "logvar": self.logvar}


register(Entry("aggregate", Codes, sampler=True))  # q itself: its samples replay the training codes
