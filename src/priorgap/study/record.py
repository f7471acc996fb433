"""A study run's whole record, committed beside the runs file: reports/runs/<name>/.

The runs file (reports/study.csv, table.py) holds each run's headline; the record holds the rest,
so that a later report can add a figure without training again:
- record.json: every param, every stage's metrics (not only the headline), the small tables the
  stages write (training history, the bound's capacity curve, KS per dimension, the samplers'
  table, the hole profile), each stage's seconds, the worker and the run's start and end;
- grids.npz: the images every sample grid shows (the reconstructions of the first 100 test
  digits, each sampler's first 100 decodes), in 16 grey levels (0-15; x 17 gives evaluate's
  8-bit pixels to within 8 of 255): a third of the 8-bit file, and all a figure shows;
- test_codes.npz, at latent size 2 only: the test set's posterior means and their labels, the
  thread's own picture.
About 0.25 MB a run at latent size 2 and 0.1 MB above it (docs/experiments.md).

build() runs on the worker, in the experiment's folder; write() and row() on the driver.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from ..config import schema
from ..io.outputs import atomic_dir, flatten_dict
from . import runs
from ..summary import headline

METRICS = {"train": "data/vae/metrics.json", "fit_posterior": "data/posterior/metrics.json",
           "classifier": "data/classifier/metrics.json", "reference": "data/reference/metrics.json",
           "evaluate": "data/eval/metrics.json"}
TABLES = {"history": "data/vae/history.csv", "capacity": "data/posterior/capacity.csv", "ks": "data/posterior/ks.csv",
          "samplers": "data/eval/table.csv", "holes": "data/eval/holes.csv"}
GRIDS, CODES = "data/eval/grids.npz", "data/codes/test.npz"
CODES_AT = 2  # the latent size whose test codes are kept (larger ones are drawn from q's top directions)
GRIDS_FILE, CODES_FILE = "grids.npz", "test_codes.npz"  # in the record's folder
GREY_LEVELS = 15  # the grids' pixels are 0..15 (0 black, 15 white)


def build(folder: Path, stage_seconds: dict, start_ms: int, end_ms: int, worker: str) -> tuple[dict, dict]:
    """The record of the experiment in `folder` (after `dvc exp run`), and its attachments."""
    params = {k: str(v) for k, v in schema.load_all(folder / "params.yaml").items()}  # as MLflow logs them
    rec = {
        "params": params,
        "metrics": {stage: json.loads((folder / path).read_text()) for stage, path in METRICS.items()},
        "tables": {name: _table(folder / path) for name, path in TABLES.items()},
        "stage_seconds": {k: round(v, 1) for k, v in stage_seconds.items()},
        "start_ms": start_ms,
        "end_ms": end_ms,
        "worker": worker,
    }
    with np.load(folder / GRIDS) as grids:
        attachments = {
            GRIDS_FILE: _npz(
                {
                    name: ((grids[name].astype(np.uint16) + 8) // (255 // GREY_LEVELS)).astype(np.uint8)
                    for name in grids.files
                }
            )
        }
    if int(params[runs.LATENT]) == CODES_AT:
        with np.load(folder / CODES) as codes:
            attachments[CODES_FILE] = _npz({"mu": codes["mu"], "labels": codes["labels"]})
    return rec, attachments


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _table(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]


def _number(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def write(root: Path, name: str, rec: dict, attachments: dict) -> Path:
    """reports/runs/<name>/, swapped in whole."""
    with atomic_dir(root / name) as tmp:
        (tmp / "record.json").write_text(json.dumps({"name": name, **rec}, indent=1, sort_keys=True) + "\n")
        for file, data in attachments.items():
            (tmp / file).write_bytes(data)
    return root / name


def exists(root: Path, name: str) -> bool:
    return (root / name / "record.json").is_file()


def read(folder: Path) -> dict:
    return json.loads((folder / "record.json").read_text())


def row(rec: dict) -> runs.Row:
    """The run's line in the runs file, as `make collect` would write it from the MLflow row: the
    headline the summarize stage logs, computed from the same metrics."""
    values = headline.headline({stage: flatten_dict(m) for stage, m in rec["metrics"].items()})
    metrics = {k: float(v) for k, v in values.items() if v is not None}
    return runs.Row(
        rec["name"], dict(rec["params"]), runs.with_population_info(metrics), rec["start_ms"], rec["end_ms"]
    )
