"""The smeared known answers (analysis/smeared.py): each unit's closed form against quadrature, and
KL(q || N(0,I)) by Monte Carlo against quadrature at latent 2 (a mixture, on a grid) and at latent
20 (one centre: a product of units, so the KL is a sum of 1-D integrals)."""
import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from priorgap.analysis import smeared
from priorgap.latent.aggregate import Codes


TIGHT = {"epsabs": 0.0, "epsrel": 1e-10, "limit": 200}  # relative: far-tail values are ~1e-100


def unit_density(family: str, x: float, s: float, a: float) -> float:
    """The unit's kernel by quadrature: the unit-variance smear of scale a convolved with N(0, s^2)."""
    if family == "box":
        w = math.sqrt(3) * a
        return integrate.quad(lambda u: stats.norm.pdf(x - u, scale=s) / (2 * w), -w, w, **TIGHT)[0]
    b = a / math.sqrt(2)
    f = lambda u: stats.norm.pdf(x - u, scale=s) * math.exp(-abs(u) / b) / (2 * b)  # noqa: E731
    return integrate.quad(f, -np.inf, 0, **TIGHT)[0] + integrate.quad(f, 0, np.inf, **TIGHT)[0]


@pytest.mark.parametrize("family", smeared.FAMILIES)
@pytest.mark.parametrize("s,a", [(0.1, 0.5), (0.5, 0.05), (1.0, 1.0), (0.2, 2.0)])
def test_unit_closed_form_matches_quadrature(family, s, a):
    x = torch.tensor([-3.0, -1.0, -0.3, 0.0, 0.2, 0.9, 2.5], dtype=torch.float64)
    got = smeared.unit_log_density(family, x[:, None], torch.tensor([[s]], dtype=torch.float64),
                                   torch.tensor([a], dtype=torch.float64))[:, 0]
    want = torch.tensor([math.log(unit_density(family, v, s, a)) for v in x.tolist()], dtype=torch.float64)
    # quad's relative error 1e-10 is an absolute one of 1e-10 on the log
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("family", smeared.FAMILIES)
def test_narrow_smear_is_the_gaussian(family):
    x = torch.linspace(-2, 2, 9, dtype=torch.float64)[:, None]
    s = torch.tensor([[0.3]], dtype=torch.float64)
    got = smeared.unit_log_density(family, x, s, torch.tensor([0.0], dtype=torch.float64))[:, 0]
    torch.testing.assert_close(got, torch.distributions.Normal(0.0, 0.3).log_prob(x[:, 0]).double())


def population(d: int, k: int, family: str, smear: float, seed: int = 0) -> smeared.Smeared:
    g = torch.Generator().manual_seed(seed)
    codes = Codes(torch.randn(4000, d, generator=g) * 0.9, torch.log(torch.rand(4000, d, generator=g) * 0.2 + 0.05))
    return smeared.Smeared.of_codes(codes, family, smear, k, seed)


@pytest.mark.parametrize("family", smeared.FAMILIES)
def test_kl_at_latent_2_matches_quadrature_on_a_grid(family):
    q = population(2, 5, family, 0.5)
    g = torch.linspace(-6, 6, 481, dtype=torch.float64)
    zz = torch.cartesian_prod(g, g)
    log_q = q.log_prob(zz)
    log_p = -0.5 * zz.square().sum(1) - math.log(2 * math.pi)
    cell = (g[1] - g[0]).item() ** 2
    assert (log_q.exp().sum() * cell).item() == pytest.approx(1.0, abs=1e-4)  # the density integrates to 1
    want = (log_q.exp() * (log_q - log_p)).sum().item() * cell
    got, se = smeared.kl_to_standard_normal(q, 20_000, 3)
    # Monte Carlo: within 4 standard errors of the grid's figure (whose own error is far smaller)
    assert abs(got - want) < 4 * se + 1e-3, (got, want, se)


@pytest.mark.parametrize("family", smeared.FAMILIES)
def test_kl_at_latent_20_matches_a_sum_of_unit_quadratures(family):
    q = population(20, 1, family, 0.6)  # one centre: q is a product over units
    want = 0.0
    for c, s, a in zip(q.centre[0].tolist(), q.s[0].tolist(), q.a.tolist()):
        # the unit's closed form, checked against quadrature above, inside a 1-D quadrature of the KL
        def log_dens(z, c=c, s=s, a=a):
            x = torch.tensor([[z - c]], dtype=torch.float64)
            return smeared.unit_log_density(family, x, torch.tensor([[s]], dtype=torch.float64),
                                            torch.tensor([a], dtype=torch.float64)).item()
        f = lambda z: math.exp(log_dens(z)) * (log_dens(z) - stats.norm.logpdf(z))  # noqa: E731
        want += integrate.quad(f, c - 12 * (s + a), c + 12 * (s + a), limit=200)[0]
    got, se = smeared.kl_to_standard_normal(q, 20_000, 5)
    assert abs(got - want) < 4 * se + 1e-3, (got, want, se)


def test_images_keep_the_codes_spread_whatever_the_smear():
    """m + r (mu_k - m) + a u has each unit's variance r^2 var + c^2 var = var: the smear reshapes q
    but leaves its scale to the codes."""
    g = torch.Generator().manual_seed(1)
    codes = Codes(torch.randn(20_000, 20, generator=g) * torch.linspace(0.1, 1.5, 20), torch.zeros(20_000, 20) - 2)
    want = codes.mu.double().var(0)
    for family in smeared.FAMILIES:
        for smear in (0.0, 0.5, 0.9):
            q = smeared.Smeared.of_codes(codes, family, smear, 20_000, 0)
            got = q.images(100_000, 2).mu.double().var(0)
            # the sampling error of a variance is about var * sqrt(2 / n) per unit (kurtosis 6 for Laplace: sqrt(5/n))
            torch.testing.assert_close(got, want, rtol=0.04, atol=0)


def test_bad_family_and_smear_are_named():
    codes = Codes(torch.zeros(10, 2), torch.zeros(10, 2))
    with pytest.raises(ValueError, match="unknown family 'gauss'"):
        smeared.Smeared.of_codes(codes, "gauss", 0.5, 5, 0)
    with pytest.raises(ValueError, match=r"smear 1.0 is outside \[0, 1\)"):
        smeared.Smeared.of_codes(codes, "box", 1.0, 5, 0)


def test_a_partial_known_families_run_adds_its_populations_and_keeps_the_rest(tmp_path):
    """`--add`: the rows already in the file keep their order, a recomputed population replaces its
    row, a new one is appended; a file drawn with other centres is refused, not mixed in."""
    import json

    from priorgap.analysis import known_families as kf
    from priorgap.errors import PriorgapError

    def row(encoder, family, smear, truth):
        return {"encoder": encoder, "family": family, "smear": smear, "truth": truth}

    kept = [row("d1", "laplace", 0.5, 1.0), row("d3", "laplace", 0.5, 0.9), row("d1", "box", 0.5, 1.1)]
    found = [row("d3", "laplace", 0.5, 0.8), row("d1", "laplace", 0.3, 2.0)]
    assert kf.merged(kept, found) == [kept[0], found[0], kept[2], found[1]]
    assert kf.kept_rows(tmp_path / "none.json") == []
    path = tmp_path / "kf.json"
    path.write_text(json.dumps({"centres": kf.CENTRES, "splits": kf.SPLITS, "rows": kept}))
    assert kf.kept_rows(path) == kept
    path.write_text(json.dumps({"centres": kf.CENTRES + 1, "splits": kf.SPLITS, "rows": kept}))
    with pytest.raises(PriorgapError, match="other centres or splits than this code's; run without --add"):
        kf.kept_rows(path)
