"""ruff, configured in pyproject.toml, finds nothing in the code: run here so the fast tier fails on
an unused import, an undefined name or a line over 120 characters; and no module outgrows a sitting."""
import subprocess
import sys

from conftest import ROOT


def test_ruff_finds_nothing():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "src", "stages", "tests", "benchmarks"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_ruff_sees_an_undefined_name(tmp_path):
    (tmp_path / "bad.py").write_text("import os\nprint(undefined)\n")
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "F401" in out.stdout and "F821" in out.stdout


def test_no_module_is_over_300_lines():
    """A reader takes a file top-down in one sitting: past 300 lines, split it by what it does."""
    files = [*(ROOT / "src").rglob("*.py"), *(ROOT / "stages").glob("*.py")]
    long = {p.relative_to(ROOT).as_posix(): n for p in files if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long


def test_ruff_sees_a_long_line(tmp_path):
    (tmp_path / "long.py").write_text(f"x = {'1 + ' * 40}1\n")
    out = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "E501" in out.stdout
