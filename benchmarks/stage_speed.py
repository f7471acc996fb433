"""Wall time of everything but training, per stage, as separate processes (start-up included).

    python benchmarks/stage_speed.py [--latent 2 50] [--epochs 1] [--threads N]

For each latent size, trains a model of the default shape for --epochs (not timed: the work after
training does not depend on how long it trained) into a temporary folder, then times each stage
after train exactly as `dvc repro` runs it: `python stages/<stage>.py ...`, one process each, so
imports and MLflow logging count. Uses data/mnist, data/classifier and data/reference of this
checkout (run `dvc repro reference` first) and a throw-away MLflow store. Target: the
sum at most 30 s at latent size 2 and 45 s at latent size 50 on the 2-core development machine.
The shared stages (prepare, classifier, reference) run once per sweep, not per experiment: the
reference stage is timed once, apart.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {2: 30.0, 50: 45.0}
SHARED = ("classifier", "reference")  # stages that no VAE param reaches: once per sweep


def stages(data: Path, tmp: Path) -> dict[str, list[str]]:
    """The commands of dvc.yaml after train, pointed at the temporary folders."""
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    order = [name for name in spec if name not in ("prepare", "train", *SHARED)]
    out = {}
    for name in order:
        words = spec[name]["cmd"].split()[1:]  # drop "python"
        words = [str(tmp / w) if w.startswith("data/") and w.split("/")[1] not in ("mnist", *SHARED)
                 else str(ROOT / w) if w.startswith(("data/", "stages/")) else w for w in words]
        out[name] = [sys.executable, *words]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent", type=int, nargs="+", default=[2, 50])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for every stage (default: torch's)")
    args = ap.parse_args()
    for need in ("data/mnist/test.npz", "data/classifier/model.pt", "data/reference/test.npz"):
        if not (ROOT / need).exists():
            sys.exit(f"{need} missing: run `dvc repro reference` first")
    env = {**os.environ}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        start = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "stages/reference.py"), str(ROOT / "data/mnist"),
                        str(ROOT / "data/classifier"), str(Path(tmp) / "reference"), "--params", str(ROOT / "params.yaml")],
                       cwd=tmp, env=env, check=True, capture_output=True)
        print(f"reference, once per sweep (not per experiment): {time.perf_counter() - start:.1f} s\n")
    print(f"{'latent':>6s}  " + "  ".join(f"{s:>13s}" for s in ("encode", "fit_posterior", "evaluate", "total")) + "  target")
    for latent in args.latent:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
            env.pop("DVC_EXP_NAME", None)
            params = yaml.safe_load((ROOT / "params.yaml").read_text())
            params["model"]["latent_dim"], params["train"]["epochs"] = latent, args.epochs
            (tmp / "params.yaml").write_text(yaml.safe_dump(params))
            run = lambda cmd: subprocess.run([*cmd, "--params", str(tmp / "params.yaml")], cwd=tmp, env=env,  # noqa: E731
                                             check=True, capture_output=True, text=True)
            run([sys.executable, str(ROOT / "stages/train.py"), str(ROOT / "data/mnist"), str(tmp / "data/vae")])
            seconds = {}
            for name, cmd in stages(ROOT, tmp).items():
                start = time.perf_counter()
                run(cmd)
                seconds[name] = time.perf_counter() - start
            total = sum(seconds.values())
            cells = "  ".join(f"{seconds.get(s, float('nan')):12.1f}s" for s in ("encode", "fit_posterior", "evaluate"))
            target = TARGETS.get(latent)
            verdict = f"<= {target:.0f} s {'met' if total <= target else 'MISSED'}" if target else ""
            print(f"{latent:6d}  {cells}  {total:12.1f}s  {verdict}", flush=True)


if __name__ == "__main__":
    main()
