"""Wide enough *and* deep enough? Encoder width at depth 2, and depth at a narrow width.

The thread's answer (1) asks for an encoder "wide enough and deep enough". Width, like depth,
changes the rate at beta = 1, so it is judged the same way (depth.py): widths 125 and 1000 at
depth 2 each trace a curve on the rate-distortion plane with a beta sweep, compared at the middle
of the rates both reach. At beta = 1, width 1000 minus 125 at every latent size is shown beside
(the rates differ there). "And deep enough": depth 3 minus 1 at width 125 against the same at the
grid's width 500 (latent size 10, beta = 1), so depth is tested where the encoder is narrow.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..study import design, runs
from .compare import Compared, between
from .depth import BOUND, RATE, Matched, matched

WIDTHS = (design.WIDTHS[0], design.WIDTHS[-1])  # narrow and wide, at depth 2
BY_WIDTH = {w: {"depth": 2, "width": w} for w in WIDTHS}
NARROW = WIDTHS[0]


@dataclass
class WidthClaim:
    matched: list[Matched] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    at_beta1: list[Compared] = field(default_factory=list)  # 1000 - 125 at each latent size
    narrow_depth: list[Compared] = field(default_factory=list)  # depth 3 - 1: at width 125, at 500


def width_claim(rows: list[runs.Row], epochs: int, matched_latents=(10,)) -> WidthClaim:
    claim = WidthClaim()
    base = runs.at_beta1(epochs)
    for z in sorted({r.key.latent for r in rows if r.key.width == NARROW}):
        for m in (BOUND, RATE, "active_units", "test_elbo"):
            c = between(rows, "width", f"latent size {z}", m, {**base, **BY_WIDTH[WIDTHS[0]], "latent": z},
                        {**base, **BY_WIDTH[WIDTHS[1]], "latent": z})
            if c.diff.n[0] and c.diff.n[1]:
                claim.at_beta1.append(c)
    for z in matched_latents:
        found = matched(rows, z, epochs, BY_WIDTH, "width")
        (claim.matched if isinstance(found, Matched) else claim.missing).append(found)
    for w in (NARROW, runs.GRID_WIDTH):
        for m in (BOUND, RATE, "active_units"):
            c = between(rows, "deep enough", f"width {w}", m, {**base, "latent": 10, "width": w, "depth": 1},
                        {**base, "latent": 10, "width": w, "depth": 3})
            if c.diff.n[0] and c.diff.n[1]:
                claim.narrow_depth.append(c)
    return claim
