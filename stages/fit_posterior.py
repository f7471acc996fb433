"""Stage fit_posterior: data/codes -> data/posterior/{metrics.json, ks.csv, capacity.csv, densities/, figures/}.

    python stages/fit_posterior.py data/codes data/posterior [--params params.yaml]

Reads params: posterior.*. Measures how far the aggregate posterior q of the training codes is
from the model's prior (data/codes/prior.npz: N(0, I) or a VampPrior), and fits the latent densities that the evaluate stage samples from: each at every
capacity params.yaml lists, keeping the one the validation codes prefer, and scored on the test
codes (priorgap.latent.capacity). Timings go to the MLflow stage run only; the capacity curve also
goes there as a metric stepped by capacity, and to capacity.csv for `dvc plots`.
"""
import sys
import time

from tqdm import tqdm

from priorgap import PriorgapError
from priorgap.common import config, tracking
from priorgap.common.cli import run_stage, stage_args
from priorgap.common.outputs import atomic_dir, flatten_dict, write_csv, write_json
from priorgap.latent import aggregate, capacity, densities, diagnostics, plots, priors, seeds



def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["codes_dir"], ["out_dir"], argv)
    params = config.load(args.params, "posterior")
    codes, val, test, components = (aggregate.Codes.load(args.codes_dir / f"{split}.npz")
                                    for split in ("train", "val", "test", "prior"))
    prior = priors.model_prior(components)
    for split, other in (("val", val), ("test", test), ("prior", components)):
        if other.dim != codes.dim:
            raise PriorgapError(f"{args.codes_dir}: train and {split} codes differ in latent size ({codes.dim} vs {other.dim}); "
                                "re-run `dvc repro encode`")
    if len(val.mu) < 2:
        raise PriorgapError(f"{args.codes_dir}/val.npz: {len(val.mu)} validation codes; fit_posterior chooses its densities "
                            "on them: set data.val_size to 1000 or more")

    with tracking.stage_run("fit_posterior", config.flat(posterior=params), args.params) as run:
        bar = tqdm(total=1 + len(densities.names()), desc="fit_posterior", unit="step", file=sys.stderr)
        bar.set_postfix_str("diagnostics")
        start = time.perf_counter()
        match = diagnostics.match_diagnostics(codes, test, params, prior)
        val_draws = capacity.Heldout.draw(val, params.seed + seeds.VALIDATION, prior)
        test_draws = capacity.Heldout(match.z_test, match.log_p_at_test)
        timings = {"seconds_diagnostics": time.perf_counter() - start}
        bar.update()
        fitted, scores = {}, {}
        for name in densities.names():
            bar.set_postfix_str(name)
            start = time.perf_counter()
            fitted[name], chosen = capacity.fit_chosen(name, codes, params, val_draws, test_draws, prior)
            scores[name] = {**diagnostics.score_density(fitted[name], codes, match, params), **chosen}
            timings[f"seconds_{name}"] = time.perf_counter() - start
            bar.update()
        bar.close()
        metrics = {**match.metrics, **capacity.population_bound(scores)}
        metrics = {**metrics, **diagnostics.scale_and_shape(metrics), "densities": scores}
        curves = [{"density": name, "capacity": int(c) if c.isdigit() else c, **row}
                  for name, s in scores.items() for c, row in s.get("curve", {}).items()]

        mu, labels, z_q = codes.mu.numpy(), codes.labels, match.z_q.numpy()
        # N(0, I) has its closed-form picture; a learned prior is drawn from its own draws
        z_p = None if prior.closed_form else match.z_p.numpy()
        with atomic_dir(args.out_dir) as tmp:
            (tmp / "densities").mkdir()
            for name, density in fitted.items():
                densities.save(density, tmp / "densities" / f"{name}.pt")
            write_json(tmp / "metrics.json", metrics)
            write_csv(tmp / "ks.csv", match.ks)
            write_csv(tmp / "capacity.csv", curves)
            figures = tmp / "figures"
            figures.mkdir()
            plots.capacity_curve(curves, scores, metrics, figures / "capacity.png")
            plots.latent_scatter(mu, labels, figures / "latent_mu.png",
                                 prior_mu=None if z_p is None else components.mu.numpy())
            if codes.dim > 2:
                plots.pair_grid(mu, labels, figures / "latent_pairs.png")
            plots.marginal_histograms(z_q, match.ks, figures / "marginals.png", z_p)
            plots.qq_plot(z_q, figures / "qq.png", z_p)
            plots.eigen_spectrum(aggregate.moments(codes.mu, codes.logvar)[1].numpy(), figures / "cov_spectrum.png")

        run.log_metrics({k: v for k, v in flatten_dict(metrics).items() if not isinstance(v, str)} | timings)
        run.set_tags({"bound_density": metrics["kl_lower_bound_density"]})
        for row in curves:  # MLflow draws each as a curve over capacity
            run.log_metrics({f"capacity_{row['density']}.heldout_gain": row["heldout_gain"],
                             f"capacity_{row['density']}.val_gain": row["val_gain"]}, step=row["capacity"])
        for name in ("metrics.json", "ks.csv", "capacity.csv", "figures"):
            run.log_artifact(args.out_dir / name, folder="figures" if name == "figures" else None)
        m = metrics
        print(
            f"fit_posterior: KL(q||p) {m['kl_q_p']:.3f} ± {m['kl_q_p_se']:.3f} (training mixture), held-out "
            f"lower bound {m['kl_lower_bound']:.3f} ± {m['kl_lower_bound_se']:.3f} ({m['kl_lower_bound_density']}, saturated: "
            f"{m['bound_saturated']}); mutual info {m['mutual_info']:.3f} "
            f"({m['mi_margin']:.2f} below log N); active units {m['active_units']}/{codes.dim}; holes {m['holes']:.3f} "
            f"(held-out threshold {m['holes_heldout']:.3f})"
        )
        for name, sc in scores.items():
            cap = f"  ({densities.REGISTRY[name].capacity} {sc['capacity']})" if "capacity" in sc else ""
            print(f"  {name:10s} held-out gain {sc['heldout_gain']:8.3f} (validation {sc['val_gain']:8.3f})  "
                  f"KL(q||g) {sc['kl_q_g']:9.3f}  KL(g||q) {sc['kl_g_q']:9.3f}{cap}")


if __name__ == "__main__":
    run_stage("fit_posterior", main)
