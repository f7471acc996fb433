"""Codes from any encoder: priorgap.encode(encoder, loader) -> (mu, logvar).

`encoder` is any callable that maps a batch to (mu, logvar); `loader` any iterable of batches
(a DataLoader), each a tensor or a tuple whose first item is the input (labels are ignored).
A pythae model:  encode(lambda x: (lambda o: (o.embedding, o.log_covariance))(model.encoder(x)), loader)
A torch model whose forward returns (mu, logvar):  encode(model.encoder, loader)
"""
from __future__ import annotations

import torch
from tqdm import tqdm

from ..errors import PriorgapError


@torch.no_grad()
def encode(
    encoder, loader, device: str | torch.device | None = None, progress: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every batch through `encoder` on `device` (the encoder's own when it has parameters, else CUDA
    when there is one); (mu, logvar) on the CPU, float32, in the loader's order."""
    if device is None:
        params = list(encoder.parameters()) if hasattr(encoder, "parameters") else []
        device = params[0].device if params else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    was_training = getattr(encoder, "training", False)
    if hasattr(encoder, "eval"):
        encoder.eval()  # dropout and batch norm as at test time: the codes of the model itself
    mus, logvars = [], []
    try:
        for batch in tqdm(loader, desc="encode", unit="batch", disable=not progress):
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            out = encoder(x.to(device))
            if not (isinstance(out, (tuple, list)) and len(out) == 2):
                raise PriorgapError(
                    f"encode: the encoder returned {type(out).__name__}, not (mu, logvar); wrap it, "
                    "e.g. lambda x: (o := model.encoder(x)).embedding, o.log_covariance"
                )
            mus.append(out[0].float().cpu())
            logvars.append(out[1].float().cpu())
    finally:
        if was_training:
            encoder.train()
    if not mus:
        raise PriorgapError("encode: the loader gave no batch; pass a DataLoader over the split's images")
    return torch.cat(mus), torch.cat(logvars)
