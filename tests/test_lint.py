"""ruff, configured in pyproject.toml, finds nothing in the code: run here so the fast tier fails on
an unused import or an undefined name."""
import subprocess
import sys

from conftest import ROOT


def test_ruff_finds_nothing():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "stages", "tests", "benchmarks"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_ruff_sees_an_undefined_name(tmp_path):
    (tmp_path / "bad.py").write_text("import os\nprint(undefined)\n")
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "F401" in out.stdout and "F821" in out.stdout
