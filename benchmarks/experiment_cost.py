"""What an experiment of the study costs after training, against its training, as the study runs it.

    python benchmarks/experiment_cost.py [--settings z2 z10 z50 vamp50] [--epochs 40] [--workers 2]
                                         [--models DIR] [--baseline CHECKOUT]

For each setting (zN: depth 2, latent size N, N(0,I); vampN: the same with params.yaml's VampPrior),
trains the model for the study's epochs with one torch thread, then times every stage after
train (encode, fit_posterior, evaluate, summarize), each as its own `python stages/<stage>.py`
process as `dvc exp run` runs it, so imports and MLflow logging count. Settings run --workers at a
time, one thread each: the study's conditions on this machine (two one-thread workers). Target
(issue 34): everything after training at most 25% of training.

--models DIR keeps the trained models there and reuses them on the next call (training is timed
once, when it happens). --baseline CHECKOUT (`git worktree add DIR <rev>`) also times each stage
with that checkout's code on the same model, right after this one's: before and after in one run.
Uses data/mnist, data/classifier and data/reference of this checkout (`dvc repro reference` first).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from stage_speed import ROOT, env_for, stages

TARGET = 0.25
# the stages after train, in dvc.yaml's order (fit@<density> once per density)
AFTER = tuple(n for n in stages(ROOT, ROOT, ROOT) if n != "check")


def params_for(setting: str, epochs: int) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    kind, latent = ("vamp", int(setting[4:])) if setting.startswith("vamp") else ("normal", int(setting[1:]))
    params["model"]["latent_dim"], params["model"]["prior"]["kind"] = latent, kind
    params["train"]["epochs"] = epochs
    return params


def one(setting: str, folder: Path, epochs: int, roots: dict, env: dict) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params_for(setting, epochs)))
    env = {**env, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}

    def run(cmd, root):
        start = time.perf_counter()
        subprocess.run([*cmd, "--params", str(folder / "params.yaml")], cwd=folder, env=env_for(root, env),
                       check=True, capture_output=True, text=True)
        return time.perf_counter() - start

    trained = folder / "train.json"
    if not trained.exists():
        seconds = run(
            [sys.executable, str(ROOT / "stages/train.py"), str(ROOT / "data/mnist"), str(folder / "data/vae")], ROOT
        )
        trained.write_text(json.dumps({"seconds": seconds, "epochs": epochs}))
    out = {"train": json.loads(trained.read_text())["seconds"]}
    for name in AFTER:
        for code, root in roots.items():  # one after the other, stage by stage: the same noise
            out[(code, name)] = run(stages(root, folder, folder / code)[name], root)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", nargs="+", default=["z2", "z10", "z50", "vamp50"])
    ap.add_argument("--epochs", type=int, default=40, help="the study's epochs (study/design.py)")
    ap.add_argument("--workers", type=int, default=2, help="settings at a time, one thread each")
    ap.add_argument("--models", type=Path, default=None, help="keep (and reuse) the trained models here")
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout to time beside this one")
    args = ap.parse_args()
    for need in ("data/mnist/test.npz", "data/classifier/model.pt", "data/reference/test.npz"):
        if not (ROOT / need).exists():
            sys.exit(f"{need} missing: run `dvc repro reference` first")
    roots = {"here": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_")}
    with tempfile.TemporaryDirectory() as tmp:
        base = args.models or Path(tmp)
        with ThreadPoolExecutor(args.workers) as pool:
            jobs = {s: pool.submit(one, s, base / s, args.epochs, roots, env) for s in args.settings}
            results = {s: j.result() for s, j in jobs.items()}
    print(
        f"{'setting':>8s} {'code':>8s} {'train':>7s} "
        + " ".join(f"{s:>13s}" for s in AFTER)
        + f" {'after':>7s} {'ratio':>6s}  target <= {TARGET:.2f}"
    )
    for s, r in results.items():
        for code in roots:
            after = sum(r[(code, n)] for n in AFTER)
            ratio = after / r["train"]
            print(
                f"{s:>8s} {code:>8s} {r['train']:6.0f}s "
                + " ".join(f"{r[(code, n)]:12.1f}s" for n in AFTER)
                + f" {after:6.1f}s {ratio:6.3f}  {'met' if ratio <= TARGET else 'MISSED'}",
                flush=True,
            )


if __name__ == "__main__":
    main()
