"""Model files: a state_dict with the model's config, loadable with torch.load(weights_only=True)."""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import torch

from .files import load_or_explain


def save(model: torch.nn.Module, path: Path) -> None:
    """`model.cfg` is a dataclass of plain values: the file holds only tensors, ints and strings."""
    torch.save({"config": asdict(model.cfg), "state_dict": model.state_dict()}, path)


def load(path: Path, build, what: str, stage: str, device="cpu") -> torch.nn.Module:
    """`build(config_dict)` makes the empty model; `what` and `stage` name it in errors."""

    def read(path):
        ckpt = torch.load(path, map_location=device, weights_only=True)
        model = build(ckpt["config"])
        model.load_state_dict(ckpt["state_dict"])
        return model

    return load_or_explain(path, f"{what} checkpoint", stage, read).to(device).eval()
