"""gmm: a Gaussian mixture fitted by EM (em.py) to q: on `draws` z ~ Q(z|x) per training image
(pythae fits on one), or on the means with each component widened by its members' posterior
variance. Its capacity is the number of components, chosen on the validation codes."""
from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field, model_validator

from ..errors import ParamError
from ..config.schema import Section
from . import em
from .aggregate import Codes
from .density import Entry, register, Mixture, loadable


class Params(Section):
    """posterior.gmm"""

    # capacities tried, each fitted; the validation codes choose one (priorgap.latent.capacity)
    components: list[Annotated[int, Field(ge=1)]] = Field(min_length=1)
    draws: int = Field(ge=1)  # z ~ Q(z|x) per training image the mixture is fitted on (fit_on: z)
    covariance_type: Literal["full", "tied", "diag", "spherical"]
    fit_on: Literal["mu", "z"]  # draws z ~ Q(z|x), or the means widened by the posterior variance

    @model_validator(mode="after")
    def _draws_need_z(self):
        if self.fit_on == "mu" and self.draws != 1:
            raise ValueError(
                f"draws ({self.draws}) applies to fit_on: z; with fit_on: mu (one mean per image) set draws: 1"
            )
        return self


@loadable
class GaussianMixture(Mixture):
    """A Gaussian mixture (fitted by EM, em.py) that describes q, not only its means."""

    kind = "gmm"

    @classmethod
    def fit(cls, codes: Codes, params, capacity: int, seed: int, val_z=None) -> "GaussianMixture":
        """fit_on "z": fitted on `draws` z ~ Q(z|x) per image (pythae uses one), so each component
        sees the posterior spread through the draws; more draws feed more components. fit_on "mu":
        fitted on the means (as the RAE paper), then each component's covariance is widened by its
        members' responsibility-weighted mean posterior variance, the second term of the law of
        total covariance. Without it, a dimension where mu barely varies (an inactive unit, or
        identical codes) gets a spike of width ~1e-3 while q has width ~1 there, and KL(q || gmm)
        runs to thousands of nats."""
        p = params.gmm
        data = codes.mu if p.fit_on == "mu" else codes.sample(p.draws * len(codes.mu), seed)
        if capacity > len(data):
            raise ParamError("posterior.gmm.components", f"({capacity}) exceeds the {len(data)} training codes")
        weights, means, covs = em.fit(data, capacity, p.covariance_type, seed)
        if p.fit_on == "mu":
            resp = em.e_step(data.double(), weights, means, covs)[0]
            sigma2 = codes.logvar.double().exp()
            # one pseudo-member with q's mean variance: a component that owns no code stays a density
            var = (resp.T @ sigma2 + sigma2.mean(0)) / (resp.sum(0)[:, None] + 1.0)  # (K, d)
            covs = covs + torch.diag_embed(var)
        return cls("gmm", weights, means, covs)

    @classmethod
    def least_codes(cls, params, capacities: list) -> int:
        """Ten per component at the largest capacity: EM fits a full covariance per component."""
        return 10 * max(capacities)


register(
    Entry("gmm", GaussianMixture, on_active=True, capacity="components", section="gmm", candidate=True, params=Params)
)
