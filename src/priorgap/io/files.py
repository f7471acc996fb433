"""The one way a stage refuses a file another stage wrote: missing or unreadable, run `dvc repro X`.

A file that is missing or unreadable stops the reader with one line that names the file and the
`dvc repro` that makes it again (`load_or_explain`). Each format lives with the step that writes
it and reads it through this: the MNIST splits and the codes in `data/files.py`, model files in
`checkpoints.py`, the reference features in `samples/reference.py`, and each stage's metrics here.
numpy-free: every stage imports this module, so it must not pull in the library's math.
"""
from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

from ..errors import PriorgapError


# What reading a corrupt, truncated or foreign file raises: numpy and json raise ValueError (or
# EOFError, or KeyError for a missing array), torch raises RuntimeError (a broken zip archive, or a
# state_dict that does not fit) or UnpicklingError (weights_only refusing a foreign object). Any
# other exception inside a reader (TypeError, AttributeError, ...) is a bug and keeps its traceback.
CORRUPT = (OSError, EOFError, ValueError, KeyError, RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile)


def load_or_explain(path, what: str, stage: str, read):
    """`read(path)`, or a PriorgapError saying the file is missing or not a valid `what`.

    A PriorgapError that `read` raises (a check of the file's contents) passes through as is.
    """
    path = Path(path)
    if not path.is_file():
        raise PriorgapError(f"{path}: {what} not found; run `dvc repro {stage}` first")
    try:
        return read(path)
    except PriorgapError:
        raise
    except CORRUPT as e:
        first = (str(e).strip().splitlines() or [""])[0]  # torch's state_dict errors run over many lines
        raise PriorgapError(
            f"{path}: not a valid {what} ({type(e).__name__}: {first}); re-run `dvc repro {stage}`"
        ) from None


def read_metrics(path: Path, stage: str) -> dict:
    return load_or_explain(path, f"{stage} metrics file", stage, lambda p: json.loads(p.read_text()))
