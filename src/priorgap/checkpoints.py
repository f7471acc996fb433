"""Model files: a state_dict with the model's config, loadable with torch.load(weights_only=True)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from . import PriorgapError


def save(model: torch.nn.Module, path: Path) -> None:
    """`model.cfg` is a dataclass of plain values: the file holds only tensors, ints and strings."""
    torch.save({"config": asdict(model.cfg), "state_dict": model.state_dict()}, path)


def load(path: Path, build, what: str, stage: str, device="cpu") -> torch.nn.Module:
    """`build(config_dict)` makes the empty model; `what` and `stage` name it in errors."""
    path = Path(path)
    if not path.is_file():
        raise PriorgapError(f"{path}: {what} not found; run `dvc repro {stage}` first")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        model = build(ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
    except Exception as e:  # torch raises many types for a bad file; all mean the same to a user
        raise PriorgapError(f"{path}: not a valid {what} checkpoint ({type(e).__name__}); re-run `dvc repro {stage}`") from None
    return model.to(device).eval()
