"""The fit_posterior stage's figures: the aggregate posterior against N(0, I). Each function
draws one PNG from plain numbers and closes its figure."""
from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from ..io.outputs import save_figure

plt.switch_backend("Agg")  # stages and the report draw headless


MAX_DIMS = 10  # per-dimension panels beyond this are unreadable


def _principal_axes(mu):
    """The two leading principal axes of mu (orthonormal, so N(0,I) projects to N(0,I_2))."""
    centred = mu - mu.mean(0)
    _, _, vt = np.linalg.svd(centred[:20_000], full_matrices=False)
    return vt[:2]


def _prior_contours(ax, lim):
    grid = np.linspace(-lim, lim, 200)
    xx, yy = np.meshgrid(grid, grid)
    r2 = xx**2 + yy**2
    # contours at 1, 2 and 3 standard deviations of N(0, I)
    cs = ax.contour(xx, yy, r2, levels=[1, 4, 9], colors="black", linewidths=1, linestyles="--")
    ax.clabel(cs, fmt={1: "1σ", 4: "2σ", 9: "3σ"}, fontsize=8)


def latent_scatter(mu, labels, path, max_points=10_000, seed=0, prior_mu=None):
    """mu of the training set coloured by digit over the contours of N(0, I), or, for a VampPrior,
    with its components' means `prior_mu` (K, d) marked. Codes without labels (priorgap measure on
    another model's codes) are drawn in one colour."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(mu))[:max_points]
    mu = mu[idx]
    labels = None if labels is None else labels[idx]
    d = mu.shape[1]
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    if d == 1:
        groups = (
            [(str(digit), labels == digit) for digit in range(10)] if labels is not None else [("codes", slice(None))]
        )
        for name, rows in groups:
            ax.hist(mu[rows, 0], bins=60, histtype="step", label=name, density=True)
        xs = np.linspace(-4, 4, 200)
        ax.plot(xs, np.exp(-(xs**2) / 2) / np.sqrt(2 * np.pi), "k--", label="N(0,1)")
        ax.set_xlabel("mu")
        ax.set_ylabel("density")
        ax.legend(title="digit", fontsize=7)
    else:
        axes = np.eye(2) if d == 2 else _principal_axes(mu)
        names = ("z1", "z2") if d == 2 else ("first principal axis of mu", "second principal axis")
        xy = mu @ axes.T
        lim = max(3.5, float(np.percentile(np.abs(xy), 99.5)))
        colour = {"s": 2, "alpha": 0.6} | (
            {"c": labels, "cmap": "tab10", "vmin": -0.5, "vmax": 9.5} if labels is not None else {}
        )
        sc = ax.scatter(xy[:, 0], xy[:, 1], **colour)
        if prior_mu is None:
            _prior_contours(ax, lim)
        else:
            pk = prior_mu @ axes.T
            ax.scatter(pk[:, 0], pk[:, 1], marker="x", color="black", s=30, lw=1.2, label="VampPrior component means")
            ax.legend(fontsize=8, loc="upper right")
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        if labels is not None:
            fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    over = "over N(0, I)" if prior_mu is None else f"and the VampPrior's {len(prior_mu)} components"
    sep = "\n" if prior_mu is not None and d > 2 else " "  # one line would run past the figure
    ax.set_title(f"mu of {len(mu)} training codes {over}" + (f"{sep}(PCA projection)" if d > 2 else ""))
    save_figure(fig, path)


def pair_grid(mu, labels, path, dims=5, max_points=3000, seed=0):
    """Pairs of the first latent dimensions of mu (latent size > 2)."""
    k = min(dims, mu.shape[1])
    idx = np.random.default_rng(seed).permutation(len(mu))[:max_points]
    mu = mu[idx]
    colour = {"c": labels[idx], "cmap": "tab10", "vmin": -0.5, "vmax": 9.5} if labels is not None else {}
    fig, axes = plt.subplots(k, k, figsize=(2.2 * k, 2.2 * k), squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if i == j:
                ax.hist(mu[:, i], bins=40, color="grey")
            else:
                ax.scatter(mu[:, j], mu[:, i], s=1, alpha=0.5, **colour)
            ax.tick_params(labelsize=6)
            if i == k - 1:
                ax.set_xlabel(f"z{j + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"z{i + 1}", fontsize=8)
    fig.suptitle(f"mu, first {k} latent dimensions (colour: digit)")
    save_figure(fig, path)


def marginal_histograms(z_q, ks, path, z_prior=None):
    """Each dimension of q (draws) against the N(0, 1) density, or against draws `z_prior` from a
    learned prior's marginals (a VampPrior's have no closed-form picture worth drawing)."""
    k = min(MAX_DIMS, z_q.shape[1])
    cols = min(k, 5)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.6 * rows), squeeze=False)
    xs = np.linspace(-4, 4, 200)
    # N(0, 1)'s picture spans +-4.5; a learned prior spreads as far as its codes do
    span = (-4.5, 4.5) if z_prior is None else (float(np.percentile(z_prior, 0.5)), float(np.percentile(z_prior, 99.5)))
    for j, ax in enumerate(axes.flat):
        if j >= k:
            ax.axis("off")
            continue
        active = ks[j]["active"]
        ax.hist(
            z_q[:, j],
            bins=80,
            range=span,
            density=True,
            color="tab:blue" if active else "tab:gray",
            alpha=0.6,
            label="q",
        )
        if z_prior is None:
            ax.plot(xs, np.exp(-(xs**2) / 2) / np.sqrt(2 * np.pi), "k--", lw=1, label="N(0,1)")
        else:
            ax.hist(
                z_prior[:, j],
                bins=80,
                range=span,
                density=True,
                histtype="step",
                color="black",
                ls="--",
                lw=1,
                label="prior",
            )
        ax.set_title(
            f"z{j + 1}  KS {ks[j]['ks']:.3f}" + ("" if active else " (inactive)"),
            fontsize=9,
            color="black" if active else "tab:gray",
        )
        ax.tick_params(labelsize=7)
        ax.set_xlabel(f"z{j + 1}", fontsize=7)
        if j % cols == 0:
            ax.set_ylabel("density", fontsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle(
        f"marginals of the aggregate posterior vs {'N(0,1)' if z_prior is None else 'the learned prior'}; grey: "
        "inactive units (Var(mu) <= 0.01)"
        + (f" (first {k} of {z_q.shape[1]})" if k < z_q.shape[1] else ""),
        fontsize=10,
    )
    save_figure(fig, path)


def qq_plot(z_q, path, z_prior=None):
    """q's marginal quantiles against N(0, 1)'s, or against those of draws `z_prior` from a
    learned prior, dimension by dimension."""
    from scipy import stats

    k = min(MAX_DIMS, z_q.shape[1])
    probs = (np.arange(1, 200) - 0.5) / 199
    name = "N(0,1)" if z_prior is None else "prior"
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for j in range(k):
        theory = stats.norm.ppf(probs) if z_prior is None else np.quantile(z_prior[:, j], probs)
        ax.plot(theory, np.quantile(z_q[:, j], probs), lw=1.2, label=f"z{j + 1}")
    edge = 3 if z_prior is None else float(np.abs(np.quantile(z_prior, [probs[0], probs[-1]])).max())
    ax.plot([-edge, edge], [-edge, edge], "k--", lw=1, label=name)
    ax.set_xlabel(f"{name} quantile")
    ax.set_ylabel("quantile of q")
    ax.set_title(f"QQ plot of q's marginals against {'N(0,1)' if z_prior is None else 'the learned prior'}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def eigen_spectrum(cov, path):
    eig = np.sort(np.linalg.eigvalsh(cov))[::-1]
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    ax.plot(np.arange(1, len(eig) + 1), eig, "o-", label="Cov(q) eigenvalues")
    ax.axhline(1.0, color="black", ls="--", lw=1, label="N(0, I)")
    ax.set_yscale("log")
    lo, hi = min(eig.min(), 1.0), max(eig.max(), 1.0)
    ax.set_ylim(lo / 2, hi * 2)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    # within one decade the major ticks alone would show a single "1": label the minor ones too
    minor = matplotlib.ticker.FormatStrFormatter("%g") if hi / lo < 10 else matplotlib.ticker.NullFormatter()
    ax.yaxis.set_minor_formatter(minor)
    if len(eig) <= 10:
        for rank, value in enumerate(eig, start=1):
            ax.annotate(
                f"{value:.3g}", (rank, value), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8
            )
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue")
    ax.set_title("covariance spectrum of the aggregate posterior")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    save_figure(fig, path)


def capacity_curve(curves: list[dict], scores: dict, metrics: dict, path):
    """The held-out gain (test codes, with 2 standard errors) at each capacity tried, beside the
    gain of every density without a grid, and the bound the validation codes chose."""
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name in dict.fromkeys(r["density"] for r in curves):
        rows = [r for r in curves if r["density"] == name]
        x = [r["capacity"] for r in rows]
        ax.errorbar(
            x,
            [r["heldout_gain"] for r in rows],
            yerr=[2 * r["heldout_gain_se"] for r in rows],
            marker="o",
            capsize=3,
            label=f"{name}: test codes",
        )
        ax.plot(x, [r["val_gain"] for r in rows], marker="x", linestyle=":", label=f"{name}: validation codes")
        ax.set_xscale("log")
        ax.set_xticks(x, [str(c) for c in x])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    for i, (name, sc) in enumerate(s for s in scores.items() if "curve" not in s[1] and s[0] != "prior"):
        ax.axhline(sc["heldout_gain"], color=f"C{i + 2}", linewidth=1, linestyle="--", label=f"{name} (no grid)")
    saturated = {True: "saturated", False: "NOT saturated", None: "saturation unknown (one capacity)"}[
        metrics["bound_saturated"]
    ]
    last = curves[-1] if curves and curves[-1]["step"] is not None else None
    step = f"\nlast capacity step {last['step']:+.3f} ± {last['step_se']:.3f} nats (paired)" if last else ""
    ax.set_title(
        f"bound {metrics['kl_q_prior_lower_bound']:.3f} ± {metrics['kl_q_prior_lower_bound_se']:.3f} nats "
        f"({metrics['kl_q_prior_lower_bound_density']}, {saturated}){step}",
        fontsize=10,
    )
    ax.set_xlabel("capacity (mixture components)")
    ax.set_ylabel("held-out gain over N(0,I) (nats)")
    ax.legend(fontsize=8)
    save_figure(fig, path)
