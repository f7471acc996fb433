"""Where tensors live: the device a stage runs on, and prepared images moved onto it."""
from __future__ import annotations

import numpy as np
import torch

from ..errors import PriorgapError

N_PIXELS = 28 * 28  # MNIST images, flattened


def pick_device(name: str, key: str, source="params.yaml") -> torch.device:
    """`name` is the value of the params key `key` (auto, cpu or cuda) in the file `source` (the
    one --params named); auto prefers CUDA."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise PriorgapError(f"{source}: {key} is 'cuda' but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def to_tensor(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 784) in [0, 1], on `device`."""
    # np.require copies only read-only arrays (torch warns about those)
    x = torch.from_numpy(np.require(images.reshape(len(images), N_PIXELS), requirements="W")).to(device)
    return x.float().div_(255.0)
