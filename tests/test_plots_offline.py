"""`dvc plots show` works offline: vega, vega-lite and vega-embed are inlined in the page.

The template is built by `make setup` (python -m priorgap.reproducibility.plot_templates, from the npm registry)
and configured in .dvc/config.local; without it DVC falls back to its CDN page.
"""
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

TEMPLATE = ROOT / ".dvc" / "plots_template.html"


@pytest.mark.skipif(not TEMPLATE.is_file(), reason="plots template not built: run `make setup`")
def test_dvc_plots_page_loads_nothing_from_the_network(tmp_path):
    text = TEMPLATE.read_text()
    assert "{plot_divs}" in text and "vegaEmbed" in text and "<script src=" not in text
    out = tmp_path / "plots"
    subprocess.run([str(Path(sys.executable).parent / "dvc"), "plots", "show", "-o", str(out)], cwd=ROOT,
                   check=True, capture_output=True, timeout=120)
    page = (out / "index.html").read_text()
    assert "vegaEmbed('#" in page  # the interactive charts are there
    assert "cdn.jsdelivr" not in page and "<script src=" not in page
    assert '"title": "ELBO (nats per image)"' in page  # axis titles, not "y"
