"""The docs site builds with every link and page in place, and nothing the repository ships points
outside it."""
import re
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

MKDOCS = Path(sys.executable).parent / "mkdocs"
SHIPPED = ["README.md", "docs", "src", "reports", "mkdocs.yml"]


def _build(root: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(MKDOCS), "build", "--strict", "--site-dir", str(site)], cwd=root,
                          capture_output=True, text=True, env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(MKDOCS.parent)})


def test_the_site_builds_strict(tmp_path):
    """--strict turns every warning into a failure: a link to a missing page or anchor, a page left
    out of the nav, a docstring mkdocstrings cannot render."""
    out = _build(ROOT, tmp_path / "site")
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "site" / "method" / "aggregate-posterior" / "index.html").is_file()


def test_a_broken_link_fails_the_build():
    """The build above can fail: --strict makes mkdocs's warnings errors, and a link to a missing page
    or anchor is a warning (validation), so one such link fails it. Checked on the config, so the
    site is built once."""
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert cfg["strict"] is True
    assert cfg["validation"]["links"]["not_found"] == "warn" and cfg["validation"]["links"]["anchors"] == "warn"


def _shipped_text():
    for name in SHIPPED:
        path = ROOT / name
        for f in [path] if path.is_file() else sorted(path.rglob("*")):
            if f.is_file() and f.suffix in (".md", ".py", ".yml", ".csv", ".jsonl", ".json"):
                yield f.relative_to(ROOT).as_posix(), f.read_text()


# ../shared (notes beside a checkout), a machine's absolute paths, a link to a folder above the repository
OUTSIDE = re.compile(r"\.\./shared|(?<![\w.])/(?:tmp|home|root|work)/\w|\]\((?:\.\./){2,}")


def test_nothing_shipped_points_outside_the_repository():
    hits = [f"{name}: {m.group(0)}" for name, text in _shipped_text() for m in OUTSIDE.finditer(text)]
    assert not hits, hits


def test_the_outside_pattern_catches_what_it_should():
    for bad in (
        "see ../shared/science-notes.md",
        "sqlite:////root/x.db",
        "read /work/main/data",
        "[x](../../notes.md)",
    ):
        assert OUTSIDE.search(bad), bad
    for fine in ("data/raw/", "`reports/study.md`", "[x](../pipeline.md)", "https://example.org/tmp/x"):
        assert not OUTSIDE.search(fine), fine


def test_the_readme_lists_every_page_of_the_site():
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), flags=re.M)
    readme = (ROOT / "README.md").read_text()
    assert len(nav) > 10 and [p for p in nav if p != "index.md" and f"(docs/{p})" not in readme] == []


def test_the_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 150


def _docs(name: str) -> str:
    return (ROOT / "docs" / name).read_text()


def test_the_counts_the_docs_give_are_the_codes():
    """A count the code knows is checked here, so a change that moves it fails until the page says so."""
    from priorgap.config import schema
    from priorgap.study import design, record

    params = schema.load_all(ROOT / "params.yaml")
    from priorgap.study import runs_file

    planned = len(design.design())
    records = sum(record.exists(ROOT / "reports" / "runs", p.name) for p in (ROOT / "reports" / "runs").iterdir())
    assert records == len(runs_file.read(ROOT / "reports" / "study.csv"))  # a row for each record, and no more
    assert f"design of {planned} runs" in _docs("study-runner.md")
    assert f"holds {records} of the design's {planned} runs" in _docs("experiments.md")
    grid = (
        ", ".join(map(str, params["posterior.gmm.components"][:-1])) + f" and {params['posterior.gmm.components'][-1]}"
    )
    assert f"params.yaml's {grid}" in _docs("method/aggregate-posterior.md")
    assert "`data/codes/{train,val,test,prior}.npz`" in _docs("pipeline.md")


def _tracking_snippet() -> str:
    text = (ROOT / "docs" / "tracking.md").read_text()
    found = [b for b in re.findall(r"```python\n(.*?)```", text, flags=re.S) if "existing_uri" in b]
    assert len(found) == 1, "docs/tracking.md's snippet that reads the pipeline rows"
    return found[0]


def test_the_tracking_snippet_outside_the_repository_says_so_and_creates_nothing(tmp_path):
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("MLFLOW_", "DVC_"))}
    proc = subprocess.run(
        [sys.executable, "-c", _tracking_snippet()], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1] == (
        f"priorgap.tracking.store.TrackingError: no MLflow store at {tmp_path.resolve() / 'mlflow.db'}; run "
        "this inside "
        "the repository (after `make repro`) or set MLFLOW_TRACKING_URI"
    )
    assert not (tmp_path / "mlflow.db").exists()


def test_the_tracking_snippet_reads_the_pipeline_rows(tmp_path, mlflow_store, monkeypatch):
    from conftest import write_params

    from priorgap.config import schema
    from priorgap.tracking import stage_runs
    from priorgap.summary import headline

    monkeypatch.chdir(tmp_path)
    params = write_params(tmp_path / "params.yaml", **{"model.latent_dim": 5})
    with stage_runs.stage_run("summarize", {}, params) as run:
        run.log_pipeline_row(schema.load_all(params), {k: -101.5 for k in headline.HEADLINE})
    proc = subprocess.run(
        [sys.executable, "-c", _tracking_snippet()], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "d2-z5-s0-e20" in proc.stdout and "-101.5" in proc.stdout
