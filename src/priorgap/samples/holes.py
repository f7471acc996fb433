"""Which draws of the prior go wrong, and why: precision as a function of how rare the codes are
where a draw falls.

For each draw z of the prior p, r(z) = log g(z) - log p(z), with g the fitted density of q that
the validation codes chose (the held-out bound's density). r far below 0 is a "prior hole"
(Rosca et al. 2018; Aneja et al. 2021): the prior puts mass there and the codes do not, so the
decoder was never trained on such z. A draw counts as landing on the real digits (or on the
reconstructions) when its decoded image falls inside some k-NN ball of that set: the membership
behind precision. Binned by r, precision then says whether the prior's lost fidelity comes from
its draws in holes; the fitted density's own draws, binned the same way, are the comparison.

Every bin's precision carries a 95% Wilson interval. The bins' precisions weighted by their shares
give back the sampler's precision exactly (tests/test_holes.py), since the bins cover every draw.
"""
from __future__ import annotations

import math

import torch

# bin edges in nats: q 100, 10 and 2 times rarer than the prior, as common, 2 times more common
EDGES = (-math.inf, math.log(1 / 100), math.log(1 / 10), math.log(1 / 2), 0.0, math.log(2), math.inf)
HOLE = math.log(1 / 10)  # a draw in a hole: q at least 10 times rarer than the prior there
DEEP_HOLE = math.log(1 / 100)
Z95 = 1.959963984540054


def wilson(hits: int, n: int) -> tuple[float | None, float | None]:
    """95% Wilson score interval of a proportion (None for no trials): sound at 0 and 1 hits, where
    the normal interval collapses."""
    if n == 0:
        return None, None
    p, z2 = hits / n, Z95 * Z95
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # at 0 (or n) hits the bound is 0 (or 1) exactly; the formula leaves rounding there
    return (0.0 if hits == 0 else centre - half), (1.0 if hits == n else centre + half)


def _precision(members: torch.Tensor, where: torch.Tensor) -> dict:
    n, hits = int(where.sum()), int(members[where].sum())
    lo, hi = wilson(hits, n)
    return {"precision": hits / n if n else None, "low": lo, "high": hi}


def profile(r: torch.Tensor, members: dict[str, torch.Tensor], edges=EDGES) -> list[dict]:
    """One row per bin of r: its edges, draws and share, and for each reference set (a key of
    `members`: a bool per draw) its precision with a 95% interval."""
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        where = (r >= lo) & (r < hi)
        row = {"r_low": lo, "r_high": hi, "n": int(where.sum()), "share": where.double().mean().item()}
        for ref, m in members.items():
            p = _precision(m, where)
            row |= {
                f"precision_{ref}": p["precision"],
                f"precision_{ref}_low": p["low"],
                f"precision_{ref}_high": p["high"],
            }
        rows.append(row)
    return rows


def summary(r: torch.Tensor, members: dict[str, torch.Tensor]) -> dict:
    """The share of draws in holes (r below log 1/10) and in deep holes (below log 1/100), and for
    each reference set the precision of the draws in holes against the rest."""
    hole = r < HOLE
    out = {"share": hole.double().mean().item(), "share_deep": (r < DEEP_HOLE).double().mean().item()}
    for ref, m in members.items():
        inside, outside = _precision(m, hole), _precision(m, ~hole)
        out |= {
            f"precision_{ref}_in": inside["precision"],
            f"precision_{ref}_in_low": inside["low"],
            f"precision_{ref}_in_high": inside["high"],
            f"precision_{ref}_out": outside["precision"],
            f"precision_{ref}_out_low": outside["low"],
            f"precision_{ref}_out_high": outside["high"],
        }
    return out
