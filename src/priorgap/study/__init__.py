"""The study as data: its design (design.py), its runs (runs.py), the committed runs file
(runs_file.py) and each run's record (record.py). Below the execution, the analysis and the report."""
