"""A known answer shaped like the real codes: does the held-out bound recover the same share of
the truth for a shallow and a deep encoder?

    python -m priorgap.analysis.known_answer [--mnist data/mnist] [--out reports/known_answer.json]
                                             [--epochs 40] [--latents 10 50] [--depths 1 3]   (make known-answer)

For each encoder (depth x latent size, the grid's width 500, beta 1, seed 0) it trains the VAE as
the train stage does and encodes the 55,000 training images. The population is then the mixture
of those 55,000 posteriors, q_P = (1/M) sum_i N(mu_i, diag sigma_i^2): its log density is exact
(aggregate.log_q), so KL(q_P || N(0,I)) is a Monte Carlo mean with a known standard error, and it
is shaped exactly like the encoder's own codes. A study of that population runs as the study
does: half the components are its training codes, fresh components its validation and test
images, every density of the registry is fitted on the training codes, the validation codes
choose one, and the test codes score it. The recovery is the bound over the truth.

Which way it biases: q_P is a finite mixture of narrow posteriors, spikier than the continuous
population a real encoder's codes come from, so its KL is larger and a smooth density recovers a
smaller share of it than of a real population. The recovery here is a pessimistic figure, the
same way for both encoders; what it tests is whether the two encoders' slacks differ by as much
as the verdict's difference. The mixtures of the training codes (q replayed, and q widened) are
left out: here they would hold half the population's own components, which no real population
offers.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from ..config import schema
from ..config.device import to_tensor
from ..tracking.naming import Setting
from ..io.outputs import atomic_write_text
from ..data.files import read_split
from ..latent import aggregate, capacity, densities, diagnostics, priors, seeds
from ..latent.aggregate import Codes
from ..model import training, vae

LEFT_OUT = densities.of_codes()  # q replayed and widened: see the module's docstring


def training_half(m: int) -> int:
    """The components of an m-component population that its study's training codes hold: half."""
    return m // 2


def encoder_codes(mnist: Path, setting: Setting, params_path: Path) -> tuple[dict[str, Codes], dict]:
    """Train the VAE as the study trains this setting (params.yaml with its encoder, latent size,
    seed, epochs, beta and warm-up), and encode the training and test images; also the model's
    test ELBO."""
    model_params, train_params = schema.load(params_path, "model"), schema.load(params_path, "train")
    encoder = model_params.encoder.model_copy(update={"depth": setting.depth, "width": setting.width})
    model_params = model_params.model_copy(update={"latent_dim": setting.latent, "encoder": encoder})
    train_params = train_params.model_copy(update={"epochs": setting.epochs, "seed": setting.seed, "beta": setting.beta,
                                                   "kl_warmup_epochs": setting.warmup})
    train_x = to_tensor(read_split(mnist, "train")[0], "cpu")
    val_bin = training.fixed_binarization(to_tensor(read_split(mnist, "val")[0], "cpu"))
    torch.manual_seed(train_params.seed)
    model = vae.VAE(vae.VAEConfig.from_params(model_params))
    training.train(model, train_x, val_bin, train_params)
    test_bin = training.fixed_binarization(to_tensor(read_split(mnist, "test")[0], "cpu"))
    codes = {}
    for split, x in (("train", training.fixed_binarization(train_x)), ("test", test_bin)):
        mu, logvar = training.encode(model, x)
        codes[split] = Codes(torch.from_numpy(mu), torch.from_numpy(logvar))
    return codes, {"test_elbo": training.elbo(model, test_bin)["elbo"]}


def population_study(population: Codes, params, seed: int = 0) -> dict:
    """The truth, the bound the study's procedure finds, and the training mixture's KL, on q_P."""
    g = torch.Generator().manual_seed(seed)
    m = len(population.mu)
    order = torch.randperm(m, generator=g)
    train = Codes(population.mu[order[: training_half(m)]], population.logvar[order[: training_half(m)]])
    # fresh images of the population: components drawn anew (a validation and a test set)
    val_idx = torch.randint(m, (5000,), generator=g)
    test_idx = torch.randint(m, (10_000,), generator=g)
    val = Codes(population.mu[val_idx], population.logvar[val_idx])
    test = Codes(population.mu[test_idx], population.logvar[test_idx])
    prior = priors.StandardNormal(population.dim)
    # the truth: q_P's KL to N(0, I) by Monte Carlo over its exact log density
    z = population.sample(params.n_samples, seed + 100)
    truth, truth_se = aggregate.mc_mean(aggregate.log_q(z, population.mu, population.logvar, params.chunk_size)
                                        - prior.log_prob(z))
    match = diagnostics.match_diagnostics(train, test, params, prior)
    val_draws = capacity.Heldout.draw(val, params.seed + seeds.VALIDATION, prior)
    test_draws = capacity.Heldout(match.z_test, match.log_p_at_test)
    scores = {}
    for name in (n for n in densities.names() if n not in LEFT_OUT):
        g_fit, chosen = capacity.fit_chosen(name, train, params, val_draws, test_draws, prior)
        gain, se = aggregate.mc_mean(test_draws.gains(g_fit))
        scores[name] = {"heldout_gain": gain, "heldout_gain_se": se, **chosen}
    bound = capacity.population_bound(scores)
    return {
        "truth": truth,
        "truth_se": truth_se,
        "bound": bound["kl_q_prior_lower_bound"],
        "bound_se": bound["kl_q_prior_lower_bound_se"],
        "bound_density": bound["kl_q_prior_lower_bound_density"],
        "recovery": bound["kl_q_prior_lower_bound"] / truth,
        "training_mixture_kl": match.metrics["kl_q_prior"],
        "mutual_info": match.metrics["mutual_info"],
        "active_units": match.metrics["active_units"],
        "gains": {k: v["heldout_gain"] for k, v in scores.items()},
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", type=Path, default=Path("data/mnist"), help="prepare's output (make repro)")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--out", type=Path, default=Path("reports/known_answer.json"))
    ap.add_argument("--epochs", type=int, default=40, help="the study's training epochs")
    ap.add_argument("--latents", type=int, nargs="+", default=[10, 50])
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 3])
    args = ap.parse_args(argv)
    posterior = schema.load(args.params, "posterior")
    found = []
    for latent in args.latents:
        for depth in args.depths:
            start = time.time()
            codes, model = encoder_codes(args.mnist, Setting(depth, latent, 0, epochs=args.epochs), args.params)
            codes = codes["train"]
            row = {
                "depth": depth,
                "latent": latent,
                "population_size": len(codes.mu),
                **model,
                **population_study(codes, posterior),
            }
            found.append(row)
            print(
                f"known_answer: depth {depth}, latent {latent}: truth {row['truth']:.3f} nats, bound "
                f"{row['bound']:.3f} "
                f"({row['bound_density']}), recovery {row['recovery']:.1%}, training mixture "
                f"{row['training_mixture_kl']:.3f} "
                f"({time.time() - start:.0f} s)",
                flush=True,
            )
    atomic_write_text(
        args.out,
        json.dumps(
            {
                "command": "make known-answer",
                "epochs": args.epochs,
                "seed": 0,
                "population": "the mixture of the 55,000 training posteriors",
                "encoders": found,
            },
            indent=1,
        )
        + "\n",
    )


if __name__ == "__main__":
    from ..config.cli import run_stage

    run_stage("known_answer", main)
