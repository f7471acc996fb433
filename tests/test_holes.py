"""Prior holes per draw against a case whose holes, and what lands in them, are known in closed form.

p = N(0, I) and g = N(0, s^2 I) with s = 0.7: r(z) = log g - log p = -d log s - |z|^2 (1/s^2 - 1) / 2,
so a hole (r < t) is the outside of a sphere, |z|^2 > h(t), and under p its share is the
chi-square tail P(chi2_d > h(t)). The "decoder" lands a draw on the digits exactly when it falls
where q is not rare (|z|^2 <= h(log 1/10)): precision in the holes is 0 and outside them 1, and each
bin's precision is 0 or 1 by where it lies. Shares are binomial means of 40,000 draws: within
4 sd, sqrt(p (1 - p) / n) <= 0.0025.
"""
import math

import pytest
import torch
from scipy import stats

from priorgap.samples import holes

S, N = 0.7, 40_000


def _case(d):
    z = torch.randn(N, d, generator=torch.Generator().manual_seed(d), dtype=torch.float64)
    sq = z.square().sum(1)
    r = -d * math.log(S) - sq * (1 / S**2 - 1) / 2
    h = lambda t: 2 * (-d * math.log(S) - t) / (1 / S**2 - 1)  # noqa: E731  (r < t  <=>  |z|^2 > h(t))
    lands = sq <= h(holes.HOLE)
    return r, {"real": lands, "vs_recon": lands | (sq <= h(holes.DEEP_HOLE))}, h


@pytest.mark.parametrize("d", [2, 20])
def test_the_share_in_holes_is_the_chi_square_tail(d):
    r, members, h = _case(d)
    out = holes.summary(r, members)
    tol = 4 * 0.0025
    assert out["share"] == pytest.approx(stats.chi2.sf(h(holes.HOLE), d), abs=tol)
    assert out["share_deep"] == pytest.approx(stats.chi2.sf(h(holes.DEEP_HOLE), d), abs=tol)
    assert out["precision_real_in"] == 0.0 and out["precision_real_out"] == 1.0
    # against the reconstructions the draws between the two contours land too: the deep holes do not
    assert 0 < out["precision_vs_recon_in"] < 1 and out["precision_vs_recon_out"] == 1.0


@pytest.mark.parametrize("d", [2, 20])
def test_each_bin_holds_its_chi_square_share_and_the_bins_give_back_precision(d):
    r, members, h = _case(d)
    rows = holes.profile(r, members)
    assert sum(row["n"] for row in rows) == N
    for row in rows:
        # r in [lo, hi) <=> |z|^2 in (h(hi), h(lo)]
        expected = stats.chi2.cdf(h(row["r_low"]) if row["r_low"] > -math.inf else math.inf, d) - stats.chi2.cdf(
            max(h(row["r_high"]), 0) if row["r_high"] < math.inf else 0, d)
        assert row["share"] == pytest.approx(expected, abs=4 * 0.0025), row
        if row["n"]:
            assert row["precision_real"] == (0.0 if row["r_high"] <= holes.HOLE else 1.0), row
            assert row["precision_real_low"] <= row["precision_real"] <= row["precision_real_high"]
    for ref, m in members.items():  # the consistency check: shares times precisions is the precision
        back = sum(row["share"] * row[f"precision_{ref}"] for row in rows if row["n"])
        assert back == pytest.approx(m.double().mean().item(), abs=1e-12)


def test_the_wilson_interval():
    lo, hi = holes.wilson(0, 50)
    assert lo == 0.0 and hi == pytest.approx(0.0713, abs=1e-4)  # the textbook value for 0 of 50
    lo, hi = holes.wilson(25, 50)
    assert lo == pytest.approx(0.3664, abs=1e-4) and hi == pytest.approx(0.6336, abs=1e-4)
    assert holes.wilson(0, 0) == (None, None)


def test_a_draw_on_a_bin_edge_is_in_exactly_one_bin():
    """Bins are [low, high): a draw exactly at an edge belongs to the bin above it, and none is lost."""
    finite = [e for e in holes.EDGES if math.isfinite(e)]
    r = torch.tensor([*finite, -50.0, 50.0], dtype=torch.float64)
    rows = holes.profile(r, {"real": torch.ones(len(r), dtype=torch.bool)})
    assert [row["n"] for row in rows] == [1, 1, 1, 1, 1, 2]
