"""What the held-out bound can pin: each verdict that rests on it under every density and capacity
the runs' records hold, and the bracket around the population's KL.

The held-out bound is the test codes' mean of log g(z) - log p(z) for a density g fitted to the
training codes: a lower bound on KL(q_pop || p) for any g, as tight as g is good (the study keeps
the g its validation codes prefer). A verdict that compares two settings' bounds compares their
slacks too. So each comparison is repeated with the bound of every density the records hold (the
moment-matched Gaussian, the mixture at each capacity, the flow, the two-stage VAE, the training
mixture): a verdict whose sign holds under all of them does not lean on one density's slack. The
training mixture is fitted without the test images, so its held-out gain is a bound like the others
(the study's choice at latent size 2). Nested capacities are one family, not separate evidence:
Sensitivity.reads() counts each density once, at the capacity its validation codes kept, and a
bound at or below 0 (the prior's own gain: no bound at all) as vacuous.

The bracket. The training mixture's KL is avg_kl - I_N, where I_N, the index's mutual information
under the N-component mixture, is an InfoNCE estimate with K = N of the population's I(x; z): below
it in expectation, and never above log N (Oord et al. 2018; Poole et al. 2019). Since
KL(q_pop || p) = E_x KL(Q(z|x) || p) - I(x; z) and avg_kl estimates the first term without bias,
the training mixture's KL is an upper estimate of the population's in expectation. Where I(x; z)
is near or above log N no estimator from N samples can certify it (McAllester & Stratos 2020),
and the bracket [held-out bound, training mixture's KL] stays wide: the data pin the truth only
where the two meet.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..data.mnist import N_TRAIN
from ..study import runs
from . import depth, stats, width
from .answer import latent_ends

BOUND = depth.BOUND


# each density's family, as the text names it; a density the records add later is named by its key
FAMILIES = {
    "gaussian": "Gaussian",
    "gmm": "GMM",
    "flow": "flow",
    "two_stage": "two-stage",
    "aggregate": "training mixture",
}


def bounds_of(fit_posterior: dict) -> dict[str, float]:
    """Every held-out gain a run's fit_posterior metrics hold: the study's choice ("chosen"), each
    density at the capacity its validation codes kept ("gmm"), and for a density with a capacity
    curve each capacity ("gmm 30")."""
    out = {"chosen": fit_posterior["kl_q_prior_lower_bound"]}
    for name, score in fit_posterior["densities"].items():
        if name == "prior":  # its gain is 0 by definition: it bounds nothing
            continue
        out[name] = score["heldout_gain"]
        for capacity, point in score.get("curve", {}).items():
            out[f"{name} {capacity}"] = point["heldout_gain"]
    return out


def with_bound(rows: list[runs.Row], bounds: dict[str, dict[str, float]], variant: str) -> list[runs.Row]:
    """Copies of the rows whose BOUND is `variant`'s (rows without it are left out)."""
    return [runs.with_metric(r, BOUND, bounds[r.name][variant]) for r in rows if variant in bounds.get(r.name, {})]


@dataclass
class Sensitivity:
    comparison: str  # what is compared, where
    by_variant: dict[str, stats.Diff]  # variant -> the difference of the bounds under it
    # variants whose bound is at or below 0 (the prior's own gain) at a latent size compared: no bound
    # there, so their difference compares how badly the density fits, not q
    vacuous: set[str] = field(default_factory=set)

    def reads(self) -> list[str]:
        """How the comparison reads under each density family other than the study's choice, once per
        family (at the capacity validation kept): nested capacities of one mixture are not separate
        evidence."""
        return [
            "vacuous" if v in self.vacuous else str(d.verdict)
            for v, d in self.by_variant.items()
            if v != "chosen" and " " not in v
        ]


def tally(reads: list[str]) -> str:
    """'3 lower, 0 higher, 1 not clear, 1 vacuous': Sensitivity.reads() of one comparison or several."""
    counts = {k: reads.count(k) for k in ("lower", "higher", "vacuous")}
    return f"{counts['lower']} lower, {counts['higher']} higher, {len(reads) - sum(counts.values())} not clear" + (
        f", {counts['vacuous']} vacuous (at or below 0)" if counts["vacuous"] else ""
    )


def _comparisons(rows: list[runs.Row], epochs: int) -> dict[str, tuple[stats.Diff, tuple[int, ...]]]:
    """The bound's differences each verdict reads, on these rows, with the latent sizes each compares."""
    out = {}
    for z in (10, 50):
        m = depth.matched(rows, z, epochs, measures=(BOUND,))
        if isinstance(m, depth.Matched) and BOUND in m.diffs:
            out[f"depth 3 - 1, matched rate, latent {z}"] = m.diffs[BOUND], (z,)
    m = depth.matched(rows, 10, epochs, width.BY_WIDTH, "width", measures=(BOUND,))
    if isinstance(m, depth.Matched) and BOUND in m.diffs:
        out["width 1000 - 125, matched rate, latent 10"] = m.diffs[BOUND], (10,)
    out["the asker's third layer, latent 2"] = depth.asker(rows, epochs)[BOUND].diff, (depth.ASKER["latent"],)
    sizes = sorted({r.key.latent for r in rows if r.part(epochs) == "grid"})
    for where, diff in latent_ends(rows, BOUND, epochs):
        if diff.n[0] and diff.n[1]:
            out[f"latent size, {where}"] = diff, (sizes[0], sizes[-1])
    return out


def sensitivity(rows: list[runs.Row], bounds: dict[str, dict[str, float]], epochs: int) -> list[Sensitivity]:
    """Every comparison of the bound, under every variant the records hold for all their runs."""
    variants = sorted(
        {v for b in bounds.values() for v in b},
        key=lambda v: (v != "chosen", v.split()[0], float(v.split()[1]) if " " in v else 0.0),
    )
    found: dict[str, Sensitivity] = {}
    for variant in variants:
        under = with_bound(rows, bounds, variant)
        for name, (diff, latents) in _comparisons(under, epochs).items():
            s = found.setdefault(name, Sensitivity(name, {}))
            s.by_variant[variant] = diff
            # every comparison here is of N(0,I) models: a learned prior's runs hold gains over itself
            if any(
                stats.spread(runs.values(runs.where(under, latent=z, prior="normal"), BOUND))[0] <= 0 for z in latents
            ):
                s.vacuous.add(variant)
    return list(found.values())


@dataclass
class Bracket:
    depth: int
    latent: int
    runs: int
    lower: float  # the held-out bound (mean over seeds)
    upper: float  # the training mixture's KL
    avg_kl: float  # the rate over the training codes
    mutual_info: float  # the index's mutual information I_N
    log_n: float  # its ceiling: log of the training codes' count
    crossed: int  # runs whose lower end exceeds their upper end (each end bounds its own population)
    n: int  # the training codes' count


def training_codes(row: runs.Row) -> int:
    """N: data.train_size, or what prepare leaves of MNIST's training set beside the validation split."""
    size = row.params.get("data.train_size")
    return int(size) if size not in (None, "", "None") else N_TRAIN - int(row.params["data.val_size"])


def brackets(rows: list[runs.Row], epochs: int) -> list[Bracket]:
    """The grid's settings at beta 1: the held-out bound, the training mixture's KL, and the two
    terms of the latter."""
    grid = [r for r in rows if r.part(epochs) == "grid"]
    out = []
    for d in sorted({r.key.depth for r in grid}):
        for z in sorted({r.key.latent for r in runs.where(grid, depth=d)}):
            here = runs.where(grid, depth=d, latent=z)
            mean = {m: stats.spread(runs.values(here, m))[0] for m in (BOUND, "kl_q_prior", "avg_kl", "mutual_info")}
            crossed = sum(
                r.metrics[BOUND] > r.metrics["kl_q_prior"]
                for r in here
                if None not in (r.metrics.get(BOUND), r.metrics.get("kl_q_prior"))
            )
            n = training_codes(here[0])
            out.append(
                Bracket(
                    d,
                    z,
                    len(here),
                    mean[BOUND],
                    mean["kl_q_prior"],
                    mean["avg_kl"],
                    mean["mutual_info"],
                    math.log(n),
                    crossed,
                    n,
                )
            )
    return out
