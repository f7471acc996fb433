"""The report's figures: every difference a verdict rests on drawn with its 95% interval, text at
10 pt or more, one question per figure."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from ..io.outputs import save_figure
from ..analysis import depth, latent_size, learned_prior, stats
from ..study import runs
from ..analysis.prior_sampling import MEASURES

plt.switch_backend("Agg")  # stages and the report draw headless

plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
                     "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.titlesize": 13})
DEPTH_COLOURS = {1: "tab:blue", 2: "tab:green", 3: "tab:orange"}
BETA_MARKERS = {0.5: "^", 1.0: "o", 2.0: "v"}


def _mean_ci(values: list[float]) -> tuple[float, float]:
    m, sd, n = stats.spread(values)
    return m, (stats.t_quantile(n - 1) * sd / np.sqrt(n) if n > 1 else 0.0)


def _latent_axis(ax, latents):
    if not latents:
        ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
        return
    ax.set_xscale("log")
    ax.set_xticks(latents, [f"{x:g}" for x in latents])
    ax.minorticks_off()
    ax.set_xlabel("latent size")
    ax.grid(alpha=0.3)


def _log_y(ax):
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1, 2, 5)))  # 1, 2, 5, 10, 20, ...
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _whiskers(ax, ys, diffs, labels, colour="black", hollow=False):
    """Differences with their 95% intervals, one per row, zero marked."""
    for y, d in zip(ys, diffs):
        if d is None or not d.decided:
            continue
        ax.errorbar(d.diff, y, xerr=[[d.diff - d.low], [d.high - d.diff]], fmt="o", color=colour, capsize=4,
                    mfc="white" if hollow else colour)
    ax.axvline(0, color="grey", lw=1)
    ax.set_yticks(ys, labels)
    ax.grid(alpha=0.3, axis="x")


def rate_distortion(claim: depth.DepthClaim, rows: list[runs.Row], epochs: int, path) -> None:
    """Per matched latent size: the bound and the distortion against the rate, one line per depth."""
    panels = [
        (depth.BOUND, "held-out bound on KL(q || prior) (nats)"),
        (depth.DISTORTION, "distortion: -E log p(x|z) (nats)"),
    ]
    fig, axes = plt.subplots(
        2, max(len(claim.matched), 1), figsize=(6.5 * max(len(claim.matched), 1), 10), squeeze=False
    )
    if not claim.matched:
        for ax in axes.flat:
            ax.text(
                0.5,
                0.5,
                "no matched comparison yet:\n" + "\n".join(claim.missing),
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
    for col, m in enumerate(claim.matched):
        for row, (measure, label) in enumerate(panels):
            ax = axes[row][col]
            for d in depth.DEPTHS:
                here = runs.where(rows, depth=d, latent=m.latent, epochs=epochs, prior="normal", width=runs.GRID_WIDTH)
                for r in here:
                    if r.metrics.get(measure) is None:
                        continue
                    warm = r.key.warmup > 0
                    ax.plot(
                        r.metrics[depth.RATE],
                        r.metrics[measure],
                        "s" if warm else BETA_MARKERS.get(r.key.beta, "D"),
                        color=DEPTH_COLOURS[d],
                        mfc="none" if warm else DEPTH_COLOURS[d],
                        ms=8,
                        alpha=0.85,
                    )
                line = m.lines.get(measure)
                if line is not None:
                    xs = np.array([r.metrics[depth.RATE] for r in here if r.key.warmup == 0])
                    a, b = line.coef[d]
                    grid = np.linspace(xs.min(), xs.max(), 20)
                    ax.plot(grid, a + b * (grid - line.x0), color=DEPTH_COLOURS[d], lw=1.5, label=f"encoder depth {d}")
            ax.axvline(m.rate, color="grey", ls="--", lw=1, label=f"matched rate {m.rate:.1f} nats")
            diff = m.diffs.get(measure)
            title = f"latent size {m.latent}" + (
                f": depth 3 - depth 1 = {diff.fmt()} at the matched rate" if diff else ""
            )
            ax.set_title(title, fontsize=11)
            ax.set_xlabel("rate: mean KL(Q(z|x) || prior), test set (nats)")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    handles = [
        plt.Line2D([], [], marker=BETA_MARKERS[b], ls="", color="grey", ms=8, label=f"beta {b:g}") for b in BETA_MARKERS
    ]
    handles.append(plt.Line2D([], [], marker="s", ls="", color="grey", mfc="none", ms=8, label="KL warm-up (beta 1)"))
    axes[0][0].legend(handles=axes[0][0].get_legend_handles_labels()[0] + handles, loc="best")
    fig.suptitle(
        "claim 1 at matched rate: each depth's curve on the rate-distortion plane (a line per depth "
        "through its runs; 95% intervals in the titles)"
    )
    save_figure(fig, path)


def depth_at_beta1(claim: depth.DepthClaim, path) -> None:
    """Depth 3 minus depth 1 at beta = 1, per latent size: what changes with depth, with its interval."""
    measures = [
        (depth.RATE, "rate (test KL)"),
        (depth.BOUND, "held-out bound"),
        (runs.POPULATION_INFO, "population information"),
        ("test_elbo", "test ELBO"),
        ("active_units", "active units"),
    ]
    fig, axes = plt.subplots(1, len(measures), figsize=(3.2 * len(measures), 4.4), sharey=True)
    for ax, (m, label) in zip(axes, measures):
        found = [c for c in claim.at_beta1 if c.measure == m]
        _whiskers(ax, range(len(found)), [c.diff for c in found], [c.within for c in found])
        ax.set_title(label)
        ax.set_xlabel("depth 3 - depth 1")
    fig.suptitle("claim 1 at beta = 1: depth 3 minus depth 1 (difference of seed means, 95% t interval)")
    save_figure(fig, path)


def latent_trend(rows: list[runs.Row], epochs: int, path) -> None:
    grid = latent_size.with_info_per_unit([r for r in rows if r.part(epochs) == "grid"])
    panels = [
        (latent_size.KS, "per-dimension match:\nmean KS, active units"),
        ("kl_q_prior_lower_bound", "joint match:\nheld-out bound (nats)"),
        ("gaussian_kl", "joint match of 2 moments:\nGaussian KL (nats)"),
        ("active_units", "active units"),
        (latent_size.INFO_PER_UNIT, "population information\nper active unit (nats)"),
    ]
    latents = sorted({r.key.latent for r in grid})
    fig, axes = plt.subplots(1, len(panels), figsize=(3.3 * len(panels), 4.6))
    for ax, (m, label) in zip(axes, panels):
        for d in sorted({r.key.depth for r in grid}):
            pts = [
                (z, *_mean_ci(runs.values(runs.where(grid, depth=d, latent=z), m)))
                for z in latents
                if runs.values(runs.where(grid, depth=d, latent=z), m)
            ]
            ax.errorbar(
                [p[0] for p in pts],
                [p[1] for p in pts],
                yerr=[p[2] for p in pts],
                marker="o",
                capsize=4,
                color=DEPTH_COLOURS[d],
                label=f"encoder depth {d}",
            )
        _latent_axis(ax, latents)
        ax.set_title(label)
    axes[0].legend()
    fig.suptitle("claim 4, latent size, as a trend over every size (mean over seeds, 95% t interval)")
    save_figure(fig, path)


def samplers(results, path) -> None:
    """The prior, the best fitted density and the floor, per latent size, against real digits (top)
    and the reconstructions (bottom)."""
    rows = [("fd", "precision", "recall"), ("fd_vs_recon", "precision_vs_recon", "recall_vs_recon")]
    latents = [s.latent for s in results]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9.5))
    for i, measures in enumerate(rows):
        for j, m in enumerate(measures):
            ax = axes[i][j]
            here = [s for s in results if m in s.diffs]
            for name, values, colour in (("prior", "prior", "black"), ("best fitted density", "best", "tab:blue")):
                ax.plot(
                    [s.latent for s in here],
                    [getattr(s, values)[m] for s in here],
                    marker="o",
                    color=colour,
                    label=name,
                )
            ax.plot(
                [s.latent for s in here],
                [s.floor[m] for s in here],
                ls="--",
                marker="x",
                color="grey",
                label="floor: real digits" if i == 0 else "floor: q replayed",
            )
            for s in here:  # the paired difference's interval, drawn on the prior's point
                d = s.diffs[m]
                ax.errorbar(s.latent, s.prior[m], yerr=[[d.diff - d.low], [d.high - d.diff]], color="black", capsize=4)
            _latent_axis(ax, latents)
            if m.startswith("fd") and here:
                _log_y(ax)
            better = "higher" if MEASURES[m][1] else "lower"
            ax.set_title(f"{MEASURES[m][0]}\n({better} is better)")
    axes[0][0].legend()
    axes[1][0].legend()
    fig.suptitle(
        "does sampling the prior hurt? means over the runs of each latent size; the bar on the prior's point is the "
        "95% interval of its paired difference to the best density"
    )
    save_figure(fig, path)


def prior_comparison(results: list[learned_prior.PriorComparison], path) -> None:
    """Learned prior against N(0,I) and ex post: ELBO differences with intervals, and samples."""
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    labels, diffs = [], []
    for c in results:
        for name, key in (
            ("VampPrior - N(0,I): test ELBO", "test_elbo"),
            ("VampPrior - N(0,I) ex post: ELBO", "joint_vs_expost"),
            ("ex post over VampPrior: bound", "expost_gain_learned"),
        ):
            labels.append(f"z={c.latent}: {name}")
            diffs.append(c.diffs.get(key))
    _whiskers(axes[0], range(len(diffs)), diffs, labels)
    axes[0].set_xlabel("nats (95% interval; positive: the first is better)")
    nll = [c.diffs.get("iwae_nll") for c in results]
    _whiskers(axes[1], range(len(nll)), nll, [f"latent size {c.latent}" for c in results])
    axes[1].set_xlabel("IWAE NLL, VampPrior - N(0,I) (nats; negative: VampPrior better)")
    for i, (model, label, colour) in enumerate((("normal", "N(0,I)", "black"), ("learned", "VampPrior", "tab:red"))):
        for which, ls in (("prior", "-"), ("best", "--")):
            pts = [(c.latent, c.mean.get((model, f"fd.{which}"))) for c in results if (model, f"fd.{which}") in c.mean]
            axes[2].plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                marker="o",
                ls=ls,
                color=colour,
                label=f"{label}: {'its prior' if which == 'prior' else 'best fitted density'}",
            )
    _latent_axis(axes[2], [c.latent for c in results])
    if results:
        _log_y(axes[2])
    axes[2].set_title("Frechet distance to test digits (lower is better)")
    axes[2].legend()
    fig.suptitle(
        "what to do instead: a VampPrior learned with the model against N(0,I) with a density fitted ex post (depth 2)"
    )
    save_figure(fig, path)


def answers(found: list, path, title: str) -> None:
    """One panel per row of the answer table (answer.Answer): each difference its verdict reads,
    with its 95% interval, and zero. Rows of different units get panels of their own."""
    import textwrap

    shown = [a for a in found if a.diffs]
    fig, axes = plt.subplots(
        1,
        max(len(shown), 1),
        figsize=(5.2 * max(len(shown), 1), 2.4 + 0.55 * max([len(a.diffs) + len(a.upper) for a in shown] or [1])),
        squeeze=False,
    )
    for ax, a in zip(axes[0], shown):
        # a row about q: the bracket's upper end beside the bound, hollow, below it
        rows = a.diffs + [(f"{w}, upper end", d) for w, d in a.upper]
        ys = list(range(len(rows)))[::-1]
        _whiskers(ax, ys[: len(a.diffs)], [d for _, d in a.diffs], [])
        if a.upper:
            _whiskers(ax, ys[len(a.diffs) :], [d for _, d in a.upper], [], colour="tab:blue", hollow=True)
        ax.set_yticks(ys, [w for w, _ in rows])
        ax.set_xlabel(
            "\n".join(
                textwrap.wrap(a.rests_on + ("; hollow: the training mixture's KL (upper end)" if a.upper else ""), 42)
            )
        )
        ax.set_title("\n".join(textwrap.wrap(a.short, 44) + textwrap.wrap(f"verdict: {a.verdict}", 50)), fontsize=11)
        ax.set_ylim(-0.7, len(rows) - 0.3)
    if not shown:
        axes[0][0].text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=axes[0][0].transAxes)
        axes[0][0].axis("off")
    fig.suptitle(title)
    save_figure(fig, path)


