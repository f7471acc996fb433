"""Did `dvc repro` here reproduce the committed results? `make verify` (python -m priorgap.study.verify).

Compares every headline figure of the workspace (data/summary/metrics.json) with the committed
one (the same file at git HEAD) and prints both values, the difference and the tolerance it is
held to; exits 1 when any difference exceeds its tolerance, or when the comparison is not like
for like (params.yaml differs from the commit's).

Tolerances, argued in README ("The same results on any machine"):
- EXACT figures must be bit-identical. They come from the VAE (trained, encoded and scored with
  the same float32 kernels on every x86 CPU we have run: Intel AVX-512 and AMD AVX2) and from
  the exact measures of q computed from its codes; a difference there is a bug, not noise.
- Every other figure depends on the classifier or on a density trained by SGD (flow, two-stage
  VAE): their float32 kernels (oneDNN convolutions, MKL) pick an instruction set per CPU, and a
  change in rounding order grows through training. They are held to Z (= 2) times the
  figure's seed spread in the committed study (reports/study.csv, the rows at the workspace's
  encoder depth and latent size): a change of CPU must move a figure less than the study counts
  as a clear difference between seeds.
- A figure the committed study does not hold yet (added to the headline after the study ran) has
  no seed spread to judge it by: it is printed, marked "no spread", and does not fail verify.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from pathlib import Path

import yaml

from .. import PriorgapError
from ..common import config
from ..common.outputs import flatten_dict
from . import runs, table
from .stats import spread
from .summary import HEADLINE

Z = 2.0  # a figure may move by Z seed sd with the CPU: less than the study counts as a clear difference

# From train (the VAE), from evaluate's IWAE bound (the VAE alone), and from fit_posterior's exact
# measures of q (the codes alone). kl_q_prior_lower_bound is not here: it is the best held-out gain
# over the fitted densities, and the flow or the two-stage VAE can be that best one.
EXACT = ("test_elbo", "val_elbo_slope", "iwae_nll", "kl_q_prior", "kl_prior_q", "avg_kl", "mutual_info",
         "active_units", "holes_heldout", "ks_mean_active")
SUMMARY = "data/summary/metrics.json"
STUDY = "reports/study.csv"


def committed(root: Path, path: str) -> str:
    """The file as git HEAD has it."""
    out = subprocess.run(["git", "show", f"HEAD:{path}"], cwd=root, capture_output=True, text=True)
    if out.returncode != 0:
        raise PriorgapError(f"{path}: not committed at HEAD ({out.stderr.strip()}); verify compares with the commit")
    return out.stdout


def seed_spreads(study_csv: Path, model, train) -> tuple[dict[str, float], int, int]:
    """sd over seeds of every headline figure in the study's runs of the workspace's setting (encoder
    depth, latent size, beta, warm-up and prior; its grid epochs, the most common count); also the
    number of seeds and the epochs."""
    prior = "normal" if model.prior.kind == "normal" else f"{model.prior.kind}{model.prior.components}"
    rows = runs.where(table.read(study_csv), depth=model.encoder.depth, latent=model.latent_dim, beta=float(train.beta),
                      warmup=train.kl_warmup_epochs, prior=prior)
    if not rows:
        raise PriorgapError(f"{study_csv}: no study run at encoder depth {model.encoder.depth}, latent size "
                            f"{model.latent_dim}, beta {train.beta:g}, warm-up {train.kl_warmup_epochs}, prior {prior}; "
                            "verify needs the study's seed spread for the workspace's setting")
    epochs = collections.Counter(r.key.epochs for r in rows).most_common(1)[0][0]
    grid = runs.where(rows, epochs=epochs)
    sds = {k: spread(runs.values(grid, k))[1] for k in HEADLINE if runs.values(grid, k)}
    return sds, len(grid), epochs


def compare(ours: dict, theirs: dict, sds: dict[str, float]) -> list[tuple[str, float | None, float | None, float | None, bool]]:
    """(figure, committed, workspace, tolerance, within) for every headline figure; tolerance None
    (and within True) for a figure the study has no seed spread of."""
    out = []
    for name in HEADLINE:
        a, b = theirs.get(name), ours.get(name)
        tol = 0.0 if name in EXACT else Z * sds[name] if name in sds else None
        if a is None or b is None:
            ok = a is None and b is None
        elif tol is None:
            ok = True
        else:
            ok = a == b if tol == 0.0 else abs(b - a) <= tol
        out.append((name, a, b, tol, ok))
    return out


def _fmt(v) -> str:
    return "null" if v is None else f"{v:.6g}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=Path("."), help="the repository (default: here)")
    args = ap.parse_args(argv)
    root = args.root
    if config.read_yaml(root / "params.yaml") != yaml.safe_load(committed(root, "params.yaml")):
        raise PriorgapError("params.yaml differs from the commit's: verify compares a reproduction of the committed "
                            "params; `git stash` (or `git checkout params.yaml`), `dvc repro`, then `make verify`")
    path = root / SUMMARY
    if not path.is_file():
        raise PriorgapError(f"{path}: not found; run `make repro` first")
    ours = flatten_dict(json.loads(path.read_text()))
    theirs = flatten_dict(json.loads(committed(root, SUMMARY)))
    model, train = config.load(root / "params.yaml", "model"), config.load(root / "params.yaml", "train")
    depth, latent = model.encoder.depth, model.latent_dim
    sds, n, epochs = seed_spreads(root / STUDY, model, train)
    results = compare(ours, theirs, sds)
    print(f"verify: {SUMMARY} against the commit; tolerance 0 = bit-identical, else {Z:g} x the seed sd of "
          f"{n} study runs (depth {depth}, latent {latent}, {epochs} epochs)")
    print(f"{'figure':26s} {'committed':>14s} {'here':>14s} {'difference':>12s} {'tolerance':>10s}")
    for name, a, b, tol, ok in results:
        diff = "" if a is None or b is None else f"{b - a:+.3g}"
        mark = "no spread" if tol is None else "ok" if ok else "BEYOND"
        print(f"{name:26s} {_fmt(a):>14s} {_fmt(b):>14s} {diff:>12s} {'-' if tol is None else _fmt(tol):>10s}  {mark}")
    bad = [r[0] for r in results if not r[4]]
    same = sum(r[1] == r[2] for r in results)
    unjudged = sum(r[3] is None for r in results)
    print(f"verify: {same} of {len(results)} figures bit-identical; "
          + (f"{len(bad)} beyond tolerance: {', '.join(bad)}" if bad else "every difference within its tolerance")
          + (f"; {unjudged} not in {STUDY} yet, so not judged" if unjudged else ""))
    return 1 if bad else 0


if __name__ == "__main__":
    from ..common.cli import run_stage

    run_stage("verify", lambda argv: sys.exit(main(argv)))
