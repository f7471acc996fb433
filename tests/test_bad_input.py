"""Bad input through DVC itself loses nothing (stages/check.py): a wrong value, a misspelt key or an
unreachable tracking server stops `dvc repro` / `dvc exp run` in one line that names the mistake,
and every earlier output and tracked file is still there, byte for byte."""
import hashlib
import shutil
import subprocess

import pytest
import yaml
from conftest import environment, sh

pytestmark = pytest.mark.slow  # real DVC on a tiny clone

KEPT = ("data/vae/model.pt", "data/vae/metrics.json", "data/vae/history.csv", "data/mnist/train.npz")


def _digests(repo):
    return {p: hashlib.md5((repo / p).read_bytes()).hexdigest() for p in KEPT}


def _fails(cmd, repo, env) -> str:
    proc = subprocess.run(cmd, shell=True, cwd=repo, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0, cmd
    return proc.stdout + proc.stderr


def _edit(repo, *keys, value=None, rename=None):
    params = yaml.safe_load((repo / "params.yaml").read_text())
    node = params
    for k in keys[:-1]:
        node = node[k]
    if rename:
        node[rename] = node.pop(keys[-1])
    else:
        node[keys[-1]] = value
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def test_bad_input_through_dvc_loses_nothing(tmp_path, upstream):
    repo = tmp_path / "repo"
    shutil.copytree(upstream, repo, symlinks=True)
    env = environment(f"sqlite:///{repo / 'mlflow.db'}")
    sh("dvc repro -q encode && git add -A && git commit -qm trained", repo, env)
    before = _digests(repo)

    out = _fails("dvc exp run -S model.latent_dim=-3", repo, env)
    assert "check: error: params.yaml: model.latent_dim must be an integer >= 1, got -3" in out
    sh("git checkout params.yaml", repo, env)
    _edit(repo, "model", "latent_dim", rename="latnet_dim")  # a typo made by hand
    out = _fails("dvc repro", repo, env)
    assert "unknown key model.latnet_dim (allowed under model: latent_dim" in out
    sh("git checkout params.yaml", repo, env)
    _edit(repo, "train", "lr", value="fast")
    assert "train.lr must be a number > 0.0, got 'fast'" in _fails("dvc repro", repo, env)
    sh("git checkout params.yaml", repo, env)

    unreachable = environment("http://127.0.0.1:9")
    out = _fails("dvc repro -f train", repo, unreachable)
    assert "MLflow tracking server http://127.0.0.1:9 is unreachable" in out
    assert _digests(repo) == before
    assert sh("git status --porcelain", repo, env) == ""  # no tracked file removed or changed
