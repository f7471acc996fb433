"""How far each headline figure moves with the classifier alone: the reference `make verify` holds
the classifier's figures to.

    python -m priorgap.reproducibility.classifier_spread [--seeds 0 1 2 3 4 5 6 7]   (make classifier-spread)

Another CPU trains the classifier to other bits (oneDNN and ATen pick their kernels per instruction
set, and a change in rounding grows through training), and every figure measured in its feature
space moves with it: the floor, and each sampler's fd, precision and recall. A different seed
changes the trained weights in the same way, so the spread over classifier seeds, with the VAE and
its densities held fixed, is what a change of CPU can do to those figures.

Each seed is one `dvc exp run --temp -S classifier.seed=S` of the committed workspace: DVC restores
prepare, train, encode and fit_posterior from its cache (run `make repro` first) and re-runs the
classifier, reference, evaluate and summarize. The headline of each is read from the experiment's
commit, written to reports/classifier_spread.json with the command, date and CPU, and the
experiment is removed again, so `dvc exp show` stays the user's.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
from pathlib import Path

from ..errors import PriorgapError
from ..io.shell import sh
from ..io.outputs import atomic_write_text, flatten_dict

OUT = Path("reports/classifier_spread.json")
SUMMARY = "data/summary/metrics.json"
COMMAND = "make classifier-spread"


def cpu() -> str:
    """The CPU's model name and its widest vector extension: what decides the classifier's bits."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    model = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                 platform.processor() or platform.machine())
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model} ({isa})"


def headline_with_classifier_seed(seed: int) -> dict:
    """The workspace's headline, with the classifier trained under `seed`."""
    name = f"classifier-seed-{seed}"
    sh(["dvc", "exp", "remove", name], check=False)  # left by an interrupted run, if any
    print(f"classifier_spread: seed {seed}: dvc exp run --temp -S classifier.seed={seed}", flush=True)
    run = subprocess.run(["dvc", "exp", "run", "--temp", "-n", name, "-S", f"classifier.seed={seed}"])
    if run.returncode != 0:
        raise PriorgapError(f"the experiment with classifier.seed={seed} failed (above); `make repro` first, so that "
                            "DVC can restore the VAE and its densities")
    ref = sh(["git", "for-each-ref", "--format=%(refname)", f"refs/exps/**/{name}"]).split()
    if len(ref) != 1:
        raise PriorgapError(f"experiment {name}: expected one git ref, found {len(ref)}")
    metrics = flatten_dict(json.loads(sh(["git", "show", f"{ref[0]}:{SUMMARY}"])))
    sh(["dvc", "exp", "remove", name])
    return metrics


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(8)), help="classifier seeds (default 0-7)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if len(args.seeds) < 3:
        raise PriorgapError("--seeds: give at least 3 seeds; a spread needs them")
    per_seed = {s: headline_with_classifier_seed(s) for s in args.seeds}
    names = sorted(set().union(*per_seed.values()))
    figures = {k: [per_seed[s].get(k) for s in args.seeds] for k in names
               if all(isinstance(per_seed[s].get(k), (int, float)) and not isinstance(per_seed[s].get(k), bool)
                      for s in args.seeds)}
    record = {"command": COMMAND, "date": datetime.date.today().isoformat(), "cpu": cpu(), "seeds": args.seeds,
              "figures": figures}
    atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")
    moved = sum(len(set(v)) > 1 for v in figures.values())
    print(f"classifier_spread: {len(args.seeds)} seeds, {moved} of {len(figures)} figures move with the classifier "
          f"-> {args.out}")
    return 0


if __name__ == "__main__":
    from ..config.cli import run_stage

    run_stage("classifier_spread", lambda argv: sys.exit(main(argv)))
