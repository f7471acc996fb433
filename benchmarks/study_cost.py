"""What the committed study's runs cost, read from their records: issue 34's two targets on the
study itself rather than on a slice.

    python benchmarks/study_cost.py [--records reports/runs] [--gap 600]

Per setting (latent size and prior): training against everything after it (encode,
fit_posterior, evaluate, summarize, each stage's own seconds), median and range over the runs;
target: after at most 0.25 of training. Per part of the study (one `make study` call: runs whose
start follows the previous end by less than --gap seconds): wall time from the first start to
the last end against the training floor (summed training / workers); target: at most 1.3x. The
shared stages, run once per call before the first experiment (about 3 minutes), are outside both.

That ratio is the stages' own share, (training + after) / training, times the part's tail (the
workers idle at its end). For the tail: list scheduling of the runs' measured durations on the
part's workers, in the order they started and longest first, against a tail of zero.
`--store URI` (an MLflow store that holds some of the runs' stage runs; fit_posterior logs each
density's seconds there, not to the record) adds what those runs' ratio would be without the
fitted densities (the mixture grid, the flow and the two-stage VAE): how far the target is
from the measures every run must keep.
"""
import argparse
import heapq
import statistics
from datetime import datetime, timezone
from pathlib import Path

from priorgap.study import record

ROOT = Path(__file__).resolve().parents[1]
AFTER_TARGET, WALL_TARGET = 0.25, 1.3


def load(records: Path) -> list[dict]:
    runs = []
    for path in sorted(records.glob("*/record.json")):
        r = record.read(path.parent)
        s = r["stage_seconds"]
        prior = r["params"].get("model.prior.kind", "normal")
        runs.append(
            {
                "name": r["name"],
                "train": s["train"],
                "after": sum(v for k, v in s.items() if k != "train"),
                "setting": f"latent {r['params']['model.latent_dim']}" + ("" if prior == "normal" else f", {prior}"),
                "start": r["start_ms"] / 1000,
                "end": r["end_ms"] / 1000,
                "worker": r["worker"],
            }
        )
    return runs


def parts(runs: list[dict], gap: float) -> list[list[dict]]:
    out = []
    for run in sorted(runs, key=lambda r: r["start"]):
        if out and run["start"] - max(r["end"] for r in out[-1]) < gap:
            out[-1].append(run)
        else:
            out.append([run])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=Path, default=ROOT / "reports" / "runs")
    ap.add_argument("--gap", type=float, default=600.0, help="seconds between runs that start a new part")
    ap.add_argument("--store", default=None, help="an MLflow tracking URI holding some runs' fit_posterior timings")
    args = ap.parse_args()
    runs = load(args.records)
    if not runs:
        raise SystemExit(f"study_cost: no records in {args.records}: run `make study` first")

    print(f"per setting (target: after training <= {AFTER_TARGET} x training)")
    print(f"{'setting':22s} {'runs':>4s} {'train s':>8s} {'after s':>8s} {'ratio':>6s} {'range':>11s}")
    for setting in sorted({r["setting"] for r in runs}, key=lambda s: (len(s), s)):
        group = [r for r in runs if r["setting"] == setting]
        ratios = [r["after"] / r["train"] for r in group]
        print(
            f"{setting:22s} {len(group):4d} {statistics.median(r['train'] for r in group):8.0f} "
            f"{statistics.median(r['after'] for r in group):8.0f} {statistics.median(ratios):6.2f} "
            f"{min(ratios):5.2f}-{max(ratios):.2f}"
        )

    print(f"\nper part of the study (target: wall <= {WALL_TARGET} x summed training / workers)")
    print(
        f"{'first start (UTC)':20s} {'runs':>4s} {'workers':>7s} {'training s':>10s} {'floor s':>8s} {'wall s':>7s} "
        f"{'ratio':>6s} {'stages':>6s} {'tail':>5s} {'as run':>6s} {'longest 1st':>11s}"
    )
    pooled = {"train": 0.0, "after": 0.0, "wall": 0.0, "busy": 0.0, "as_run": 0.0, "longest": 0.0}
    for part in parts(runs, args.gap):
        workers = len({r["worker"] for r in part})
        train = sum(r["train"] for r in part)
        wall = max(r["end"] for r in part) - min(r["start"] for r in part)
        first = min(part, key=lambda r: r["start"])
        when = datetime.fromtimestamp(first["start"], timezone.utc).strftime("%Y-%m-%d %H:%M")
        after = sum(r["after"] for r in part)
        durations = [r["end"] - r["start"] for r in sorted(part, key=lambda r: r["start"])]
        busy = sum(durations) / workers  # the wall time with no tail
        as_run, longest = makespan(durations, workers), makespan(sorted(durations, reverse=True), workers)
        print(
            f"{when:20s} {len(part):4d} {workers:7d} {train:10.0f} {train / workers:8.0f} {wall:7.0f} "
            f"{wall / (train / workers):6.2f} {(train + after) / train:6.2f} {wall / busy:5.2f} {as_run / busy:6.3f} "
            f"{longest / busy:11.3f}"
        )
        if workers == 2:  # the design's set-up; a call that ran four workers on two cores has no fair floor
            for k, v in zip(pooled, (train, after, wall, busy, as_run, longest)):
                pooled[k] += v
    p = pooled
    print(
        f"two-worker parts pooled: wall / floor {p['wall'] / (p['train'] / 2):.2f} = stages "
        f"{(p['train'] + p['after']) / p['train']:.2f}"
        f" x tail {p['wall'] * 2 / (p['train'] + p['after']):.3f}; tail by list scheduling as run "
        f"{p['as_run'] / p['busy']:.3f}, longest first {p['longest'] / p['busy']:.3f}"
    )
    if args.store:
        fitted_cost(runs, args.store)


def makespan(durations: list[float], workers: int) -> float:
    """List scheduling: each run starts on the first worker to come free, in the given order."""
    free = [0.0] * workers
    for d in durations:
        heapq.heappush(free, heapq.heappop(free) + d)
    return max(free)


FITTED = ("gmm", "flow", "two_stage")  # fit_posterior's seconds_<name> for the densities it trains


def fitted_cost(runs: list[dict], uri: str) -> None:
    import mlflow

    client = mlflow.MlflowClient(uri)
    exps = [e.experiment_id for e in client.search_experiments()]
    found = (
        client.search_runs(exps, "tags.`priorgap.stage` = 'fit_posterior'", order_by=["attributes.start_time ASC"])
        if exps
        else []
    )
    seconds = {r.data.tags.get("dvc_exp_name"): r.data.metrics for r in found}  # a retried run: its last attempt
    print(f"\nwithout the fitted densities ({', '.join(FITTED)}; runs whose fit_posterior timings {uri} holds)")
    print(f"{'run':22s} {'train s':>8s} {'after s':>8s} {'fitted s':>8s} {'ratio':>6s} {'without':>7s}")
    for r in sorted(runs, key=lambda r: r["name"]):
        m = seconds.get(r["name"], {})
        if all(f"seconds_{k}" in m for k in FITTED):
            fitted = sum(m[f"seconds_{k}"] for k in FITTED)
            print(
                f"{r['name']:22s} {r['train']:8.0f} {r['after']:8.0f} {fitted:8.0f} {r['after'] / r['train']:6.2f} "
                f"{(r['after'] - fitted) / r['train']:7.2f}"
            )


if __name__ == "__main__":
    main()
