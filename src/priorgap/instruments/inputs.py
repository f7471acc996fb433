"""A researcher's codes, checked before any work: each split's posterior means and log-variances
as arrays or tensors, or an npz that holds them.

The npz names: train_mu, train_logvar, val_mu, val_logvar, test_mu, test_logvar (each N x d); or
a folder of train.npz, val.npz and test.npz, each with mu and logvar (the encode stage's data/codes).
Every refusal is one line that names the array and the fix (a PriorgapError).

Standard deviations where log-variances belong: a VAE's log-variances are below 0 on every
informative unit (its posterior is narrower than the prior) and scatter around 0 on an inactive
one, so an array with no negative value at all is not a plausible set of log-variances. Standard
deviations and variances are positive everywhere, so that is what it gets refused as. What this
cannot tell: log standard deviations (logvar / 2), which are as negative as log-variances, and a
model whose every posterior is wider than N(0, I) (allow_positive_logvar=True accepts that).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from ..errors import PriorgapError
from ..latent.aggregate import Codes

SPLITS = ("train", "val", "test")
MIN_CODES = {"train": 200, "val": 100, "test": 100}  # below these the bound's choices are noise


def as_array(name: str, value) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise PriorgapError(f"{name}: an array of {array.dtype}, not of numbers; pass the encoder's float outputs")
    if array.ndim != 2:
        raise PriorgapError(f"{name}: shape {array.shape}, not (codes, latent size); reshape it to N x d")
    bad = int((~np.isfinite(array)).sum())
    if bad:
        raise PriorgapError(f"{name}: {bad} values are NaN or infinite; drop those images' codes or fix the encoder "
                            "that produced them")
    return array.astype(np.float32)


def split_codes(split: str, mu, logvar, allow_positive: bool = False) -> Codes:
    """One split's codes, checked: shapes agree, every value finite, log-variances that can be."""
    mu, logvar = as_array(f"{split}.mu", mu), as_array(f"{split}.logvar", logvar)
    if mu.shape != logvar.shape:
        raise PriorgapError(
            f"{split}: mu is {mu.shape} but logvar is {logvar.shape}; pass both as N x d from one encoder"
        )
    if not allow_positive and (logvar > 0).all():
        raise PriorgapError(
            f"{split}.logvar: every value is positive ({logvar.min():.3g} to {logvar.max():.3g}), as "
            "standard deviations or variances are; pass log(std ** 2), or allow_positive_logvar=True "
            "(--allow-positive-logvar) if every posterior "
            "really is wider than N(0, I)"
        )
    return Codes(torch.from_numpy(mu), torch.from_numpy(logvar))


def splits(
    train: tuple, val: tuple, test: tuple, allow_positive: bool = False, least: dict[str, int] | None = None
) -> dict[str, Codes]:
    """The three splits, each (mu, logvar), checked against one another."""
    codes = {
        name: split_codes(name, *pair, allow_positive=allow_positive) for name, pair in zip(SPLITS, (train, val, test))
    }
    sizes = {name: c.dim for name, c in codes.items()}
    if len(set(sizes.values())) > 1:
        raise PriorgapError(
            "the splits differ in latent size ("
            + ", ".join(f"{k} {v}" for k, v in sizes.items())
            + "); encode all three with the same model"
        )
    for name, n in {**MIN_CODES, **(least or {})}.items():
        if len(codes[name].mu) < n:
            raise PriorgapError(
                f"{name}: {len(codes[name].mu)} codes, fewer than the {n} the densities asked need; "
                "encode more images, or ask for smaller capacities"
            )
    return codes


def read(path: Path, allow_positive: bool = False, least: dict[str, int] | None = None) -> dict[str, Codes]:
    """The three splits of an npz (numpy.savez) with the names in this module's docstring, or of a
    folder as the pipeline's encode stage writes it (data/codes: train.npz, val.npz and test.npz,
    each with mu and logvar), so our own codes need no conversion."""
    path = Path(path)
    if path.is_dir():
        from ..data.files import read_codes

        return splits(*(read_codes(path / f"{s}.npz")[:2] for s in SPLITS), allow_positive=allow_positive, least=least)
    if not path.is_file():
        raise PriorgapError(f"{path}: not found; write the codes with numpy.savez(path, train_mu=..., ...)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise PriorgapError(
            f"{path}: not an npz file ({type(e).__name__}); write it with numpy.savez(path, "
            "train_mu=..., train_logvar=..., val_mu=..., ...)"
        ) from None
    missing = [f"{s}_{a}" for s in SPLITS for a in ("mu", "logvar") if f"{s}_{a}" not in arrays]
    if missing:
        raise PriorgapError(
            f"{path}: lacks {', '.join(missing)} (it holds {', '.join(sorted(arrays)) or 'nothing'}); "
            "save each split's mu and logvar under those names"
        )
    return splits(
        *((arrays[f"{s}_mu"], arrays[f"{s}_logvar"]) for s in SPLITS), allow_positive=allow_positive, least=least
    )
