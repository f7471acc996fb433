"""Grid throughput: two experiments on one thread each side by side, or one after the other on two.

    python benchmarks/workers.py [--epochs 10] [--latent 2]

Runs the stages after the shared ones (train, encode, fit_posterior, evaluate, summarize) of two
experiments (seeds 0 and 1) as separate processes, the way `dvc queue start -j N` runs them:
  sequential  one worker: experiment after experiment, torch on both cores (its default);
  parallel    two workers at once, each with OMP_NUM_THREADS=1.
Prints both wall times and their ratio. Uses data/mnist, data/classifier and data/reference of
this checkout (run `dvc repro reference` first) and a throw-away MLflow store.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from stage_speed import ROOT, stages


def experiment(tmp: Path, seed: int, epochs: int, latent: int, env: dict) -> list[list[str]]:
    """The command lines of one experiment, in order, writing under tmp/exp<seed>."""
    folder = tmp / f"exp{seed}"
    folder.mkdir()
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["model"]["latent_dim"], params["train"]["epochs"], params["train"]["seed"] = latent, epochs, seed
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    train = [sys.executable, str(ROOT / "stages/train.py"), str(ROOT / "data/mnist"), str(folder / "data/vae")]
    return [[*cmd, "--params", str(folder / "params.yaml")] for cmd in [train, *stages(ROOT, folder, folder).values()]]


def run_chain(cmds, env, cwd):
    """One experiment's stages, one after the other, as a single background shell."""
    script = " && ".join(" ".join(f"'{w}'" for w in cmd) for cmd in cmds)
    return subprocess.Popen(
        ["bash", "-c", script], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--latent", type=int, default=2)
    args = ap.parse_args()
    if not (ROOT / "data/reference/test.npz").exists():
        sys.exit("data/reference/test.npz missing: run `dvc repro reference` first")
    walls = {}
    for mode in ("sequential", "parallel"):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env = {k: v for k, v in os.environ.items() if k != "DVC_EXP_NAME"}
            env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
            subprocess.run(
                [sys.executable, "-m", "priorgap.tracking.store"],
                env={**env, "PYTHONPATH": str(ROOT / "src")},
                check=True,
                capture_output=True,
            )  # the store first, as before a queue
            if mode == "parallel":
                env["OMP_NUM_THREADS"] = "1"
            chains = [experiment(tmp, seed, args.epochs, args.latent, env) for seed in (0, 1)]
            start = time.perf_counter()
            if mode == "sequential":
                for cmds in chains:
                    proc = run_chain(cmds, env, tmp)
                    if proc.wait():
                        sys.exit(proc.stderr.read()[-2000:])
            else:
                procs = [run_chain(cmds, env, tmp) for cmds in chains]
                for proc in procs:
                    if proc.wait():
                        sys.exit(proc.stderr.read()[-2000:])
            walls[mode] = time.perf_counter() - start
            print(
                f"{mode:10s} two experiments ({args.epochs} epochs, latent {args.latent}): {walls[mode]:7.1f} s wall",
                flush=True,
            )
    print(f"two one-thread workers do {walls['sequential'] / walls['parallel']:.2f}x the work of one two-thread worker")


if __name__ == "__main__":
    main()
