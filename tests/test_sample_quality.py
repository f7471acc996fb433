"""Sample-quality metrics and the IWAE bound against closed forms and hand-worked answers."""
import math

import numpy as np
import pytest
import torch
from scipy import linalg

from priorgap.samples import quality as sq
from priorgap.model import vae


def test_frechet_distance_matches_the_closed_form_for_gaussians():
    g = torch.Generator().manual_seed(0)
    n, d = 200_000, 3
    m1, m2 = torch.tensor([0.0, 1.0, -1.0]), torch.tensor([0.5, 1.0, 0.0])
    s1, s2 = torch.tensor([1.0, 2.0, 0.5]), torch.tensor([1.5, 1.0, 0.5])  # standard deviations
    f1 = m1 + s1 * torch.randn(n, d, generator=g, dtype=torch.float64)
    f2 = m2 + s2 * torch.randn(n, d, generator=g, dtype=torch.float64)
    # diagonal covariances commute: FD = |m1 - m2|^2 + sum (s1 - s2)^2 = 1.25 + 1.25 = ... exactly:
    exact = ((m1 - m2) ** 2).sum().item() + ((s1 - s2) ** 2).sum().item()
    # sampling error of the moments of 200,000 draws: ~0.01
    assert sq.frechet_distance(f1, f2) == pytest.approx(exact, abs=0.03)


def test_frechet_distance_equals_the_sqrtm_formula_on_the_same_moments():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 1.0
    s1, s2 = np.cov(a.T), np.cov(b.T)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert sq.frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(ref, rel=1e-8)
    assert sq.frechet_distance(torch.tensor(a), torch.tensor(a)) == pytest.approx(0.0, abs=1e-8)


def test_prdc_on_a_hand_worked_example():
    # k = 1. Real radii: 0 -> 1, 1 -> 1, 3 -> 2, 7 -> 4. Fake radii: 0.5 -> 19.5, 20 -> 19.5.
    real = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    fake = torch.tensor([[0.5], [20.0]])
    out = sq.prdc(real, fake, k=1)
    assert out["precision"] == 0.5  # 0.5 lies in the balls of 0 and 1; 20 in none
    assert out["recall"] == 1.0  # every real point lies within 19.5 of a fake one
    assert out["density"] == 1.0  # (2 balls + 0 balls) / (k * 2 fakes)
    assert out["coverage"] == 0.5  # the balls of 0 and 1 hold a fake; those of 3 and 7 do not


def test_prdc_extremes():
    g = torch.Generator().manual_seed(2)
    real = torch.randn(500, 4, generator=g)
    same = sq.prdc(real, real.clone(), k=5)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0
    far = sq.prdc(real, real + 100.0, k=5)
    assert far == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_knn_radius_is_the_kth_other_point():
    x = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    torch.testing.assert_close(sq.knn_radii(x, 1), torch.tensor([1.0, 1.0, 2.0, 4.0]))
    torch.testing.assert_close(sq.knn_radii(x, 2, chunk=3), torch.tensor([3.0, 2.0, 3.0, 6.0]))


def test_class_balance():
    labels = torch.arange(10).repeat(100)  # uniform test classes
    one_class = torch.zeros(1000, 10)
    one_class[:, 3] = 1.0
    out = sq.class_balance(one_class, labels)
    q = np.full(10, 1 / 1010)
    q[3] = 1001 / 1010  # one pseudo-count per class
    assert out["class_kl"] == pytest.approx(float((0.1 * np.log(0.1 / q)).sum()))
    assert out["confident"] == 1.0
    balanced = torch.nn.functional.one_hot(labels, 10).float() * 0.5 + 0.05
    out = sq.class_balance(balanced, labels)
    assert out["class_kl"] == pytest.approx(0.0, abs=1e-12)
    assert out["confident"] == 0.0  # top probability 0.55 < 0.9


def test_nearest_distance():
    pool = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    assert sq.nearest_distance(torch.tensor([[0.0, 1.0], [3.0, 4.0]]), pool, chunk=1) == pytest.approx(0.5)


def _constant_decoder_vae():
    """A VAE whose decoder ignores z: p(x|z) = p(x), so log p(x) is known in closed form."""
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(1, 1, 8, 1, 8))
    with torch.no_grad():
        model.decoder[-1].weight.zero_()
        model.decoder[-1].bias.copy_(torch.linspace(-3, 3, 784))
        model.encoder[-1].bias.copy_(torch.tensor([0.8, math.log(0.36)]))  # Q(z|x) = N(~0.8, ~0.6^2)
        model.encoder[-1].weight.mul_(0.1)
    return model


def test_iwae_tightens_with_k_and_stays_below_log_likelihood():
    model = _constant_decoder_vae()
    n = 200
    x = (torch.rand(n, 784, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    log_px = -vae.BernoulliNLL.apply(model.decoder[-1].bias.expand(n, 784), x).double()
    bounds = {k: vae.iwae_bound(model, x, k, torch.Generator().manual_seed(k)) for k in (1, 10, 100, 3000)}
    gaps = {k: log_px - b for k, b in bounds.items()}
    # k = 1 is the ELBO: its gap to log p(x) is a one-sample estimate of KL(Q(z|x) || N(0,1))
    kl = vae.kl_to_standard_normal(*model.encode(x)).double()
    se = gaps[1].std().item() / math.sqrt(n)
    assert abs(gaps[1].mean().item() - kl.mean().item()) < 4 * se
    means = [gaps[k].mean().item() for k in (1, 10, 100, 3000)]
    assert means[0] > means[1] > means[2] > means[3] > 0  # tighter with k, never above log p(x) on average
    assert means[3] < 0.05


def test_prdc_agrees_with_the_prdc_package():
    """The reference implementation of Naeem et al. (2020), on the same features. It compares with
    < where we use <=: with continuous features a tie has probability 0, so the figures agree exactly
    up to float32 rounding of distances at a ball's edge (none expected among 600 x 500 pairs)."""
    import prdc as prdc_pkg  # a dev dependency: missing, the test fails rather than skips
    rng = np.random.default_rng(3)
    real = rng.normal(size=(600, 16)).astype(np.float32)
    fake = (rng.normal(size=(500, 16)) * 1.2 + 0.3).astype(np.float32)
    ref = prdc_pkg.compute_prdc(real, fake, nearest_k=5)
    ours = sq.prdc(torch.from_numpy(real), torch.from_numpy(fake), k=5)
    for key in ("precision", "recall", "density", "coverage"):
        assert ours[key] == pytest.approx(float(ref[key]), abs=1e-12), key


def test_classifier_pool_fast_path_equals_max_pool2d():
    from priorgap.samples.classifier import MaxPool2

    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(7, 3, 28, 28, generator=g))
    x[:, :, :10] = 0.25  # a blank region: every window ties, as the background does after the first conv
    pool = MaxPool2()
    with torch.no_grad():
        assert torch.equal(pool(x), torch.nn.functional.max_pool2d(x, 2))
        odd = torch.randn(2, 1, 7, 7, generator=g)  # odd sizes fall back to max_pool2d (it floors)
        assert torch.equal(pool(odd), torch.nn.functional.max_pool2d(odd, 2))
    # with gradients it is max_pool2d itself, so training (and the trained classifier) is unchanged
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    pool(a).sum().backward()
    torch.nn.functional.max_pool2d(b, 2).sum().backward()
    assert torch.equal(a.grad, b.grad)


@pytest.mark.parametrize("n", [100, 250, 37, 7])
def test_sample_grid_tiles_as_torchvision_make_grid(n):
    """The evaluate stage's picture grid, written out to spare the stage importing torchvision:
    the same array as make_grid (a full grid, a longer list cut to nrow^2, a ragged last row)."""
    from torchvision.utils import make_grid

    from priorgap.samples.sample_figures import tile

    x = torch.rand(n, 784, generator=torch.Generator().manual_seed(n))
    expected = make_grid(x[:100].reshape(-1, 1, 28, 28), nrow=10, padding=2, pad_value=0.5)[0].numpy()
    assert np.array_equal(tile(x, nrow=10), expected)


def test_distance_blocks_do_not_change_the_figures():
    """knn_radii and prdc take rows a block at a time for speed: how many is not a figure."""
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(700, 16, generator=g), torch.randn(500, 16, generator=g) + 0.2
    assert torch.equal(sq.knn_radii(real, 5, chunk=37), sq.knn_radii(real, 5))
    assert sq.prdc(real, fake, 5, chunk=37) == sq.prdc(real, fake, 5) == sq.prdc(real, fake, 5, chunk=4096)


def _as_prior(density):
    """A density of z (M, d) as iwae_bound's prior: a function of z (..., d)."""
    return lambda z: density.log_prob(z.reshape(-1, z.shape[-1])).view(z.shape[:-1])


def test_the_ex_post_bound_with_the_models_own_prior_is_the_bound():
    """With g = p the ex-post bound is the IWAE bound bit for bit, and the plain bound is the same
    bits whether or not other priors share its draws."""
    torch.manual_seed(0)
    model = vae.VAE(vae.VAEConfig(2, 1, 16, 1, 16))
    x = (torch.rand(30, 784, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    plain = vae.iwae_bound(model, x, 50, torch.Generator().manual_seed(3))
    both = vae.iwae_bound(model, x, 50, torch.Generator().manual_seed(3), priors=[model.log_prior])
    assert torch.equal(both[0], plain) and torch.equal(both[1], plain)
    # N(0, I) as a fitted density (float64): the same bound to float32 rounding
    from priorgap.latent.densities import StandardNormal

    again = vae.iwae_bound(model, x, 50, torch.Generator().manual_seed(3), priors=[_as_prior(StandardNormal(2))])
    torch.testing.assert_close(again[1], plain, atol=1e-3, rtol=0)


@pytest.mark.parametrize("d", [2, 20])
def test_the_ex_post_bound_with_a_mixture_prior_against_an_independent_estimate(d):
    """log p(x) = log integral p(x|z) g(z) dz with g a two-component Gaussian mixture, for a small
    decoder that depends on z. The reference is independent of the IWAE code: at latent size 2 a
    241 x 241 grid quadrature over [-8, 8]^2 (its error is far below 1e-3 nats for these smooth
    integrands), at 20 plain Monte Carlo from g itself (100,000 draws, with its delta-method
    standard error). The encoder proposes g's moment-matched Gaussian for every image, which covers
    g, so the importance weights are tame; the IWAE bound (k = 2,000, mean of 4 repeats) must lie
    within 4 of its standard errors (and the reference's) of log p(x), plus 0.02 nats for its bias,
    which is of order Var(w) / 2k."""
    from priorgap.latent.density import Mixture

    torch.manual_seed(0)
    spread = 1.0 if d == 2 else 0.3  # in 20 dimensions, modes far apart would need far more draws
    means = torch.stack([torch.full((d,), -spread), torch.full((d,), 0.8 * spread)])
    weights, variances = torch.tensor([0.3, 0.7]), torch.tensor([0.5, 0.8])
    g = Mixture("gmm", weights, means, variances[:, None, None] * torch.eye(d))
    mean = weights @ means
    var = weights @ (variances[:, None] + means.square()) - mean.square()
    model = vae.VAE(vae.VAEConfig(d, 1, 8, 1, 32))
    with torch.no_grad():
        model.encoder[-1].weight.zero_()
        model.encoder[-1].bias.copy_(torch.cat([mean, var.log()]))
        model.decoder[0].weight.mul_(0.5)  # p(x|z) varies with z, but smoothly
    x = (torch.rand(4, 784, generator=torch.Generator().manual_seed(1)) < 0.5).float()

    def log_px_z(z):  # (m, d) -> (images, m)
        logits = model.decode(z.float())
        return torch.stack([-vae.BernoulliNLL.apply(logits, xi.expand(len(z), 784)).double() for xi in x])

    with torch.no_grad():
        if d == 2:
            t = torch.linspace(-8, 8, 241, dtype=torch.float64)
            z = torch.cartesian_prod(t, t)
            ref = torch.logsumexp(log_px_z(z) + g.log_prob(z) + 2 * math.log(float(t[1] - t[0])), dim=1)
            ref_se = torch.zeros(len(x))
        else:
            lw = log_px_z(g.sample(100_000, seed=7))
            ref = torch.logsumexp(lw, dim=1) - math.log(lw.shape[1])
            w = torch.exp(lw - lw.max(1, keepdim=True).values)
            ref_se = w.std(1) / w.mean(1) / math.sqrt(lw.shape[1])  # delta method: se of log mean w
        runs = torch.stack([vae.iwae_bound(model, x, 2000, torch.Generator().manual_seed(s), priors=[_as_prior(g)])[1]
                            for s in range(4)])
    est, se = runs.mean(0), runs.std(0) / math.sqrt(len(runs))
    tol = 4 * torch.sqrt(se**2 + ref_se**2) + 0.02
    assert ((est - ref).abs() < tol).all(), (est - ref, tol)
