"""How far is the aggregate posterior q from the model's prior p? Every figure in nats unless named
otherwise. p is N(0, I) or a VampPrior (densities.model_prior); with N(0, I) every figure keeps the
closed form, with a learned prior the same figure is measured against p instead."""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import torch

from . import aggregate
from .aggregate import Codes
from .densities import StandardNormal
from ..model.vae import gaussian_log_prob, kl_to_standard_normal

HOLE_PERCENTILE = 1.0


def mc_mean(values: torch.Tensor) -> tuple[float, float]:
    """Monte Carlo mean and its standard error."""
    values = values.double()
    return values.mean().item(), (values.std() / math.sqrt(len(values))).item()


def gaussian_kl_to_standard_normal(mean: torch.Tensor, cov: torch.Tensor) -> float:
    """KL(N(mean, cov) || N(0, I)) = (tr cov + |mean|^2 - d - log det cov) / 2."""
    d = len(mean)
    return 0.5 * (torch.trace(cov) + mean @ mean - d - torch.linalg.slogdet(cov).logabsdet).item()


def gaussian_kl(mean: torch.Tensor, cov: torch.Tensor, mean_p: torch.Tensor, cov_p: torch.Tensor) -> float:
    """KL(N(mean, cov) || N(mean_p, cov_p)), for a prior that is not N(0, I)."""
    d, diff = len(mean), mean_p - mean
    solve = torch.linalg.solve(cov_p, torch.cat([cov, diff[:, None]], dim=1))
    logdet = torch.linalg.slogdet(cov_p).logabsdet - torch.linalg.slogdet(cov).logabsdet
    return 0.5 * (torch.trace(solve[:, :d]) + diff @ solve[:, d] - d + logdet).item()


def scale_and_correlation(mean: torch.Tensor, cov: torch.Tensor) -> tuple[float, float]:
    """KL(N(mean, cov) || N(0, I)) split exactly into a per-dimension part (each unit's mean and
    variance against 0 and 1: scale) and the rest, -1/2 log det of the correlation matrix
    (correlation): sum_j (cov_jj + mean_j^2 - 1 - log cov_jj) / 2 + (sum_j log cov_jj - log det cov) / 2."""
    var = torch.diagonal(cov)
    scale = 0.5 * (var + mean.square() - 1 - var.log()).sum().item()
    return scale, 0.5 * (var.log().sum() - torch.linalg.slogdet(cov).logabsdet).item()


def scale_and_shape(metrics: dict) -> dict:
    """How much of the held-out bound the moment-matched Gaussian explains. KL(q || p) =
    KL(q || g_q) + KL(g_q || p) for q's moment match g_q whenever log p is quadratic (N(0, I)):
    the second term, gaussian_kl, is the mismatch of scale and correlation; the first is shape
    (what no Gaussian can fix), at least bound - gaussian_kl. A learned prior's log density is
    not quadratic, so there the split does not hold (None)."""
    bound, gaussian = metrics["kl_lower_bound"], metrics["gaussian_kl"]
    if metrics["scale_kl"] is None:
        return {"gaussian_share": None, "shape_kl_lower": None}
    return {"gaussian_share": gaussian / bound if bound > 0 else None, "shape_kl_lower": bound - gaussian}


def average_kl(codes: Codes, prior, seed: int) -> tuple[float, float]:
    """Mean over the training codes of KL(Q(z|x) || p), and its standard error: in closed form for
    N(0, I) (error 0), else one draw z ~ Q(z|x) per image of log Q(z|x) - log p(z)."""
    mu, logvar = codes.mu.double(), codes.logvar.double()
    if isinstance(prior, StandardNormal):
        return kl_to_standard_normal(mu, logvar).mean().item(), 0.0
    z = mu + torch.randn(mu.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * torch.exp(0.5 * logvar)
    return mc_mean(gaussian_log_prob(z, mu, logvar) - prior.log_prob(z))


def ks_against(z: np.ndarray, prior):
    """Per-dimension Kolmogorov-Smirnov test of draws z (M, d) against the prior's marginals:
    N(0, 1), or a VampPrior's marginal, the mean of its components' normal cdfs."""
    from scipy import special, stats

    if isinstance(prior, StandardNormal):
        return stats.ks_1samp(z, stats.norm.cdf, axis=0)
    mu, sd = prior.mu.double().numpy(), torch.exp(0.5 * prior.logvar.double()).numpy()
    tests = [stats.ks_1samp(z[:, j], lambda x, j=j: special.ndtr((x[:, None] - mu[:, j]) / sd[:, j]).mean(1))
             for j in range(z.shape[1])]
    return SimpleNamespace(statistic=np.array([t.statistic for t in tests]), pvalue=np.array([t.pvalue for t in tests]))


def mmd2_test(x: torch.Tensor, y: torch.Tensor, permutations: int, seed: int) -> tuple[float, float]:
    """Unbiased squared MMD with a Gaussian kernel of median-distance bandwidth, and its
    permutation p-value. All permutations are scored at once: with indicator rows A of the
    relabelled first sample, the within- and between-sample kernel sums are row sums of
    (A K) * A, (A K) * (1 - A) and ((1 - A) K) * (1 - A)."""
    z = torch.cat([x, y]).double()
    n, m = len(x), len(y)
    d2 = torch.cdist(z, z).square_()
    off = ~torch.eye(n + m, dtype=torch.bool)
    bandwidth2 = d2[off].median()
    k = torch.exp(-d2 / (2 * bandwidth2)) if bandwidth2 > 0 else torch.ones_like(d2)
    k.fill_diagonal_(0.0)  # the unbiased estimator leaves out i == j

    g = torch.Generator().manual_seed(seed)
    labels = torch.zeros(permutations + 1, n + m, dtype=torch.float64)
    labels[0, :n] = 1.0  # the observed split first
    shuffled = torch.rand(permutations, n + m, generator=g).argsort(dim=1)[:, :n]
    labels[1:].scatter_(1, shuffled, 1.0)
    ak = labels @ k
    bk = k.sum(0) - ak
    sxx = (ak * labels).sum(1)
    syy = (bk * (1 - labels)).sum(1)
    sxy = (ak * (1 - labels)).sum(1)
    mmd2 = sxx / (n * (n - 1)) + syy / (m * (m - 1)) - 2 * sxy / (n * m)
    pvalue = (1 + (mmd2[1:] >= mmd2[0]).sum().item()) / (1 + permutations)
    return mmd2[0].item(), pvalue


@dataclass
class Match:
    """The diagnostics and the draws they came from (reused to score fitted densities)."""

    prior: object  # the model's prior p, a density (densities.model_prior)

    metrics: dict
    ks: list[dict]  # per dimension
    z_q: torch.Tensor  # M draws from q (the training mixture)
    z_p: torch.Tensor  # M draws from the prior
    log_q_at_q: torch.Tensor  # log q at those draws
    z_test: torch.Tensor  # one z ~ Q(z|x) per test image: draws from the population's codes
    log_p_at_test: torch.Tensor  # log p(z) at those draws
    log_q_at_test: torch.Tensor  # log q at those draws


PRIOR_SEED = 5  # posterior.seed + 5 draws from a learned prior (0..2: below, 3: fitting, 4: validation codes)


def match_diagnostics(codes: Codes, test: Codes, params, prior) -> Match:
    """How far q (the mixture of the training codes) is from the model's prior p, and where.
    `params` is the `posterior` section of params.yaml."""
    m, d, chunk = params.n_samples, codes.dim, params.chunk_size
    g = torch.Generator().manual_seed(params.seed)
    z_q = aggregate.sample(codes.mu, codes.logvar, m, g)
    # N(0, I) draws continue q's stream (so its figures keep their draws); a learned prior draws its own
    z_p = torch.randn(m, d, generator=g) if isinstance(prior, StandardNormal) else prior.sample(m, params.seed + PRIOR_SEED)
    log_q_at_q = aggregate.log_q(z_q, codes.mu, codes.logvar, chunk)
    log_q_at_p = aggregate.log_q(z_p, codes.mu, codes.logvar, chunk)
    kl_q_p, kl_q_p_se = mc_mean(log_q_at_q - prior.log_prob(z_q))
    kl_p_q, kl_p_q_se = mc_mean(prior.log_prob(z_p) - log_q_at_p)
    avg_kl, avg_kl_se = average_kl(codes, prior, params.seed + PRIOR_SEED)
    z_test = test.sample(len(test.mu), params.seed + 1)
    log_q_at_test = aggregate.log_q(z_test, codes.mu, codes.logvar, chunk)

    # Inactive units (mu ~ 0, sigma ~ 1) match the prior there almost for free: report the active ones apart.
    mu_var = torch.var(codes.mu.double(), dim=0, correction=0)
    active = aggregate.active_units(codes.mu)
    if active.all():
        kl_active = kl_q_p
    elif active.any():  # q's marginal over the active units is the mixture of the marginal components
        za = z_q[:, active]
        log_qa = aggregate.log_q(za, codes.mu[:, active], codes.logvar[:, active], chunk)
        kl_active = mc_mean(log_qa - prior.restrict(active).log_prob(za))[0]
    else:
        kl_active = 0.0  # no active unit: the marginal over no dimensions matches trivially

    mean, cov = aggregate.moments(codes.mu, codes.logvar)
    eig = torch.linalg.eigvalsh(cov)
    # E_q[z_j^2] = E[mu_j^2] + E[sigma_j^2]: 1 under N(0, I); the thread's "N(0, 2I)" would read 2
    mean_square = (codes.mu.double().square() + codes.logvar.double().exp()).mean(0)
    scale_kl, correlation_kl = (scale_and_correlation(mean, cov) if isinstance(prior, StandardNormal) else (None, None))
    ks = ks_against(z_q.double().numpy(), prior)
    ks_stat, ks_p = np.atleast_1d(ks.statistic), np.atleast_1d(ks.pvalue)
    n_mmd = min(params.mmd.n_samples, m)
    mmd2, mmd_p = mmd2_test(z_q[:n_mmd], z_p[:n_mmd], params.mmd.permutations, params.seed)
    # Holes: prior draws where q is thinner than at 99% of q's own draws. With its own draws as the
    # reference, a spiky training mixture (one narrow bump per image) calls almost everything a
    # hole; held-out codes ask the same of the population instead.
    hole_own = torch.quantile(log_q_at_q, HOLE_PERCENTILE / 100)
    hole_heldout = torch.quantile(log_q_at_test, HOLE_PERCENTILE / 100)
    mutual_info = avg_kl - kl_q_p
    log_n = math.log(len(codes.mu))

    metrics = {
        "kl_q_p": kl_q_p,
        "kl_q_p_se": kl_q_p_se,
        "kl_q_p_active": kl_active,
        "kl_p_q": kl_p_q,
        "kl_p_q_se": kl_p_q_se,
        "avg_kl": avg_kl,
        "avg_kl_se": avg_kl_se,
        "mutual_info": mutual_info,
        "mi_margin": log_n - mutual_info,  # near 0: q over the training codes is N separate spikes
        "mean_norm": mean.norm().item(),
        "cov_eig_min": eig.min().item(),
        "cov_eig_max": eig.max().item(),
        "gaussian_kl": (gaussian_kl_to_standard_normal(mean, cov) if isinstance(prior, StandardNormal)
                        else gaussian_kl(mean, cov, *prior.moments())),
        "scale_kl": scale_kl,
        "correlation_kl": correlation_kl,
        "mean_square_active_min": mean_square[active].min().item() if active.any() else None,
        "mean_square_active_max": mean_square[active].max().item() if active.any() else None,
        "ks_max": float(ks_stat.max()),
        "ks_mean": float(ks_stat.mean()),
        "ks_mean_active": float(ks_stat[active.numpy()].mean()) if active.any() else None,
        "mmd2": mmd2,
        "mmd_pvalue": mmd_p,
        "active_units": int(active.sum()),
        "holes": (log_q_at_p < hole_own).double().mean().item(),
        "holes_heldout": (log_q_at_p < hole_heldout).double().mean().item(),
    }
    table = [{"dim": j, "ks": float(s), "pvalue": float(p), "mu_var": float(v), "mean_square": float(m), "active": bool(a)}
             for j, (s, p, v, m, a) in enumerate(zip(ks_stat, ks_p, mu_var, mean_square, active))]
    return Match(prior, metrics, table, z_q, z_p, log_q_at_q, z_test, prior.log_prob(z_test), log_q_at_test)


def score_density(density, codes: Codes, match: Match, params) -> dict:
    """How well a fitted density g describes q, in nats.

    heldout_gain: mean over test images of log g(z) - log p(z), z ~ Q(z|x_test), p the model's
    prior. For any g fitted without the test images, KL(q_pop || p) = E[log g - log p] +
    KL(q_pop || g), so the gain is a lower bound on how far the population's codes are from p.
    test_ll_per_dim: mean log g(z) at the same draws, per dimension.
    kl_q_g, kl_g_q: both KL directions between g and q (the training mixture), Monte Carlo.
    """
    is_q = isinstance(density, Codes) and density.name == "aggregate"  # a VampPrior is a Codes too, but not q
    log_g_test = match.log_q_at_test if is_q else density.log_prob(match.z_test)
    gain, gain_se = mc_mean(log_g_test - match.log_p_at_test)
    out = {"heldout_gain": gain, "heldout_gain_se": gain_se, "test_ll_per_dim": log_g_test.mean().item() / codes.dim}
    if is_q:
        # q against itself: both KLs are 0 by definition, and computing them costs three M x N passes
        return {**out, "kl_q_g": 0.0, "kl_q_g_se": 0.0, "kl_g_q": 0.0, "kl_g_q_se": 0.0}
    kl_q_g, kl_q_g_se = mc_mean(match.log_q_at_q - density.log_prob(match.z_q))
    z_g = density.sample(params.n_samples, params.seed + 2)
    kl_g_q, kl_g_q_se = mc_mean(density.log_prob(z_g) - aggregate.log_q(z_g, codes.mu, codes.logvar, params.chunk_size))
    return {**out, "kl_q_g": kl_q_g, "kl_q_g_se": kl_q_g_se, "kl_g_q": kl_g_q, "kl_g_q_se": kl_g_q_se}
