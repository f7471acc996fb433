"""The study report: every experiment in the MLflow store -> reports/study.md and its figures.

    python stages/report.py [--out reports] [--experiment priorgap]

Reads the pipeline runs through MLflow's search API (MLFLOW_TRACKING_URI, else mlflow.db at the
repository root), so it sees the experiments of every machine that logged to the same server.
Not a DVC stage: it spans experiments, while a DVC stage belongs to one.
"""
import argparse
import sys
from pathlib import Path

# Import the library next to this script, so a DVC experiment copy runs its own code.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from priorgap import PriorgapError, plots, study, tracking  # noqa: E402
from priorgap.cli import run_stage  # noqa: E402
from priorgap.outputs import atomic_dir  # noqa: E402

COLUMNS = [
    ("experiment", None), ("depth", study.DEPTH), ("latent", study.LATENT), ("seed", study.SEED),
    ("test ELBO", "train.test_elbo"), ("IWAE NLL", "evaluate.iwae_nll"), ("KL(q‖p)", "fit_posterior.kl_q_p"),
    ("KL(p‖q)", "fit_posterior.kl_p_q"), ("MI", "fit_posterior.mutual_info"), ("AU", "fit_posterior.active_units"),
    ("holes", "fit_posterior.holes"), ("KS mean", "fit_posterior.ks_mean"), ("fd prior", "evaluate.prior.fd"),
    ("fd gmm", "evaluate.gmm.fd"), ("fd aggregate", "evaluate.aggregate.fd"),
]


def _cell(row: study.Row, key) -> str:
    if key is None:
        return row.name
    if key in row.params:
        return row.params[key]
    value = row.metrics.get(key)
    return "" if value is None else f"{value:.4g}"


def _claim_md(claim: study.Claim) -> list[str]:
    lines = [f"**{claim.text}: {claim.verdict}.** {claim.reason}.", ""]
    if claim.comparisons:
        lines += [f"| {claim.within} | {claim.y} at {claim.x} = low | at {claim.x} = high | difference ± se | verdict |",
                  "|---|---|---|---|---|"]
        for c in claim.comparisons:
            lines.append(f"| {c.within:g} | {sum(c.low) / len(c.low):.4g} ({c.low_x:g}, n={len(c.low)}) | "
                         f"{sum(c.high) / len(c.high):.4g} ({c.high_x:g}, n={len(c.high)}) | "
                         f"{c.diff:+.4g} ± {c.se:.2g} | {c.verdict} |")
        lines.append("")
    return lines


def render(rows: list[study.Row], claims: list[study.Claim], uri: str) -> str:
    depths = sorted({r.params[study.DEPTH] for r in rows}, key=float)
    latents = sorted({r.params[study.LATENT] for r in rows}, key=float)
    seeds = sorted({r.params.get(study.SEED, "?") for r in rows})
    lines = [
        "# priorgap study: how well does the aggregate posterior match N(0,I)?", "",
        f"{len(rows)} experiments from `{uri}`: encoder depth {', '.join(depths)}; latent size "
        f"{', '.join(latents)}; seeds {', '.join(seeds)}.", "",
        "## The claims", "",
    ]
    for claim in claims:
        lines += _claim_md(claim)
    lines += [
        "## Figures", "",
        "![match](study_match.png)", "",
        "![samplers](study_samplers.png)", "",
        "## Every experiment", "",
        "| " + " | ".join(c for c, _ in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for r in sorted(rows, key=lambda r: (float(r.params[study.DEPTH]), float(r.params[study.LATENT]), r.params.get(study.SEED, ""))):
        lines.append("| " + " | ".join(_cell(r, k) for _, k in COLUMNS) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("reports"))
    ap.add_argument("--experiment", default=tracking.EXPERIMENT)
    args = ap.parse_args(argv)
    uri = tracking.tracking_uri()
    tracking.check_reachable(uri)
    import mlflow

    rows = study.fetch_rows(mlflow.MlflowClient(uri), args.experiment)
    if not rows:
        raise PriorgapError(f"no complete pipeline runs in experiment '{args.experiment}' at {uri}; run `dvc repro` or `dvc exp run` first")
    claims = study.claims(rows)
    with atomic_dir(args.out) as tmp:
        plots.study_match(rows, tmp / "study_match.png")
        plots.study_samplers(rows, tmp / "study_samplers.png")
        (tmp / "study.md").write_text(render(rows, claims, uri))
    for c in claims:
        print(f"report: {c.text}: {c.verdict}")
    print(f"report: {len(rows)} experiments -> {args.out / 'study.md'}")


if __name__ == "__main__":
    run_stage("report", main)
