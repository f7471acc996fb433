"""The evaluate stage's figures: decoded samples and how each sampler scores."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..common.outputs import save_figure

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
    save_figure(fig, path)
