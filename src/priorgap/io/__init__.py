"""Files and programs: atomic outputs (outputs.py), the one rule for a missing or unreadable input
(files.py), model files (checkpoints.py), running git and dvc (shell.py), and how a figure is written
for a reader (numbers.py)."""
