"""The converging bound's own pieces against answers known in closed form, at latent size 2 and 20:
the widened training mixture, the tempered prior, and the flow that stops on the validation codes."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from conftest import posterior_params
from priorgap.latent import aggregate, densities, neural_densities, widened


def _codes(mu, logvar):
    return aggregate.Codes(torch.as_tensor(mu, dtype=torch.float32), torch.as_tensor(logvar, dtype=torch.float32))


@pytest.mark.parametrize("d", [2, 20])
def test_widening_posteriors_of_variance_one_minus_h2_gives_the_standard_normal(d):
    """Codes at mu = 0 with sigma^2 = 1 - h^2 widened by h are N(0, I) exactly: gain 0 to rounding."""
    h = 0.3
    codes = _codes(np.zeros((500, d)), np.full((500, d), math.log(1 - h**2)))
    g = densities.fit_density("widened", codes, posterior_params(widened=dict(bandwidths=[h])))
    z = torch.randn(1000, d, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(g.log_prob(z), aggregate.log_standard_normal(z), rtol=0, atol=1e-5)


@pytest.mark.parametrize("d", [2, 20])
def test_widened_mixture_equals_the_direct_sum_of_widened_gaussians(d):
    rng = np.random.default_rng(d)
    mu, logvar = rng.normal(0, 1, (40, d)), rng.normal(-3, 0.5, (40, d))
    h = 0.2
    g = widened.Widened.fit(_codes(mu, logvar), posterior_params(), h, seed=0)
    z = rng.normal(0, 1, (30, d))
    sd = np.sqrt(np.exp(logvar) + h**2)
    direct = np.log(np.mean([stats.norm.pdf(z, mu[i], sd[i]).prod(1) for i in range(len(mu))], axis=0))
    # float32 logvar holds sigma^2 + h^2 to a relative 6e-8 a unit: the log-density moves by ~1e-6 a unit
    np.testing.assert_allclose(g.log_prob(torch.as_tensor(z)).numpy(), direct, rtol=0, atol=1e-4 * d)
    draws = g.sample(40_000, seed=1)  # pick i, then N(mu_i, sigma_i^2 + h^2): the mixture's variance
    expected = np.var(mu, 0) + np.mean(np.exp(logvar) + h**2, 0)
    np.testing.assert_allclose(draws.var(0).numpy(), expected, rtol=0.05)


@pytest.mark.parametrize("d", [2, 20])
def test_tempered_prior_is_the_closed_form_normal(d):
    tau = 0.7
    g = densities.fit_density("tempered", _codes(np.zeros((10, d)), np.zeros((10, d))),
                              posterior_params(tempered=dict(scale=tau)))
    z = torch.randn(200, d, generator=torch.Generator().manual_seed(2))
    expected = stats.multivariate_normal(np.zeros(d), tau**2 * np.eye(d)).logpdf(z.numpy())
    np.testing.assert_allclose(g.log_prob(z).numpy(), expected, rtol=1e-10)
    assert g.sample(20_000, seed=3).std().item() == pytest.approx(tau, rel=0.02)


@pytest.mark.parametrize("d", [2, pytest.param(20, marks=pytest.mark.slow)])  # latent 20: the slow tier (20 s)
def test_flow_stops_on_the_validation_codes_and_keeps_its_best_weights(d):
    """A Gaussian q is N(0, I) in the flow's whitened coordinates, which the flow holds from its
    first step: the validation codes gain nothing, so training stops after `patience` checks, far
    short of its steps, and KL(q || flow) is near 0 (its exact value for q is 0)."""
    rng = np.random.default_rng(d)
    a = rng.normal(0, 0.3, (d, d)) + np.eye(d)
    mu = rng.normal(0, 1, (20_000, d)) @ a.T * 0.9
    logvar = np.full((20_000, d), math.log(0.19))
    codes = _codes(mu, logvar)
    params = posterior_params(flow=dict(transforms=2, hidden=[32], steps=4000, batch_size=512, lr=1e-3,
                                        check_every=50, patience=3))
    val = codes.sample(5000, seed=9)
    flow = densities.fit_density("flow", codes, params, 32, val)
    assert flow.fit_info["steps"] <= 2000  # stopped on validation, not on the step count (4,000)
    z = codes.sample(20_000, seed=4)
    mean, cov = aggregate.moments(codes.mu, codes.logvar)
    exact = torch.distributions.MultivariateNormal(mean, cov).log_prob(z.double())
    # q here is not exactly Gaussian (a mixture of 20,000 narrow Gaussians around Gaussian means),
    # so KL(q || its moment match) is tiny but not 0; the flow must be as good to within 0.02 nats
    assert (exact - flow.log_prob(z)).mean().item() < 0.02 * max(1, d / 10)


def test_early_stop_restores_the_best_check():
    net = torch.nn.Linear(1, 1)
    scores = iter([1.0, 2.0, 1.5, 1.4])
    stop = neural_densities.EarlyStop(lambda: next(scores), every=1, patience=2)
    states = []
    for step in range(1, 5):
        with torch.no_grad():
            net.weight.fill_(step)
        states.append(step)
        if stop.check(net, step):
            break
    stop.restore(net)
    assert stop.best_step == 2 and net.weight.item() == 2.0 and step == 4


def test_a_capacity_curve_over_bandwidths_gets_integer_mlflow_steps():
    """MLflow's steps are integers: a mixture's components are their own step, a bandwidth its place."""
    import fit_posterior

    curves = [{"density": "gmm", "capacity": 10}, {"density": "gmm", "capacity": 30},
              {"density": "widened", "capacity": "0.05"}, {"density": "widened", "capacity": "0.3"}]
    assert [fit_posterior.curve_step(r, curves) for r in curves] == [10, 30, 0, 1]


def test_a_one_capacity_grid_does_not_hide_the_mixtures_saturation():
    """The flow's grid of one hidden width has nothing to compare: the bound's saturation is the grids'
    of two or more capacities (None only when there is none)."""
    from priorgap.latent import capacity

    base = {"val_gain": 0.1, "heldout_gain": 0.1, "heldout_gain_se": 0.01}
    scores = {"gmm": {**base, "saturated": False}, "flow": {**base, "saturated": None}, "gaussian": base}
    assert capacity.population_bound(scores)["bound_saturated"] is False
    scores["gmm"]["saturated"] = True
    assert capacity.population_bound(scores)["bound_saturated"] is True
    assert capacity.population_bound({"flow": {**base, "saturated": None}})["bound_saturated"] is None
