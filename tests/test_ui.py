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

from priorgap.common import store, tracking
from priorgap.summary import headline

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [pytest.mark.slow,  # a live MLflow server and a browser
              pytest.mark.skipif(CHROMIUM is None, reason="needs headless Chromium (apt-get install chromium)")]


def _row(params: Path, latent: int, value: float) -> str:
    with tracking.stage_run("summarize", {}, params, last=True) as run:
        run.log_pipeline_row({"model.latent_dim": latent}, {k: value for k in headline.HEADLINE})
        run.save_view("headline", headline.VIEW_METRICS, headline.VIEW_PARAMS)
        return run.experiment_id


def test_saved_view_shows_pipeline_rows_and_headline_columns(tmp_path, mlflow_store, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for latent, value in ((2, -140.25), (5, -101.5)):
        exp_id = _row(write_params(tmp_path / f"params{latent}.yaml", **{"model.latent_dim": latent}), latent, value)

    with mlflow_server(mlflow_store) as ui:
        url = store.view_url(exp_id, ui=ui)
        browser = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=2200,1000",
                   "--virtual-time-budget=20000"]
        dom = subprocess.run([*browser, "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
        subprocess.run([*browser, f"--screenshot={tmp_path / 'runs.png'}", url], capture_output=True, timeout=120)
    for shown in ("d2-z2-s0-e20", "d2-z5-s0-e20", "Training runs", "tags.`priorgap.kind` = 'pipeline'",
                  "test_elbo", "kl_q_prior_lower_bound", "fd.prior", "model.latent_dim", "-140.25", "-101.5"):
        assert shown in dom, shown
    # each pipeline row ends with an end time, so the runs table shows its duration (1.5s, 40ms, ...)
    assert "Duration" in dom
    assert len(re.findall(r">\d+(?:\.\d+)?(?:ms|s|min|h)<", dom)) == 2, "a pipeline row without a duration"
    assert (tmp_path / "runs.png").stat().st_size > 50_000  # a rendered page, kept for a look
