"""How much CPU the study's Dask machinery takes from the experiments it runs.

    python benchmarks/runner_overhead.py [--workers 2] [--seconds 40] [--repeats 2]

An embedded cluster as `make study` starts it (clusters.Embedded) runs one stand-in experiment per
worker: a subprocess that sleeps, as a stage is a subprocess of the worker. Over the middle of
that time it sums the CPU seconds of this process (scheduler, nannies) and of the workers, the
stand-ins left out, and prints them as a share of one core: once with Dask's defaults and once with
clusters.DASK_CONFIG, alternating, `--repeats` times each. On a machine with two cores and two
one-thread workers, every point of a core spent here is a point the stages' own thread loses.
"""
import argparse
import os
import subprocess
import time

import psutil

from priorgap.execution import clusters


def stand_in(seconds: float) -> None:
    subprocess.run(["sleep", str(seconds)], check=True)


def machinery_cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def share_of_a_core(dask_config: dict, workers: int, seconds: float) -> float:
    with clusters.Embedded(workers, 1, dask_config) as client:
        futures = [client.submit(stand_in, seconds, pure=False) for _ in range(workers)]
        time.sleep(5)  # past the cluster's start
        me = psutil.Process(os.getpid())
        machinery = [me] + [c for c in me.children(recursive=True) if c.name() != "sleep"]
        cpu, start = machinery_cpu(machinery), time.time()
        time.sleep(seconds - 10)
        share = (machinery_cpu(machinery) - cpu) / (time.time() - start)
        client.gather(futures)
    return share


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--seconds", type=float, default=40, help="each stand-in's length (the middle 10 s less is measured)"
    )
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    settings = {"Dask's defaults": {}, "clusters.DASK_CONFIG": clusters.DASK_CONFIG}
    shares = {name: [] for name in settings}
    for _ in range(args.repeats):
        for name, config in settings.items():
            shares[name].append(share_of_a_core(config, args.workers, args.seconds))
    print(f"CPU of the machinery while {args.workers} one-thread workers each run a stand-in, as a share of one core")
    for name, values in shares.items():
        print(f"  {name:20s} " + "  ".join(f"{100 * v:5.1f}%" for v in values))


if __name__ == "__main__":
    main()
