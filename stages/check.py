"""Stage check: params.yaml (every section), the devices it names and the MLflow store, before
any other stage runs -> data/checked (a constant file every other stage comes after).

    python stages/check.py data/checked [--params params.yaml]

DVC removes a stage's outputs before it runs the stage's command, so a stage that stops on a bad
param has already lost what it made last time (and git-tracked metrics with it). This stage runs
first on every `dvc repro` and `dvc exp run` (always_changed) and reads the whole file: a wrong
value, a misspelt key, `cuda` without a device or an unreachable tracking server stops the
pipeline here, in one line, while every earlier output is still in place. Its output is the same
bytes whenever it passes, so it never makes a stage after it stale.
"""
import sys
from pathlib import Path

from priorgap.config import schema
from priorgap.tracking import store
from priorgap.config.cli import run_stage
from priorgap.config.device import pick_device
from priorgap.io.outputs import atomic_write_text
from priorgap.latent import densities  # noqa: F401  (every density's params section, for the config)

DEVICES = ("train.device", "classifier.device", "eval.device")
PASSED = "params.yaml, its devices and the MLflow store passed `stages/check.py`\n"


def main(argv=None):
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    args = p.parse_args(argv)
    params = schema.load_all(args.params)
    for key in DEVICES:
        pick_device(params[key], key, args.params)
    store.check_reachable(store.tracking_uri())
    atomic_write_text(args.out, PASSED)
    print(
        f"check: {args.params}, its devices and the MLflow store {store.shown(store.tracking_uri())} are fine",
        file=sys.stderr,
    )


if __name__ == "__main__":
    run_stage("check", main)
