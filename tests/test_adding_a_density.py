"""docs/adding-a-density.md, run as written: its code blocks (a new module, one line, a params
section) applied to a copy of the repository, its commands run there, and the kernel density it
adds fitted, scored, sampled and listed by the pipeline, with no other edit."""
import json
import math
import os
import re
import shutil
import subprocess

import pytest
import yaml
from conftest import ROOT, environment

pytestmark = pytest.mark.slow  # make deps and dvc repro on a tiny clone

PAGE = ROOT / "docs" / "adding-a-density.md"


def blocks(text: str) -> list[tuple[str, str, str]]:
    """(language, title, body) of each fenced code block of the page."""
    return [(m[1], m[2] or "", m[3]) for m in re.finditer(r'```(\w+)(?: title="([^"]*)")?\n(.*?)```', text, re.S)]


def apply(repo, found) -> list[str]:
    """Each titled block where its title says; returns the bash block's commands."""
    commands = []
    for lang, title, body in found:
        if title == "src/priorgap/latent/catalog.py":  # the one line: it replaces the import line
            path = repo / title
            lines = path.read_text().splitlines(keepends=True)
            (i,) = [i for i, line in enumerate(lines) if line.startswith("from . import aggregate")]
            lines[i] = body
            path.write_text("".join(lines))
        elif title.startswith("params.yaml"):  # under posterior: right after its first line
            text = (repo / "params.yaml").read_text()
            (repo / "params.yaml").write_text(text.replace("\nposterior:\n", "\nposterior:\n" + body, 1))
        elif title:
            (repo / title).write_text(body)
        elif lang == "bash":
            commands += [line.split("#")[0].strip() for line in body.splitlines() if line.split("#")[0].strip()]
    return commands


def test_the_page_adds_a_kernel_density_with_one_module_and_one_line(tmp_path, upstream):
    repo = tmp_path / "repo"
    shutil.copytree(upstream, repo, symlinks=True)
    env = {**environment(f"sqlite:///{repo / 'mlflow.db'}"), "PYTHONPATH": str(repo / "src")}
    commands = apply(repo, blocks(PAGE.read_text()))
    assert commands == ["make deps", "dvc repro"]
    touched = subprocess.run(
        "git status --porcelain", shell=True, cwd=repo, env=env, capture_output=True, text=True
    ).stdout
    assert sorted(touched.split("\n")[:-1]) == [
        " M params.yaml",
        " M src/priorgap/latent/catalog.py",
        "?? src/priorgap/latent/kde.py",
    ]
    diff = subprocess.run(
        "git diff --numstat src/priorgap/latent/catalog.py",
        shell=True,
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    assert diff.split()[:2] == ["1", "1"]  # one line
    (repo / ".venv").symlink_to(ROOT / ".venv")  # make finds the project installed; src/ is the copy's (PYTHONPATH)
    for built_from in ("requirements.lock", "pyproject.toml"):  # a fresh copy's are newer than the install
        os.utime(repo / built_from, (0, 0))
    for cmd in commands:
        proc = subprocess.run(cmd, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"

    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    assert stages["fit"]["foreach"]["kde"] == {
        "module": "src/priorgap/latent/kde.py",
        "params": "posterior.kde",
    }  # make deps wrote it
    scores = json.loads((repo / "data/posterior/metrics.json").read_text())["densities"]
    assert math.isfinite(scores["kde"]["heldout_gain"]) and scores["kde"]["capacity"] in (0.2, 0.3, 0.5)
    assert "kde" in (repo / "data/posterior/capacity.csv").read_text()
    assert (repo / "data/eval/samples/kde.png").is_file()
    headline = json.loads((repo / "data/summary/metrics.json").read_text())
    assert 0 < headline["fd"]["kde"] < 1e4  # a candidate: the headline lists it

    # a sweep of its bandwidths re-runs its own fit and what reads the fits, no other density
    params = repo / "params.yaml"
    params.write_text(params.read_text().replace("bandwidths: [0.2, 0.3, 0.5]", "bandwidths: [0.25]", 1))
    proc = subprocess.run("dvc repro", shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:]
    ran = set(re.findall(r"Running stage '([\w@-]+)'", proc.stdout))
    assert ran == {"check", "fit@kde", "fit_posterior", "evaluate", "summarize"}, ran
