"""The reference stage's file: the real test set in the classifier's feature space.

    real     data/reference/test.npz   classifier features (N, 128) and k-NN radii of the      reference -> evaluate
                                       test images, float32, and the eval settings they were made for

A sweep computes it once; every experiment's evaluate reads it and refuses one made for other
settings, so a hand-run reference with other params cannot slip into an experiment's figures.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import PriorgapError
from ..io.files import load_or_explain


def reference_settings(params) -> dict:
    """The eval params (params.yaml's `eval` section) the real side of these metrics depends on:
    the test set's radii (k) and the floor (seed, n_samples, nn_samples)."""
    return {"seed": params.seed, "n_samples": params.n_samples, "k": params.k, "nn_samples": params.nn_samples}


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
            raise PriorgapError(
                f"{path}: made for {len(radii)} test images and {file_for}, not {n} and "
                f"{dict(sorted(made_for.items()))}; "
                "re-run `dvc repro reference`"
            )
        return feats, radii

    return load_or_explain(path, "reference features file", "reference", read)
