"""Where the study's experiments run: this machine's own Dask cluster, a running scheduler, or a
batch system through dask-jobqueue (runner.py says which flag picks which)."""
from __future__ import annotations

import logging
import os

from .. import PriorgapError

# Dask's background work, cut to what the study uses: each worker's profiler samples every
# thread's stack each 10 ms, and every event loop times a tick each 20 ms: CPU taken from the
# experiments' stages (benchmarks/runner_overhead.py measures how much). The study reads neither the dashboard's profile nor the
# blocked-event-loop warnings the tick times. Workers started by hand take them as environment
# variables (docs/study-runner.md).
DASK_CONFIG = {"distributed.worker.profile.enabled": False, "distributed.admin.tick.interval": "1s"}
JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "lsf": "LSFCluster"}


class StudyError(PriorgapError):
    pass


def has_bokeh() -> bool:
    """Dask's dashboard needs bokeh (not installed by default): without it there is no page to point at."""
    import importlib.util

    return importlib.util.find_spec("bokeh") is not None


class Embedded:
    """A LocalCluster on this machine, closed (workers and all) when the study ends."""

    def __init__(self, workers: int | None, threads: int, dask_config: dict = DASK_CONFIG):
        self.workers = workers or max(1, (os.cpu_count() or 1) // threads)
        self.threads = threads
        self.dask_config = dask_config

    def __enter__(self):
        import dask
        from distributed import Client, LocalCluster

        # the workers get this process's config when they start; an experiment that fails is
        # reported here, once and in one line: not also as the workers' "Compute Failed" tracebacks
        self.config = dask.config.set({**self.dask_config, "logging": {"distributed.worker": "critical"}})
        self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=self.threads, processes=True,
                                    dashboard_address=":0" if has_bokeh() else None)
        self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        _quiet()  # the workers' shutdown chatter
        self.client.close()
        self.cluster.close()
        self.config.__exit__(None, None, None)  # this process's Dask config as it was


class Remote:
    """A running scheduler (dask scheduler / dask worker), or a batch system's through dask-jobqueue."""

    def __init__(self, address: str | None = None, jobqueue: str | None = None, jobs: int = 1):
        self.address, self.jobqueue, self.jobs, self.cluster = address, jobqueue, jobs, None

    def __enter__(self):
        from distributed import Client

        if self.jobqueue:
            import dask_jobqueue

            self.cluster = getattr(dask_jobqueue, JOBQUEUE[self.jobqueue])()
            self.cluster.scale(jobs=self.jobs)
            self.client = Client(self.cluster)
            return self.client
        try:
            self.client = Client(self.address, timeout="10s")
        except (OSError, TimeoutError) as e:
            raise StudyError(f"cannot reach the Dask scheduler at {self.address} ({e}); start it (`dask scheduler`, "
                             f"then `dask worker {self.address} --nthreads 1` on each machine) or leave "
                             "STUDY_SCHEDULER unset for this machine's own cluster") from None
        _quiet()
        try:
            self.client.wait_for_workers(1, timeout=120)
        except TimeoutError:
            self.client.close()
            raise StudyError(f"no worker joined the Dask scheduler at {self.address} in 120 s; start one with "
                             f"`dask worker {self.address} --nthreads 1`") from None
        return self.client

    def __exit__(self, *exc):
        _quiet()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def connect(args):
    if args.scheduler and args.jobqueue:
        raise StudyError("give --scheduler or --jobqueue, not both")
    if args.scheduler or args.jobqueue:
        return Remote(args.scheduler, args.jobqueue, args.jobs)
    return Embedded(args.workers, args.threads)


def _quiet() -> None:
    """Dask logs a lost connection as a traceback; the study says it in one line (StudyError)."""
    for name in ("distributed", "distributed.client", "distributed.comm", "distributed.core"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
