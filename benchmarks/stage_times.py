"""Wall time of each stage of the latest pipeline runs, read from the MLflow store.

    python benchmarks/stage_times.py [--runs 1]

Uses the same store as the stages (MLFLOW_TRACKING_URI, else mlflow.db at the repository root).
A stage that DVC skipped (cached) has no run in a pipeline run and is listed as "cached".
"""
import argparse
import sys

from priorgap.tracking import stage_runs, store

STAGES = ("prepare", "train", "encode", "fit_posterior", "classifier", "reference", "evaluate")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="how many of the latest pipeline runs")
    args = ap.parse_args()
    import mlflow

    client = mlflow.MlflowClient(store.tracking_uri())
    exp = client.get_experiment_by_name(store.EXPERIMENT)
    if exp is None:
        sys.exit(f"no '{store.EXPERIMENT}' experiment in {store.tracking_uri()}: run `dvc repro` first")
    parents = client.search_runs([exp.experiment_id], "tags.`priorgap.kind` = 'pipeline'",
                                 order_by=["attributes.start_time DESC"], max_results=args.runs)
    for parent in parents:
        children = client.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'",
                                      order_by=["attributes.start_time ASC"])
        latest = {c.data.tags.get(stage_runs.STAGE_TAG): c for c in children}  # a re-run stage: its last run
        print(f"pipeline run {parent.info.run_name} ({parent.info.run_id[:8]}):")
        total = 0.0
        for stage in STAGES:
            run = latest.get(stage)
            if run is None or run.info.end_time is None:
                print(f"  {stage:14s} {'cached' if run is None else run.info.status}")
                continue
            seconds = (run.info.end_time - run.info.start_time) / 1000
            total += seconds
            print(f"  {stage:14s} {seconds:7.1f} s  {run.info.status}")
        print(f"  {'total':14s} {total:7.1f} s  (inside MLflow runs; each stage also spends ~3-5 s importing)")


if __name__ == "__main__":
    main()
