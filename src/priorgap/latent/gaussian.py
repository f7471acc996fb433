"""gaussian: the full-covariance Gaussian with q's mean and covariance (q's moment match, the
maximum-likelihood Gaussian for q). It reads no params. OnActive also uses it for the inactive
units beside a density fitted on the active ones (densities.fit_density)."""
from __future__ import annotations

import torch

from . import aggregate
from .aggregate import Codes
from .density import Entry, register, Mixture, loadable


@loadable
class MomentMatched(Mixture):
    """The Gaussian with q's mean and covariance (the maximum-likelihood Gaussian for q)."""

    kind = "gaussian"

    @classmethod
    def fit(cls, codes: Codes, params=None, capacity=None, seed: int = 0, val_z=None) -> "MomentMatched":
        mean, cov = aggregate.moments(codes.mu, codes.logvar)
        return cls("gaussian", torch.ones(1), mean[None], cov[None])


register(Entry("gaussian", MomentMatched))
