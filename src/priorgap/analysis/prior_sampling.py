"""Does sampling the prior hurt? The prior against the best fitted density of the same run.

Fair on three counts:
- the best fitted density is the one with the highest validation gain (summary.best_fitted), never
  the one with the best figure it is then compared by;
- each comparison is paired within a run (same decoder, same classifier): the prior's figure minus
  the best density's, a mean over the runs of one latent size (every depth and seed) with its 95%
  interval;
- fidelity (precision: do samples look like digits?) and coverage (recall: do they reach every
  kind of digit?) are judged apart, against real test digits and against the decoder's own
  reconstructions of them (the decoder held fixed), each beside its floor: real digits against the
  test set (floor.*), and replaying q (decoding codes of training images) against the
  reconstructions.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from ..study import runs
from .stats import Direction
from . import stats
from ..summary.headline import FITTED, best_fitted

# measure -> (what it is, higher is better?)
MEASURES = {"fd": ("Frechet distance to test digits", False), "precision": ("precision", True),
            "recall": ("recall", True), "fd_vs_recon": ("Frechet distance to the reconstructions", False),
            "precision_vs_recon": ("precision against the reconstructions", True),
            "recall_vs_recon": ("recall against the reconstructions", True)}


@dataclass
class Sampling:
    latent: int
    runs: int
    chosen: Counter  # best fitted density -> runs where the validation codes chose it
    prior: dict = field(default_factory=dict)  # measure -> mean over runs
    best: dict = field(default_factory=dict)
    floor: dict = field(default_factory=dict)  # measure -> the floor's mean (real digits, or q replayed)
    diffs: dict = field(default_factory=dict)  # measure -> stats.Diff of prior minus best (paired)
    sd: dict = field(default_factory=dict)  # measure -> sd of the per-run differences

    def worse(self, measure: str) -> str:
        """"worse", "better" or "no clear difference": the prior against the best density."""
        d = self.diffs[measure]
        if d.verdict not in (Direction.LOWER, Direction.HIGHER):
            return "no clear difference"
        higher_better = MEASURES[measure][1]
        return "better" if (d.verdict == Direction.HIGHER) == higher_better else "worse"


def pairs(r: runs.Row, measure: str) -> tuple[float, float] | None:
    best = best_fitted(r.metrics)
    a, b = r.metrics.get(f"{measure}.prior"), r.metrics.get(f"{measure}.{best}")
    return None if a is None or b is None else (a, b)


def floor(r: runs.Row, measure: str) -> float | None:
    if measure.endswith("_vs_recon"):
        return r.metrics.get(f"{measure}.aggregate")
    return r.metrics.get(f"floor.{measure}")


def sampling(rows: list[runs.Row]) -> list[Sampling]:
    """One Sampling per latent size of the rows (pass one part: the grid, say)."""
    out = []
    for z in sorted({r.key.latent for r in rows}):
        here = [r for r in runs.where(rows, latent=z) if all(r.metrics.get(f"val_gain.{s}") is not None
                                                              for s in FITTED)]
        if not here:
            continue
        s = Sampling(z, len(here), Counter(best_fitted(r.metrics) for r in here))
        for m in MEASURES:
            found = [p for p in (pairs(r, m) for r in here) if p is not None]
            if len(found) < 2:
                continue
            s.prior[m] = sum(a for a, _ in found) / len(found)
            s.best[m] = sum(b for _, b in found) / len(found)
            s.diffs[m] = stats.paired([a - b for a, b in found])
            s.sd[m] = stats.spread([a - b for a, b in found])[1]
            floors = [f for f in (floor(r, m) for r in here) if f is not None]
            s.floor[m] = sum(floors) / len(floors) if floors else math.nan
        if s.diffs:  # two runs at least
            out.append(s)
    return out


def sentence(s: Sampling) -> str:
    """Fidelity and coverage at one latent size, against the reconstructions and real digits."""
    def one(m):
        d = s.diffs[m]
        return f"{s.prior[m]:.3g} against {s.best[m]:.3g} (difference {d.fmt()}, floor {s.floor[m]:.3g})"

    best = ", ".join(f"{k} {n}" for k, n in s.chosen.most_common())
    parts = [f"latent size {s.latent} ({s.runs} runs; best density chosen on validation codes: {best}):"]
    if "fd_vs_recon" in s.diffs:
        parts.append(f"with the decoder held fixed, the prior is {s.worse('fd_vs_recon')} on FD to the "
                     f"reconstructions, {one('fd_vs_recon')};")
    for m, word in (("precision", "fidelity"), ("recall", "coverage")):
        if m in s.diffs and f"{m}_vs_recon" in s.diffs:
            parts.append(f"{word}: {s.worse(m)} against real digits ({m} {one(m)}), {s.worse(m + '_vs_recon')} "
                         f"against the reconstructions ({one(m + '_vs_recon')});")
    return " ".join(parts).rstrip(";") + "."


@dataclass(frozen=True)
class SliceCheck:
    """One slice run's own prior-minus-best difference against the grid's paired mean at its latent size."""

    grid: "Sampling"
    run: str
    measure: str
    longer: float  # the slice run's difference
    same_way: bool  # a clear grid difference keeps its sign
    inside: bool  # within the grid's 95% prediction interval


def on_slice(results: list[Sampling], slice_rows: list[runs.Row]) -> list[SliceCheck]:
    """Each slice run of the grid's own setting, checked against the grid's result at its latent size."""
    out = []
    by_latent = {s.latent: s for s in results}
    # only the grid's own setting at twice the epochs: a slice run at another beta samples another model
    for r in runs.where(slice_rows, beta=1.0, warmup=0, prior="normal", width=runs.GRID_WIDTH):
        s = by_latent.get(r.key.latent)
        if s is None:
            continue
        for m in ("fd", "fd_vs_recon", "precision", "recall"):
            p = pairs(r, m)
            if p is None or m not in s.diffs:
                continue
            d, new = s.diffs[m], p[0] - p[1]
            same = (new > 0) if d.verdict == Direction.HIGHER else (new < 0) if d.verdict == Direction.LOWER else True
            inside = abs(new - d.diff) <= stats.t_quantile(d.df) * math.hypot(d.se, s.sd[m])
            out.append(SliceCheck(s, r.name, m, new, same, inside))
    return out
