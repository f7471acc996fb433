"""Stage fit@<density>: data/codes, data/match -> data/fits/<density>/{<density>.pt, score.json}.

    python stages/fit.py gmm data/codes data/match data/fits/gmm [--params params.yaml]

Reads params: posterior.seed, n_samples, chunk_size and the density's own section
(priorgap.latent.fitting.fit_params). Fits one density of the registry (or keeps the model's
prior, "prior") to q at every capacity its section lists, keeps the one the validation draws
prefer, and scores it on the test draws (priorgap.latent.capacity, diagnostics). dvc.yaml runs one
such stage per density, so a new or changed density refits alone; fit_posterior gathers them.
"""
import argparse
import time
from pathlib import Path

from priorgap.errors import PriorgapError
from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage
from priorgap.io.outputs import atomic_dir
from priorgap.latent import aggregate, densities, fitting, priors


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("density")
    for name in ("codes_dir", "match_dir", "out_dir"):
        p.add_argument(name, type=Path)
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    args = p.parse_args(argv)
    if args.density not in densities.names():
        raise PriorgapError(f"{args.density}: no such density (known: {', '.join(densities.names())}); "
                            "a new one is registered by its module (docs/adding-a-density.md)")
    params = schema.load(args.params, "posterior")
    codes = aggregate.Codes.load(args.codes_dir / "train.npz")
    prior = priors.model_prior(aggregate.Codes.load(args.codes_dir / "prior.npz"))
    measured = fitting.load_measured(args.match_dir, prior)

    keys = fitting.fit_params(args.density)
    declared = fitting.declared(params, keys)
    stage = f"fit@{args.density}"
    with stage_runs.stage_run(stage, declared, args.params) as run:
        start = time.perf_counter()
        density, score = fitting.fit_one(args.density, codes, measured, prior, params)
        seconds = time.perf_counter() - start
        with atomic_dir(args.out_dir) as tmp:
            fitting.save_fit(args.density, density, score, tmp)
        run.log_metrics({k: score[k] for k in ("heldout_gain", "val_gain", "kl_q_g", "kl_g_q")} | {"seconds": seconds})
        for step, (capacity, row) in enumerate(score.get("curve", {}).items()):  # MLflow draws it as a curve
            run.log_metrics({"capacity.heldout_gain": row["heldout_gain"], "capacity.val_gain": row["val_gain"]},
                            step=int(capacity) if capacity.isdigit() else step)
        chosen = f" at {densities.REGISTRY[args.density].capacity} {score['capacity']}" if "capacity" in score else ""
        print(f"{stage}: held-out gain {score['heldout_gain']:.3f} ± {score['heldout_gain_se']:.3f} "
              f"(validation {score['val_gain']:.3f}){chosen} ({seconds:.0f} s)")


if __name__ == "__main__":
    run_stage("fit", main)
