"""Model files: a state_dict with the model's config, loadable with torch.load(weights_only=True)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from ..errors import PriorgapError
from .files import load_or_explain


def save(model: torch.nn.Module, path: Path) -> None:
    """`model.cfg` is a dataclass of plain values: the file holds only tensors, ints and strings."""
    torch.save({"config": asdict(model.cfg), "state_dict": model.state_dict()}, path)


def load(path: Path, build, what: str, stage: str, device="cpu") -> torch.nn.Module:
    """`build(config_dict, state_dict)` makes the empty model (and may refuse a state that does not
    fit its config with a PriorgapError); `what` and `stage` name it in errors."""

    def read(path):
        ckpt = torch.load(path, map_location=device, weights_only=True)
        try:
            model = build(ckpt["config"], ckpt["state_dict"])
        except PriorgapError as e:
            raise PriorgapError(f"{path}: {e}") from None
        model.load_state_dict(ckpt["state_dict"])
        return model

    return load_or_explain(path, f"{what} checkpoint", stage, read).to(device).eval()
