"""The MLP VAE: diagonal Gaussian Q(z|x), Bernoulli likelihood with logits, and a prior that is
N(0, I) or a VampPrior (Tomczak & Welling 2018) learned with the model.

The VampPrior is p(z) = (1/K) sum_k Q(z | u_k): the encoder's own posterior at K pseudo-inputs
u_k, images the model learns with its weights. Its KL term has no closed form, so the VAE uses
the usual one-draw estimate log Q(z|x) - log p(z) at the z the decoder sees: an unbiased
estimate, so the ELBO stays a bound. With N(0, I) the KL is in closed form.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import PriorgapError
from ..io import checkpoints
from ..config.device import N_PIXELS


@dataclass(frozen=True)
class VAEConfig:
    latent_dim: int
    encoder_depth: int
    encoder_width: int
    decoder_depth: int
    decoder_width: int
    prior: str = "normal"  # normal | vamp (checkpoints written before the VampPrior hold no key: normal)
    prior_components: int = 0  # K pseudo-inputs of a VampPrior; 0 for N(0, I)

    @classmethod
    def from_params(cls, model) -> "VAEConfig":
        """From the `model` section of params.yaml; a null decoder shape mirrors the encoder."""
        return cls(
            latent_dim=model.latent_dim,
            encoder_depth=model.encoder.depth,
            encoder_width=model.encoder.width,
            decoder_depth=model.decoder.depth or model.encoder.depth,
            decoder_width=model.decoder.width or model.encoder.width,
            prior=model.prior.kind,
            prior_components=model.prior.components if model.prior.kind == "vamp" else 0,
        )


def mlp(sizes: list[int]) -> nn.Sequential:
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class VampPrior(nn.Module):
    """K pseudo-inputs u_k = sigmoid(w_k): pixel intensities in (0, 1), like the images the encoder
    reads, with a gradient everywhere (a hard clamp would freeze the many pixels at exactly 0)."""

    def __init__(self, components: int):
        super().__init__()
        # placeholder values; training starts them at K training images (init_from)
        self.pseudo_logits = nn.Parameter(torch.zeros(components, N_PIXELS))

    def inputs(self) -> torch.Tensor:
        return torch.sigmoid(self.pseudo_logits)

    @torch.no_grad()
    def init_from(self, images: torch.Tensor) -> None:
        """Start at K training images (grey levels pulled into [0.05, 0.95]): the prior starts as
        a sample of the aggregate posterior, which is what the prior that maximises the ELBO is."""
        self.pseudo_logits.copy_(torch.logit(0.05 + 0.9 * images))


class VAE(nn.Module):
    def __init__(self, cfg: VAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = mlp([N_PIXELS] + [cfg.encoder_width] * cfg.encoder_depth + [2 * cfg.latent_dim])
        self.decoder = mlp([cfg.latent_dim] + [cfg.decoder_width] * cfg.decoder_depth + [N_PIXELS])
        if cfg.prior not in ("normal", "vamp") or (cfg.prior == "vamp") != (cfg.prior_components > 0):
            raise ValueError(
                f"prior {cfg.prior!r} with {cfg.prior_components} components: expected normal with 0 or vamp "
                "with K >= 1"
            )
        # built after the encoder and decoder, so an N(0, I) model draws the same initial weights as always
        self.vamp = VampPrior(cfg.prior_components) if cfg.prior == "vamp" else None

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 784) in [0, 1] -> mu, logvar, each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Bernoulli logits (B, 784)."""
        return self.decoder(z)

    def prior_components(self) -> tuple[torch.Tensor, torch.Tensor]:
        """mu and logvar (K, latent_dim) of the VampPrior's components Q(z | u_k)."""
        return self.encode(self.vamp.inputs())

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) under the model's prior, for z of any shape (..., latent_dim)."""
        if self.vamp is None:
            zero = torch.zeros((), device=z.device)
            return gaussian_log_prob(z, zero, zero)
        mu, logvar = self.prior_components()
        return mixture_log_prob(z.reshape(-1, z.shape[-1]), mu, logvar).view(z.shape[:-1])

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None):
        """Per-image reconstruction term -log p(x|z) (one z ~ Q(z|x)) and KL(Q(z|x) || p): in
        closed form for N(0, I), for a VampPrior the one-draw estimate log Q(z|x) - log p(z)."""
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        recon = BernoulliNLL.apply(self.decode(z), x)
        if self.vamp is None:
            return recon, kl_to_standard_normal(mu, logvar)
        return recon, gaussian_log_prob(z, mu, logvar) - self.log_prior(z)


class BernoulliNLL(torch.autograd.Function):
    """-log Bernoulli(x; sigmoid(logits)) summed over pixels, = BCE with logits.

    Written out because it is the hottest elementwise op of training: on CPU torch's log1p and
    log_sigmoid take a slow scalar path, while log(1 + exp(-|l|)) vectorises (its error, below
    6e-8 per pixel, is far under float32 noise of the sum), and the gradient sigmoid(l) - x needs
    no autograd graph. Together about 2x faster than F.binary_cross_entropy_with_logits.
    """

    @staticmethod
    def forward(ctx, logits, x):
        ctx.save_for_backward(logits, x)
        out = torch.exp(-logits.abs()).add_(1.0).log_()
        return out.add_(logits.clamp(min=0)).sub_(x * logits).sum(-1)

    @staticmethod
    def backward(ctx, grad):
        logits, x = ctx.saved_tensors
        return torch.sigmoid(logits).sub_(x).mul_(grad.unsqueeze(-1)), None


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) in nats, summed over the last dimension."""
    return 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension."""
    return -0.5 * ((z - mu).square() * torch.exp(-logvar) + logvar + math.log(2 * math.pi)).sum(-1)


def mixture_log_prob(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, max_elements: int = 1 << 22
) -> torch.Tensor:
    """log (1/K) sum_k N(z; mu_k, diag exp(logvar_k)) for each row of z (B, d), differentiable.

    Each (z - mu_k)^2 is formed directly, not by expanding the square (which cancels in float32
    for narrow components); rows go a few at a time so at most `max_elements` of the B x K x d
    block are held at once."""
    rows = max(1, max_elements // (mu.shape[0] * mu.shape[1]))
    out = [torch.logsumexp(gaussian_log_prob(zc[:, None, :], mu, logvar), dim=1) for zc in z.split(rows)]
    return torch.cat(out) - math.log(mu.shape[0])


@torch.no_grad()
def iwae_bound(
    model: VAE, x: torch.Tensor, k: int, generator: torch.Generator, max_rows: int = 8192, priors=()
) -> torch.Tensor:
    """Importance-weighted bound (Burda et al. 2015) on log p(x) per image, in nats:
    log (1/k) sum_j p(x|z_j) p(z_j) / Q(z_j|x) with z_j ~ Q(z|x), p the model's prior. k = 1 is
    the ELBO; the bound rises towards log p(x) as k grows. Images are taken a few at a time so
    that at most `max_rows` decoder rows are held at once.

    `priors`: other densities of z (each a function of z (..., d) -> log density (...)), each
    giving the same bound with it in place of p, the decoder and encoder fixed: the ex-post model
    log integral p(x|z) g(z) dz. They share the draws and the decodes, so the differences between
    the bounds are paired. Returns (1 + len(priors), images), or (images,) without `priors`."""
    model.eval()
    out = []
    per_batch = max(1, max_rows // k)
    for start in range(0, len(x), per_batch):
        xb = x[start : start + per_batch]
        mu, logvar = model.encode(xb)
        eps = torch.randn((k, *mu.shape), generator=generator, device=x.device)
        z = mu + eps * torch.exp(0.5 * logvar)  # (k, b, d)
        logits = model.decode(z.reshape(-1, z.shape[-1]))
        log_px_z = -BernoulliNLL.apply(logits, xb.repeat(k, 1)).view(k, -1)
        log_q = gaussian_log_prob(z, mu, logvar)
        log_w = [log_px_z + log_p(z) - log_q for log_p in (model.log_prior, *priors)]
        out.append(torch.stack([torch.logsumexp(w.double(), dim=0) for w in log_w]) - math.log(k))
    bounds = torch.cat(out, dim=1)
    return bounds if priors else bounds[0]


# --- checkpoints --------------------------------------------------------------------------------


def save(model: VAE, path: Path) -> None:
    checkpoints.save(model, path)


def load(path: Path, device: str | torch.device = "cpu") -> VAE:
    return checkpoints.load(path, build, "VAE", "train", device)


def build(config: dict, state: dict) -> VAE:
    """The empty model a checkpoint describes; its config and weights must agree on the prior."""
    cfg = VAEConfig(**config)
    has_pseudo = "vamp.pseudo_logits" in state
    if has_pseudo != (cfg.prior == "vamp"):
        held = "a VampPrior's pseudo-inputs" if has_pseudo else "no pseudo-inputs"
        raise PriorgapError(
            f"its weights hold {held} but its config says prior {cfg.prior!r}: a checkpoint "
            "from another version of priorgap; re-run `dvc repro train`"
        )
    return VAE(cfg)
