"""MLflow: where the runs are kept (store.py), the pipeline row and its stage runs (stage_runs.py), and the
names the study's settings go by (naming.py). No output of a stage depends on these (reproducibility/stage_deps.py)."""
