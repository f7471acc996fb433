"""Each density's capacity, and the population bound, chosen on validation codes.

For any density g fitted without an image, its held-out gain E[log g(z) - log p(z)] over
z ~ Q(z|x) of such images (p the model's prior) is a lower bound on KL(q_pop || p): the gap is
KL(q_pop || g).
The bound is as tight as the best g, so we try several (and each at several capacities), but the
largest of several estimates on the codes it is reported on is biased up. So every choice (the
capacity of each density, and which density gives the bound) is made on the validation split's
codes, and the figure reported is the chosen density's gain on the test codes.

The capacity curve is that test gain at every capacity tried. The bound is saturated when the
largest capacity gains no more than its standard error over the one before it (a paired
difference, on the same test draws); when it still gains, more capacity would likely tighten it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import densities
from .aggregate import Codes
from .aggregate import mc_mean


@dataclass
class Heldout:
    """Draws from the mixture of a split no density was fitted on (as many as its images, each from an
    image picked at random), and log p(z) there."""

    z: torch.Tensor
    log_p: torch.Tensor

    @classmethod
    def draw(cls, split: Codes, seed: int, prior) -> "Heldout":
        z = split.sample(len(split.mu), seed)
        return cls(z, prior.log_prob(z))

    def gains(self, density) -> torch.Tensor:
        """log g(z) - log p(z) at each draw: their mean is the held-out gain."""
        return density.log_prob(self.z).double() - self.log_p


def fit_chosen(name: str, codes: Codes, params, val: Heldout, test: Heldout, prior) -> tuple[object, dict]:
    """Fit `name` at each of its capacities and keep the one with the highest validation gain;
    "prior" is the model's own `prior`, kept as it is (its gain is 0).

    Returns the density and its record: val_gain and val_gain_se of the kept one, and for a
    density with a capacity grid, `curve` ({capacity: val and test gains, and the test gain's
    step over the capacity before}), the kept `capacity` and `saturated` (None with one capacity:
    nothing to compare). Test draws are scored only for a curve: the caller scores the kept
    density on them (diagnostics.score_density)."""
    grid = [None] if name == "prior" else densities.capacities(name, params)
    best, record, curve, previous = None, {}, {}, None
    for capacity in grid:
        g = prior if name == "prior" else densities.fit_density(name, codes, params, capacity, val.z)
        val_gain, val_se = mc_mean(val.gains(g))
        if best is None or val_gain > record["val_gain"]:
            best, record = g, {"val_gain": val_gain, "val_gain_se": val_se, **g.fit_info}
            if capacity is not None:
                record["capacity"] = capacity
        if capacity is not None:
            on_test = test.gains(g)
            gain, se = mc_mean(on_test)
            # paired: the same test draws under this capacity and the one before
            step, step_se = (None, None) if previous is None else mc_mean(on_test - previous)
            curve[str(capacity)] = {"val_gain": val_gain, "val_gain_se": val_se, "heldout_gain": gain,
                                    "heldout_gain_se": se, "step": step, "step_se": step_se}
            previous = on_test
    if curve:
        last = curve[str(grid[-1])]
        record.update(curve=curve, saturated=None if last["step"] is None else last["step"] <= last["step_se"])
    return best, record


def population_bound(scores: dict) -> dict:
    """kl_q_prior_lower_bound: the test gain of the density with the highest validation gain (the prior's
    gain is 0 on both, so the chosen gain is 0 or an honest lower bound of the chosen density).
    bound_saturated: no density with a grid of two or more capacities still gained at its largest
    (None when no density has such a grid: one capacity has nothing to compare)."""
    chosen = max(scores, key=lambda name: scores[name]["val_gain"])
    grids = [s["saturated"] for s in scores.values() if s.get("saturated") is not None]
    saturated = all(grids) if grids else None
    return {
        "kl_q_prior_lower_bound": scores[chosen]["heldout_gain"],
        "kl_q_prior_lower_bound_se": scores[chosen]["heldout_gain_se"],
        "kl_q_prior_lower_bound_density": chosen,
        "bound_saturated": saturated,
    }
