"""Every file one stage writes and another reads: one home per format, one way to refuse it.

    splits   data/mnist/{train,val,test}.npz  images uint8 (N, 28, 28), labels      prepare -> all
    codes    data/codes/{train,test}.npz      mu, logvar float32 (N, d), labels    encode -> fit_posterior
    real     data/reference/test.npz          classifier features (N, 128) and     reference -> evaluate
                                              k-NN radii of the test images, float32
    metrics  data/<stage>/metrics.json        figures of one stage                 each stage -> summarize

A file that is missing or unreadable stops the reader with one line that names the file and the
`dvc repro` that makes it again (`load_or_explain`); model files use it through checkpoints.py.
numpy only: every stage imports this module, so it must not pull in the library's math.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import PriorgapError


def load_or_explain(path, what: str, stage: str, read):
    """`read(path)`, or a PriorgapError saying the file is missing or not a valid `what`.

    `read` may raise anything for a corrupt file (numpy, torch and json each have their own
    errors, and all mean the same to a user); a PriorgapError it raises passes through as is.
    """
    path = Path(path)
    if not path.is_file():
        raise PriorgapError(f"{path}: {what} not found; run `dvc repro {stage}` first")
    try:
        return read(path)
    except PriorgapError:
        raise
    except Exception as e:
        raise PriorgapError(f"{path}: not a valid {what} ({type(e).__name__}: {e}); re-run `dvc repro {stage}`") from None


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
            raise PriorgapError(f"{path}: mu and logvar must both be N x latent_dim with N labels, got {mu.shape}, {logvar.shape}")
        if not (np.isfinite(mu).all() and np.isfinite(logvar).all()):
            raise PriorgapError(f"{path}: mu or logvar holds NaN or inf; retrain the VAE (`dvc repro train`)")
        return mu, logvar, labels

    return load_or_explain(path, "codes file (mu, logvar, labels)", "encode", read)


# --- the real test set in the classifier's feature space ---------------------------------------


def write_real(path: Path, feats: np.ndarray, radii: np.ndarray, made_for: dict) -> None:
    """`made_for`: the eval settings the file (and the floor beside it) was computed with."""
    np.savez(path, feats=feats, radii=radii, made_for=np.array(json.dumps(made_for, sort_keys=True)))


def read_real(path: Path, n: int, made_for: dict) -> tuple[np.ndarray, np.ndarray]:
    """Classifier features and k-th neighbour radii of the n test images, refused when they were
    made for other settings (a reference run by hand with other params, say)."""
    def read(path):
        with np.load(path) as f:
            feats, radii, file_for = f["feats"], f["radii"], json.loads(str(f["made_for"]))
        if len(feats) != n or len(radii) != n or file_for != made_for:
            raise PriorgapError(f"{path}: made for {len(radii)} test images and {file_for}, not {n} and {dict(sorted(made_for.items()))}; "
                                "re-run `dvc repro reference`")
        return feats, radii

    return load_or_explain(path, "reference features file", "reference", read)


# --- metrics ------------------------------------------------------------------------------------


def read_metrics(path: Path, stage: str) -> dict:
    return load_or_explain(path, f"{stage} metrics file", stage, lambda p: json.loads(p.read_text()))
