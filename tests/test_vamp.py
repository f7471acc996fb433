"""The VampPrior (Tomczak & Welling 2018) against independent computations, at latent sizes 2 and 20.

Each test builds a VAE whose encoder is known in closed form (the first layer copies the first
pixels, which the ReLU passes since pixels are in [0, 1]; the last layer is linear in them), so
the prior's components Q(z | u_k) at its pseudo-inputs are known without running the model.
"""
import math

import numpy as np
import pytest
import torch
from scipy import special, stats

from priorgap.errors import ParamError, PriorgapError
from priorgap.latent import aggregate, priors
from priorgap.model import training, vae

WIDTH = 6  # pixels the known encoder reads


def _known(d, k, seed=0, free=2):
    """A VampPrior VAE with mu, logvar = A h + c of the first WIDTH pixels h. Only the first `free`
    latent units depend on the input; the rest have the same Q(z_j | x) = N(c_j, e^{c'_j}) for
    every x, pseudo-inputs included. Returns the model and the components' (mu, logvar) (K, d)."""
    torch.manual_seed(seed)
    model = vae.VAE(vae.VAEConfig(d, 1, WIDTH, 1, 8, "vamp", k))
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(2 * d, WIDTH, generator=g)
    a[list(range(free, d)) + list(range(d + free, 2 * d))] = 0.0  # units past `free` ignore x
    a[d:] *= 0.3  # log-variances within a few units of 0
    c = torch.cat([0.5 * torch.randn(d, generator=g), -1.0 + 0.3 * torch.randn(d, generator=g)])
    u = 0.1 + 0.8 * torch.rand(k, 784, generator=g)
    with torch.no_grad():
        first, last = model.encoder[0], model.encoder[2]
        first.weight.zero_()
        first.weight[:, :WIDTH] = torch.eye(WIDTH)
        first.bias.zero_()
        last.weight.copy_(a)
        last.bias.copy_(c)
        model.vamp.pseudo_logits.copy_(torch.logit(u))
    out = u[:, :WIDTH].double() @ a.double().T + c.double()
    return model, out[:, :d], out[:, d:]


def _scipy_log_mixture(z, mu, logvar):
    """log (1/K) sum_k prod_j N(z_j; mu_kj, sd_kj), with scipy, in float64."""
    z, mu, sd = np.asarray(z, np.float64), np.asarray(mu, np.float64), np.exp(0.5 * np.asarray(logvar, np.float64))
    per = stats.norm.logpdf(z[:, None, :], mu[None], sd[None]).sum(-1)  # (M, K)
    return special.logsumexp(per, axis=1) - math.log(len(mu))


@pytest.mark.parametrize("d", [2, 20])
def test_the_prior_is_the_known_mixture_of_the_encoder_at_its_pseudo_inputs(d):
    """The model's components, its differentiable log p(z) (float32: relative 1e-5 of values of
    tens of nats) and the density the later stages use (float64 throughout: 1e-9) against scipy."""
    model, mu, logvar = _known(d, k=7)
    got_mu, got_logvar = model.prior_components()
    torch.testing.assert_close(got_mu.double(), mu, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_logvar.double(), logvar, atol=1e-5, rtol=1e-5)
    z = 1.5 * torch.randn(300, d, generator=torch.Generator().manual_seed(1))
    expected = _scipy_log_mixture(z, mu, logvar)
    np.testing.assert_allclose(model.log_prior(z).detach().double().numpy(), expected, rtol=1e-5, atol=1e-4)
    # encode's prior file holds these components; the density built from them is the same p
    file_mu, file_logvar = training.prior_components(model)
    prior = priors.model_prior(aggregate.Codes(torch.from_numpy(file_mu), torch.from_numpy(file_logvar)))
    assert prior.name == "prior" and not isinstance(prior, priors.StandardNormal)
    np.testing.assert_allclose(
        prior.log_prob(z).numpy(), _scipy_log_mixture(z, file_mu, file_logvar), rtol=1e-9, atol=1e-9
    )
    # ... and its samples come from it: the sample mean is the mixture's mean, 5 standard errors
    draws = prior.sample(40_000, seed=2).double()
    mean, cov = aggregate.moments(torch.from_numpy(file_mu), torch.from_numpy(file_logvar))
    se = torch.sqrt(torch.diagonal(cov) / len(draws))
    assert ((draws.mean(0) - mean).abs() < 5 * se).all()


@pytest.mark.parametrize("d", [2, 20])
def test_the_kl_estimate_is_unbiased_against_quadrature(d):
    """The one-draw estimate log Q(z|x) - log p(z) the VAE trains on, averaged over 100,000 draws,
    against KL(Q(z|x) || p) by quadrature. Units past the first two ignore x in the encoder, so
    there Q(z_j|x) equals every component's and p's marginal: they add 0 to the KL, and the 2-D
    quadrature of the first two units is the whole answer at d = 20. Tolerance: 4 standard errors
    of the Monte Carlo mean; the trapezoid rule on a Gaussian integrand over +-9 sd on an
    801-point grid is exact to far below that."""
    model, mu_k, logvar_k = _known(d, k=5, seed=3)
    x = torch.full((1, 784), 0.5)
    x[0, :WIDTH] = torch.tensor([0.9, 0.1, 0.7, 0.3, 0.5, 0.2])
    with torch.no_grad():
        mu, logvar = (t[0].double() for t in model.encode(x))
        n = 100_000
        _, kl = model(x.expand(n, 784), torch.Generator().manual_seed(4))
    kl = kl.double()
    mc, se = kl.mean().item(), (kl.std() / math.sqrt(n)).item()

    sd = torch.exp(0.5 * logvar[:2]).numpy()
    axes = [np.linspace(m - 9 * s, m + 9 * s, 801) for m, s in zip(mu[:2].numpy(), sd)]
    g1, g2 = np.meshgrid(*axes, indexing="ij")
    grid = np.stack([g1.ravel(), g2.ravel()], axis=1)
    log_q = stats.norm.logpdf(grid, mu[:2].numpy(), sd).sum(1)
    log_p = _scipy_log_mixture(grid, mu_k[:, :2].numpy(), logvar_k[:, :2].numpy())
    integrand = (np.exp(log_q) * (log_q - log_p)).reshape(g1.shape)
    truth = np.trapezoid(np.trapezoid(integrand, axes[1], axis=1), axes[0])
    assert truth > 0.1  # a KL worth measuring
    assert mc == pytest.approx(truth, abs=4 * se), (mc, se, truth)
    # the evaluation ELBO measures the same KL (one fixed draw per image)
    xs = x.expand(20_000, 784).contiguous()
    assert training.elbo(model, xs)["kl"] == pytest.approx(truth, abs=4 * se * math.sqrt(n / 20_000))


@pytest.mark.parametrize("d", [2, 20])
def test_a_vamp_prior_of_standard_components_is_n01(d):
    """With the encoder's last layer at zero, every Q(z | u_k) is N(0, I), so the VampPrior is
    N(0, I): its log p(z), its IWAE bound and its test ELBO equal the N(0, I) model's with the
    same weights (float32 rounding of log-sum-exp over K equal terms: 1e-4 nats)."""
    model, _, _ = _known(d, k=4)
    with torch.no_grad():
        model.encoder[2].weight.zero_()
        model.encoder[2].bias.zero_()
    normal = vae.VAE(vae.VAEConfig(d, 1, WIDTH, 1, 8))
    normal.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("vamp.")})
    z = 2 * torch.randn(100, d)
    torch.testing.assert_close(model.log_prior(z), normal.log_prior(z), atol=1e-4, rtol=0)
    x = training.fixed_binarization(torch.rand(30, 784))
    a, b = (vae.iwae_bound(m, x, 16, torch.Generator().manual_seed(0)) for m in (model, normal))
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)
    assert training.elbo(model, x)["elbo"] == pytest.approx(training.elbo(normal, x)["elbo"], abs=1e-4)


def test_vamp_trains_its_pseudo_inputs_and_its_checkpoint_round_trips(tmp_path):
    from types import SimpleNamespace

    x = torch.rand(600, 784)
    params = SimpleNamespace(epochs=1, batch_size=100, lr=1e-3, seed=0, beta=1.0, kl_warmup_epochs=0)
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(2, 1, 32, 1, 32, "vamp", 5))
    history = training.train(model, x, training.fixed_binarization(x[:100]), params)
    assert math.isfinite(history[-1]["val_elbo"])
    # started at 5 training images, then moved by the gradient
    start = torch.logit(0.05 + 0.9 * x)
    first = model.vamp.pseudo_logits.detach()
    assert not any(torch.equal(first[0], row) for row in start)
    assert (torch.cdist(first, start).min(1).values < 0.5 * torch.cdist(start[:1], start).sort().values[0, 1]).all()

    vae.save(model, tmp_path / "model.pt")
    back = vae.load(tmp_path / "model.pt")
    z = torch.randn(10, 2)
    torch.testing.assert_close(back.log_prior(z), model.log_prior(z))
    # a VampPrior checkpoint read as an N(0, I) one: one line naming the fix
    ckpt = torch.load(tmp_path / "model.pt", weights_only=True)
    ckpt["config"].update(prior="normal", prior_components=0)
    torch.save(ckpt, tmp_path / "as_normal.pt")
    with pytest.raises(
        PriorgapError,
        match=r"as_normal.pt: its weights hold a VampPrior's pseudo-inputs but its config "
        r"says prior 'normal'.*re-run `dvc repro train`",
    ) as err:
        vae.load(tmp_path / "as_normal.pt")
    assert "\n" not in str(err.value)
    with pytest.raises(ParamError, match=r"model.prior.components \(700\) exceeds the 600 training images"):
        training.train(vae.VAE(vae.VAEConfig(2, 1, 8, 1, 8, "vamp", 700)), x, x[:10], params)


def test_an_n01_model_writes_the_standard_prior():
    """encode's prior file for N(0, I) is one standard component, which model_prior reads back as
    StandardNormal: the closed forms an N(0, I) model's figures have always used."""
    model = vae.VAE(vae.VAEConfig(3, 1, 8, 1, 8))
    mu, logvar = training.prior_components(model)
    assert mu.shape == logvar.shape == (1, 3) and not mu.any() and not logvar.any()
    prior = priors.model_prior(aggregate.Codes(torch.from_numpy(mu), torch.from_numpy(logvar)))
    assert isinstance(prior, priors.StandardNormal)
    z = torch.randn(5, 3)
    torch.testing.assert_close(prior.log_prob(z), aggregate.log_standard_normal(z), rtol=0, atol=0)
