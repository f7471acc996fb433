"""The aggregate posterior's math against closed forms and independent computations."""
import math

import numpy as np
import pytest
from conftest import posterior_params
import torch
from scipy import integrate, stats

from priorgap.latent import aggregate, densities, diagnostics, fitting, priors


def _fit(name, codes, params):
    """A fitted density, or for "prior" the prior of an N(0, I) VAE (the model's, never fitted)."""
    return priors.StandardNormal(codes.dim) if name == "prior" else densities.fit_density(name, codes, params)


def _codes(mu, logvar):
    mu, logvar = torch.as_tensor(mu, dtype=torch.float32), torch.as_tensor(logvar, dtype=torch.float32)
    return aggregate.Codes(mu, logvar, np.zeros(len(mu), dtype=np.uint8))


def _params(**kw):
    base = dict(seed=0, n_samples=20_000, chunk_size=512,
                mmd=dict(n_samples=500, permutations=100),
                gmm=dict(components=[3], draws=1, covariance_type="full", fit_on="mu"),
                flow=dict(transforms=2, hidden=[16], autoregressive=False, steps=300, batch_size=256, lr=3e-3),
                two_stage=dict(hidden=32, steps=300, batch_size=256, lr=3e-3, kl_warmup=0.5, importance_samples=256),
                widened=dict(bandwidths=[0.1]))
    return posterior_params(**{**base, **kw})


@pytest.mark.parametrize("d, chunk", [(4, 64), (4, 5), (4, 1024), (20, 64), (20, 1024)])
def test_log_q_equals_the_direct_sum_even_for_narrow_components(d, chunk):
    """Both ways log_q groups rows (latent size 4: the product a slice at a time; 20: `chunk`
    rows at a time), with chunks that do and do not divide the draws."""
    torch.manual_seed(0)
    mu = torch.randn(3000, d)
    logvar = torch.log(torch.full((3000, d), 0.01**2))  # sigma = 0.01: the expanded form cancels hard
    z = torch.cat([aggregate.sample(mu, logvar, 200, torch.Generator().manual_seed(1)), torch.randn(200, d)])
    ours = aggregate.log_q(z, mu, logvar, chunk=chunk)
    zd, mud, lvd = z.double(), mu.double(), logvar.double()
    direct = torch.logsumexp(
        -0.5 * (((zd[:, None, :] - mud) ** 2) * torch.exp(-lvd) + lvd + math.log(2 * math.pi)).sum(-1), dim=1
    ) - math.log(len(mu))
    # float64 throughout: agreement to ~1e-9 nats where log q is O(10)
    torch.testing.assert_close(ours, direct, rtol=0, atol=1e-7)


@pytest.mark.parametrize("d", [2, 20])
def test_log_q_near_is_log_q_for_grouped_draws_and_leaves_out_only_negligible_components(d):
    """An IWAE bound's draws: 300 from each of 8 codes' Q(z|x), group by group. Each left-out
    component's log-density must lie MARGIN below every row's log sum (checked directly), so the
    left-out mass is under N e^-50 = 8e-19 of any row's. What remains is the expanded quadratic
    form's rounding, about eps x sum |z^2 / s^2| = 1e-16 x 1e5 = 1e-11 nats at d = 20 with
    s = 0.05 and |z| ~ 3 (log_q itself holds 1e-7 against the direct sum): agreement to 1e-9.
    Spread-out rows (draws of q, one group) must agree too."""
    torch.manual_seed(0)
    n = 4000
    mu = 3 * torch.randn(n, d)
    logvar = torch.log(torch.full((n, d), 0.05**2)) + 0.5 * torch.randn(n, d)
    g = torch.Generator().manual_seed(2)
    picked = torch.randperm(n, generator=g)[:8]
    z = (
        (mu[picked] + torch.randn(300, 8, d, generator=g) * torch.exp(0.5 * logvar[picked]))
        .transpose(0, 1)
        .reshape(-1, d)
    )
    spread = aggregate.sample(mu, logvar, 600, g)
    for rows, group in ((z, 300), (spread, 600)):
        torch.testing.assert_close(
            aggregate.log_q_near(rows, mu, logvar, group), aggregate.log_q(rows, mu, logvar), rtol=0, atol=1e-9
        )
    draws = z.view(8, 300, d).transpose(0, 1)  # (k, images, d), as iwae_bound hands it to a prior
    torch.testing.assert_close(
        aggregate.Codes(mu, logvar).log_prob_draws(draws),
        aggregate.log_q(draws.reshape(-1, d), mu, logvar).view(300, 8),
        rtol=0,
        atol=1e-9,
    )
    mud, lvd = mu.double(), logvar.double()
    coef = aggregate.coefficients(mud, lvd)
    for start in range(0, len(z), 300):
        rows = z[start : start + 300].double()
        keep = aggregate.near_components(rows, mud, lvd, coef)
        assert keep[picked[start // 300]] and keep.double().mean() < 0.5  # its own code kept, most others not
        dropped = -0.5 * (
            ((rows[:, None, :] - mud[~keep]) ** 2) * torch.exp(-lvd[~keep]) + lvd[~keep] + math.log(2 * math.pi)
        ).sum(-1)  # (rows, dropped), the direct form
        total = aggregate.log_q(rows, mu, logvar) + math.log(n)
        assert (dropped.amax(1) < total - aggregate.MARGIN).all()


def test_q_equal_to_the_prior_has_zero_divergence_and_information():
    codes = _codes(np.zeros((1000, 3)), np.zeros((1000, 3)))
    m = diagnostics.match_diagnostics(codes, codes, _params(n_samples=2000), priors.StandardNormal(codes.dim)).metrics
    # log q(z) = log N(z; 0, I) term by term, so every Monte Carlo term is 0 up to rounding
    assert abs(m["kl_q_prior"]) < 1e-9 and m["kl_q_prior_se"] < 1e-9
    assert abs(m["kl_prior_q"]) < 1e-9
    assert m["avg_kl"] == 0.0 and abs(m["mutual_info"]) < 1e-9
    assert m["active_units"] == 0
    assert m["gaussian_kl"] == pytest.approx(0.0, abs=1e-12)


def test_wide_gaussian_cloud_matches_the_closed_form():
    """mu_i ~ N(0, (s^2 - t^2) I), sigma_i = t: q -> N(0, s^2 I), KL = d/2 (s^2 - 1 - ln s^2)."""
    s, t, d, n = 1.5, 0.8, 3, 30_000
    rng = np.random.default_rng(0)
    codes = _codes(rng.normal(0, math.sqrt(s**2 - t**2), (n, d)), np.full((n, d), math.log(t**2)))
    m = diagnostics.match_diagnostics(codes, codes, _params(), priors.StandardNormal(codes.dim)).metrics
    expected = d / 2 * (s**2 - 1 - math.log(s**2))  # 0.659
    # the Monte Carlo error, plus the finite-N lumpiness of q (components of width 0.8 spaced far
    # closer than that: far below 0.01 nats)
    assert abs(m["kl_q_prior"] - expected) < 4 * m["kl_q_prior_se"] + 0.01, (
        m["kl_q_prior"],
        m["kl_q_prior_se"],
        expected,
    )
    expected_pq = d / 2 * (1 / s**2 - 1 + math.log(s**2))  # KL(N(0,I) || N(0, s^2 I)) = 0.34
    assert abs(m["kl_prior_q"] - expected_pq) < 4 * m["kl_prior_q_se"] + 0.01
    assert m["gaussian_kl"] == pytest.approx(expected, abs=0.03)  # sample moments of 30,000 codes
    assert m["cov_eig_min"] == pytest.approx(s**2, rel=0.05) and m["cov_eig_max"] == pytest.approx(s**2, rel=0.05)
    assert m["mutual_info"] + m["mi_margin"] == pytest.approx(math.log(n))
    assert m["active_units"] == d
    assert m["mmd_pvalue"] < 0.05 and m["ks_mean"] > 0.05  # s = 1.5 is visibly wider than N(0,1)


def test_two_component_mixture_in_one_dimension_against_quadrature():
    mu, sd = np.array([[-1.0], [2.0]]), np.array([[0.5], [1.0]])
    codes = _codes(mu, np.log(sd**2))
    q = lambda z: 0.5 * (stats.norm.pdf(z, -1.0, 0.5) + stats.norm.pdf(z, 2.0, 1.0))  # noqa: E731
    p = stats.norm.pdf
    kl_qp = integrate.quad(lambda z: q(z) * np.log(q(z) / p(z)), -12, 14, limit=200)[0]
    kl_pq = integrate.quad(lambda z: p(z) * np.log(p(z) / q(z)), -12, 12, limit=200)[0]
    m = diagnostics.match_diagnostics(
        codes,
        codes,
        _params(n_samples=200_000, mmd=dict(n_samples=300, permutations=20)),
        priors.StandardNormal(codes.dim),
    ).metrics
    assert abs(m["kl_q_prior"] - kl_qp) < 4 * m["kl_q_prior_se"]
    assert abs(m["kl_prior_q"] - kl_pq) < 4 * m["kl_prior_q_se"]
    zs = torch.linspace(-4, 5, 37)[:, None]
    np.testing.assert_allclose(
        aggregate.log_q(zs, codes.mu, codes.logvar).numpy(), np.log(q(zs[:, 0].numpy())), atol=1e-6
    )


def test_moments_and_closed_forms():
    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(0.5, [1.0, 0.3], (50_000, 2)), np.log(rng.uniform(0.1, 0.5, (50_000, 2)))
    codes = _codes(mu, logvar)
    mean, cov = aggregate.moments(codes.mu, codes.logvar)
    z = codes.sample(400_000, seed=0).double()
    np.testing.assert_allclose(mean.numpy(), z.mean(0).numpy(), atol=0.01)
    np.testing.assert_allclose(cov.numpy(), torch.cov(z.T).numpy(), atol=0.01)
    # KL(N(m, S) || N(0, I)) against scipy-free arithmetic on a diagonal case
    m_, s_ = torch.tensor([1.0, -2.0], dtype=torch.float64), torch.diag(torch.tensor([2.0, 0.5], dtype=torch.float64))
    expected = 0.5 * ((2.0 + 0.5) + 5.0 - 2 - math.log(1.0))
    assert priors.StandardNormal(len(m_)).gaussian_kl(m_, s_) == pytest.approx(expected)


def test_mmd_pvalues_are_uniform_under_the_null_and_tiny_under_a_shift():
    g = torch.Generator().manual_seed(0)
    pvalues = [
        diagnostics.mmd2_test(torch.randn(80, 2, generator=g), torch.randn(80, 2, generator=g), 99, seed=i)[1]
        for i in range(40)
    ]
    # 40 p-values from U(0,1) (up to the 1/100 permutation grid): a KS test should not reject
    assert stats.kstest(pvalues, "uniform").pvalue > 0.001
    assert 1 <= sum(p < 0.5 for p in pvalues) <= 39
    mmd2, p = diagnostics.mmd2_test(
        torch.randn(200, 2, generator=g), torch.randn(200, 2, generator=g) + 1.0, 99, seed=0
    )
    assert p == pytest.approx(1 / 100) and mmd2 > 0.05


def test_mmd_estimate_matches_a_direct_computation():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 2)), rng.normal(0.5, 1, size=(40, 2))
    z = np.concatenate([x, y])
    d2 = ((z[:, None] - z[None]) ** 2).sum(-1)
    h = np.median(d2[~np.eye(70, dtype=bool)])
    k = np.exp(-d2 / (2 * h))
    kxx, kyy, kxy = k[:30, :30], k[30:, 30:], k[:30, 30:]
    direct = (kxx.sum() - np.trace(kxx)) / (30 * 29) + (kyy.sum() - np.trace(kyy)) / (40 * 39) - 2 * kxy.mean()
    ours, _ = diagnostics.mmd2_test(torch.tensor(x), torch.tensor(y), 10, seed=0)
    assert ours == pytest.approx(direct, rel=1e-10)


def test_holes_and_active_units():
    rng = np.random.default_rng(3)
    n = 10_000
    # q close to N(0, I): 1% of prior draws fall below q's own 1st percentile of density. With 10,000
    # draws a side the share's binomial SE is 0.001 and the percentile's own error moves it by about
    # as much: 0.006 is over 4 combined SEs (the mixture of 10,000 posteriors of width 0.3 is smooth)
    near = _codes(rng.normal(0, math.sqrt(1 - 0.3**2), (n, 2)), np.full((n, 2), math.log(0.3**2)))
    assert diagnostics.match_diagnostics(near, near, _params(n_samples=n), priors.StandardNormal(near.dim)).metrics[
        "holes"
    ] == pytest.approx(0.01, abs=0.006)
    # q squeezed into two tight clusters: most of the prior's mass lies where q has none
    tight = _codes(
        np.repeat([[-2.0, 0.0], [2.0, 0.0]], n // 2, axis=0) + rng.normal(0, 0.05, (n, 2)),
        np.full((n, 2), math.log(0.05**2)),
    )
    m = diagnostics.match_diagnostics(tight, tight, _params(n_samples=n), priors.StandardNormal(tight.dim)).metrics
    assert m["holes"] > 0.5
    assert m["active_units"] == 1  # only z1 varies across images (var 4); z2 has var 0.0025


def test_gmm_recovers_a_known_mixture():
    rng = np.random.default_rng(4)
    weights, means = np.array([0.2, 0.3, 0.5]), np.array([[-4.0, 0.0], [0.0, 4.0], [4.0, -1.0]])
    k = rng.choice(3, size=30_000, p=weights)
    codes = _codes(means[k] + rng.normal(0, 0.5, (30_000, 2)), np.full((30_000, 2), -6.0))
    gmm = densities.fit_density("gmm", codes, _params())
    order = torch.argsort(gmm.means[:, 0])
    # 30,000 points: the weights' standard errors are ~0.003, the means' ~0.01
    np.testing.assert_allclose(gmm.weights[order].numpy(), weights, atol=0.015)
    np.testing.assert_allclose(gmm.means[order].numpy(), means, atol=0.05)
    np.testing.assert_allclose(gmm.covs[order].numpy(), np.broadcast_to(0.25 * np.eye(2), (3, 2, 2)), atol=0.03)


# every density of the registry (and the model's prior), each its own test; the GMM at every covariance type
CONTRACT = [(name, "full") for name in densities.names()] + [("gmm", c) for c in ("tied", "diag", "spherical")]


@pytest.mark.parametrize("name,cov_type", CONTRACT, ids=[f"{n}-{c}" if n == "gmm" else n for n, c in CONTRACT])
def test_every_density_is_normalised_samples_itself_and_survives_a_save(tmp_path, name, cov_type):
    rng = np.random.default_rng(5)
    codes = _codes(
        np.concatenate([rng.normal(-1.5, 0.4, (3000, 1)), rng.normal(1.0, 0.6, (3000, 1))]),
        np.full((6000, 1), math.log(0.3**2)),
    )
    params = _params(gmm=dict(components=[2], draws=1, covariance_type=cov_type, fit_on="z"))
    g = _fit(name, codes, params)
    mass = integrate.quad(lambda z: math.exp(g.log_prob(torch.tensor([[z]])).item()), -10, 10, limit=200)[0]
    assert mass == pytest.approx(1.0, abs=2e-3)
    draws = g.sample(20_000, seed=1)
    assert draws.shape == (20_000, 1) and draws.dtype == torch.float32
    # the samples come from the density: mean log-density of draws ~ -entropy, finite
    assert torch.isfinite(g.log_prob(draws)).all()
    torch.testing.assert_close(g.sample(50, seed=7), g.sample(50, seed=7))  # seeded
    densities.save(g, tmp_path / f"{name}.pt")
    back = densities.load(tmp_path / f"{name}.pt")
    zs = torch.linspace(-3, 3, 11)[:, None]
    torch.testing.assert_close(back.log_prob(zs), g.log_prob(zs))


@pytest.mark.parametrize("name", densities.names())
def test_a_fit_runs_no_other_density_and_reads_only_its_declared_params(monkeypatch, name):
    """What leaves the other densities' modules out of fit@<name>'s deps in dvc.yaml (and all of
    them out of match's): with every module that only registers a density broken
    (tests/test_dvc_yaml.py names them), q is still measured and `name` fitted and scored, through
    fitting's steps, whose params view raises on any key the step does not declare."""
    from conftest import ROOT

    from priorgap.reproducibility.stage_deps import density_modules, density_only, import_closure

    only = density_only("stages/fit.py", import_closure(ROOT / "stages" / "fit.py"))
    mine = density_modules()[name]

    def broken(*a, **k):
        raise AssertionError("another density's code ran")

    for other, entry in densities.REGISTRY.items():
        if density_modules()[other] in only and density_modules()[other] != mine:
            for method in ("fit", "from_state", "log_prob", "sample"):
                monkeypatch.setattr(entry.cls, method, broken)
    rng = np.random.default_rng(8)
    codes, val, test = (_codes(rng.normal(0, 0.8, (n, 2)), np.full((n, 2), math.log(0.36))) for n in (2000, 300, 300))
    prior = priors.StandardNormal(2)
    params = _params(
        n_samples=2000,
        flow=dict(transforms=1, hidden=[8], autoregressive=False, steps=20, batch_size=128, lr=3e-3),
        two_stage=dict(hidden=8, steps=20, batch_size=128, lr=3e-3, kl_warmup=0.5, importance_samples=8),
    )
    measured = fitting.measure_q(codes, val, test, prior, params)
    _, score = fitting.fit_one(name, codes, measured, prior, params)
    assert math.isfinite(score["heldout_gain"]) and math.isfinite(score["kl_q_g"])


def test_densities_closer_to_q_score_better():
    rng = np.random.default_rng(6)
    n = 20_000
    k = rng.choice(2, n)
    codes = _codes(np.where(k[:, None] == 0, -2.0, 2.0) + rng.normal(0, 0.3, (n, 2)), np.full((n, 2), math.log(0.2**2)))
    test = _codes(
        np.where(k[:2000, None] == 0, -2.0, 2.0) + rng.normal(0, 0.3, (2000, 2)), np.full((2000, 2), math.log(0.2**2))
    )
    params = _params(n_samples=5000, gmm=dict(components=[2], draws=1, covariance_type="full", fit_on="mu"))
    match = diagnostics.match_diagnostics(codes, test, params, priors.StandardNormal(codes.dim))
    scores = {
        name: diagnostics.score_density(_fit(name, codes, params), codes, match, params)
        for name in ("prior", "gaussian", "gmm", "aggregate")
    }
    assert scores["prior"]["kl_q_g"] == pytest.approx(match.metrics["kl_q_prior"])
    assert scores["gmm"]["kl_q_g"] < scores["gaussian"]["kl_q_g"] < scores["prior"]["kl_q_g"]
    assert scores["gmm"]["kl_g_q"] < scores["gaussian"]["kl_g_q"]
    assert (
        scores["aggregate"]["test_ll_per_dim"]
        > scores["gaussian"]["test_ll_per_dim"]
        > scores["prior"]["test_ll_per_dim"]
    )
    assert scores["gmm"]["heldout_gain"] > scores["gaussian"]["heldout_gain"] > scores["prior"]["heldout_gain"] == 0.0


def test_codes_loader_refuses_bad_files(tmp_path):
    with pytest.raises(densities.PriorgapError, match="not found; run `dvc repro encode`"):
        aggregate.Codes.load(tmp_path / "train.npz")
    np.savez(
        tmp_path / "bad.npz", mu=np.zeros((3, 2), np.float32), logvar=np.zeros((3, 3), np.float32), labels=np.zeros(3)
    )
    with pytest.raises(densities.PriorgapError, match="mu and logvar must both be N x latent_dim"):
        aggregate.Codes.load(tmp_path / "bad.npz")
    np.savez(
        tmp_path / "nan.npz",
        mu=np.full((3, 2), np.nan, np.float32),
        logvar=np.zeros((3, 2), np.float32),
        labels=np.zeros(3),
    )
    with pytest.raises(densities.PriorgapError, match="NaN or inf"):
        aggregate.Codes.load(tmp_path / "nan.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(densities.PriorgapError, match="junk.npz: not a valid codes file .*; re-run `dvc repro encode`"):
        aggregate.Codes.load(tmp_path / "junk.npz")


def test_fits_are_reproducible():
    rng = np.random.default_rng(7)
    codes = _codes(rng.normal(0, 1, (2000, 2)), np.full((2000, 2), -2.0))
    params = _params(flow=dict(transforms=2, hidden=[16], autoregressive=False, steps=20, batch_size=128, lr=3e-3))
    zs = torch.randn(5, 2)
    params = _params(
        flow=dict(transforms=2, hidden=[16], autoregressive=False, steps=20, batch_size=128, lr=3e-3),
        two_stage=dict(hidden=16, steps=20, batch_size=128, lr=3e-3, kl_warmup=0.5, importance_samples=8),
    )
    for name in ("gmm", "flow", "two_stage"):
        a, b = (_fit(name, codes, params) for _ in range(2))
        torch.testing.assert_close(a.log_prob(zs), b.log_prob(zs), rtol=0, atol=0)
