"""How far is the aggregate posterior q from the model's prior p? Every figure in nats unless named
otherwise. p is N(0, I) or a VampPrior (priors.py); with N(0, I) every figure keeps the
closed form, with a learned prior the same figure is measured against p instead."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from . import aggregate
from . import seeds
from .aggregate import Codes, mc_mean

HOLE_PERCENTILE = 1.0


def scale_and_shape(metrics: dict) -> dict:
    """How much of the held-out bound the moment-matched Gaussian explains. KL(q || p) =
    KL(q || g_q) + KL(g_q || p) for q's moment match g_q whenever log p is quadratic (N(0, I)):
    the second term, gaussian_kl, is the mismatch of scale and correlation; the first is shape
    (what no Gaussian can fix), at least bound - gaussian_kl. A learned prior's log density is
    not quadratic, so there the split does not hold (None)."""
    bound, gaussian = metrics["kl_q_prior_lower_bound"], metrics["gaussian_kl"]
    if metrics["scale_kl"] is None:
        return {"gaussian_share": None, "shape_kl_lower": None}
    return {"gaussian_share": gaussian / bound if bound > 0 else None, "shape_kl_lower": bound - gaussian}


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
    z_test: torch.Tensor  # as many draws as test images from their mixture (an image picked at random, then z ~ Q(z|x))
    log_p_at_test: torch.Tensor  # log p(z) at those draws
    log_q_at_test: torch.Tensor  # log q at those draws


def match_diagnostics(codes: Codes, test: Codes, params, prior) -> Match:
    """How far q (the mixture of the training codes) is from the model's prior p, and where.
    `params` is the `posterior` section of params.yaml."""
    m, chunk = params.n_samples, params.chunk_size
    g = torch.Generator().manual_seed(params.seed + seeds.Q_DRAWS)
    z_q = aggregate.sample(codes.mu, codes.logvar, m, g)
    z_p = prior.draws(m, g, params.seed + seeds.PRIOR_DRAWS)
    log_q_at_q = aggregate.log_q(z_q, codes.mu, codes.logvar, chunk)
    log_q_at_p = aggregate.log_q(z_p, codes.mu, codes.logvar, chunk)
    kl_q_prior, kl_q_prior_se = mc_mean(log_q_at_q - prior.log_prob(z_q))
    kl_prior_q, kl_prior_q_se = mc_mean(prior.log_prob(z_p) - log_q_at_p)
    avg_kl, avg_kl_se = prior.average_kl(codes, params.seed + seeds.PRIOR_DRAWS)
    z_test = test.sample(len(test.mu), params.seed + seeds.TEST_DRAWS)
    log_q_at_test = aggregate.log_q(z_test, codes.mu, codes.logvar, chunk)

    # Inactive units (mu ~ 0, sigma ~ 1) match the prior there almost for free: report the active ones apart.
    mu_var = torch.var(codes.mu.double(), dim=0, correction=0)
    active = aggregate.active_units(codes.mu)
    if active.all():
        kl_active = kl_q_prior
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
    scale_kl, correlation_kl = prior.scale_and_correlation(mean, cov)
    ks = prior.ks_test(z_q.double().numpy())
    ks_stat, ks_p = np.atleast_1d(ks.statistic), np.atleast_1d(ks.pvalue)
    n_mmd = min(params.mmd.n_samples, m)
    mmd2, mmd_p = mmd2_test(z_q[:n_mmd], z_p[:n_mmd], params.mmd.permutations, params.seed + seeds.Q_DRAWS)
    # Holes: prior draws where q is thinner than at 99% of q's own draws. With its own draws as the
    # reference, a spiky training mixture (one narrow bump per image) calls almost everything a
    # hole; held-out codes ask the same of the population instead.
    hole_own = torch.quantile(log_q_at_q, HOLE_PERCENTILE / 100)
    hole_heldout = torch.quantile(log_q_at_test, HOLE_PERCENTILE / 100)
    mutual_info = avg_kl - kl_q_prior
    log_n = math.log(len(codes.mu))

    metrics = {
        "kl_q_prior": kl_q_prior,
        "kl_q_prior_se": kl_q_prior_se,
        "kl_q_prior_active": kl_active,
        "kl_prior_q": kl_prior_q,
        "kl_prior_q_se": kl_prior_q_se,
        "avg_kl": avg_kl,
        "avg_kl_se": avg_kl_se,
        "mutual_info": mutual_info,
        "mi_margin": log_n - mutual_info,  # near 0: q over the training codes is N separate spikes
        "mean_norm": mean.norm().item(),
        "cov_eig_min": eig.min().item(),
        "cov_eig_max": eig.max().item(),
        "gaussian_kl": prior.gaussian_kl(mean, cov),
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
    table = [
        {"dim": j, "ks": float(s), "pvalue": float(p), "mu_var": float(v), "mean_square": float(m), "active": bool(a)}
        for j, (s, p, v, m, a) in enumerate(zip(ks_stat, ks_p, mu_var, mean_square, active))
    ]
    return Match(prior, metrics, table, z_q, z_p, log_q_at_q, z_test, prior.log_prob(z_test), log_q_at_test)


def score_density(density, codes: Codes, match: Match, params) -> dict:
    """How well a fitted density g describes q, in nats.

    heldout_gain: mean over test images of log g(z) - log p(z), z ~ Q(z|x_test), p the model's
    prior. For any g fitted without the test images, KL(q_pop || p) = E[log g - log p] +
    KL(q_pop || g), so the gain is a lower bound on how far the population's codes are from p.
    test_ll_per_dim: mean log g(z) at the same draws, per dimension.
    kl_q_g, kl_g_q: both KL directions between g and q (the training mixture), Monte Carlo.
    """
    log_g_test = match.log_q_at_test if density.replays_q else density.log_prob(match.z_test)
    gain, gain_se = mc_mean(log_g_test - match.log_p_at_test)
    out = {"heldout_gain": gain, "heldout_gain_se": gain_se, "test_ll_per_dim": log_g_test.mean().item() / codes.dim}
    if density.replays_q:
        # q against itself: both KLs are 0 by definition, and computing them costs three M x N passes
        return {**out, "kl_q_g": 0.0, "kl_q_g_se": 0.0, "kl_g_q": 0.0, "kl_g_q_se": 0.0}
    kl_q_g, kl_q_g_se = mc_mean(match.log_q_at_q - density.log_prob(match.z_q))
    z_g = density.sample(params.n_samples, params.seed + seeds.DENSITY_DRAWS)
    kl_g_q, kl_g_q_se = mc_mean(density.log_prob(z_g) - aggregate.log_q(z_g, codes.mu, codes.logvar, params.chunk_size))
    return {**out, "kl_q_g": kl_q_g, "kl_q_g_se": kl_q_g_se, "kl_g_q": kl_g_q, "kl_g_q_se": kl_g_q_se}
