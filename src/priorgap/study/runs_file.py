"""The study's runs file, reports/study.csv: every run's settings and headline, committed with the
report so that `make report` rebuilds it on any clone, without the MLflow store the runs logged to.

    python -m priorgap.study.runs_file [--csv reports/study.csv] [--experiment priorgap]   (make collect)

Collecting merges the store's finished pipeline rows into the file: a setting (runs.Row.setting)
in both keeps the store's row (the newer run); rows only in the file stay, so sessions and machines
that each ran part of the plan add up. The file is written atomically, one row per run, floats as
Python writes them (repr: they read back bit for bit).
"""
from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from ..errors import PriorgapError
from ..tracking import store
from ..io.outputs import atomic_write_text
from . import runs
from ..summary import headline

# column -> the MLflow param it holds
SETTINGS = [("depth", runs.DEPTH), ("latent", runs.LATENT), ("seed", runs.SEED), ("epochs", runs.EPOCHS),
            ("beta", runs.BETA), ("warmup", runs.WARMUP), ("prior", runs.PRIOR[0]), ("components", runs.PRIOR[1]),
            ("decoder_depth", runs.DECODER[0]), ("decoder_width", runs.DECODER[1]),
            ("train_size", "data.train_size"), ("val_size", "data.val_size"), ("width", runs.WIDTH),
            ("flow_check_every", runs.INSTRUMENT_PARAM)]  # empty: the fixed-step instrument (runs.FIXED)
LATER = ("flow_check_every",)  # columns a runs file written before them may lack (read as empty)
TIMES = ("start_ms", "end_ms")
DERIVED = ("converged", runs.POPULATION_INFO)  # written for a reader; recomputed from the rest on reading


def header() -> list[str]:
    return ["run", *(c for c, _ in SETTINGS), *TIMES, *DERIVED, *headline.HEADLINE]


def render(rows: list[runs.Row]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header())
    for r in rows:
        w.writerow([r.name, *(r.params.get(k, "") for _, k in SETTINGS), r.start_ms, r.end_ms, r.converged,
                    r.metrics.get(runs.POPULATION_INFO, ""),
                    *("" if r.metrics.get(k) is None else repr(float(r.metrics[k])) for k in headline.HEADLINE)])
    return out.getvalue()


def read(path: Path) -> list[runs.Row]:
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            lacking = [c for c in ("run", *(c for c, _ in SETTINGS if c not in LATER), *TIMES)
                       if c not in (reader.fieldnames or [])]
            if lacking:
                raise PriorgapError(f"{path} is not a runs file of this study (no column {', '.join(lacking)}); "
                                    "delete it and run `make collect`, or restore it from git")
            rows = []
            for line in reader:
                params = {k: line[c] for c, k in SETTINGS if line.get(c, "") != ""}
                metrics = {k: float(line[k]) for k in headline.HEADLINE if line.get(k) not in (None, "")}
                rows.append(runs.Row(line["run"], params, runs.with_population_info(metrics),
                                     int(line["start_ms"]), int(line["end_ms"])))
    except (OSError, csv.Error, ValueError, KeyError) as e:
        raise PriorgapError(f"cannot read the runs file {path} ({e}); restore it with `git checkout {path}`") from None
    return rows


def merge(old: list[runs.Row], new: list[runs.Row]) -> list[runs.Row]:
    by_setting = {r.setting: r for r in old}
    by_setting.update({r.setting: r for r in new})
    return runs.ordered(by_setting.values())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", type=Path, default=Path("reports/study.csv"))
    ap.add_argument("--experiment", default=store.EXPERIMENT)
    args = ap.parse_args(argv)
    uri = store.tracking_uri()
    store.check_reachable(uri)
    import mlflow

    fresh = runs.fetch_rows(mlflow.MlflowClient(uri), args.experiment)
    old = read(args.csv) if args.csv.is_file() else []
    rows = merge(old, fresh)
    atomic_write_text(args.csv, render(rows))
    print(f"table: {len(fresh)} runs from the store, {len(old)} in {args.csv} before, {len(rows)} now")


if __name__ == "__main__":
    from ..config.cli import run_stage

    run_stage("table", main)
