"""The train stage's figure: learning curves from its per-epoch history."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ..io.outputs import save_figure

plt.switch_backend("Agg")  # stages and the report draw headless


def learning_curves(history: list[dict], path) -> None:
    epochs = [r["epoch"] for r in history]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, (key, title) in zip(axes, [("elbo", "ELBO (nats, higher is better)"),
                                        ("recon", "reconstruction -log p(x|z) (lower is better)"),
                                        ("kl", "KL(Q(z|x) || N(0,I))")]):
        ax.plot(epochs, [r[f"train_{key}"] for r in history], label="train (dynamic binarisation)")
        ax.plot(epochs, [r[f"val_{key}"] for r in history], label="validation (fixed binarisation)")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per image")
        ax.grid(alpha=0.3)
    axes[0].legend()
    save_figure(fig, path)
