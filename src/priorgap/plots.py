"""Figures. Each function draws one PNG from plain numbers and closes its figure."""
from __future__ import annotations

import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")  # stages run headless
import matplotlib.pyplot as plt  # noqa: E402


def _save(fig, path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def learning_curves(history: list[dict], path) -> None:
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (key, title) in zip(axes, [("elbo", "ELBO (nats, higher is better)"),
                                        ("recon", "reconstruction -log p(x|z)"),
                                        ("kl", "KL(Q(z|x) || N(0,I))")]):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], label="train (dynamic binarisation)")
        ax.plot(epochs, [r[f"val_{key}"] for r in history], label="validation (fixed binarisation)")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].legend()
    _save(fig, path)


# --- the aggregate posterior against N(0, I) ----------------------------------------------------

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


def latent_scatter(mu, labels, path, max_points=10_000, seed=0):
    """mu of the training set coloured by digit over the contours of N(0, I)."""
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(mu))[:max_points]
    mu, labels = mu[idx], labels[idx]
    d = mu.shape[1]
    fig, ax = plt.subplots(figsize=(6.4, 5.6))
    if d == 1:
        for digit in range(10):
            ax.hist(mu[labels == digit, 0], bins=60, histtype="step", label=str(digit), density=True)
        xs = np.linspace(-4, 4, 200)
        ax.plot(xs, np.exp(-xs**2 / 2) / np.sqrt(2 * np.pi), "k--", label="N(0,1)")
        ax.set_xlabel("mu")
    else:
        if d == 2:
            xy, names = mu, ("z1", "z2")
        else:
            xy, names = mu @ _principal_axes(mu).T, ("first principal axis of mu", "second principal axis")
        lim = max(3.5, float(np.percentile(np.abs(xy), 99.5)))
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6, vmin=-0.5, vmax=9.5)
        _prior_contours(ax, lim)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
        fig.colorbar(sc, ax=ax, ticks=range(10), label="digit")
    ax.set_title(f"mu of {len(mu)} training codes over N(0, I)" + (" (PCA projection)" if d > 2 else ""))
    _save(fig, path)


def pair_grid(mu, labels, path, dims=5, max_points=3000, seed=0):
    """Pairs of the first latent dimensions of mu (latent size > 2)."""
    k = min(dims, mu.shape[1])
    idx = np.random.default_rng(seed).permutation(len(mu))[:max_points]
    mu, labels = mu[idx], labels[idx]
    fig, axes = plt.subplots(k, k, figsize=(2.2 * k, 2.2 * k), squeeze=False)
    for i in range(k):
        for j in range(k):
            ax = axes[i, j]
            if i == j:
                ax.hist(mu[:, i], bins=40, color="grey")
            else:
                ax.scatter(mu[:, j], mu[:, i], c=labels, cmap="tab10", s=1, alpha=0.5, vmin=-0.5, vmax=9.5)
            ax.tick_params(labelsize=6)
            if i == k - 1:
                ax.set_xlabel(f"z{j + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"z{i + 1}", fontsize=8)
    fig.suptitle(f"mu, first {k} latent dimensions (colour: digit)")
    _save(fig, path)


def marginal_histograms(z_q, ks, path):
    """Each dimension of q (draws) against the N(0, 1) density."""
    k = min(MAX_DIMS, z_q.shape[1])
    cols = min(k, 5)
    rows = -(-k // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 2.6 * rows), squeeze=False)
    xs = np.linspace(-4, 4, 200)
    for j, ax in enumerate(axes.flat):
        if j >= k:
            ax.axis("off")
            continue
        active = ks[j]["active"]
        ax.hist(z_q[:, j], bins=80, range=(-4.5, 4.5), density=True, color="tab:blue" if active else "tab:gray",
                alpha=0.6, label="q")
        ax.plot(xs, np.exp(-xs**2 / 2) / np.sqrt(2 * np.pi), "k--", lw=1, label="N(0,1)")
        ax.set_title(f"z{j + 1}  KS {ks[j]['ks']:.3f}" + ("" if active else " (inactive)"), fontsize=9,
                     color="black" if active else "tab:gray")
        ax.tick_params(labelsize=7)
        ax.set_xlabel(f"z{j + 1}", fontsize=7)
        if j % cols == 0:
            ax.set_ylabel("density", fontsize=7)
    axes.flat[0].legend(fontsize=7)
    fig.suptitle("marginals of the aggregate posterior vs N(0,1); grey: inactive units (Var(mu) <= 0.01)"
                 + (f" (first {k} of {z_q.shape[1]})" if k < z_q.shape[1] else ""), fontsize=10)
    _save(fig, path)


def qq_plot(z_q, path):
    from scipy import stats

    k = min(MAX_DIMS, z_q.shape[1])
    probs = (np.arange(1, 200) - 0.5) / 199
    theory = stats.norm.ppf(probs)
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for j in range(k):
        ax.plot(theory, np.quantile(z_q[:, j], probs), lw=1.2, label=f"z{j + 1}")
    ax.plot([-3, 3], [-3, 3], "k--", lw=1, label="N(0,1)")
    ax.set_xlabel("N(0,1) quantile")
    ax.set_ylabel("quantile of q")
    ax.set_title("QQ plot of q's marginals against N(0,1)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _save(fig, path)


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
            ax.annotate(f"{value:.3g}", (rank, value), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("rank")
    ax.set_ylabel("eigenvalue")
    ax.set_title("covariance spectrum of the aggregate posterior")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    _save(fig, path)


# --- samples and their quality ------------------------------------------------------------------


def sample_grid(images, path, title, nrow=10):
    """The first nrow^2 images (N, 784) in [0, 1] as one grid (torchvision's make_grid), white
    digits on black as MNIST stores them, grey gaps between cells."""
    import torch
    from torchvision.utils import make_grid

    grid = make_grid(torch.as_tensor(images[: nrow * nrow]).reshape(-1, 1, 28, 28), nrow=nrow, padding=2, pad_value=0.5)
    fig, ax = plt.subplots(figsize=(5.2, 5.6))
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    _save(fig, path)


def sampler_comparison(rows: dict, references: dict, path):
    """Frechet distance per sampler against real digits and against the decoder's own
    reconstructions, and precision / recall / coverage against the reconstructions."""
    names = list(rows) + list(references)
    values = {**rows, **references}
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6), sharey=True)
    colors = ["tab:blue"] * len(rows) + ["grey"] * len(references)
    ys = np.arange(len(names))
    panels = [(lambda r: r["fd"], "FD to real test digits (lower is better)"),
              (lambda r: r.get("vs_recon", {}).get("fd", np.nan), "FD to the reconstructions (lower is better)")]
    for ax, (get, label) in zip(axes, panels):
        vals = [get(values[n]) for n in names]
        ax.barh(ys, np.nan_to_num(vals), color=colors)
        for i, v in enumerate(vals):
            if np.isfinite(v):
                ax.annotate(f"{v:.1f}", (v, i), textcoords="offset points", xytext=(3, -3), fontsize=8)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3, axis="x")
    axes[0].set_yticks(ys, names)
    axes[0].invert_yaxis()
    axes[0].set_title("grey: references (floor = test vs training images)", fontsize=9)
    axes[1].set_title("isolates the latent mismatch from the decoder's blur", fontsize=9)
    width = 0.27
    samplers = list(rows)
    for j, (key, color) in enumerate([("precision", "tab:green"), ("recall", "tab:orange"), ("coverage", "tab:purple")]):
        vals = [rows[n]["vs_recon"][key] for n in samplers]
        bars = axes[2].barh(ys[: len(samplers)] + (j - 1) * width, vals, height=width, color=color, label=key)
        axes[2].bar_label(bars, fmt="%.2f", fontsize=6, padding=2)
    axes[2].set_xlim(0, 1.15)
    axes[2].set_xlabel("vs reconstructions: precision, recall, coverage (higher is better)")
    axes[2].legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    axes[2].grid(alpha=0.3, axis="x")
    fig.suptitle("decoded samples of each latent density (N(0,I) = prior)")
    _save(fig, path)


# --- the study across experiments ---------------------------------------------------------------


def _by_latent_size(ax, rows, metric, label_prefix="", style="-", color=None):
    """One line per encoder depth: mean over seeds against latent size, bars = standard deviation."""
    from .study import DEPTH, LATENT, summary

    stats = summary(rows, metric, (DEPTH, LATENT))
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
    metrics = [("fit_posterior.kl_q_p", "KL(q || N(0,I)) (nats)"), ("fit_posterior.kl_p_q", "KL(N(0,I) || q) (nats)"),
               ("fit_posterior.mutual_info", "index-code mutual information (nats)"),
               ("fit_posterior.active_units", "active units"), ("fit_posterior.holes", "holes (share of prior draws)"),
               ("fit_posterior.ks_mean", "mean KS statistic per dimension")]
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    for ax, (metric, title) in zip(axes.flat, metrics):
        _by_latent_size(ax, rows, metric)
        ax.set_title(title, fontsize=10)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("how well the aggregate posterior matches N(0,I): mean ± sd over seeds")
    _save(fig, path)


def study_samplers(rows, path, samplers=("prior", "gmm", "aggregate")):
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    for ax, (key, title) in zip(axes, [("fd", "Frechet distance (lower is better)"), ("precision", "precision"),
                                       ("recall", "recall")]):
        for j, sampler in enumerate(samplers):
            _by_latent_size(ax, rows, f"evaluate.{sampler}.{key}", f"{sampler}, ", ("-", "--", ":")[j % 3], None)
        ax.set_title(title, fontsize=10)
    axes[0].legend(fontsize=7)
    fig.suptitle("decoded samples against the test set: N(0,I) vs fitted densities")
    _save(fig, path)
