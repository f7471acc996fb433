"""The study report: every experiment in the MLflow store -> reports/study.md and its figures.

    python -m priorgap.report [--out reports] [--experiment priorgap]     (or: make report)

Reads the pipeline runs through MLflow's search API (MLFLOW_TRACKING_URI, else mlflow.db at the
repository root), so it sees the experiments of every machine that logged to the same server.
Not a DVC stage: it spans experiments, while a DVC stage belongs to one; nothing imports it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import PriorgapError, study, tracking  # noqa: E402
from .cli import run_stage  # noqa: E402
from .outputs import atomic_dir, save_figure  # noqa: E402

COLUMNS = [
    ("experiment", None), ("depth", study.DEPTH), ("latent", study.LATENT), ("seed", study.SEED),
    ("test ELBO", "test_elbo"), ("IWAE NLL", "iwae_nll"), ("KL(q‖p)", "kl_q_prior"),
    ("KL(p‖q)", "kl_prior_q"), ("MI", "mutual_info"), ("AU", "active_units"),
    ("holes", "holes_heldout"), ("KS mean", "ks_mean_active"), ("fd prior", "fd.prior"),
    ("fd gmm", "fd.gmm"), ("fd aggregate", "fd.aggregate"),
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


def store_name(uri: str) -> str:
    """The store in words that hold on any machine: no absolute path of this one."""
    db = tracking.sqlite_path(uri)
    if db is None:
        return f"the MLflow server `{uri}`"
    try:
        return f"`{db.relative_to(tracking.repo_root())}` at the repository root"
    except ValueError:
        return f"the SQLite store `{db.name}`"


def render(rows: list[study.Row], claims: list[study.Claim], uri: str) -> str:
    depths = sorted({r.params[study.DEPTH] for r in rows}, key=float)
    latents = sorted({r.params[study.LATENT] for r in rows}, key=float)
    seeds = sorted({r.params.get(study.SEED, "?") for r in rows})
    lines = [
        "# priorgap study: how well does the aggregate posterior match N(0,I)?", "",
        f"{len(rows)} experiments from {store_name(uri)}: encoder depth {', '.join(depths)}; latent size "
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


def _by_latent_size(ax, rows, metric, label_prefix="", style="-", color=None):
    """One line per encoder depth: mean over seeds against latent size, bars = standard deviation."""
    stats = study.summary(rows, metric, (study.DEPTH, study.LATENT))
    for i, depth in enumerate(sorted({k[0] for k in stats})):
        keys = [k for k in stats if k[0] == depth]
        xs = [k[1] for k in keys]
        ax.errorbar(xs, [stats[k][0] for k in keys], yerr=[stats[k][1] for k in keys], marker="o", capsize=3,
                    ls=style, color=color or f"C{i}", label=f"{label_prefix}depth {depth:g}")
    ax.set_xscale("log")
    ax.set_xticks(sorted({k[1] for k in stats}), [f"{x:g}" for x in sorted({k[1] for k in stats})])
    ax.minorticks_off()
    ax.set_xlabel("latent size")
    ax.grid(alpha=0.3)


def study_match(rows, path):
    metrics = [("kl_q_prior", "KL(q || N(0,I)) (nats)"), ("kl_prior_q", "KL(N(0,I) || q) (nats)"),
               ("mutual_info", "index-code mutual information (nats)"),
               ("active_units", "active units"), ("holes_heldout", "holes (held-out threshold)"),
               ("ks_mean_active", "mean KS statistic, active dimensions")]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for ax, (metric, title) in zip(axes.flat, metrics):
        _by_latent_size(ax, rows, metric)
        ax.set_title(title, fontsize=10)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("how well the aggregate posterior matches N(0,I): mean ± sd over seeds")
    save_figure(fig, path)


def study_samplers(rows, path, samplers=("prior", "gmm", "aggregate")):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (key, title) in zip(axes, [("fd", "Frechet distance (lower is better)"), ("precision", "precision"),
                                       ("recall", "recall")]):
        for j, sampler in enumerate(samplers):
            _by_latent_size(ax, rows, f"{key}.{sampler}", f"{sampler}, ", ("-", "--", ":")[j % 3], None)
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=7)
    fig.suptitle("decoded samples against the test set: N(0,I) vs fitted densities")
    save_figure(fig, path)


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
        study_match(rows, tmp / "study_match.png")
        study_samplers(rows, tmp / "study_samplers.png")
        (tmp / "study.md").write_text(render(rows, claims, uri))
    for c in claims:
        print(f"report: {c.text}: {c.verdict}")
    print(f"report: {len(rows)} experiments -> {args.out / 'study.md'}")


if __name__ == "__main__":
    run_stage("report", main)
