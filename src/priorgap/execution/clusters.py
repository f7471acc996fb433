"""Where the study's experiments run: this machine's own Dask cluster, a running scheduler, or a
batch system through dask-jobqueue (runner.py says which flag picks which)."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import PriorgapError

# Dask's background work, cut to what the study uses: each worker's profiler samples every
# thread's stack each 10 ms, and every event loop times a tick each 20 ms: CPU taken from the
# experiments' stages (benchmarks/runner_overhead.py measures how much). The study reads neither the
# dashboard's profile nor the blocked-event-loop warnings the tick times. Workers started by hand
# take them as environment variables (docs/study-runner.md).
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
        self.cluster = LocalCluster(
            n_workers=self.workers,
            threads_per_worker=self.threads,
            processes=True,
            dashboard_address=":0" if has_bokeh() else None,
        )
        self.client = Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        _quiet()  # the workers' shutdown chatter
        self.client.close()
        self.cluster.close()
        self.config.__exit__(None, None, None)  # this process's Dask config as it was


# This client's TLS files, for a scheduler that admits only certificates its CA signed (Dask's
# mutual TLS: docs/study-runner.md). Unset, Dask's own config (distributed.comm.tls.*) applies.
TLS = {
    "ca_file": ("--tls-ca-file", "STUDY_TLS_CA_FILE", "the CA's certificate"),
    "cert": ("--tls-cert", "STUDY_TLS_CERT", "this client's certificate"),
    "key": ("--tls-key", "STUDY_TLS_KEY", "this client's private key"),
}


def security(ca_file: str | None = None, cert: str | None = None, key: str | None = None):
    """Dask's Security for this client from the three files, or None where none is given."""
    files = {"ca_file": ca_file, "cert": cert, "key": key}
    if not any(files.values()):
        return None
    for what in ("ca_file", "cert"):
        if not files[what]:
            flag, env, _ = TLS[what]
            raise StudyError(f"TLS needs the CA file and this client's certificate: give {flag} (or {env})")
    for what, path in files.items():
        if path and not Path(path).is_file():
            flag, env, _ = TLS[what]
            raise StudyError(f"no TLS file at {path} ({flag} / {env}); give the path of the PEM file")
    from distributed.security import Security

    return Security(tls_ca_file=ca_file, tls_client_cert=cert, tls_client_key=key, require_encryption=True)


def _tls_configured() -> bool:
    import dask

    return bool(dask.config.get("distributed.comm.tls.client.cert", None))


class Remote:
    """A running scheduler (dask scheduler / dask worker), or a batch system's through dask-jobqueue."""

    def __init__(self, address: str | None = None, jobqueue: str | None = None, jobs: int = 1, security=None):
        self.address, self.jobqueue, self.jobs, self.cluster = address, jobqueue, jobs, None
        self.security = security

    def __enter__(self):
        from distributed import Client

        if self.jobqueue:
            import dask_jobqueue

            self.cluster = getattr(dask_jobqueue, JOBQUEUE[self.jobqueue])(
                **({"security": self.security} if self.security else {})
            )
            self.cluster.scale(jobs=self.jobs)
            self.client = Client(self.cluster, security=self.security)
            return self.client
        check_address(self.address)
        tls = self.address.startswith("tls://")
        if tls and self.security is None and not _tls_configured():
            raise StudyError(
                f"the Dask scheduler at {self.address} speaks TLS: give this client's files with "
                "--tls-ca-file, --tls-cert and --tls-key (or STUDY_TLS_CA_FILE, STUDY_TLS_CERT, "
                "STUDY_TLS_KEY, or Dask's distributed.comm.tls config)"
            )
        if self.security is not None and not tls:
            raise StudyError(
                f"TLS files are given but the scheduler's address {self.address} is not tls://; "
                "give its tls:// address (`dask scheduler --protocol tls ...` prints it)"
            )
        try:
            self.client = Client(self.address, timeout="10s", security=self.security)
        except (OSError, TimeoutError) as e:
            refused = (
                (
                    " (a TLS scheduler also refuses a client whose certificate its CA did not sign: check "
                    "--tls-cert against the scheduler's --tls-ca-file)"
                )
                if tls
                else ""
            )
            raise StudyError(
                f"cannot reach the Dask scheduler at {self.address} ({e}){refused}; start it "
                f"(`dask scheduler`, then `dask worker {self.address} --nthreads 1` on each machine) or "
                "leave STUDY_SCHEDULER unset for this machine's own cluster"
            ) from None
        _quiet()
        try:
            self.client.wait_for_workers(1, timeout=120)
        except TimeoutError:
            self.client.close()
            raise StudyError(
                f"no worker joined the Dask scheduler at {self.address} in 120 s; start one with "
                f"`dask worker {self.address} --nthreads 1`"
            ) from None
        return self.client

    def __exit__(self, *exc):
        _quiet()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def check_address(address: str) -> None:
    """A scheduler address Dask can parse (SCHEME://HOST:PORT), else one line saying what it needs."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        parse_host_port(parse_address(address, strict=False)[1])
    except ValueError as e:
        raise StudyError(
            f"--scheduler / STUDY_SCHEDULER {address!r} is not a Dask scheduler address ({e}); give "
            "tcp://HOST:8786 (or tls://HOST:8786), as `dask scheduler` prints it"
        ) from None


def connect(args):
    if args.scheduler and args.jobqueue:
        raise StudyError("give --scheduler or --jobqueue, not both")
    if args.scheduler or args.jobqueue:
        return Remote(args.scheduler, args.jobqueue, args.jobs, security(args.tls_ca_file, args.tls_cert, args.tls_key))
    return Embedded(args.workers, args.threads)


def _quiet() -> None:
    """Dask logs a lost connection as a traceback; the study says it in one line (StudyError)."""
    for name in ("distributed", "distributed.client", "distributed.comm", "distributed.core"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
