"""Stage fit_posterior: data/codes, data/match, data/fits -> data/posterior/{metrics.json, ks.csv,
capacity.csv, densities/, figures/}.

    python stages/fit_posterior.py data/codes data/match data/fits data/posterior [--params params.yaml]

Reads no params: every choice was made upstream. Gathers the match stage's measures of q against
the model's prior and each fit@<density> stage's density and scores, picks the density the
validation codes prefer as the held-out bound (priorgap.latent.capacity), and writes the figures
and the densities the evaluate stage samples from. The capacity curves also go to capacity.csv
for `dvc plots`, and to MLflow as metrics stepped by capacity.
"""

from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.io.outputs import atomic_dir, flatten_dict
from priorgap.latent import aggregate, densities, fitting, priors


def curve_step(row: dict, curves: list[dict]) -> int:
    """MLflow's step for a point of a capacity curve: the capacity itself where it is a count (a
    mixture's components), else its place in the density's grid (a bandwidth: MLflow steps are integers)."""
    if isinstance(row["capacity"], int):
        return row["capacity"]
    return [r["capacity"] for r in curves if r["density"] == row["density"]].index(row["capacity"])


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["codes_dir", "match_dir", "fits_dir"], ["out_dir"], argv)
    codes = aggregate.Codes.load(args.codes_dir / "train.npz")
    prior = priors.model_prior(aggregate.Codes.load(args.codes_dir / "prior.npz"))
    measured = fitting.load_measured(args.match_dir, prior)
    fitted, scores = {}, {}
    for name in densities.names():
        fitted[name], scores[name] = fitting.load_fit(name, args.fits_dir / name)
    result = fitting.assemble(measured, fitted, scores, {})

    with stage_runs.stage_run("fit_posterior", {}, args.params) as run:
        with atomic_dir(args.out_dir) as tmp:
            # the fitted files as they are (evaluate samples them)
            fitting.write(result, tmp, codes, prior, {name: args.fits_dir / name / f"{name}.pt" for name in fitted})

        m = result.metrics
        run.log_metrics({k: v for k, v in flatten_dict(m).items() if not isinstance(v, str)})
        run.set_tags({"bound_density": m["kl_q_prior_lower_bound_density"]})
        for row in result.curves:  # MLflow draws each as a curve over capacity
            run.log_metrics(
                {
                    f"capacity_{row['density']}.heldout_gain": row["heldout_gain"],
                    f"capacity_{row['density']}.val_gain": row["val_gain"],
                },
                step=curve_step(row, result.curves),
            )
        for name in ("metrics.json", "ks.csv", "capacity.csv", "figures"):
            run.log_artifact(args.out_dir / name, folder="figures" if name == "figures" else None)
        print(
            f"fit_posterior: KL(q||p) {m['kl_q_prior']:.3f} ± {m['kl_q_prior_se']:.3f} (training mixture), held-out "
            f"lower bound {m['kl_q_prior_lower_bound']:.3f} ± {m['kl_q_prior_lower_bound_se']:.3f} "
            f"({m['kl_q_prior_lower_bound_density']}, saturated: "
            f"{m['bound_saturated']}); mutual info {m['mutual_info']:.3f} "
            f"({m['mi_margin']:.2f} below log N); active units {m['active_units']}/{codes.dim}; holes {m['holes']:.3f} "
            f"(held-out threshold {m['holes_heldout']:.3f})"
        )
        for name, sc in result.scores.items():
            cap = f"  ({densities.REGISTRY[name].capacity} {sc['capacity']})" if "capacity" in sc else ""
            print(
                f"  {name:10s} held-out gain {sc['heldout_gain']:8.3f} (validation {sc['val_gain']:8.3f})  "
                f"KL(q||g) {sc['kl_q_g']:9.3f}  KL(g||q) {sc['kl_g_q']:9.3f}{cap}"
            )


if __name__ == "__main__":
    run_stage("fit_posterior", main)
