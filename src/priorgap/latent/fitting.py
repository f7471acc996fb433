"""Step fit_posterior: how far the aggregate posterior q of the training codes is from the model's
prior, and every density of the registry fitted to q, each at the capacity the validation codes
prefer and scored on the test codes.

    result = fit_posterior(codes, val, test, prior, params)   # the figures and the densities
    write(result, folder, codes, prior)                        # files and pictures

The pipeline runs the same three steps as separate DVC stages, so that changing one density
refits that density alone: `match` (measure_q: q against the prior, and the draws every density
is scored on), `fit@<name>` (fit_one, one per density) and `fit_posterior` (assemble, then write).
Each step reads only the params it declares (MATCH_PARAMS, fit_params): DVC re-runs a stage when
those change, so the stages read the posterior section through a view that refuses any other key.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import PriorgapError
from ..io.files import load_or_explain
from ..io.outputs import flatten_dict, write_csv, write_json
from . import aggregate, capacity, densities, diagnostics, seeds
from .aggregate import Codes

# posterior.<key> each step reads: its stage's params in dvc.yaml (tests/test_dvc_yaml.py)
MATCH_PARAMS = ("seed", "n_samples", "chunk_size", "mmd")
FIT_PARAMS = ("seed", "n_samples", "chunk_size")  # and the density's own section


class Declared:
    """A section read through the keys a stage declares in dvc.yaml, and no other: DVC re-runs a
    stage only when a declared param changes, so code reading an undeclared one would be served
    stale outputs. Such a read is a bug in our code, not in the user's params: it raises with a
    traceback."""

    def __init__(self, section, keys: tuple[str, ...], name: str):
        self._section, self._keys, self._name = section, keys, name

    def __getattr__(self, key):
        if key.startswith("_") or key in self._keys:
            return getattr(self._section, key)
        raise RuntimeError(f"reads {self._name}.{key}, which this step does not declare (declared: "
                           f"{', '.join(self._keys)}); add it to the step's keys and to its stage's params in dvc.yaml")


def declared(params, keys: tuple[str, ...]) -> dict:
    """The posterior params a step reads, by their dotted names: its stage's MLflow params."""
    return {k: v for k, v in flatten_dict({"posterior": params.model_dump()}).items() if k.split(".")[1] in keys}


def fit_params(name: str) -> tuple[str, ...]:
    """The posterior keys that fitting and scoring `name` read."""
    section = None if name == "prior" else densities.REGISTRY[name].section
    return FIT_PARAMS + ((section,) if section else ())


def check_splits(folder, codes: Codes, val: Codes, test: Codes, components: Codes) -> None:
    """The codes files agree on the latent size, and there are validation codes to choose with."""
    for split, other in (("val", val), ("test", test), ("prior", components)):
        if other.dim != codes.dim:
            raise PriorgapError(
                f"{folder}: train and {split} codes differ in latent size ({codes.dim} vs {other.dim}); "
                "re-run `dvc repro encode`"
            )
    if len(val.mu) < 2:
        raise PriorgapError(
            f"{folder}/val.npz: {len(val.mu)} validation codes; fit_posterior chooses its densities "
            "on them: set data.val_size to 1000 or more"
        )


@dataclass
class Fitted:
    match: diagnostics.Match  # the measures of q against the prior, and their draws
    densities: dict  # name -> the density kept (the prior, then the registry's)
    scores: dict  # name -> how well it describes q, and its capacity curve
    metrics: dict  # data/posterior/metrics.json
    curves: list[dict]  # the capacity curves, one row per density and capacity (capacity.csv)
    timings: dict  # seconds of each step (MLflow only)


@dataclass
class Measured:
    """measure_q's result: q against the prior, and the draws each density is chosen and scored on."""

    match: diagnostics.Match
    val: capacity.Heldout  # draws from the validation codes' mixture: they choose
    seconds: float

    @property
    def test(self) -> capacity.Heldout:
        return capacity.Heldout(self.match.z_test, self.match.log_p_at_test)


def measure_q(codes: Codes, val: Codes, test: Codes, prior, params) -> Measured:
    start = time.perf_counter()
    params = Declared(params, MATCH_PARAMS, "posterior")
    match = diagnostics.match_diagnostics(codes, test, params, prior)
    val_draws = capacity.Heldout.draw(val, params.seed + seeds.VALIDATION, prior)
    return Measured(match, val_draws, time.perf_counter() - start)


def fit_one(name: str, codes: Codes, measured: Measured, prior, params) -> tuple[object, dict]:
    """One density (or "prior"), at the capacity the validation draws prefer, and its scores."""
    params = Declared(params, fit_params(name), "posterior")
    fitted, chosen = capacity.fit_chosen(name, codes, params, measured.val, measured.test, prior)
    return fitted, {**diagnostics.score_density(fitted, codes, measured.match, params), **chosen}


def assemble(measured: Measured, fitted: dict, scores: dict, timings: dict) -> Fitted:
    """The stage's figures from q's measures and each density's scores (in densities.names() order)."""
    match = measured.match
    metrics = {**match.metrics, **capacity.population_bound(scores)}
    metrics = {**metrics, **diagnostics.scale_and_shape(metrics), "densities": scores}
    curves = [
        {"density": name, "capacity": int(c) if c.isdigit() else c, **row}
        for name, s in scores.items()
        for c, row in s.get("curve", {}).items()
    ]
    return Fitted(match, fitted, scores, metrics, curves, timings)


def fit_posterior(codes: Codes, val: Codes, test: Codes, prior, params, progress=None, names=None) -> Fitted:
    """The three steps in one process. `params` is the posterior section; `progress(step)` is called
    as each step starts; `names`: the densities to fit ("prior" among them), by default every one
    (densities.names())."""
    step = progress or (lambda _: None)
    step("diagnostics")
    measured = measure_q(codes, val, test, prior, params)
    timings = {"seconds_diagnostics": measured.seconds}
    fitted, scores = {}, {}
    for name in names or densities.names():
        step(name)
        start = time.perf_counter()
        fitted[name], scores[name] = fit_one(name, codes, measured, prior, params)
        timings[f"seconds_{name}"] = time.perf_counter() - start
    return assemble(measured, fitted, scores, timings)


# The stages' files between the steps: tensors through torch (weights_only), figures through JSON
# (a float's repr reads back as the same float, so the assembled metrics.json is the same bytes).
_MATCH_TENSORS = ("z_q", "z_p", "log_q_at_q", "z_test", "log_p_at_test", "log_q_at_test")


def save_measured(measured: Measured, folder: Path) -> None:
    m = measured.match
    torch.save(
        {**{k: getattr(m, k) for k in _MATCH_TENSORS}, "val_z": measured.val.z, "val_log_p": measured.val.log_p},
        folder / "draws.pt",
    )
    write_json(folder / "match.json", {"metrics": m.metrics, "ks": m.ks})


def load_measured(folder: Path, prior) -> Measured:
    def read(path):
        t = torch.load(path, weights_only=True)
        figures = json.loads((folder / "match.json").read_text())
        match = diagnostics.Match(
            prior,
            figures["metrics"],
            figures["ks"],
            t["z_q"],
            t["z_p"],
            t["log_q_at_q"],
            t["z_test"],
            t["log_p_at_test"],
            t["log_q_at_test"],
        )
        return Measured(match, capacity.Heldout(t["val_z"], t["val_log_p"]), 0.0)

    return load_or_explain(folder / "draws.pt", "match stage's draws", "match", read)


def save_fit(name: str, density, score: dict, folder: Path) -> None:
    densities.save(density, folder / f"{name}.pt")  # the file name is part of torch.save's bytes
    write_json(folder / "score.json", score)


def load_fit(name: str, folder: Path) -> tuple[object, dict]:
    if not (folder / "score.json").is_file():
        raise PriorgapError(f"{folder}: no fit of {name}; run `dvc repro fit@{name}`")
    return densities.load(folder / f"{name}.pt"), json.loads((folder / "score.json").read_text())


def write(result: Fitted, folder, codes: Codes, prior, saved: dict | None = None) -> None:
    """Every output of the stage into `folder` (the stage's temporary output folder). `saved`: the
    densities already in a file (each fit@<density> stage's), copied as they are instead of saved again."""
    match = result.match
    (folder / "densities").mkdir()
    for name, density in result.densities.items():
        if saved and name in saved:
            shutil.copyfile(saved[name], folder / "densities" / f"{name}.pt")
        else:
            densities.save(density, folder / "densities" / f"{name}.pt")
    write_json(folder / "metrics.json", result.metrics)
    write_csv(folder / "ks.csv", match.ks)
    write_csv(folder / "capacity.csv", result.curves)
    from . import code_figures  # matplotlib costs each fit@<density> process 0.4 s it does not need

    figures = folder / "figures"
    figures.mkdir()
    mu, labels, z_q = codes.mu.numpy(), codes.labels, match.z_q.numpy()
    # N(0, I) has its closed-form picture; a learned prior is drawn from its own draws
    z_p = None if prior.closed_form else match.z_p.numpy()
    code_figures.capacity_curve(result.curves, result.scores, result.metrics, figures / "capacity.png")
    code_figures.latent_scatter(
        mu, labels, figures / "latent_mu.png", prior_mu=None if z_p is None else prior.mu.numpy()
    )
    if codes.dim > 2:
        code_figures.pair_grid(mu, labels, figures / "latent_pairs.png")
    code_figures.marginal_histograms(z_q, match.ks, figures / "marginals.png", z_p)
    code_figures.qq_plot(z_q, figures / "qq.png", z_p)
    code_figures.eigen_spectrum(aggregate.moments(codes.mu, codes.logvar)[1].numpy(), figures / "cov_spectrum.png")
