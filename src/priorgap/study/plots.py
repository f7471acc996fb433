"""The report's figures across experiments: small multiples, mean ± sd over seeds."""
from __future__ import annotations

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")  # headless
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..common.outputs import save_figure  # noqa: E402
from . import runs, stats  # noqa: E402


def _latent_axis(ax, latents):
    ax.set_xscale("log")
    ax.set_xticks(latents, [f"{x:g}" for x in latents])
    ax.minorticks_off()
    ax.set_xlabel("latent size")
    ax.grid(alpha=0.3)


def _lines(ax, rows, metric, by_depth=True, label="", color=None):
    """One line per encoder depth (or one line) of a metric's seed mean against latent size."""
    groups = runs.by_setting(rows, metric)
    depths = sorted({k[0] for k in groups})
    for i, depth in enumerate(depths):
        keys = [k for k in groups if k[0] == depth]
        spreads = [stats.spread(groups[k]) for k in keys]
        ax.errorbar([k[1] for k in keys], [s[0] for s in spreads], yerr=[s[1] for s in spreads], marker="o", capsize=3,
                    color=color or f"C{i}", label=label or f"encoder depth {depth:g}")


def surgery(rows, path):
    """ELBO surgery: mean KL(Q(z|x) || N(0,I)) = information + KL(q || N(0,I)), per latent size (one
    panel each) and encoder depth, split twice: over the training mixture (index-code information,
    at most log N, marked) and over the population (held-out bound; the information is the rest)."""
    latents = sorted({r.x(runs.LATENT) for r in rows})
    depths = sorted({r.x(runs.DEPTH) for r in rows})
    mean = {m: {k: np.mean(v) for k, v in runs.by_setting(rows, m).items()}
            for m in ("mutual_info", "kl_q_prior", runs.POPULATION_INFO, "kl_q_prior_lower_bound")}
    splits = [("training mixture", "mutual_info", "kl_q_prior", "", "index-code information (at most log N)",
               "KL(q_train || N(0,I))"),
              ("population", runs.POPULATION_INFO, "kl_q_prior_lower_bound", "//", "population information",
               "held-out bound on KL(q_pop || N(0,I))")]
    fig, axes = plt.subplots(1, len(latents), figsize=(3.3 * len(latents), 4.2), sharey=True, squeeze=False)
    for ax, latent in zip(axes[0], latents):
        xs = np.arange(len(depths))
        for j, (_, info, kl, hatch, info_label, kl_label) in enumerate(splits):
            at = xs + (j - 0.5) * 0.4
            m = [mean[info].get((d, latent), np.nan) for d in depths]
            k = [mean[kl].get((d, latent), np.nan) for d in depths]
            ax.bar(at, m, 0.38, color="tab:blue", hatch=hatch, edgecolor="white", label=info_label)
            bars = ax.bar(at, k, 0.38, bottom=m, color="tab:orange", hatch=hatch, edgecolor="white", label=kl_label)
            ax.bar_label(bars, labels=[f"{b:.1f}" for b in k], fontsize=6, padding=1)
        ax.axhline(rows[0].log_n, color="black", ls="--", lw=1, label=f"log N = {rows[0].log_n:.2f}")
        ax.set_xticks(xs, [f"{d:g}\ntrain | pop." for d in depths], fontsize=8)
        ax.set_xlabel("encoder depth")
        ax.set_title(f"latent size {latent:g}", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("mean KL(Q(z|x) || N(0,I)) (nats)")
    axes[0][0].legend(fontsize=6.5, loc="upper left")
    fig.suptitle("where the KL term goes: information about x, or mismatch of q with N(0,I); left bar of each pair: "
                 "training mixture, right (hatched): population; orange figure = the KL (mean over seeds)", fontsize=9)
    save_figure(fig, path)


def match(rows, path):
    panels = [("kl_q_prior_lower_bound", "held-out bound on KL(q_pop || N(0,I)) (nats)"),
              ("kl_q_prior", "KL(q_train || N(0,I)) (nats)"),
              (runs.POPULATION_INFO, "population information: avg_kl - bound (nats)"),
              ("active_units", "active units"), ("ks_mean_active", "mean KS statistic, active units (lower = closer)"),
              ("holes_heldout", "holes, held-out threshold (lower = better)")]
    latents = sorted({r.x(runs.LATENT) for r in rows})
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for ax, (metric, title) in zip(axes.flat, panels):
        _lines(ax, rows, metric)
        _latent_axis(ax, latents)
        ax.set_title(title, fontsize=10)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("how well the aggregate posterior matches N(0,I): mean ± sd over seeds")
    save_figure(fig, path)


def samplers(rows, path):
    """Rows: fd to real digits, fd to the reconstructions; one panel per encoder depth; one line
    per sampler (N(0,I), the three fitted densities, q replayed)."""
    depths = sorted({r.x(runs.DEPTH) for r in rows})
    latents = sorted({r.x(runs.LATENT) for r in rows})
    names = {"prior": "N(0,I)", "gmm": "gmm", "flow": "flow", "two_stage": "two_stage", "aggregate": "q replayed"}
    colors = {"prior": "black", "gmm": "tab:blue", "flow": "tab:green", "two_stage": "tab:purple", "aggregate": "grey"}
    fig, axes = plt.subplots(2, len(depths), figsize=(4.6 * len(depths), 7.2), squeeze=False, sharey="row")
    for col, depth in enumerate(depths):
        here = [r for r in rows if r.x(runs.DEPTH) == depth]
        for row, (prefix, label) in enumerate([("fd", "Frechet distance to test digits"),
                                               ("fd_vs_recon", "Frechet distance to reconstructions")]):
            ax = axes[row][col]
            for s, name in names.items():
                _lines(ax, here, f"{prefix}.{s}", label=name, color=colors[s])
            _latent_axis(ax, latents)
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))  # 1, 2, 5, 10, 20, ...
            ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
            ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # labelled minor ticks overlap
            ax.set_ylabel(f"{label}\n(lower is better)" if col == 0 else "")
            ax.set_title(f"encoder depth {depth:g}", fontsize=10)
    axes[0][0].legend(fontsize=8)
    fig.suptitle("does sampling N(0,I) hurt? decoded samples per sampler (mean ± sd over seeds)")
    save_figure(fig, path)
