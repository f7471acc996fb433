"""One name per experiment, the same wherever it is made: the MLflow pipeline row of a plain
`dvc repro` (tracking.run_name) and each planned experiment of the study (study/design.py).

A name lists what the study varies and leaves out the study's usual values, so the grid's runs
read short: d2-z10-s0. Any other value shows: d2-w125-z10-b0.5-wu10-vamp100-s0-e80.
"""
from __future__ import annotations

GRID_WIDTH = 500  # the encoder width every part of the study holds but the width part (params.yaml's)
STUDY_EPOCHS = 40  # the study's training epochs (params.yaml's 20 are the quick default)


def experiment_name(depth: int, latent: int, seed: int, *, width: int = GRID_WIDTH, beta: float = 1.0,
                    warmup: int = 0, prior: str = "normal", epochs: int = STUDY_EPOCHS, instrument: str = "fixed") -> str:
    """prior: "normal", or vamp<K> for a VampPrior of K pseudo-inputs; instrument: "fixed", or
    "converging" for a run measured by the bound whose flow stops on the validation codes (-cb)."""
    w = f"-w{width}" if width != GRID_WIDTH else ""
    b = f"-b{beta:g}" if beta != 1 else ""
    wu = f"-wu{warmup}" if warmup else ""
    p = "" if prior == "normal" else f"-{prior}"
    e = f"-e{epochs}" if epochs != STUDY_EPOCHS else ""
    i = "-cb" if instrument == "converging" else ""
    return f"d{depth}{w}-z{latent}{b}{wu}{p}-s{seed}{e}{i}"
