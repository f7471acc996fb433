"""Stage summarize: the stages' metrics files -> data/summary/{metrics.json, summary.html}, and
the MLflow pipeline run's row.

    python stages/summarize.py data/vae data/posterior data/classifier data/reference data/eval data/summary \\
        [--params params.yaml]

Reads every param: the pipeline row carries them all. The last stage of the pipeline, so it is
the one that marks the pipeline run FINISHED. It reads the metrics files rather than anything an
upstream stage logged, so the row is complete also when DVC restored those stages from its cache.
"""

from priorgap.config import schema
from priorgap.tracking import stage_runs
from priorgap.config.cli import run_stage, stage_args
from priorgap.io.files import read_metrics
from priorgap.io.outputs import atomic_dir, flatten_dict, write_json
from priorgap.tracking.store import view_url
from priorgap.io.numbers import fmt
from priorgap.summary import headline, page


def main(argv=None):
    args = stage_args(
        __doc__.splitlines()[0],
        ["vae_dir", "posterior_dir", "classifier_dir", "reference_dir", "eval_dir"],
        ["out_dir"],
        argv,
    )
    params = schema.load_all(args.params)
    dirs = {
        "train": args.vae_dir,
        "fit_posterior": args.posterior_dir,
        "classifier": args.classifier_dir,
        "reference": args.reference_dir,
        "evaluate": args.eval_dir,
    }
    metrics = {stage: flatten_dict(read_metrics(d / "metrics.json", stage)) for stage, d in dirs.items()}
    values = headline.headline(metrics)
    best = headline.best_fitted(values)
    figures = [
        (args.eval_dir / "thread.png", "the thread's picture: test codes, N(0,I), the fitted density and its holes"),
        (args.eval_dir / "holes.png", "precision of the prior's draws by how rare q is where they fall"),
        (args.eval_dir / "comparison.png", "samplers compared: Frechet distance, precision and recall"),
        (args.eval_dir / "samples" / "mnist_test.png", "real MNIST test digits"),
        (args.eval_dir / "samples" / "prior.png", f"decoded samples of the model's prior, {page.prior_label(params)}"),
        (
            args.eval_dir / "samples" / f"{best}.png",
            f"decoded samples of the best fitted density ({best}, chosen on validation codes)",
        ),
        (args.posterior_dir / "figures" / "latent_mu.png", "the training codes' means"),
        (args.posterior_dir / "figures" / "marginals.png", "q's marginals against the prior's"),
        (args.posterior_dir / "figures" / "capacity.png", "the bound at each mixture size (its capacity curve)"),
        (args.vae_dir / "learning_curves.png", "ELBO and KL per epoch"),
    ]

    with stage_runs.stage_run("summarize", {}, args.params) as run:
        name = stage_runs.run_name(args.params)
        with atomic_dir(args.out_dir) as tmp:
            write_json(tmp / "metrics.json", headline.nest(values))
            (tmp / "summary.html").write_text(page.render_html(name, values, params, figures, best))
        run.log_pipeline_row(params, {**values, **headline.view_figures(values)})
        run.log_artifact(args.out_dir / "summary.html", run_id=run.parent_id)
        run.save_view("headline", headline.VIEW_METRICS, headline.VIEW_PARAMS)
        shown = ("test_elbo", "kl_q_prior", "kl_q_prior_lower_bound", "mutual_info", "fd.prior", f"fd.{best}")
        print("summarize: " + ", ".join(f"{k} {fmt(values[k])}" for k in shown))
        print(f"summarize: every experiment's row in MLflow (`make ui`): {view_url(run.experiment_id)}")


if __name__ == "__main__":
    run_stage("summarize", main)
