"""`python -m priorgap.report` (or `make report`): study_page.py says what it does. It spans
experiments, so no DVC stage runs it."""
from priorgap.config.cli import run_stage
from priorgap.report.study_page import main

if __name__ == "__main__":
    run_stage("report", main)
