"""The MLflow UI shows the pipeline rows with their headline columns: checked in a real browser.

Starts `mlflow server` on a store holding two pipeline rows as summarize leaves them, opens the
saved view in headless Chromium (Debian: `apt-get install chromium`) and reads the rendered page.
Skipped, saying why, where no Chromium is installed.
"""
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import mlflow_server, write_params

from priorgap.tracking import stage_runs, store
from priorgap.summary import headline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,  # a live MLflow server and a browser
              pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium)")]


def _row(params: Path, value: float) -> str:
    from priorgap.config import schema

    with stage_runs.stage_run("summarize", {}, params) as run:
        values = {k: value for k in headline.HEADLINE}
        run.log_pipeline_row(schema.load_all(params), {**values, **headline.view_figures(values)})
        run.save_view("headline", headline.VIEW_METRICS, headline.VIEW_PARAMS)
        return run.experiment_id


def _render(url: str, width: int, shot: Path) -> str:
    browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--window-size={width},1000",
               "--virtual-time-budget=20000"]
    dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    subprocess.run([*browser, f"--screenshot={shot}", url], capture_output=True, timeout=120)
    return dom


def _columns(dom: str) -> dict[str, tuple[int, int, int]]:
    """The runs table's rendered headers: column id -> (position, left, right) in pixels (the grid
    renders only the columns in view)."""
    found = re.findall(
        r'aria-colindex="(\d+)" col-id="((?:metrics|params)\.[^"]+)"[^>]*left: (\d+)px; width: (\d+)px', dom
    )
    return {c.replace("&amp;", "&"): (int(i), int(left), int(left) + int(w)) for i, c, left, w in found}


def test_saved_view_puts_the_answer_first_and_the_settings_after(tmp_path, mlflow_store, monkeypatch):
    """A width sweep, as a user runs it: two rows that differ only in width. At 1,400 px the
    figures that answer the question are the first columns in view, beside the run's name, even
    with MLflow's assistant panel open (as it opens on a browser's first visit); the settings a
    study varies follow them."""
    monkeypatch.chdir(tmp_path)
    for width, value in ((125, -140.25), (1000, -101.5)):
        exp_id = _row(write_params(tmp_path / f"params{width}.yaml", **{"model.encoder.width": width}), value)

    with mlflow_server(mlflow_store) as ui:
        url = store.view_url(exp_id, uri=ui)  # a server: the view at its own address
        narrow = _render(url, 1400, tmp_path / "runs-1400.png")
        wide = _render(url, 3000, tmp_path / "runs-3000.png")
    for shown in (
        "d2-w125-z2-s0-e20-cb",
        "d2-w1000-z2-s0-e20-cb",
        "tags.`priorgap.kind` = 'pipeline'",
        "-140.25",
        "-101.5",
        "Model registry",
    ):  # the model-training side bar, not the GenAI one
        assert shown in narrow, shown
    columns = _columns(narrow)
    first = [f"metrics.`{m}`" for m in ("test_elbo", "kl_q_prior_lower_bound", "fd.prior", headline.BEST_FD)]
    assert [columns[c][0] for c in first] == [2, 3, 4, 5], columns
    assert max(columns[c][2] for c in first) <= 400  # in view beside the pinned name and date at 1,400 px
    # every setting the study varies is a column, after the figures, in the view's order
    columns = _columns(wide)
    settings = [columns[f"params.`{p}`"][0] for p in headline.VIEW_PARAMS]
    assert settings == sorted(settings) and min(settings) > len(headline.VIEW_METRICS) + 1, columns
    # each pipeline row ends with an end time, so the runs table shows its duration (1.5s, 40ms, ...)
    assert "Duration" in wide
    assert len(re.findall(r">\d+(?:\.\d+)?(?:ms|s|min|h)<", wide)) == 2, "a pipeline row without a duration"
    assert (tmp_path / "runs-1400.png").stat().st_size > 50_000  # a rendered page, kept for a look


def test_the_study_view_shows_the_settings_the_bound_and_both_fds_at_1400_px(tmp_path, mlflow_store, monkeypatch):
    """`make study-mlflow`'s view, as the issue's reader opens it: at 1,400 px with the assistant
    panel open, each run's name (its settings) and the bound and both FDs are in view unscrolled."""
    import shutil as sh

    from conftest import ROOT

    from priorgap.study import to_mlflow

    records = tmp_path / "runs"
    for name in ("d1-z10-wu10-s0-cb", "d3-z10-wu10-s0-cb", "d1-w125-z10-s0", "d1-z10-b0.5-s0"):
        sh.copytree(ROOT / "reports" / "runs" / name, records / name)
    to_mlflow.main(["--records", str(records), "--reports", str(tmp_path / "no-reports")])
    import mlflow

    exp_id = mlflow.MlflowClient(mlflow_store).get_experiment_by_name(to_mlflow.EXPERIMENT).experiment_id
    with mlflow_server(mlflow_store) as ui:
        dom = _render(store.view_url(exp_id, to_mlflow.VIEW, uri=ui), 1400, tmp_path / "study-1400.png")
    for name in ("d1-z10-wu10-s0-cb", "d3-z10-wu10-s0-cb", "d1-w125-z10-s0", "d1-z10-b0.5-s0"):
        assert f">{name}<" in dom, name  # whole, not cut
    columns = _columns(dom)
    first = [f"metrics.`{m}`" for m in ("kl_q_prior_lower_bound", "fd.prior", headline.BEST_FD)]
    assert [columns[c][0] for c in first] == [2, 3, 4], columns
    assert max(columns[c][2] for c in first) <= 300  # beside the pinned name and date at 1,400 px
