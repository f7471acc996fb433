"""What the driver sends every worker: the code as a git bundle (HEAD and a snapshot of the working
tree on top of it, what `dvc exp run --queue` would run) and the shared stages' outputs as one tar."""
from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path

import yaml

from ..io.shell import sh
from .worker import BASE_REF, SNAPSHOT_REF, Code

SHARED = ("prepare", "classifier", "reference")  # stages no experiment's params reach (dvc.yaml)


def snapshot(root: Path, tracking_uri: str) -> Code:
    """HEAD and the working tree (tracked files and untracked ones git does not ignore, as a
    commit on top of HEAD, made with a private index: the user's index and files stay as they
    are), bundled under BASE_REF and SNAPSHOT_REF."""
    head = sh(["git", "rev-parse", "--verify", "HEAD"], root, what="the study needs a git repository with a commit")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        sh(["git", "read-tree", "HEAD"], root, env=env)
        sh(["git", "add", "-A", "."], root, env=env)
        tree = sh(["git", "write-tree"], root, env=env)
        commit = sh(["git", "commit-tree", tree, "-p", head, "-m", "priorgap study: the working tree"], root,
                     env={**env, **_identity(root)})
        sh(["git", "update-ref", BASE_REF, head], root)
        sh(["git", "update-ref", SNAPSHOT_REF, commit], root)
        bundle = Path(tmp) / "code.bundle"
        sh(["git", "bundle", "create", "-q", str(bundle), BASE_REF, SNAPSHOT_REF], root)
        cache = sh(["dvc", "cache", "dir"], root)
        return Code(commit, bundle.read_bytes(), tracking_uri, str((root / cache).resolve()))


def _identity(root: Path) -> dict:
    if sh(["git", "config", "user.email"], root, check=False):
        return {}
    return {"GIT_AUTHOR_NAME": "priorgap", "GIT_AUTHOR_EMAIL": "priorgap@localhost",
            "GIT_COMMITTER_NAME": "priorgap", "GIT_COMMITTER_EMAIL": "priorgap@localhost"}


def shared_outputs(root: Path) -> bytes:
    """The shared stages' DVC-cached outputs (the git-tracked ones are in the snapshot) as one tar."""
    stages = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
    outs = [o if isinstance(o, str) else next(iter(o)) for s in SHARED for o in stages[s].get("outs", [])
            if isinstance(o, str) or next(iter(o.values())).get("cache", True)]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for out in outs:
            tar.add(root / out, arcname=out)
    return buf.getvalue()
