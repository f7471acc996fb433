"""Step fit_posterior: how far the aggregate posterior q of the training codes is from the model's
prior, and every density of the registry fitted to q, each at the capacity the validation codes
prefer and scored on the test codes.

    result = fit_posterior(codes, val, test, prior, params)   # the figures and the densities
    write(result, folder, codes, prior)                        # files and pictures
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .. import PriorgapError
from ..common.outputs import write_csv, write_json
from . import aggregate, capacity, code_figures, densities, diagnostics, seeds
from .aggregate import Codes


def check_splits(folder, codes: Codes, val: Codes, test: Codes, components: Codes) -> None:
    """The codes files agree on the latent size, and there are validation codes to choose with."""
    for split, other in (("val", val), ("test", test), ("prior", components)):
        if other.dim != codes.dim:
            raise PriorgapError(f"{folder}: train and {split} codes differ in latent size ({codes.dim} vs {other.dim}); "
                                "re-run `dvc repro encode`")
    if len(val.mu) < 2:
        raise PriorgapError(f"{folder}/val.npz: {len(val.mu)} validation codes; fit_posterior chooses its densities "
                            "on them: set data.val_size to 1000 or more")


@dataclass
class Fitted:
    match: diagnostics.Match  # the measures of q against the prior, and their draws
    densities: dict  # name -> the density kept (the prior, then the registry's)
    scores: dict  # name -> how well it describes q, and its capacity curve
    metrics: dict  # data/posterior/metrics.json
    curves: list[dict]  # the capacity curves, one row per density and capacity (capacity.csv)
    timings: dict  # seconds of each step (MLflow only)


def fit_posterior(codes: Codes, val: Codes, test: Codes, prior, params, progress=None, names=None) -> Fitted:
    """`params` is the posterior section; `progress(step)` is called as each step starts; `names`:
    the densities to fit ("prior" among them), by default every one (densities.names())."""
    step = progress or (lambda _: None)
    step("diagnostics")
    start = time.perf_counter()
    match = diagnostics.match_diagnostics(codes, test, params, prior)
    val_draws = capacity.Heldout.draw(val, params.seed + seeds.VALIDATION, prior)
    test_draws = capacity.Heldout(match.z_test, match.log_p_at_test)
    timings = {"seconds_diagnostics": time.perf_counter() - start}
    fitted, scores = {}, {}
    for name in names or densities.names():
        step(name)
        start = time.perf_counter()
        fitted[name], chosen = capacity.fit_chosen(name, codes, params, val_draws, test_draws, prior)
        scores[name] = {**diagnostics.score_density(fitted[name], codes, match, params), **chosen}
        timings[f"seconds_{name}"] = time.perf_counter() - start
    metrics = {**match.metrics, **capacity.population_bound(scores)}
    metrics = {**metrics, **diagnostics.scale_and_shape(metrics), "densities": scores}
    curves = [{"density": name, "capacity": int(c) if c.isdigit() else c, **row}
              for name, s in scores.items() for c, row in s.get("curve", {}).items()]
    return Fitted(match, fitted, scores, metrics, curves, timings)


def write(result: Fitted, folder, codes: Codes, prior) -> None:
    """Every output of the stage into `folder` (the stage's temporary output folder)."""
    match = result.match
    (folder / "densities").mkdir()
    for name, density in result.densities.items():
        densities.save(density, folder / "densities" / f"{name}.pt")
    write_json(folder / "metrics.json", result.metrics)
    write_csv(folder / "ks.csv", match.ks)
    write_csv(folder / "capacity.csv", result.curves)
    figures = folder / "figures"
    figures.mkdir()
    mu, labels, z_q = codes.mu.numpy(), codes.labels, match.z_q.numpy()
    # N(0, I) has its closed-form picture; a learned prior is drawn from its own draws
    z_p = None if prior.closed_form else match.z_p.numpy()
    code_figures.capacity_curve(result.curves, result.scores, result.metrics, figures / "capacity.png")
    code_figures.latent_scatter(mu, labels, figures / "latent_mu.png", prior_mu=None if z_p is None else prior.mu.numpy())
    if codes.dim > 2:
        code_figures.pair_grid(mu, labels, figures / "latent_pairs.png")
    code_figures.marginal_histograms(z_q, match.ks, figures / "marginals.png", z_p)
    code_figures.qq_plot(z_q, figures / "qq.png", z_p)
    code_figures.eigen_spectrum(aggregate.moments(codes.mu, codes.logvar)[1].numpy(), figures / "cov_spectrum.png")
