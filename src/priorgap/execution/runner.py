"""The study on Dask: every experiment the runs file lacks, on an embedded cluster or on yours.

    python -m priorgap.execution.runner [--part grid,vamp] [--scheduler tcp://HOST:8786 | --jobqueue slurm --jobs 4]
                                    [--workers N] [--threads T] [--limit N] [--list]          (make study)

Where the experiments run:
- by default on a `LocalCluster` sized to this machine: one single-threaded worker per core (one
  -thread workers do more work than fewer wider ones: docs/benchmarks.md);
- `--scheduler ADDRESS` (or STUDY_SCHEDULER): on a running cluster, `dask scheduler` and a
  `dask worker ADDRESS --nthreads 1` on each machine;
- `--jobqueue slurm|pbs|sge|lsf` (or STUDY_JOBQUEUE) with `--jobs N`: on a batch system through
  dask-jobqueue, configured as its docs say (~/.config/dask/jobqueue.yaml).
Dask schedules, retries experiments whose worker died (on another worker where there is one) and
routes them: where workers advertise a GPU (`dask worker --resources GPU=1`), every experiment
needs one, and `train.device: auto` does the rest.

Each experiment stays what `dvc exp run --queue` makes of it: a DVC experiment of the user's HEAD
plus its working tree (listed by `dvc exp show` here: its git ref comes back as a bundle), and one
MLflow pipeline row in the tracking store (MLFLOW_TRACKING_URI, which every worker must reach:
a server for more than one machine). The shared stages run once, here, before anything is handed
out (worker.py). As each experiment finishes, its record goes to reports/runs/<name>/ and its row
to reports/study.csv, each swapped in whole: stopping at any moment loses only the experiments
still running, and the next call runs what the runs file lacks.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


from ..errors import PriorgapError
from ..tracking import stage_runs, store
from ..io.outputs import atomic_write_text
from ..io.shell import sh
from ..study import design, record, runs_file
from . import worker
from .clusters import JOBQUEUE, TLS, Embedded, StudyError, connect, has_bokeh
from .snapshot import SHARED, shared_outputs, snapshot

SHARED_ROW = "study-shared-stages"  # their MLflow row, not the workspace's experiment's
ENVIRONMENT = """environment (what `make study` passes on):
  STUDY_SCHEDULER   a running Dask scheduler's address, as --scheduler
  STUDY_JOBQUEUE    slurm, pbs, sge or lsf, as --jobqueue (dask-jobqueue's own config sizes the jobs)
  STUDY_JOBS        batch jobs, as --jobs
  STUDY_LIMIT       run at most this many experiments, as --limit
  STUDY_PARTS       the parts `make study` runs, as --part (the Makefile's variable)
  STUDY_TLS_CA_FILE, STUDY_TLS_CERT, STUDY_TLS_KEY
                    this client's TLS files for a tls:// scheduler, as --tls-ca-file, --tls-cert, --tls-key
  MLFLOW_TRACKING_URI  the store every worker logs to (a server for more than one machine)
  MLFLOW_TRACKING_USERNAME, MLFLOW_TRACKING_PASSWORD
                    the tracking server's credentials (mlflow server --app-name basic-auth); never logged"""
LOGS = Path(".dvc/tmp/study-logs")  # a failed experiment's whole log, under the repository


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="python -m priorgap.execution.runner", description=__doc__.splitlines()[0],
                                 epilog=ENVIRONMENT, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", default=",".join(design.PARTS), help=f"comma-separated parts ({', '.join(design.PARTS)})")
    ap.add_argument("--csv", type=Path, default=Path("reports/study.csv"), help="the runs file")
    ap.add_argument("--records", type=Path, default=Path("reports/runs"), help="where each run's record goes")
    ap.add_argument("--scheduler", default=os.environ.get("STUDY_SCHEDULER") or None, help="a running Dask scheduler")
    ap.add_argument("--jobqueue", default=os.environ.get("STUDY_JOBQUEUE") or None, choices=sorted(JOBQUEUE))
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("STUDY_JOBS", 1)), help="batch jobs (--jobqueue)")
    for dest, (flag, env, what) in TLS.items():
        ap.add_argument(flag, dest=f"tls_{dest}", default=os.environ.get(env) or None,
                        help=f"a tls:// scheduler: {what} (PEM)")
    ap.add_argument("--workers", type=int, default=None, help="embedded cluster: workers (default: one per core)")
    ap.add_argument("--threads", type=int, default=1, help="embedded cluster: threads per worker")
    ap.add_argument("--limit", type=int, default=int(os.environ.get("STUDY_LIMIT", 0)) or None,
                    help="run at most this many of them (a slice first, to measure)")
    ap.add_argument("--list", action="store_true", help="list the experiments the runs file lacks, run nothing")
    args = ap.parse_args(argv)
    todo = design.todo(args.part, args.csv)[: args.limit]
    if args.list or not todo:
        for p in todo:
            print(f"{p.part:7} {p.name}")
        return
    failed = run_study([p.experiment() for p in todo], Path.cwd(), args.csv, args.records, connect(args))
    if failed:
        raise StudyError(f"{len(failed)} experiments failed ({', '.join(failed)}); fix their params or code and "
                         "re-run `make study`: it runs only what the runs file lacks")


def run_study(experiments: list[worker.Experiment], root: Path, csv: Path, records: Path, cluster) -> list[str]:
    """Prepare once here, then hand the experiments to `cluster` (a context manager giving a
    dask Client) and keep each as it finishes. Returns the names of those that failed."""
    uri = store.tracking_uri()
    store.check_reachable(uri)
    if store.sqlite_path(uri) is not None and not isinstance(cluster, Embedded):
        print(
            f"study: warning: the workers log to {store.shown(uri)}, a file on this machine: workers elsewhere need a "
            "tracking server (MLFLOW_TRACKING_URI=http://...)"
        )
    with cluster as client:  # first: an unreachable scheduler fails before minutes of shared stages
        store.ensure_store(uri)
        # the shared stages, once per study: no experiment re-runs them. They log under a row of
        # their own, which summarize never ends (it is no experiment's stage), so it is ended here
        sh(
            ["dvc", "repro", "-q", *SHARED],
            root,
            env={**os.environ, "DVC_EXP_NAME": SHARED_ROW, stage_runs.ROW_NAME_ENV: SHARED_ROW},
        )
        stage_runs.end_running(uri, SHARED_ROW, "FINISHED", pipeline_only=True)
        code = snapshot(root, uri)
        try:
            return keep_as_finished(client, experiments, code, shared_outputs(root), root, csv, records)
        finally:
            sh(["git", "update-ref", "-d", worker.SNAPSHOT_REF], root)
            sh(["git", "update-ref", "-d", worker.BASE_REF], root)


def keep_as_finished(
    client, experiments, code: worker.Code, shared: bytes, root: Path, csv: Path, records: Path, task=worker.run
) -> list[str]:
    from distributed import as_completed
    from tqdm import tqdm

    futures = submit(client, experiments, code, shared, task)
    failed = []
    with tqdm(total=len(futures), unit="exp", desc="study", dynamic_ncols=True) as bar:
        for fut in as_completed(futures):
            exp = futures.pop(fut)
            if fut.status == "finished":
                res = fut.result()
                keep(res, root, csv, records)
                sec = res.record["stage_seconds"]
                bar.write(
                    f"study: {exp.name} done on {res.record['worker']}: train {sec.get('train', 0):.0f} s, "
                    f"the rest {sum(sec.values()) - sec.get('train', 0):.0f} s"
                )
            elif fut.status == "error":
                failed.append(exp.name)
                exc = fut.exception()
                bar.write(f"study: {exp.name} failed, not retried: {_reason(exc)}{keep_log(exp.name, exc, root)}")
            else:  # cancelled: the scheduler is gone, and with it every experiment not yet back
                for f in futures:
                    f.release()
                raise StudyError(
                    f"the Dask scheduler at {client.scheduler.address} went away with {len(futures) + 1} "
                    f"experiments unfinished; start it again and re-run `make study` (the finished ones "
                    f"are in {csv})"
                )
            bar.update()
    print(
        f"study: {bar.n - len(failed)} finished, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}; "
        f"runs file {csv}, records {records}/"
    )
    return failed


TASK_GROUP = "priorgap-experiment"  # what the Dask dashboard calls the study's tasks


def submit(client, experiments, code: worker.Code, shared: bytes, task=worker.run) -> dict:
    """{future: experiment}. Never retried on an error (a failed experiment fails the same way
    again); Dask reschedules one whose worker died, up to its allowed-failures (3)."""
    # the bundle and the shared outputs travel to each worker once, not once per experiment
    code_f, shared_f = client.scatter([code, shared], broadcast=True)
    resources = gpu_resources(client)
    # one key prefix, so every experiment is in one Dask task group. Keys named by the experiment
    # alone (d1-z2-s0-...) make a group per depth, and a worker that comes free sits idle until work
    # stealing moves a task queued behind a long one (benchmarks/idle_gaps.py)
    futures = {
        client.submit(
            task, e, code_f, shared_f, key=f"{TASK_GROUP}-{e.name}-{code.snapshot[:10]}", retries=0, resources=resources
        ): e
        for e in experiments
    }
    where = " on the workers' GPUs" if resources else ""
    print(
        f"study: {len(futures)} experiments{where} on {len(client.scheduler_info()['workers'])} workers "
        f"(scheduler {client.scheduler.address}{_dashboard(client)})",
        flush=True,
    )
    return futures


def keep(res: worker.Result, root: Path, csv: Path, records: Path) -> None:
    """The experiment's git ref into this repository, its record, then its row in the runs file:
    the row is written last, so a run the runs file holds has its record and its experiment."""
    with tempfile.NamedTemporaryFile(suffix=".bundle") as f:
        f.write(res.bundle)
        f.flush()
        sh(["git", "fetch", "-q", "--no-write-fetch-head", f.name, f"+{res.ref}:{res.ref}"], root)
    record.write(records, res.name, res.record, res.attachments)
    rows = runs_file.merge(runs_file.read(csv) if csv.is_file() else [], [record.row({"name": res.name, **res.record})])
    atomic_write_text(csv, runs_file.render(rows))


def keep_log(name: str, exc: BaseException, root: Path) -> str:
    """A failed experiment's whole `dvc exp run` output, kept beside DVC's own experiment logs
    (.dvc/tmp, which git ignores); returns the words that say where, for the failure line."""
    log = getattr(exc, "log", "")
    if not log:
        return ""
    path = root / LOGS / f"{name}.log"
    atomic_write_text(path, log)
    return f" (its whole log: {path.relative_to(root)})"


def _reason(exc: BaseException) -> str:
    from distributed import KilledWorker

    if isinstance(exc, KilledWorker):
        return f"its worker died on every try ({exc}); look for memory or a crash in the workers' logs"
    return str(exc) if isinstance(exc, PriorgapError) else f"{type(exc).__name__}: {exc}"


def gpu_resources(client) -> dict | None:
    """{"GPU": 1} where any worker advertises a GPU: the experiments then go to GPU workers only."""
    workers = client.scheduler_info()["workers"].values()
    return {"GPU": 1} if any(w.get("resources", {}).get("GPU") for w in workers) else None


def _dashboard(client) -> str:
    return f", dashboard {client.dashboard_link}" if has_bokeh() else ""


if __name__ == "__main__":
    from ..config.cli import run_stage

    run_stage("study", main)
