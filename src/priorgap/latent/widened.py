"""The training mixture widened: g_h(z) = (1/N) sum_i N(z; mu_i, diag(sigma_i^2 + h^2)).

q itself (h = 0) puts N narrow bumps where the training codes are; once the mutual information
nears log N, a test code falls between them and q scores it badly (the training mixture is spiky,
docs/method/aggregate-posterior.md). Widening every posterior by one bandwidth h is a kernel
density estimate whose kernels are the posteriors themselves (Parzen 1962, with each kernel
already shaped by its own sigma_i): it keeps q's shape and fills the gaps between the bumps. It
is fitted without a test image, so its held-out gain is a lower bound like every other density's;
h is its capacity, chosen on the validation codes (capacity.py), smallest first.

Sampling it replays the training codes with extra noise, so it is an instrument of the bound, not
a sampler a user would pick (its registry entry is no candidate).
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Annotated

import torch
from pydantic import Field

from ..config.schema import Number, Section
from .aggregate import Codes
from .density import Entry, register, loadable


class Params(Section):
    """posterior.widened"""

    # bandwidths h tried: each posterior's variance grows by h^2; the validation codes choose one
    bandwidths: list[Annotated[Number, Field(gt=0.0)]] = Field(min_length=1)


@loadable
@dataclass
class Widened(Codes):
    """Codes whose log-variances already hold the bandwidth: log(sigma_i^2 + h^2)."""

    name: str = "widened"
    kind = "widened"
    replays_q = False

    @classmethod
    def fit(cls, codes: Codes, params, capacity: float, seed: int, val_z=None) -> "Widened":
        """`capacity` is the bandwidth h (one of posterior.widened.bandwidths)."""
        logvar = torch.log(codes.logvar.double().exp() + float(capacity) ** 2)
        return cls(codes.mu, logvar.float(), chunk=params.chunk_size)

    @classmethod
    def from_state(cls, state: dict) -> "Widened":
        return cls(state["mu"], state["logvar"])


register(Entry("widened", Widened, on_active=True, capacity="bandwidths", section="widened", params=Params))
