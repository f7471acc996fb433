"""The evaluate stage's figures: decoded samples and how each sampler scores."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..io.outputs import save_figure

plt.switch_backend("Agg")  # stages and the report draw headless


def tile(images, nrow: int = 10, padding: int = 2, pad_value: float = 0.5) -> np.ndarray:
    """The first nrow^2 images (N, 784) as one (H, W) array, `padding` pixels of `pad_value`
    around every cell: torchvision's make_grid, without importing torchvision (1.1 s per stage)."""
    x = np.asarray(images[: nrow * nrow], dtype=np.float32).reshape(-1, 28, 28)
    cols = min(nrow, len(x))
    rows = -(-len(x) // cols)
    cells = np.full((rows * cols, 28 + padding, 28 + padding), pad_value, dtype=np.float32)
    cells[: len(x), padding:, padding:] = x  # each cell: its top and left gap, then the digit
    grid = cells.reshape(rows, cols, 28 + padding, 28 + padding).transpose(0, 2, 1, 3)
    grid = grid.reshape(rows * (28 + padding), cols * (28 + padding))
    return np.pad(grid, ((0, padding), (0, padding)), constant_values=pad_value)  # the bottom and right gaps


def sample_grid(images, path, title, nrow=10):
    """The first nrow^2 images (N, 784) in [0, 1] as one grid, white digits on black as MNIST
    stores them, grey gaps between cells."""
    fig, ax = plt.subplots(figsize=(5.2, 5.6))
    ax.imshow(tile(images, nrow), cmap="gray", vmin=0, vmax=1)
    ax.set_title(title, fontsize=10)
    ax.axis("off")
    save_figure(fig, path)


def save_grids(images: dict, path, n: int = 100) -> None:
    """The images each grid shows, as 8-bit pixels in one compressed file (about 30 KB a sampler):
    what a study run's record keeps, so that a later report can draw them without the model."""
    np.savez_compressed(path, **{name: np.rint(np.asarray(x[:n], dtype=np.float32).reshape(-1, 28, 28) * 255)
                                 .clip(0, 255).astype(np.uint8) for name, x in images.items()})


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
    for j, (key, color) in enumerate(
        [("precision", "tab:green"), ("recall", "tab:orange"), ("coverage", "tab:purple")]
    ):
        vals = [rows[n]["vs_recon"][key] for n in samplers]
        bars = axes[2].barh(ys[: len(samplers)] + (j - 1) * width, vals, height=width, color=color, label=key)
        axes[2].bar_label(bars, fmt="%.2f", fontsize=6, padding=2)
    axes[2].set_xlim(0, 1.15)
    axes[2].set_xlabel("vs reconstructions: precision, recall, coverage (higher is better)")
    axes[2].legend(fontsize=8, ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0))
    axes[2].grid(alpha=0.3, axis="x")
    fig.suptitle("decoded samples of each latent density (N(0,I) = prior)")
    save_figure(fig, path)


def hole_profile(rows: list[dict], chosen: str, path):
    """Precision against real digits and against the reconstructions, per bin of
    r = log g - log p, for the prior's draws and the fitted density's, with 95% intervals."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6), sharex=True)
    labels = [f"[{_nats(r['r_low'])}, {_nats(r['r_high'])})" for r in rows if r["sampler"] == "prior"]
    xs = np.arange(len(labels))
    for ax, ref, title in zip(axes, ("real", "vs_recon"), ("against real test digits", "against the reconstructions")):
        for j, (sampler, colour, name) in enumerate(
            [("prior", "tab:red", "N(0,I) draws"), ("fitted", "tab:blue", f"{chosen} draws")]
        ):
            here = [r for r in rows if r["sampler"] == sampler]
            p = np.array(
                [np.nan if r[f"precision_{ref}"] is None else r[f"precision_{ref}"] for r in here], dtype=float
            )
            lo = np.array(
                [np.nan if r[f"precision_{ref}_low"] is None else r[f"precision_{ref}_low"] for r in here], dtype=float
            )
            hi = np.array(
                [np.nan if r[f"precision_{ref}_high"] is None else r[f"precision_{ref}_high"] for r in here],
                dtype=float,
            )
            x = xs + (j - 0.5) * 0.25
            ax.errorbar(x, p, yerr=[p - lo, hi - p], fmt="o", color=colour, capsize=3, label=name)
            for xi, r in zip(x, here):
                ax.annotate(
                    f"{r['share']:.0%}",
                    (xi, 0),
                    xycoords=("data", "axes fraction"),
                    xytext=(0, 3 + 13 * j),
                    textcoords="offset points",
                    ha="center",
                    fontsize=10,
                    color=colour,
                )
        ax.set_xticks(xs, labels, rotation=20, fontsize=10)
        ax.set_title(f"precision {title}", fontsize=11)
        ax.grid(alpha=0.3)
    # one label under both panels: one under each ran into its neighbour
    fig.supxlabel(
        f"bin of r = log {chosen}(z) - log p(z) (nats); at the bottom of each panel: each sampler's share of "
        "its draws in the bin",
        fontsize=10,
    )
    axes[0].set_ylabel("precision (95% interval)", fontsize=10)
    axes[0].legend(fontsize=10)
    fig.suptitle(
        "which draws land on the digits: by how rare q is where they fall (left bins: prior holes)", fontsize=11
    )
    save_figure(fig, path)


def _nats(x: float) -> str:
    return "-inf" if x == -np.inf else "inf" if x == np.inf else f"{x:.2g}"


def hole_draws(deep, dense, r_deep, r_dense, chosen: str, path):
    """The prior's decoded draws from its deepest holes beside those from where q is densest."""
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 5.8))
    for ax, images, r, what in (
        (axes[0], deep, r_deep, "deepest holes"),
        (axes[1], dense, r_dense, "where q is densest"),
    ):
        ax.imshow(tile(images, nrow=10), cmap="gray", vmin=0, vmax=1)
        ax.set_title(
            f"N(0,I) draws from the {what}\nr = log {chosen} - log p from {float(r.min()):.1f} to "
            f"{float(r.max()):.1f} nats",
            fontsize=10,
        )
        ax.axis("off")
    save_figure(fig, path)


def thread_picture(test_mu, labels, g, prior, chosen: str, grids: dict, path, holes_below: float = np.log(0.1)):
    """The Q&A thread's picture: the test codes (their means) coloured by digit over the 1, 2 and 3
    sigma circles of N(0,I) and the density contours of g, the prior's holes (log g - log p below
    log 1/10) shaded; beside it one grid of decoded draws per sampler and the reconstructions. At
    latent size > 2 the plane is spanned by the two directions of q's largest spread, through q's
    mean: the circles are N(0,I)'s marginal there, g's contours and the holes its slice."""
    import torch

    mu = test_mu.double()
    mean = mu.mean(0)
    d = mu.shape[1]
    if d == 2:
        basis = torch.eye(2, dtype=torch.float64)
    else:
        basis = torch.linalg.eigh(torch.cov(mu.T))[1][:, [-1, -2]].T  # the two largest directions, (2, d)
    xy = ((mu - mean) @ basis.T).numpy() if d > 2 else mu.numpy()
    span = float(max(3.5, np.abs(xy).max() * 1.05))
    t = np.linspace(-span, span, 161)
    gx, gy = np.meshgrid(t, t)
    plane = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], 1))
    z = (mean + plane @ basis) if d > 2 else plane
    log_g = g.log_prob(z.float()).double().numpy().reshape(gx.shape)
    r = log_g - prior.log_prob(z.float()).double().numpy().reshape(gx.shape)

    names = list(grids)
    cols = 4
    rows = -(-len(names) // cols)
    fig = plt.figure(figsize=(8 + 2.6 * cols, max(7.0, 2.9 * rows)))
    spec = fig.add_gridspec(rows, cols + 3)
    ax = fig.add_subplot(spec[:, :3])
    ax.contourf(gx, gy, (r < holes_below).astype(float), levels=[0.5, 1.5], colors=["0.85"])
    points = ax.scatter(xy[:, 0], xy[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6, vmin=-0.5, vmax=9.5)
    ax.contour(
        gx,
        gy,
        log_g,
        levels=np.quantile(log_g, [0.6, 0.8, 0.9, 0.97]),
        colors="tab:blue",
        linewidths=1,
        linestyles="solid",
    )
    for k in (1, 2, 3):
        ax.add_patch(
            plt.Circle(
                (0, 0) if d == 2 else tuple((-mean @ basis.T).tolist()),
                k,
                fill=False,
                color="black",
                linestyle="--",
                linewidth=1,
            )
        )
    ax.set_xlim(-span, span)
    ax.set_ylim(-span, span)
    ax.set_aspect("equal")
    where = "z" if d == 2 else "the two directions of q's largest spread"
    ax.set_xlabel(f"{where} (1st)" if d > 2 else "z1", fontsize=10)
    ax.set_ylabel(f"{where} (2nd)" if d > 2 else "z2", fontsize=10)
    ax.set_title(
        f"test codes by digit; dashed: N(0,I) at 1, 2, 3 sd; blue: {chosen} density;\n"
        f"grey: prior holes ({chosen} 10 times rarer than N(0,I))",
        fontsize=10,
    )
    fig.colorbar(points, ax=ax, ticks=range(10), shrink=0.6, label="digit")
    for i, name in enumerate(names):
        sub = fig.add_subplot(spec[i // cols, 3 + i % cols])
        sub.imshow(tile(grids[name], nrow=8), cmap="gray", vmin=0, vmax=1)
        sub.set_title(name, fontsize=10)
        sub.axis("off")
    save_figure(fig, path)
