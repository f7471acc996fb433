"""What every stage script shares: its command line and how it fails."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from ..errors import ParamError, PriorgapError


def _with_params(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--params", type=Path, default=Path("params.yaml"), help="params file (default: params.yaml)")
    return p


def stage_args(description: str, inputs: list[str], outputs: list[str], argv=None) -> argparse.Namespace:
    """Positional input and output folders (as in dvc.yaml), plus --params."""
    p = argparse.ArgumentParser(description=description)
    for name in inputs + outputs:
        p.add_argument(name, type=Path)
    return _with_params(p).parse_args(argv)


def params_file(argv=None) -> Path:
    """The file --params gives (else params.yaml): the library's ParamError names a key, the
    stage's message names the file the user gave too."""
    return _with_params(argparse.ArgumentParser(add_help=False)).parse_known_args(argv)[0].params


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `timeout`, schedulers and process managers send), raised where the stage is,
    so every `with` block unwinds as for Ctrl-C: the temporary output folder is removed and the
    MLflow run is marked FAILED."""


def _terminate(signum, frame):
    raise Terminated()


def run_stage(stage: str, main, argv=None) -> None:
    """Run `main(argv)`; a PriorgapError becomes one line on stderr and exit status 1, Ctrl-C
    and SIGTERM leave no output and a FAILED run (exit 130 and 143, as shells report them)."""
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main(argv)
    except ParamError as e:
        print(f"{stage}: error: {params_file(argv)}: {e}", file=sys.stderr)
        sys.exit(1)
    except PriorgapError as e:
        print(f"{stage}: error: {e}", file=sys.stderr)
        sys.exit(1)
    except Terminated:
        print(f"{stage}: terminated (SIGTERM)", file=sys.stderr)
        sys.exit(143)
    except KeyboardInterrupt:
        print(f"{stage}: interrupted", file=sys.stderr)
        sys.exit(130)
