"""The thread's own picture: the asker's plot (test codes coloured by digit over N(0,I)'s circles) for
the asker's encoder and with the third layer, beside decoded reconstructions, N(0,I) draws and the
chosen density's draws."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ..io.outputs import save_figure
from ..study import record, runs
from ..summary import headline
from . import study_figures  # noqa: F401  (the headless backend and the house style this figure is drawn in)

FILE = "study_thread.png"
GRID = 8  # the picture shows 8 x 8 images a panel
DRAWS = GRID**2
PICTURED = ("d2-z2-s0", "d3-z2-s0")  # the asker's 2 x 500 encoder, and with the third layer


def lines(pictures: list[dict]) -> list[str]:
    shown = ", ".join(p["name"] for p in pictures) or "none yet"
    return [
        "## The thread's picture",
        "",
        "The asker's plot, for the asker's encoder (2 x 500) and with the third layer (3 x 500), latent size 2, seed 0 "
        f"(runs: {shown}): the test set's codes coloured by digit over N(0,I)'s 1, 2 and 3 sd circles; beside them "
        f"the decoder's reconstructions of the first {DRAWS} test digits, {DRAWS} draws from N(0,I), and "
        f"{DRAWS} from the density the validation codes chose, decoded.",
        "",
        f"![the thread's picture]({FILE})",
        "",
    ]


def pictures(rows: list[runs.Row], folder: Path) -> list[dict]:
    """The thread's picture's data, from the records of PICTURED that have their test codes."""
    by_name = {r.name: r for r in rows}
    out = []
    for name in PICTURED:
        codes, grids = folder / name / record.CODES_FILE, folder / name / record.GRIDS_FILE
        if name not in by_name or not (codes.is_file() and grids.is_file()):
            continue
        best = headline.best_fitted(by_name[name].metrics)
        with np.load(codes) as c, np.load(grids) as g:
            shown = {"reconstructions": "reconstruction", "N(0,I) draws": "prior", f"{best} draws": best}
            out.append(
                {
                    "name": name,
                    "mu": c["mu"],
                    "labels": c["labels"],
                    "grids": {
                        label: g[key].reshape(len(g[key]), -1) / record.GREY_LEVELS for label, key in shown.items()
                    },
                }
            )
    return out


def figure(pictures: list[dict], path) -> None:
    """The thread's own picture, from the runs' records at latent size 2: the test codes coloured by
    digit over N(0,I)'s 1, 2 and 3 sd circles, and beside them the decoded grids (the
    reconstructions, the prior's draws, the chosen density's draws), one row per run."""
    from ..samples.sample_figures import tile

    if not pictures:
        fig, ax = plt.subplots(figsize=(6, 2))
        ax.text(0.5, 0.5, "no run at latent size 2 with its record yet", ha="center", va="center")
        ax.axis("off")
        save_figure(fig, path)
        return
    fig, axes = plt.subplots(len(pictures), 4, figsize=(15, 4.1 * len(pictures)), squeeze=False)
    for row, p in zip(axes, pictures):
        mu, labels = p["mu"], p["labels"]
        span = float(max(3.5, np.abs(mu).max() * 1.05))
        dots = row[0].scatter(mu[:, 0], mu[:, 1], c=labels, cmap="tab10", s=2, alpha=0.6, vmin=-0.5, vmax=9.5)
        for k in (1, 2, 3):
            row[0].add_patch(plt.Circle((0, 0), k, fill=False, color="black", linestyle="--", linewidth=1))
        row[0].set(xlim=(-span, span), ylim=(-span, span), aspect="equal", xlabel="z1", ylabel="z2")
        row[0].set_title(f"{p['name']}: test codes by digit;\ndashed: N(0,I) at 1, 2, 3 sd", fontsize=11)
        fig.colorbar(dots, ax=row[0], ticks=range(10), shrink=0.7, label="digit")
        for ax, (label, images) in zip(row[1:], p["grids"].items()):
            ax.imshow(tile(images, nrow=GRID), cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=11)
            ax.axis("off")
    save_figure(fig, path)
