"""One experiment of the study, as a Dask worker runs it (runner.py hands them out).

The worker has its own scratch folder (its Dask local directory) and no checkout of the user's
repository: it gets the code as a git bundle (the user's HEAD and a snapshot of the working tree on
top of it, what `dvc exp run --queue` would run), and the shared stages' outputs (prepare,
classifier, reference) as one tar. Each attempt clones the bundle into a fresh folder, puts the
shared outputs in place (DVC hashes them, finds them as dvc.lock says, and skips those stages:
they are never re-run), and runs `dvc exp run -n NAME -S ...` there. What comes back is small:
the experiment's git ref as a bundle (the driver fetches it, so `dvc exp show` lists it in the
user's repository) and the run's record (record.py).

MLflow: the stages log to the tracking URI the driver passes, the same store as the user's
`dvc repro`. The scheduler runs one attempt of an experiment at a time, so a stage run still
RUNNING under its name when an attempt starts is a dead attempt's: it is marked KILLED first.
"""
from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PriorgapError
from ..io.shell import sh
from ..study.design import Experiment

BASE_REF, SNAPSHOT_REF = "refs/priorgap/base", "refs/priorgap/snapshot"
STAGE_LINE = re.compile(
    r"Running stage '([\w@-]+)'"
)  # searched: a progress bar may precede it on its line; fit@gmm: a foreach stage
ERROR_LINE = re.compile(r"(\w+: error: .*|ERROR: .*)$")  # searched, as STAGE_LINE


class ExperimentFailed(PriorgapError):
    """An experiment whose pipeline failed (bad params, a NaN loss): reported once, never retried.
    It carries the whole output of `dvc exp run` (`log`): the attempt's folder is removed, and the
    driver keeps the log where the user can read it."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(message, log)  # both in args: Dask pickles the exception back to the driver
        self.message, self.log = message, log

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class Code:
    """What every experiment of one `make study` call runs: a bundle holding BASE_REF (the user's
    HEAD, the experiments' baseline) and SNAPSHOT_REF (its working tree), and the tracking store."""

    snapshot: str  # the snapshot commit's sha: names the scratch copies of the bundle and the shared data
    bundle: bytes
    tracking_uri: str
    cache_dir: str  # the user's DVC cache: used where this worker can write to it (same machine, shared disk)


@dataclass
class Result:
    name: str
    ref: str  # the experiment's git ref (refs/exps/...)
    bundle: bytes  # that ref's commit, with the baseline as prerequisite
    record: dict  # record.py: params, every stage's metrics and tables, timings
    attachments: dict = field(default_factory=dict)  # record.py: file name -> bytes (sample grids, codes)


def run(exp: Experiment, code: Code, shared: bytes) -> Result:
    """The Dask task: one experiment, start to end, in a fresh clone under the worker's scratch."""
    from distributed import get_worker

    worker = get_worker()
    scratch = Path(worker.local_directory) / "priorgap"
    bundle, data = _unpacked(scratch, code, shared)
    attempt = scratch / f"{exp.name}-{uuid.uuid4().hex[:8]}"
    env = _environment(code, worker.state.nthreads, attempt)
    try:
        _clone(bundle, attempt, env)
        _use_cache(attempt, Path(code.cache_dir) if os.access(code.cache_dir, os.W_OK) else scratch / "cache", env)
        shutil.copytree(data, attempt, dirs_exist_ok=True)
        from ..tracking import stage_runs

        stage_runs.end_running(
            code.tracking_uri, exp.name, "KILLED"
        )  # a dead attempt's rows, before this one opens its own
        start = time.time()
        stage_seconds = _dvc_exp_run(exp, attempt, env)
        end = time.time()
        if sh(["dvc", "config", "core.remote"], attempt, env, check=False):
            sh(["dvc", "push", "-q"], attempt, env)  # the model and codes, for machines that do not share this cache
        from ..study import record

        ref = _experiment_ref(attempt, exp.name, env)
        out = attempt / "exp.bundle"
        _git(attempt, env, "bundle", "create", "-q", str(out), ref, f"^{BASE_REF}")
        rec, attachments = record.build(
            attempt,
            stage_seconds,
            int(start * 1000),
            int(end * 1000),
            f"{worker.name} ({worker.address} on {os.uname().nodename})",
        )
        return Result(exp.name, ref, out.read_bytes(), rec, attachments)
    finally:
        shutil.rmtree(attempt, ignore_errors=True)


def _unpacked(scratch: Path, code: Code, shared: bytes) -> tuple[Path, Path]:
    """The bundle and the shared outputs in this worker's scratch, written once per snapshot
    (into a temporary name, then renamed: a worker killed half way leaves nothing that looks done)."""
    scratch.mkdir(parents=True, exist_ok=True)
    bundle, data = scratch / f"{code.snapshot}.bundle", scratch / f"{code.snapshot}-shared"
    if not bundle.exists():
        tmp = bundle.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_bytes(code.bundle)
        os.replace(tmp, bundle)
    if not data.exists():
        tmp = scratch / f".{data.name}.tmp-{uuid.uuid4().hex[:8]}"
        with tarfile.open(fileobj=io.BytesIO(shared)) as tar:
            _extract(tar, tmp)
        os.replace(tmp, data)
    return bundle, data


def _extract(tar: tarfile.TarFile, into: Path) -> None:
    """tarfile's "data" filter where the Python has it (3.10.12, 3.11.4 and later); before those
    (Debian 12's 3.11.2) the same rule for what the driver packs: plain files and folders inside
    `into`, nothing else."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(into, filter="data")
        return
    for m in tar.getmembers():
        if not (m.isfile() or m.isdir()) or Path(m.name).is_absolute() or ".." in Path(m.name).parts:
            raise PriorgapError(
                f"the shared outputs' tar holds {m.name!r}, which is not a plain file inside it; "
                "re-run make study (the driver packs data/mnist, data/classifier, data/reference)"
            )
    tar.extractall(into)


def _environment(code: Code, threads: int, attempt: Path) -> dict:
    """The stages' environment: this worker's Python first on PATH (dvc.yaml calls `python`), the
    experiment's own library first on the import path, the driver's tracking store, as many torch
    threads as the worker has, and nothing of a DVC experiment the worker itself may have been
    started from. The import path matters: the worker's environment has priorgap installed
    editable from some checkout (this one, on the driver's machine), whose files may be newer or
    older than the snapshot's, and the stages must run the code the experiment is of."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DVC_") and k != "MLFLOW_TRACKING_URI"}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        MLFLOW_TRACKING_URI=code.tracking_uri,
        PYTHONPATH=os.pathsep.join([str(attempt / "src"), *filter(None, [env.get("PYTHONPATH")])]),
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        DVC_NO_ANALYTICS="1",
    )
    return env


def _git(cwd: Path, env: dict, *args: str, check: bool = True) -> str:
    return sh(["git", *args], cwd, env, check)


def _clone(bundle: Path, attempt: Path, env: dict) -> None:
    """HEAD at the baseline, the working tree (and index) at the snapshot: the experiment is the
    baseline plus the user's uncommitted changes, as DVC's own queue makes it."""
    attempt.mkdir(parents=True)
    _git(attempt, env, "init", "-q")
    _git(attempt, env, "fetch", "-q", str(bundle), f"{BASE_REF}:{BASE_REF}", f"{SNAPSHOT_REF}:{SNAPSHOT_REF}")
    _git(attempt, env, "checkout", "-q", "--detach", BASE_REF)
    _git(attempt, env, "restore", "--source", SNAPSHOT_REF, "--staged", "--worktree", ".")
    if not _git(attempt, env, "config", "user.email", check=False):  # DVC commits the experiment
        _git(attempt, env, "config", "user.name", "priorgap study worker")
        _git(attempt, env, "config", "user.email", "priorgap-worker@localhost")


def _use_cache(attempt: Path, cache: Path, env: dict) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    sh(["dvc", "cache", "dir", "--local", str(cache)], attempt, env)


def _dvc_exp_run(exp: Experiment, attempt: Path, env: dict) -> dict:
    """`dvc exp run`; the seconds of each stage it ran, timed from its "Running stage" lines. A
    failure raises ExperimentFailed with the stage's own error line and the whole output."""
    cmd = ["dvc", "exp", "run", "-n", exp.name, *(x for o in exp.overrides for x in ("-S", o))]
    seconds, current, since = {}, None, time.time()
    lines = []
    with subprocess.Popen(
        cmd, cwd=attempt, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as proc:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            stage = STAGE_LINE.search(line)
            if stage:
                now = time.time()
                if current:
                    seconds[current] = now - since
                current, since = stage.group(1), now
    if current:
        seconds[current] = time.time() - since
    if proc.returncode != 0:
        errors = [m.group(1) for m in map(ERROR_LINE.search, lines) if m]
        stage_errors = [e for e in errors if not e.startswith("ERROR")]
        raise ExperimentFailed(
            f"{exp.name}: {(stage_errors or errors or lines or ['dvc exp run failed'])[-1]}", "\n".join(lines) + "\n"
        )
    return seconds


def _experiment_ref(attempt: Path, name: str, env: dict) -> str:
    refs = [
        r
        for r in _git(attempt, env, "for-each-ref", "--format=%(refname)", "refs/exps").splitlines()
        if r.rsplit("/", 1)[-1] == name
    ]
    if len(refs) != 1:
        raise RuntimeError(f"dvc exp run left {len(refs)} refs named {name} in {attempt}: {refs}")
    return refs[0]
