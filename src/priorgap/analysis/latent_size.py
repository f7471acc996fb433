"""Claim 2: with more latent dimensions each dimension of q(z) gets closer to the prior's marginal.

Judged as a trend over every latent size, not on its endpoints (a fall from 2 to 5 can sit beside a
flat run from 5 to 50): within each encoder depth, each step to the next size is a difference
of seed means with its 95% interval, and the trend stops at the size after which no step is
clearly lower. The per-dimension match (mean KS of the active dimensions) is shown beside the
joint match (held-out bound, the moment-matched Gaussian's KL), and the reason the trend stops
beside both: active units and population information per active unit.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..study import runs
from . import stats
from .stats import Direction
from .compare import Compared, between

KS = "ks_mean_active"
INFO_PER_UNIT = "info_per_unit"  # derived: population information per active unit (nats)
BESIDE = ("kl_q_prior_lower_bound", "gaussian_kl", "ks_mean", "active_units", INFO_PER_UNIT)


@dataclass
class Trend:
    depth: int
    latents: list[int]
    steps: list[Compared]  # KS at each size against the one before
    stop: int | None  # the size after which KS no longer clearly falls (None: it never does)
    rising: list[int]  # sizes at which KS clearly rises
    units_stop: int | None  # the size after which the active units no longer clearly grow
    units: dict  # latent size -> mean active units


@dataclass
class LatentClaim:
    verdict: str = ""
    trends: list[Trend] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def with_info_per_unit(rows: list[runs.Row]) -> list[runs.Row]:
    """Copies of the rows with INFO_PER_UNIT among their metrics (the rows themselves are shared: untouched)."""
    return [runs.with_metric(r, INFO_PER_UNIT, r.metrics[runs.POPULATION_INFO] / r.metrics["active_units"])
            if r.metrics.get("active_units") else r for r in rows]


def latent_claim(rows: list[runs.Row], epochs: int) -> LatentClaim:
    claim = LatentClaim()
    grid = with_info_per_unit([r for r in rows if r.part(epochs) == "grid"])
    base = runs.at_beta1(epochs)
    for d in sorted({r.key.depth for r in grid}):
        latents = sorted({r.key.latent for r in runs.where(grid, depth=d)})
        steps = [
            between(
                grid, "claim 2", f"depth {d}", KS, {**base, "depth": d, "latent": a}, {**base, "depth": d, "latent": b}
            )
            for a, b in zip(latents, latents[1:])
        ]
        open_steps = [f"{s.low['latent']}->{s.high['latent']}" for s in steps if not s.diff.decided]
        if not steps or open_steps:  # a trend needs every step: one left open could be where it stops
            claim.missing.append(
                f"depth {d}: "
                + (
                    f"steps {', '.join(open_steps)} lack two seeds a side"
                    if open_steps
                    else "fewer than two latent sizes"
                )
            )
            continue
        falling = [s.high["latent"] for s in steps if s.verdict == Direction.LOWER]
        rising = [s.high["latent"] for s in steps if s.verdict == Direction.HIGHER]
        growing = [
            b
            for a, b in zip(latents, latents[1:])
            if between(
                grid, "", "", "active_units", {**base, "depth": d, "latent": a}, {**base, "depth": d, "latent": b}
            ).verdict
            == Direction.HIGHER
        ]
        units = {z: stats.spread(runs.values(runs.where(grid, depth=d, latent=z), "active_units"))[0] for z in latents}
        claim.trends.append(
            Trend(
                d, latents, steps, max(falling) if falling else None, rising, max(growing) if growing else None, units
            )
        )
    if not claim.trends:
        claim.verdict = "cannot be decided"
    elif all(t.stop is None for t in claim.trends):
        claim.verdict = "does not hold"
    elif all(t.stop is not None and not t.rising for t in claim.trends):
        stops = sorted({t.stop for t in claim.trends})
        last = max(t.latents[-1] for t in claim.trends)
        claim.verdict = (
            "holds"
            if all(t.stop == t.latents[-1] for t in claim.trends)
            else f"holds up to latent size {stops[-1] if len(stops) == 1 else f'{stops[0]}-{stops[-1]}'}, "
            f"then stops (no clear change up to {last})"
        )
    else:
        claim.verdict = "holds at some depths only"
    return claim


def comparisons(rows: list[runs.Row], epochs: int, slice_latents: list[int]) -> list[Compared]:
    """The trend between the sizes the slice has (at each depth it has), for the slice to repeat."""
    grid = [r for r in rows if r.part(epochs) == "grid"]
    base = runs.at_beta1(epochs)
    depths = sorted({r.key.depth for r in rows if r.part(epochs) == "slice"})
    out = [
        between(grid, "claim 2", f"depth {d}", KS, {**base, "depth": d, "latent": a}, {**base, "depth": d, "latent": b})
        for d in depths
        for a, b in zip(slice_latents, slice_latents[1:])
    ]
    return [c for c in out if c.diff.decided]
