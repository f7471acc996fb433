"""Expectation-maximisation for a Gaussian mixture, vectorised over components in torch.

scikit-learn's GaussianMixture loops over components in Python, one triangular solve each per
step, which is slow at the study's capacities (benchmarks/bound_vs_sklearn.py). Here both steps
are one matrix product each over all components, with the quadratic form expanded as in
aggregate.log_q:

    log N(x; m_k, S_k) = -1/2 vec(P_k) . vec(x x^T) + x . P_k m_k - 1/2 m_k . P_k m_k - 1/2 log det S_k - d/2 log 2 pi,
    P_k = S_k^-1,

so the E-step is one product [vec(x x^T), x, 1] @ coefficients per block of rows, and the M-step
one product resp^T @ [vec(x x^T), x, 1] (second moments, means and masses at once). vec keeps the
upper triangle only (x x^T and P_k are symmetric), and those features are computed once per fit.
float64 throughout: the expansion cancels (terms of size |x|^2 / var against a sum of order d), which
float64 absorbs for any variance above reg_covar. The starting point is scikit-learn's: k-means labels as one-hot
responsibilities (sklearn.cluster.KMeans, one init, on a random subset of rows). Covariance types as
scikit-learn defines them: full, tied (one shared), diag, spherical; each adds reg_covar to its diagonal.
"""

from __future__ import annotations

import math

import torch

ROWS = 8192  # rows per product
CACHE_BYTES = 1 << 30  # the features of every row are kept across steps when they fit in this
INIT_ROWS = 50_000  # rows k-means sees: 250 per cluster at 200 components, a quarter of the time


def _pairs(d: int) -> tuple[torch.Tensor, torch.Tensor]:
    return tuple(torch.triu_indices(d, d))  # the d (d + 1) / 2 pairs i <= j: x x^T is symmetric


def _features(x: torch.Tensor) -> torch.Tensor:
    """[upper triangle of x x^T, x, 1] per row: (n, d (d + 1) / 2 + d + 1)."""
    i, j = _pairs(x.shape[1])
    return torch.cat([x[:, i] * x[:, j], x, torch.ones_like(x[:, :1])], dim=1)


def _blocks(x: torch.Tensor):
    """A function giving the features block by block: computed once when they fit in
    CACHE_BYTES (x does not change between steps), else again at each pass."""
    p = x.shape[1] * (x.shape[1] + 3) // 2 + 1
    if len(x) * p * 8 <= CACHE_BYTES:
        cached = [_features(c) for c in x.split(ROWS)]
        return lambda: cached
    return lambda: (_features(c) for c in x.split(ROWS))


def _moments(resp_blocks, blocks) -> torch.Tensor:
    """(K, p): every component's second moments, first moments and mass, one product per block."""
    return sum(r.T @ f for r, f in zip(resp_blocks, blocks()))


def _m_step(moments: torch.Tensor, d: int, covariance_type: str, reg: float):
    nk = moments[:, -1] + 10 * torch.finfo(torch.float64).eps  # a component that owns nothing stays finite
    means = moments[:, -1 - d : -1] / nk[:, None]
    i, j = _pairs(d)
    second = torch.zeros(len(nk), d, d, dtype=moments.dtype)
    second[:, i, j] = second[:, j, i] = moments[:, : -1 - d] / nk[:, None]
    covs = second - means[:, :, None] * means[:, None, :]
    if covariance_type == "tied":
        covs = ((nk[:, None, None] * covs).sum(0) / nk.sum()).expand_as(covs)
    elif covariance_type == "diag":
        covs = torch.diag_embed(torch.diagonal(covs, dim1=-2, dim2=-1))
    elif covariance_type == "spherical":
        covs = torch.diagonal(covs, dim1=-2, dim2=-1).mean(-1)[:, None, None] * torch.eye(d, dtype=moments.dtype)
    covs = covs + reg * torch.eye(d, dtype=moments.dtype)
    return nk / nk.sum(), means, 0.5 * (covs + covs.transpose(-1, -2))


def coefficients(weights, means, covs) -> torch.Tensor:
    """(p, K): [vec(x x^T), x, 1] @ these is each row's log of weight x component density."""
    d = means.shape[1]
    chol = torch.linalg.cholesky(covs)
    prec = torch.cholesky_inverse(chol)  # (K, d, d)
    pm = (prec @ means[:, :, None]).squeeze(-1)  # (K, d)
    const = (
        torch.log(weights)
        - torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
        - 0.5 * (means * pm).sum(-1)
        - 0.5 * d * math.log(2 * math.pi)
    )
    i, j = _pairs(d)
    quad = -0.5 * prec[:, i, j] * torch.where(i == j, 1.0, 2.0).double()  # an off-diagonal pair stands for two terms
    return torch.cat([quad, pm, const[:, None]], dim=1).T


def log_density(x: torch.Tensor, coef: torch.Tensor) -> torch.Tensor:
    """Each row's log-density under the mixture `coef` describes, block by block: the (n, K)
    matrix is never held whole."""
    return torch.cat([torch.logsumexp(_features(c) @ coef, dim=1) for c in x.split(ROWS)])


def e_step(x, weights, means, covs) -> tuple[torch.Tensor, torch.Tensor]:
    """Responsibilities (n, K) and each row's log-density under the mixture (n,)."""
    coef = coefficients(weights, means, covs)
    joint = torch.empty(len(x), len(weights), dtype=x.dtype)
    for start, f in zip(range(0, len(x), ROWS), _blocks(x)()):
        torch.matmul(f, coef, out=joint[start : start + len(f)])
    total = torch.logsumexp(joint, dim=1)
    return joint.sub_(total[:, None]).exp_(), total  # in place: the (n, K) block is the largest thing here


def _e_and_moments(blocks, weights, means, covs) -> tuple[torch.Tensor, torch.Tensor]:
    """One E-step and the moments the next M-step needs, block by block: each block's
    responsibilities go into the product while they are in cache, and the (n, K) matrix is never
    written out. The same numbers as e_step then _moments, bit for bit (each row's log-sum and
    each block's product are the same operations), with one pass over the data where there were
    two. Returns the moments and each row's log-density."""
    coef = coefficients(weights, means, covs)
    moments, totals, buf = 0, [], None
    for f in blocks():
        if buf is None:
            buf = torch.empty(len(f), coef.shape[1], dtype=f.dtype)
        joint = torch.matmul(f, coef, out=buf[: len(f)])
        total = torch.logsumexp(joint, dim=1)
        moments = moments + joint.sub_(total[:, None]).exp_().T @ f
        totals.append(total)
    return moments, torch.cat(totals)


def fit(
    x: torch.Tensor,
    components: int,
    covariance_type: str,
    seed: int,
    reg: float = 1e-6,
    tol: float = 1e-3,
    max_iter: int = 100,
):
    """Weights (K,), means (K, d) and covariances (K, d, d); e_step gives their responsibilities.
    Stops when the mean log-likelihood per row changes by less than `tol` (scikit-learn's rule)."""
    from sklearn.cluster import KMeans

    x = x.double()
    # k-means on the first INIT_ROWS rows (a random subset: rows come in random order) places the
    # starting means; every row then starts in its nearest one's cluster
    kmeans = KMeans(components, n_init=1, random_state=seed).fit(x[:INIT_ROWS].numpy())
    labels = torch.from_numpy(kmeans.predict(x.numpy())).long()
    blocks = _blocks(x)
    moments = _moments((torch.nn.functional.one_hot(b, components).double() for b in labels.split(ROWS)), blocks)
    previous = -math.inf
    for _ in range(max_iter):
        weights, means, covs = _m_step(moments, x.shape[1], covariance_type, reg)
        moments, total = _e_and_moments(blocks, weights, means, covs)
        mean_ll = total.mean().item()
        if abs(mean_ll - previous) < tol:
            break
        previous = mean_ll
    return weights, means, covs
