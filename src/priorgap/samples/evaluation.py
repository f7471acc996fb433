"""Step evaluate: decode draws of every density of the latent space and score them against the
MNIST test set, the decoder's own reconstructions, and the floor real digits set.

    ev = evaluate(model, clf, samplers, bound_density, inputs, params, device)   # the figures
    write(ev, folder, ...)                                              # files and pictures

`bound_density` is the density the validation codes chose in fit_posterior (the held-out bound's): it
stands for q where the prior's draws are judged (holes) and as the ex-post model's prior (the
IWAE bound with the decoder fixed). It is not always the best fitted density of the headline,
which is bound_density among the candidates alone (summary/headline.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..io.outputs import flatten_dict, write_csv, write_json
from ..model import training, vae
from . import classifier, holes, sample_figures
from .quality import knn_radii, report, versus

DECODE_BATCH = 4096  # rows of z decoded at once


@dataclass
class Inputs:
    """The data evaluate reads, on the device: test and training images, test labels, the real
    test set's features and k-NN radii, and the floor's metrics (the reference stage's)."""

    test_x: torch.Tensor
    test_labels: object  # numpy, as read
    train_x: torch.Tensor
    real_feats: torch.Tensor
    real_radii: torch.Tensor
    floor: dict


@dataclass
class Evaluation:
    metrics: dict  # data/eval/metrics.json
    table: list[dict]  # one row per sampler and reference (table.csv)
    hole_rows: list[dict]  # precision per bin of log g - log p (holes.csv)
    rows: dict  # sampler -> its figures
    references: dict  # floor and reconstruction -> their figures
    decoded: dict  # sampler -> decoded images (Bernoulli means), on the device
    recon: torch.Tensor  # reconstructions of the test set
    test_mu: torch.Tensor  # the test set's posterior means
    prior_ratio: torch.Tensor  # log g(z) - log p(z) at the prior's draws


def reconstruct(model, test_bin: torch.Tensor, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """One z ~ Q(z|x) per test image, decoded: what a perfect sampler of the population's codes
    would give through this decoder; and the test set's means."""
    g = torch.Generator(device=device).manual_seed(seed)
    recon, test_mu = [], []
    with torch.no_grad():
        for c in test_bin.split(DECODE_BATCH):
            mu, logvar = model.encode(c)
            z = mu + torch.randn(mu.shape, generator=g, device=device) * torch.exp(0.5 * logvar)
            recon.append(torch.sigmoid(model.decode(z)))
            test_mu.append(mu)
    return torch.cat(recon), torch.cat(test_mu)


@dataclass
class Scorer:
    """A sampler's row: its images against the real test set and against the reconstructions."""

    clf: object
    inputs: Inputs
    test_y: torch.Tensor
    recon_feats: torch.Tensor
    recon_radii: torch.Tensor
    params: object  # the eval section

    def score(self, images, vs_recon=True, scored=None, own=None, members=None) -> dict:
        """`members` (a dict) receives each draw's ball membership, per reference."""
        p, i = self.params, self.inputs
        feats, probs = scored or classifier.apply(self.clf, images)
        if own is None:  # the samples' own balls (recall), shared by both comparisons
            own = knn_radii(feats, p.k)
        keep = members is not None
        row = report(
            images, feats, probs, i.real_feats, i.real_radii, self.test_y, i.train_x, p.k, p.nn_samples, own, keep
        )
        if vs_recon:  # the same figures with the decoder held fixed
            vr = versus(feats, self.recon_feats, self.recon_radii, p.k, own, keep)
            if keep:
                members["vs_recon"] = vr.pop("members")
            row["vs_recon"] = {k: v for k, v in vr.items() if k != "density"}
        if keep:
            members["real"] = row.pop("members")
        return row


def evaluate(
    model, clf, samplers: dict, bound_density: str, inputs: Inputs, params, device, progress=None
) -> Evaluation:
    """`samplers`: name -> density (the prior first); `params` the eval section; `progress(step)`
    is called as each step starts."""
    step = progress or (lambda _: None)
    # The test codes come from the fixed binarisation of the test images, as in encode and in the ELBO.
    test_bin = training.fixed_binarization(inputs.test_x)
    test_y = torch.from_numpy(inputs.test_labels).long().to(device)
    recon, test_mu = reconstruct(model, test_bin, params.seed, device)
    with torch.no_grad():
        recon_scored = classifier.apply(clf, recon)
    scorer = Scorer(clf, inputs, test_y, recon_scored[0], knn_radii(recon_scored[0], params.k), params)
    g_chosen, prior = samplers[bound_density], samplers["prior"]

    draws, members, decoded, rows = {}, {}, {}, {}
    with torch.no_grad():
        for name, density in samplers.items():
            step(name)
            z = density.sample(params.n_samples, params.seed).to(device)
            decoded[name] = torch.cat(
                [torch.sigmoid(model.decode(c)) for c in z.split(DECODE_BATCH)]
            )  # Bernoulli means
            keep = {} if name in ("prior", bound_density) else None
            rows[name] = scorer.score(decoded[name], members=keep)
            if keep is not None:
                draws[name], members[name] = z.cpu(), keep
        step("references")
        # two independent draws of real digits (the floor), and the reconstructions
        references = {
            "floor": inputs.floor,
            "reconstruction": scorer.score(recon, vs_recon=False, scored=recon_scored, own=scorer.recon_radii),
        }
        step("IWAE bound")
        # the ex-post model (the decoder fixed, g as its prior) on the same draws: a paired difference
        iwae, iwae_expost = vae.iwae_bound(
            model,
            test_bin[: params.iwae_images],
            params.iwae_k,
            torch.Generator(device=device).manual_seed(params.seed),
            priors=[g_chosen.log_prob_draws],
        )
    # r(z) = log g(z) - log p(z): how much rarer the codes are than the prior where z fell
    ratio = {name: g_chosen.log_prob(z) - prior.log_prob(z) for name, z in draws.items()}
    by_sampler = {"prior": "prior", "fitted": bound_density}
    metrics = {
        "iwae_nll": -iwae.mean().item(),
        "iwae_nll_se": (iwae.std() / len(iwae) ** 0.5).item(),
        "iwae_nll_expost": -iwae_expost.mean().item(),
        "iwae_nll_expost_se": (iwae_expost.std() / len(iwae_expost) ** 0.5).item(),
        # paired: the same images, draws and decodes under both priors
        "iwae_expost_gain_se": ((iwae_expost - iwae).std() / len(iwae) ** 0.5).item(),
        "holes": {"density": bound_density, **{k: holes.summary(ratio[s], members[s]) for k, s in by_sampler.items()}},
        **rows,
        **references,
    }
    hole_rows = [{"sampler": k, **row} for k, s in by_sampler.items() for row in holes.profile(ratio[s], members[s])]
    table = [{"sampler": name, **flatten_dict(row)} for name, row in {**rows, **references}.items()]
    return Evaluation(metrics, table, hole_rows, rows, references, decoded, recon, test_mu, ratio["prior"])


def write(ev: Evaluation, folder, samplers: dict, bound_density: str, inputs: Inputs, device) -> None:
    """Every output of the stage into `folder` (the stage's temporary output folder)."""
    write_json(folder / "metrics.json", ev.metrics)
    write_csv(folder / "table.csv", ev.table)
    write_csv(folder / "holes.csv", ev.hole_rows)
    sample_figures.hole_profile(ev.hole_rows, bound_density, folder / "holes.png")
    r, order = ev.prior_ratio, ev.prior_ratio.argsort()
    prior_images = ev.decoded["prior"]
    sample_figures.hole_draws(
        prior_images[order[:50].to(device)].cpu(),
        prior_images[order[-50:].to(device)].cpu(),
        r[order[:50]],
        r[order[-50:]],
        bound_density,
        folder / "hole_draws.png",
    )
    sample_figures.thread_picture(
        ev.test_mu.cpu(),
        inputs.test_labels,
        samplers[bound_density],
        samplers["prior"],
        bound_density,
        {**{n: ev.decoded[n].cpu() for n in ev.decoded}, "reconstruction": ev.recon.cpu()},
        folder / "thread.png",
    )
    (folder / "samples").mkdir()
    # real digits beside the samples, drawn the same way (white on black, as MNIST)
    sample_figures.sample_grid(
        inputs.test_x[:100].cpu(), folder / "samples" / "mnist_test.png", "real MNIST test digits"
    )
    for name, images in ev.decoded.items():
        row = ev.rows[name]
        sample_figures.sample_grid(
            images.cpu(),
            folder / "samples" / f"{name}.png",
            f"{name}: FD {row['fd']:.2f}, precision {row['precision']:.2f}, recall {row['recall']:.2f}",
        )
    # beside samples/, not in it: dvc.yaml shows that folder as images, and DVC warns on a file it cannot show
    sample_figures.save_grids(
        {"reconstruction": ev.recon.cpu(), **{n: ev.decoded[n].cpu() for n in ev.decoded}}, folder / "grids.npz"
    )
    sample_figures.sampler_comparison(ev.rows, ev.references, folder / "comparison.png")
