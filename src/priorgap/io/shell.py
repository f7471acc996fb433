"""The one way the workflow runs another program (git, dvc) and reads its output.

A command that fails raises CommandFailed: one line that names what failed, where, and the
program's own last line of error, which is what the user acts on.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import PriorgapError


class CommandFailed(PriorgapError):
    pass


def sh(cmd: list[str], cwd: Path | str | None = None, env: dict | None = None, check: bool = True,
       what: str = "", timeout: float | None = None) -> str:
    """cmd's standard output, stripped. With check=False a failure (a non-zero exit, a program that
    is not installed, a time-out) returns what it printed, or "" when it could not start."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        if not check:
            return ""
        raise CommandFailed(f"{what or ' '.join(cmd) + ' failed'}: {e}") from None
    if check and proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        where = f" in {cwd}" if cwd else ""
        raise CommandFailed(f"{what or ' '.join(cmd) + ' failed'}{where} (exit {proc.returncode}): {last[0]}")
    return proc.stdout.strip()
