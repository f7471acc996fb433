"""priorgap measure codes.npz --out DIR: the report and the sampler for a researcher's own codes."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tqdm import tqdm

EXAMPLE = """example:
  python -c "import numpy as np; np.savez('codes.npz', train_mu=..., train_logvar=..., val_mu=..., \\
      val_logvar=..., test_mu=..., test_logvar=...)"
  priorgap measure codes.npz --out my-vae/          # report.md, report.html, figures/, sampler.pt
  priorgap measure codes.npz --out quick/ --densities gaussian gmm --capacities gmm=10,50
  priorgap measure data/codes --out measured/       # the pipeline's own codes (dvc repro encode)

The npz holds each split's posterior means and log-variances (N x d). With MLFLOW_TRACKING_URI set,
the report is also logged there as a run."""


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(prog="priorgap", description="The study's instruments on your own VAE's codes.")
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="how far q(z) is from N(0,I), and a sampler to use instead", epilog=EXAMPLE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument(
        "codes",
        type=Path,
        help="an npz with train_mu, train_logvar, val_mu, val_logvar, test_mu, test_logvar; or a folder of "
        "train.npz, val.npz and test.npz, each with mu and logvar (the pipeline's data/codes)",
    )
    m.add_argument("--out", type=Path, required=True, help="the folder to write (replaced as a whole)")
    m.add_argument("--densities", nargs="+", help="the densities to fit (default: every one)")
    m.add_argument("--capacities", nargs="+", default=[], metavar="NAME=C1,C2", help="a density's capacities to try")
    m.add_argument("--seed", type=int, help="default: the pipeline's (params.yaml posterior.seed)")
    m.add_argument(
        "--allow-positive-logvar",
        action="store_true",
        help="accept log-variances that are all positive (every posterior wider than N(0,I))",
    )
    args = ap.parse_args(argv)

    from ..errors import PriorgapError
    from ..latent import densities as registry
    from . import inputs
    from .measure import measure

    capacities = {}
    for item in args.capacities:
        name, _, values = item.partition("=")
        try:
            capacities[name] = [float(v) if "." in v else int(v) for v in values.split(",")]
        except ValueError:
            raise PriorgapError(f"--capacities {item}: not NAME=C1,C2 (numbers)") from None
    codes = inputs.read(args.codes, args.allow_positive_logvar)
    steps = 2 + len(args.densities or registry.REGISTRY)  # the diagnostics, the prior, each density
    with tqdm(total=steps, desc="measure", unit="step", file=sys.stderr) as bar:
        begun = []

        def progress(step):  # a step begins: the one before it is done
            bar.update(len(begun) > 0)
            begun.append(step)
            bar.set_postfix_str(step)

        report = measure(
            *((c.mu, c.logvar) for c in codes.values()),
            densities=args.densities,
            capacities=capacities,
            seed=args.seed,
            allow_positive_logvar=args.allow_positive_logvar,
            progress=progress,
        )
        bar.update()
    report.save(args.out)
    run = report.log_to_mlflow(saved=args.out)  # the files just written, not rendered twice
    print(report.to_markdown().split("\n\n")[1])
    print(
        f"priorgap measure: {args.out}/report.md, report.html and sampler.pt ({report.sampler.name})"
        + (f"; MLflow run {run}" if run else "")
    )


def entry() -> None:
    from ..config.cli import run_stage

    run_stage("priorgap measure", main)


if __name__ == "__main__":
    entry()
