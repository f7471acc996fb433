"""The files of the data flow, one home per format:

    splits   data/mnist/{train,val,test}.npz  images uint8 (N, 28, 28), labels      prepare -> all
    codes    data/codes/{train,val,test}.npz  mu, logvar float32 (N, d), labels    encode -> fit_posterior
             data/codes/prior.npz             the model's prior, the same format    encode -> fit_posterior

numpy only: every stage that reads images or codes imports this module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import PriorgapError
from ..io.files import load_or_explain


# --- splits -------------------------------------------------------------------------------------


def write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    np.savez(Path(folder) / f"{split}.npz", images=images, labels=labels)


def read_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images (N, 28, 28) and labels of one prepared split."""

    def read(path):
        with np.load(path) as f:
            images, labels = f["images"], f["labels"]
        if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise PriorgapError(f"{path}: expected uint8 images N x 28 x 28 with N labels; re-run `dvc repro prepare`")
        return images, labels

    return load_or_explain(Path(folder) / f"{split}.npz", "prepared MNIST split", "prepare", read)


# --- codes --------------------------------------------------------------------------------------


def write_codes(path: Path, mu: np.ndarray, logvar: np.ndarray, labels: np.ndarray) -> None:
    np.savez(path, mu=mu.astype(np.float32), logvar=logvar.astype(np.float32), labels=labels)


def read_codes(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mu, logvar (float32, N x latent_dim) and labels; aggregate.Codes.load wraps them as q."""
    def read(path):
        with np.load(path) as f:
            mu, logvar, labels = f["mu"], f["logvar"], f["labels"]
        if mu.ndim != 2 or mu.shape != logvar.shape or len(labels) != len(mu) or len(mu) == 0:
            raise PriorgapError(
                f"{path}: mu and logvar must both be N x latent_dim with N labels, got {mu.shape}, {logvar.shape}"
            )
        if not (np.isfinite(mu).all() and np.isfinite(logvar).all()):
            raise PriorgapError(f"{path}: mu or logvar holds NaN or inf; retrain the VAE (`dvc repro train`)")
        return mu, logvar, labels

    return load_or_explain(path, "codes file (mu, logvar, labels)", "encode", read)
