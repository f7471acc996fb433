"""Wall time of everything but training, per stage, as separate processes (start-up included).

    python benchmarks/stage_speed.py [--latent 2 50] [--epochs 1] [--threads N] [--baseline DIR] [--measure]

For each latent size, trains a model of the default shape for --epochs (not timed: the work after
training does not depend on how long it trained) into a temporary folder, then times each stage
after train exactly as `dvc repro` runs it: `python stages/<stage>.py ...`, one process each, so
imports and MLflow logging count. Uses data/mnist, data/classifier and data/reference of this
checkout (run `dvc repro reference` first) and a throw-away MLflow store. Target: the
sum at most 30 s at latent size 2 and 45 s at latent size 50 on the 2-core development machine.
The shared stages (prepare, classifier, reference) run once per sweep, not per experiment: the
reference stage is timed once, apart.

--baseline DIR: another checkout of priorgap (`git worktree add DIR <rev>`); each stage then runs
under both checkouts on the same trained model, one after the other, and the ratio is printed:
a change's cost measured in one run, on the same noise.

--measure: then times `priorgap measure` (every density in one process) on the same codes, against the
posterior part's stages (match, each fit@<density>, fit_posterior), and checks that its bound is the
stage's to the last digit.
"""
import json
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


def stages(root: Path, vae: Path, out: Path) -> dict[str, list[str]]:
    """The commands of dvc.yaml after train, as `root`'s stage scripts: the shared stages' data
    from this checkout, the model from `vae`, every later output under `out`."""
    spec = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    order = [name for name in spec if name not in ("prepare", "train", *SHARED)]

    def where(w: str) -> str:
        if w.startswith("stages/"):
            return str(root / w)
        if not w.startswith("data/"):
            return w
        step = w.split("/")[1]
        return str(ROOT / w) if step in ("mnist", *SHARED) else str(vae / w) if step == "vae" else str(out / w)

    out_cmds = {}
    for name in order:
        # a foreach stage (fit@<density>) runs once per key, its ${key} and ${item.*} filled as DVC does
        for key, item in spec[name].get("foreach", {None: {}}).items():
            cmd = spec[name]["cmd"] if key is None else spec[name]["do"]["cmd"].replace("${key}", key)
            for k, v in item.items():
                cmd = cmd.replace(f"${{item.{k}}}", v)
            words = cmd.split()
            words = words[words.index("python") + 1 :]  # drop "PYTHONPATH=src python": env_for sets the path
            out_cmds[name if key is None else f"{name}@{key}"] = [sys.executable, *map(where, words)]
    return out_cmds


def fitting(seconds: dict) -> float:
    """The posterior part's seconds: match, every fit@<density> and fit_posterior (one stage before the split)."""
    return sum(v for k, v in seconds.items() if k in ("match", "fit_posterior") or k.startswith("fit@"))


def env_for(root: Path, base: dict) -> dict:
    """The environment that makes a stage of `root` import `root`'s library."""
    return {**base, "PYTHONPATH": str(root / "src")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--latent", type=int, nargs="+", default=[2, 50])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for every stage (default: torch's)")
    ap.add_argument("--baseline", type=Path, default=None, help="another checkout to time beside this one")
    ap.add_argument("--measure", action="store_true", help="time `priorgap measure` on the same codes too")
    args = ap.parse_args()
    roots = {"here": ROOT, **({"baseline": args.baseline.resolve()} if args.baseline else {})}
    for need in ("data/mnist/test.npz", "data/classifier/model.pt", "data/reference/test.npz"):
        if not (ROOT / need).exists():
            sys.exit(f"{need} missing: run `dvc repro reference` first")
    env = {**os.environ}
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        env["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        start = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "stages/reference.py"),
                str(ROOT / "data/mnist"),
                str(ROOT / "data/classifier"),
                str(Path(tmp) / "reference"),
                "--params",
                str(ROOT / "params.yaml"),
            ],
            cwd=tmp,
            env=env,
            check=True,
            capture_output=True,
        )
        print(f"reference, once per sweep (not per experiment): {time.perf_counter() - start:.1f} s\n")
    print(
        f"{'latent':>6s}  {'code':>8s}  "
        + "  ".join(f"{s:>13s}" for s in ("encode", "fit_posterior", "evaluate", "total"))
        + "  target"
    )
    for latent in args.latent:
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp / 'mlflow.db'}"
            env.pop("DVC_EXP_NAME", None)
            params = yaml.safe_load((ROOT / "params.yaml").read_text())
            params["model"]["latent_dim"], params["train"]["epochs"] = latent, args.epochs
            (tmp / "params.yaml").write_text(yaml.safe_dump(params))

            def run(cmd, root):
                return subprocess.run(
                    [*cmd, "--params", str(tmp / "params.yaml")],
                    cwd=tmp,
                    env=env_for(root, env),
                    check=True,
                    capture_output=True,
                    text=True,
                )

            run([sys.executable, str(ROOT / "stages/train.py"), str(ROOT / "data/mnist"), str(tmp / "data/vae")], ROOT)
            seconds = {code: {} for code in roots}
            for name in stages(ROOT, tmp, tmp):
                for code, root in roots.items():  # one after the other, stage by stage: the same noise
                    start = time.perf_counter()
                    run(stages(root, tmp, tmp / code)[name], root)
                    seconds[code][name] = time.perf_counter() - start
            for code in roots:
                total = sum(seconds[code].values())
                part = {**seconds[code], "fit_posterior": fitting(seconds[code])}
                cells = "  ".join(
                    f"{part.get(s, float('nan')):12.1f}s" for s in ("encode", "fit_posterior", "evaluate")
                )
                target = TARGETS.get(latent)
                verdict = f"<= {target:.0f} s {'met' if total <= target else 'MISSED'}" if target else ""
                print(f"{latent:6d}  {code:>8s}  {cells}  {total:12.1f}s  {verdict}", flush=True)
            if args.baseline:
                here, base = ({**seconds[c], "fit_posterior": fitting(seconds[c])} for c in ("here", "baseline"))
                after = {s: here[s] / base[s] for s in ("encode", "fit_posterior", "evaluate")}
                both = (here["fit_posterior"] + here["evaluate"]) / (base["fit_posterior"] + base["evaluate"])
                print(
                    f"{latent:6d}  {'ratio':>8s}  "
                    + "  ".join(f"{after.get(s, float('nan')):12.2f}x" for s in ("encode", "fit_posterior", "evaluate"))
                    + f"  fit_posterior + evaluate: {both:.2f}x",
                    flush=True,
                )
            if args.measure:
                measure_beside(tmp, env, fitting(seconds["here"]), latent)


def measure_beside(tmp: Path, env: dict, stages_seconds: float, latent: int) -> None:
    """`priorgap measure` on the codes folder the encode stage wrote under tmp/here, timed as one process."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from priorgap.instruments.cli import entry; entry()", "measure", "here/data/codes",
         "--out", "measured"],
        cwd=tmp, env=env_for(ROOT, env), check=True, capture_output=True,
    )
    took = time.perf_counter() - start
    key = "kl_q_prior_lower_bound"
    same = json.loads((tmp / "measured/metrics.json").read_text())[key] == json.loads(
        (tmp / "here/data/posterior/metrics.json").read_text())[key]
    print(f"{latent:6d}  priorgap measure {took:.1f} s against the stages' {stages_seconds:.1f} s "
          f"({took / stages_seconds:.2f}x); the bound {'is the same' if same else 'DIFFERS'}", flush=True)


if __name__ == "__main__":
    main()
