"""docs/measure-your-own-vae.md, run as written: its Python blocks in order (a tiny VAE trained for
seconds, its codes, the report, the sampler, a pythae model's codes), then its commands on the
codes those blocks made."""
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow  # three measures on 3,000 codes

PAGE = ROOT / "docs" / "measure-your-own-vae.md"


def test_the_page_runs_from_a_model_to_its_report_and_sampler(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    text = PAGE.read_text()
    namespace = {}
    for body in re.findall(r"```python\n(.*?)```", text, re.S):
        exec(compile(body, str(PAGE), "exec"), namespace)  # noqa: S102  the page's own code, as a reader runs it
    out = capsys.readouterr().out
    assert "| active units |" in out and "torch.Size([16, 2])" in out
    assert {"report.md", "report.html", "sampler.pt"} <= {p.name for p in (tmp_path / "my-vae-report").iterdir()}
    codes = namespace["codes"]
    np.savez("codes.npz", **{f"{s}_{a}": codes[s][i].numpy() for s in codes for i, a in enumerate(("mu", "logvar"))})
    (bash,) = re.findall(r"```bash\n(.*?)```", text, re.S)
    commands = [line for line in bash.splitlines() if line.startswith("priorgap measure")]
    assert len(commands) == 1
    for line in commands:
        args = shlex.split(line)[1:]
        proc = subprocess.run([sys.executable, "-m", "priorgap.instruments.cli", *args], capture_output=True, text=True,
                              cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")})
        assert proc.returncode == 0, proc.stderr
        assert (tmp_path / args[args.index("--out") + 1] / "report.md").is_file()
    assert "quick/report.md" in proc.stdout
