"""The study report's command: `python -m priorgap.report` (or `make report`); study/report.py says what it does.

A command at the package's top, like the stage scripts above the library: it spans experiments,
so no DVC stage runs it and nothing imports it.
"""
from priorgap.common.cli import run_stage
from priorgap.study.report import main

if __name__ == "__main__":
    run_stage("report", main)
