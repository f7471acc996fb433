"""Stage fit_posterior: data/codes -> data/posterior/{metrics.json, ks.csv, densities/, figures/}.

    python stages/fit_posterior.py data/codes data/posterior [--params params.yaml]

Reads params: posterior.*. Measures how far the aggregate posterior q of the training codes is
from N(0, I), and fits the latent densities that the evaluate stage samples from. Timings go to
the MLflow stage run only.
"""
import sys
import time
from pathlib import Path

# Import the library next to this script, so a DVC experiment copy runs its own code.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tqdm import tqdm  # noqa: E402

from priorgap import PriorgapError  # noqa: E402
from priorgap.common import config, tracking  # noqa: E402
from priorgap.common.cli import run_stage, stage_args  # noqa: E402
from priorgap.common.outputs import atomic_dir, flatten_dict, write_csv, write_json  # noqa: E402
from priorgap.latent import aggregate, densities, diagnostics, plots  # noqa: E402


def main(argv=None):
    args = stage_args(__doc__.splitlines()[0], ["codes_dir"], ["out_dir"], argv)
    params = config.load(args.params, "posterior")
    codes = aggregate.Codes.load(args.codes_dir / "train.npz")
    test = aggregate.Codes.load(args.codes_dir / "test.npz")
    if test.dim != codes.dim:
        raise PriorgapError(f"{args.codes_dir}: train and test codes differ in latent size ({codes.dim} vs {test.dim}); re-run `dvc repro encode`")

    with tracking.stage_run("fit_posterior", config.flat(posterior=params), args.params) as run:
        bar = tqdm(total=1 + len(densities.NAMES), desc="fit_posterior", unit="step", file=sys.stderr)
        bar.set_postfix_str("diagnostics")
        start = time.perf_counter()
        match = diagnostics.match_diagnostics(codes, test, params)
        timings = {"seconds_diagnostics": time.perf_counter() - start}
        bar.update()
        fitted, scores = {}, {}
        for name in densities.NAMES:
            bar.set_postfix_str(name)
            start = time.perf_counter()
            fitted[name] = densities.fit_density(name, codes, params)
            scores[name] = diagnostics.score_density(fitted[name], codes, match, params)
            timings[f"seconds_{name}"] = time.perf_counter() - start
            bar.update()
        bar.close()
        metrics = {**match.metrics, **diagnostics.population_bound(scores), "densities": scores}

        mu, labels, z_q = codes.mu.numpy(), codes.labels, match.z_q.numpy()
        with atomic_dir(args.out_dir) as tmp:
            (tmp / "densities").mkdir()
            for name, density in fitted.items():
                densities.save(density, tmp / "densities" / f"{name}.pt")
            write_json(tmp / "metrics.json", metrics)
            write_csv(tmp / "ks.csv", match.ks)
            figures = tmp / "figures"
            figures.mkdir()
            plots.latent_scatter(mu, labels, figures / "latent_mu.png")
            if codes.dim > 2:
                plots.pair_grid(mu, labels, figures / "latent_pairs.png")
            plots.marginal_histograms(z_q, match.ks, figures / "marginals.png")
            plots.qq_plot(z_q, figures / "qq.png")
            plots.eigen_spectrum(aggregate.moments(codes.mu, codes.logvar)[1].numpy(), figures / "cov_spectrum.png")

        run.log_metrics({**flatten_dict(metrics), **timings})
        for name in ("metrics.json", "ks.csv", "figures"):
            run.log_artifact(args.out_dir / name, folder="figures" if name == "figures" else None)
        m = metrics
        print(
            f"fit_posterior: KL(q||p) {m['kl_q_p']:.3f} ± {m['kl_q_p_se']:.3f} (training mixture), held-out "
            f"lower bound {m['kl_lower_bound']:.3f} ± {m['kl_lower_bound_se']:.3f}; mutual info {m['mutual_info']:.3f} "
            f"({m['mi_margin']:.2f} below log N); active units {m['active_units']}/{codes.dim}; holes {m['holes']:.3f} "
            f"(held-out threshold {m['holes_heldout']:.3f})"
        )
        for name, sc in scores.items():
            print(f"  {name:10s} held-out gain {sc['heldout_gain']:8.3f}  KL(q||g) {sc['kl_q_g']:9.3f}  KL(g||q) {sc['kl_g_q']:9.3f}")


if __name__ == "__main__":
    run_stage("fit_posterior", main)
