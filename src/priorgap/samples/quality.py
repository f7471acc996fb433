"""Sample-quality metrics between generated and real images, in the classifier's feature space.

  fd                      Frechet distance between Gaussians fitted to the two feature sets
  precision, recall       Kynkaanniemi et al. (2019): the share of one set inside the union of the
                          other's k-nearest-neighbour balls
  density, coverage       Naeem et al. (2020): how many real balls a sample falls in (/ k), and the
                          share of real balls that hold at least one sample
  class_kl, confident     KL(test class frequencies || predicted class histogram of the samples),
                          and the share of samples classified with probability >= 0.9
  nn_train_distance       mean pixel-space distance from a sample to its nearest training image

Pairwise distances are matmul-form and chunked, so memory is chunk x N whatever the set sizes.
"""
from __future__ import annotations

import torch

CONFIDENT = 0.9


def frechet_distance(f1: torch.Tensor, f2: torch.Tensor) -> float:
    """|m1 - m2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64.

    tr (S1 S2)^(1/2) = sum of square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2), which is
    symmetric positive semi-definite, so two symmetric eigendecompositions replace sqrtm."""
    f1, f2 = f1.double(), f2.double()
    m1, m2 = f1.mean(0), f2.mean(0)
    s1, s2 = torch.cov(f1.T), torch.cov(f2.T)
    w, v = torch.linalg.eigh(s1)
    root1 = (v * w.clamp(min=0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(root1 @ s2 @ root1).clamp(min=0).sqrt().sum()
    return ((m1 - m2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * cross).item()


def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|a_i - b_j|^2 as |a_i|^2 - 2 a_i.b_j + |b_j|^2: one fused matmul, then in-place ops."""
    d2 = torch.addmm(b.square().sum(1), a, b.T, alpha=-2.0)
    return d2.add_(a.square().sum(1, keepdim=True)).clamp_(min=0)


# Rows of a distance block: 128 x 10,000 float32 (5 MB) stays in cache through the comparisons and
# reductions that follow the product; 2,048-row blocks (80 MB) made knn_radii and prdc 1.4-1.7x slower.
CHUNK = 128


def knn_radii(x: torch.Tensor, k: int, chunk: int = CHUNK) -> torch.Tensor:
    """Distance from each row of x to its k-th nearest other row."""
    out = []
    for start in range(0, len(x), chunk):
        d2 = _sq_dists(x[start : start + chunk], x)
        # k + 1 smallest: the row itself is at distance 0
        out.append(d2.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(out).sqrt_()


def prdc(real: torch.Tensor, fake: torch.Tensor, k: int = 5, real_radii: torch.Tensor | None = None,
         chunk: int = CHUNK, fake_radii: torch.Tensor | None = None, members: bool = False) -> dict:
    """float32 is plenty for ball membership in 128 dimensions, and twice as fast as float64.
    Pass `real_radii` (knn_radii(real, k)) to score many sample sets against one real set, and
    `fake_radii` to score one sample set against several real sets. `members`: also return, under
    "members", whether each fake lies in some real ball (precision is their mean)."""
    real, fake = real.float(), fake.float()
    r_real = knn_radii(real, k, chunk) if real_radii is None else real_radii
    r_fake = knn_radii(fake, k, chunk) if fake_radii is None else fake_radii
    balls_hit = torch.zeros(len(fake), dtype=torch.int64, device=fake.device)  # number of real balls holding each fake
    covered = torch.zeros(len(real), dtype=torch.bool, device=fake.device)  # real ball holding some fake
    inside_fake = torch.zeros(len(real), dtype=torch.bool, device=fake.device)  # real in some fake ball
    r2_real, r2_fake = r_real.square(), r_fake.square()  # compare squared distances: no sqrt pass
    for start in range(0, len(fake), chunk):
        d2 = _sq_dists(fake[start : start + chunk], real)  # (chunk, n_real)
        in_real_ball = d2 <= r2_real
        # int32 counts (at most len(real)) sum twice as fast as float64 and are exact
        balls_hit[start : start + chunk] = in_real_ball.sum(1, dtype=torch.int32)
        covered |= in_real_ball.any(0)
        inside_fake |= (d2 <= r2_fake[start : start + chunk, None]).any(0)
    out = {
        "precision": (balls_hit > 0).double().mean().item(),  # fake in some real ball
        "recall": inside_fake.double().mean().item(),
        "density": (balls_hit.sum().double() / (k * len(fake))).item(),
        "coverage": covered.double().mean().item(),
    }
    return out | {"members": balls_hit > 0} if members else out


def class_balance(probs: torch.Tensor, test_labels: torch.Tensor) -> dict[str, float]:
    """KL from the test set's class frequencies to the samples' predicted-class histogram.

    One pseudo-count per class keeps the KL finite when a digit is never generated (it is then
    large, about log(n / 10) nats for that class's share, rather than infinite)."""
    p = torch.bincount(test_labels.long(), minlength=10).double()
    p /= p.sum()
    counts = torch.bincount(probs.argmax(1), minlength=10).double() + 1.0
    q = counts / counts.sum()
    return {
        "class_kl": (p * (p / q).log()).sum().item(),
        "confident": (probs.max(1).values >= CONFIDENT).double().mean().item(),
    }


def nearest_distance(x: torch.Tensor, pool: torch.Tensor, chunk: int = 1024) -> float:
    """Mean Euclidean distance from each row of x to its nearest row of pool (pixel space)."""
    best = []
    for start in range(0, len(x), chunk):
        best.append(_sq_dists(x[start : start + chunk].float(), pool.float()).amin(1).sqrt())
    return torch.cat(best).mean().item()


def versus(feats: torch.Tensor, ref_feats: torch.Tensor, ref_radii: torch.Tensor, k: int,
           feats_radii: torch.Tensor | None = None, members: bool = False) -> dict:
    """Frechet distance and precision/recall/density/coverage of one feature set against another."""
    return {"fd": frechet_distance(feats, ref_feats),
            **prdc(ref_feats, feats, k, ref_radii, fake_radii=feats_radii, members=members)}


def report(samples: torch.Tensor, feats: torch.Tensor, probs: torch.Tensor, real_feats: torch.Tensor,
           real_radii: torch.Tensor, test_labels: torch.Tensor, train_pixels: torch.Tensor, k: int,
           nn_samples: int, feats_radii: torch.Tensor | None = None, members: bool = False) -> dict:
    """Every metric for one set of generated images (pixels in [0, 1]) against a real set."""
    return {
        **versus(feats, real_feats, real_radii, k, feats_radii, members),
        **class_balance(probs, test_labels),
        "nn_train_distance": nearest_distance(samples[:nn_samples], train_pixels),
    }
