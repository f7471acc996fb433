"""Known answers of a family no estimator of the bound belongs to: a continuous population of
images whose means are the real codes' means smeared by a box or a Laplace kernel.

A real encoder's aggregate posterior is an infinite mixture: every image the data could hold
adds its own N(mu(x), diag sigma(x)^2). A finite Gaussian mixture of posteriors (the old known
answer) is in the family of the GMM and of the widened training mixture, which flatters them.
Here an image of the population is drawn as

    k ~ uniform over K centres (real training codes mu_k, sigma_k)
    mu = m + r (mu_k - m) + a * u,    u ~ U(-sqrt 3, sqrt 3)^d (box) or Laplace(0, 1/sqrt 2)^d (laplace)
    z | image ~ N(mu, diag sigma_k^2)

with m the codes' mean, a = c * sd(mu) per unit (the codes' own spread, 0 on an inactive unit)
and r = sqrt(1 - c^2), so each unit keeps the codes' variance whatever the smear c: c near 0 is
the spiky mixture of K posteriors, c near 1 a smooth product of kernels. u has unit variance in
both families. Each unit of each centre integrates in closed form,

    box:     p(z) = [Phi((x + w)/s) - Phi((x - w)/s)] / (2w),               w = sqrt 3 a
    laplace: p(z) = exp(s^2 / 2b^2) / (2b) [e^(-x/b) Phi(x/s - s/b) + e^(x/b) Phi(-x/s - s/b)],  b = a / sqrt 2

(x = z - centre, s = sigma_k), so log q is a log-sum-exp over K products: exact, and KL(q || N(0,I))
is a Monte Carlo mean with a known standard error. Where a / s is below TINY the kernel is the
Gaussian N(centre, s^2) it tends to, which float64 computes without cancelling.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..latent.aggregate import Codes

FAMILIES = ("box", "laplace")
TINY = 1e-3  # a / s below this: the kernel is its Gaussian limit (relative error ~ (a/s)^2 / 2 = 5e-7)
SQRT3 = math.sqrt(3.0)
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


@dataclass
class Smeared:
    """The population's density: K centres (centre, s: (K, d)), the smear a (d,), the family."""

    family: str
    centre: torch.Tensor
    s: torch.Tensor
    a: torch.Tensor
    chunk: int = 256  # rows of z per block: memory chunk x K x d x 8 bytes

    @classmethod
    def of_codes(cls, codes: Codes, family: str, smear: float, centres: int, seed: int) -> "Smeared":
        """K centres drawn from the real codes (without replacement), smear c in [0, 1)."""
        if family not in FAMILIES:
            raise ValueError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
        if not 0.0 <= smear < 1.0:
            raise ValueError(f"smear {smear} is outside [0, 1): a fraction of each unit's spread")
        mu, logvar = codes.mu.double(), codes.logvar.double()
        pick = torch.randperm(len(mu), generator=torch.Generator().manual_seed(seed))[:centres]
        m, sd = mu.mean(0), mu.std(0, correction=0)
        centre = m + math.sqrt(1 - smear ** 2) * (mu[pick] - m)
        return cls(family, centre, torch.exp(0.5 * logvar[pick]), smear * sd)

    @property
    def dim(self) -> int:
        return self.centre.shape[1]

    def images(self, n: int, seed: int) -> Codes:
        """n images of the population: what an encoder would report for them (mu, logvar)."""
        g = torch.Generator().manual_seed(seed)
        k = torch.randint(len(self.centre), (n,), generator=g)
        if self.family == "box":
            u = (torch.rand(n, self.dim, generator=g, dtype=torch.float64) * 2 - 1) * SQRT3
        else:  # Laplace(0, 1/sqrt 2): an exponential with a random sign
            e = -torch.log1p(-torch.rand(n, self.dim, generator=g, dtype=torch.float64))
            sign = torch.where(torch.rand(n, self.dim, generator=g) < 0.5, -1.0, 1.0).double()
            u = sign * e / math.sqrt(2.0)
        mu = self.centre[k] + self.a * u
        return Codes(mu.float(), (2 * torch.log(self.s[k])).float())

    def sample(self, n: int, seed: int) -> torch.Tensor:
        """n draws from q (each from a fresh image), float64."""
        im = self.images(n, seed)
        eps = torch.randn(n, self.dim, generator=torch.Generator().manual_seed(seed + 1), dtype=torch.float64)
        return im.mu.double() + eps * torch.exp(0.5 * im.logvar.double())

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log q(z), (M,) float64: a log-sum-exp over the K centres of a sum over units."""
        z = z.double()
        out = torch.empty(len(z), dtype=torch.float64)
        for start in range(0, len(z), self.chunk):
            x = z[start : start + self.chunk, None, :] - self.centre  # (rows, K, d)
            per_unit = unit_log_density(self.family, x, self.s, self.a)
            out[start : start + len(x)] = torch.logsumexp(per_unit.sum(-1), dim=1)
        return out - math.log(len(self.centre))


def unit_log_density(family: str, x: torch.Tensor, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """log of one unit's kernel (a unit-variance box or Laplace of scale a, convolved with N(0, s^2))
    at offsets x; broadcasts x (..., K, d) against s (K, d) and a (d,)."""
    a = a.expand_as(s)
    gaussian = -0.5 * (x / s).square() - torch.log(s) - HALF_LOG_2PI
    narrow = a / s < TINY
    a_safe = torch.where(narrow, s, a)  # any positive width: the narrow units take the Gaussian below
    if family == "box":
        w = SQRT3 * a_safe
        # log(Phi(hi) - Phi(lo)), taken on the side of 0 where the two terms do not both round to 1
        flip = x > 0
        hi = torch.where(flip, (w - x) / s, (x + w) / s)
        lo = torch.where(flip, (-w - x) / s, (x - w) / s)
        log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
        # below -100 the ratio's log1p is under 1e-43: clamped, exp stays off its slow subnormal path
        kernel = log_hi + torch.log1p(-torch.exp((log_lo - log_hi).clamp(min=-100.0))) - torch.log(2 * w)
    elif family == "laplace":
        b = a_safe / math.sqrt(2.0)
        r = s / b
        left = -x / b + torch.special.log_ndtr(x / s - r)
        right = x / b + torch.special.log_ndtr(-x / s - r)
        kernel = 0.5 * r.square() - torch.log(2 * b) + torch.logaddexp(left, right)
    else:
        raise ValueError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")
    return torch.where(narrow, gaussian, kernel)


def kl_to_standard_normal(q: Smeared, n: int, seed: int) -> tuple[float, float]:
    """KL(q || N(0, I)) by Monte Carlo over q's exact log density: the mean and its standard error."""
    z = q.sample(n, seed)
    values = q.log_prob(z) + 0.5 * (z.square().sum(1) + q.dim * math.log(2 * math.pi))
    return values.mean().item(), (values.std() / math.sqrt(n)).item()
