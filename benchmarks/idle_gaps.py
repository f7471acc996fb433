"""How long a study worker that comes free waits before its next experiment.

    python benchmarks/idle_gaps.py [--workers 2] [--seconds 6,7,8,6]

Stand-in experiments that sleep for the given seconds, named as the study names them (a depth
prefix each), go through runner.submit to an embedded Dask cluster of single-thread workers. Prints,
per worker, the gap from one experiment's end to the next one's start. Keys named by the
experiment alone made a Dask task group per depth, and the gaps were 1.1-3.2 s (86 s in a real
slice); with every experiment in runner.TASK_GROUP they are a few milliseconds.
"""
import argparse
import time

from distributed import Client, LocalCluster

from priorgap.execution import runner, worker
from priorgap.study.design import Experiment


def stand_in(exp, code, shared):
    from distributed import get_worker

    start = time.time()
    time.sleep(float(exp.name.split("-")[-1]))
    return get_worker().name, start, time.time()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seconds", default="6,7,8,6", help="each stand-in's duration, comma-separated")
    args = ap.parse_args()
    seconds = [float(s) for s in args.seconds.split(",")]
    names = [f"d{1 + i % 3}-z{2 + i // 3}-s0-{s:g}" for i, s in enumerate(seconds)]
    code = worker.Code("0" * 40, b"", "sqlite:///unused.db", "/nonexistent")
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        ran = client.gather(list(runner.submit(client, [Experiment(n, ()) for n in names], code, b"", task=stand_in)))
    for machine in sorted({w for w, _, _ in ran}, key=str):
        mine = sorted((start, end) for w, start, end in ran if w == machine)
        gaps = [after[0] - before[1] for before, after in zip(mine, mine[1:])]
        print(f"worker {machine}: {len(mine)} experiments, gaps " + (", ".join(f"{g:.3f} s" for g in gaps) or "none"))


if __name__ == "__main__":
    main()
