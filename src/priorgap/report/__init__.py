"""The study report: reports/study.md and its figures from the runs file and records
(`python -m priorgap.report`, `make report`)."""
