"""The study's instruments on anyone's codes: how far is a VAE's aggregate posterior from N(0, I),
and which density should it sample from instead?

    report = priorgap.measure((mu, logvar), (val_mu, val_logvar), (test_mu, test_logvar))
    print(report.to_markdown()); report.save("out/")          # report.md, report.html, figures/, sampler.pt
    z = report.sampler.sample(64, generator)                  # codes for the user's decoder
    sampler = priorgap.load_sampler("out/sampler.pt")

It is fit_posterior's own function (latent.fitting.fit_posterior) on the user's splits, so on the
pipeline's codes it gives the stage's figures exactly (tests/test_measure.py). The densities,
their capacities and the seed are the user's; the defaults are the pipeline's (params.yaml's
posterior section).
"""
from __future__ import annotations

import base64
import html
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import PriorgapError
from ..config import schema
from ..io.outputs import atomic_dir
from ..latent import densities as registry
from ..latent import fitting, priors
from ..latent.aggregate import Codes
from . import inputs

REPOSITORY_PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"
SAMPLER_FORMAT = "priorgap-sampler-1"  # the first key of a saved sampler: how load_sampler knows its own files


def default_params() -> schema.Section:
    """The pipeline's posterior section (params.yaml beside the package)."""
    if not REPOSITORY_PARAMS.is_file():
        raise PriorgapError(f"{REPOSITORY_PARAMS}: not found; pass params= (a posterior section, schema.parse)")
    return schema.load(REPOSITORY_PARAMS, "posterior")


def with_choices(params, seed: int | None, capacities: dict | None):
    """params with the user's seed and capacity grids ({density: [capacity, ...]})."""
    if seed is not None:
        params = params.model_copy(update={"seed": seed})
    for name, grid in (capacities or {}).items():
        entry = registry.REGISTRY.get(name)
        if entry is None or entry.capacity is None:
            known = ", ".join(n for n, e in registry.REGISTRY.items() if e.capacity)
            raise PriorgapError(f"capacities: {name!r} has no capacity to choose (densities with one: {known})")
        section = getattr(params, entry.section).model_copy(update={entry.capacity: list(grid)})
        params = params.model_copy(update={entry.section: section})
    return params


def least_codes(params, names) -> dict[str, int]:
    """Training codes the densities asked need (each density's least_codes at its capacities)."""
    need = [
        registry.REGISTRY[n].cls.least_codes(params, registry.capacities(n, params))
        for n in names
        if n in registry.REGISTRY
    ]
    return {"train": max(need)} if need and max(need) > 0 else {}


class Sampler:
    """The density to sample codes from: `.sample(n, generator)`, `.log_prob(z)`, `.save(path)`."""

    def __init__(self, density):
        self.density = density

    @property
    def name(self) -> str:
        return self.density.name

    def sample(self, n: int, generator: torch.Generator | int | None = None) -> torch.Tensor:
        """n codes (n, d) float32; a generator (or a seed) makes them repeatable."""
        if isinstance(generator, torch.Generator):
            seed = int(torch.randint(2**62, (1,), generator=generator))
        else:
            seed = int(generator) if generator is not None else int(torch.randint(2**62, (1,)))
        return self.density.sample(n, seed)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        return self.density.log_prob(z)

    def save(self, path) -> None:
        """Config and tensors only (torch.load(weights_only=True) reads it back): no pickled code."""
        torch.save(
            {"format": SAMPLER_FORMAT, "name": self.name, "kind": self.density.kind, "state": self.density.state()},
            path,
        )


def load_sampler(path) -> Sampler:
    path = Path(path)
    if not path.is_file():
        raise PriorgapError(f"{path}: not found; save one with report.sampler.save(path)")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001  torch raises several kinds (zip, pickle, struct errors) on a foreign file
        raise PriorgapError(
            f"{path}: not a priorgap sampler file (torch.load cannot read it); save one with report.sampler.save(path)"
        ) from None
    if not isinstance(saved, dict) or saved.get("format") != SAMPLER_FORMAT:
        raise PriorgapError(
            f"{path}: not a priorgap sampler file (no {SAMPLER_FORMAT!r} mark); save one with report.sampler.save(path)"
        )
    if saved["kind"] not in registry.KINDS:
        raise PriorgapError(
            f"{path}: a sampler of kind {saved['kind']!r}, which this version does not know; "
            "save it again with this version"
        )
    return Sampler(registry.KINDS[saved["kind"]].from_state(saved["state"]))


@dataclass
class Report:
    """What fit_posterior measures, on the user's codes."""

    fitted: fitting.Fitted
    codes: Codes  # the training split
    prior: object

    @property
    def metrics(self) -> dict:
        return self.fitted.metrics

    @property
    def bracket(self) -> dict:
        m = self.metrics
        return {
            "lower": m["kl_q_prior_lower_bound"],
            "lower_se": m["kl_q_prior_lower_bound_se"],
            "density": m["kl_q_prior_lower_bound_density"],
            "upper": m["kl_q_prior"],
            "upper_se": m["kl_q_prior_se"],
        }

    @property
    def gains(self) -> dict[str, float]:
        return {name: s["heldout_gain"] for name, s in self.metrics["densities"].items()}

    @property
    def sampler(self) -> Sampler:
        """The candidate density the validation codes rank best (the prior when none was fitted)."""
        fitted = [n for n in registry.candidates() if n in self.fitted.densities]
        if not fitted:
            return Sampler(self.fitted.densities["prior"])
        best = max(fitted, key=lambda n: self.metrics["densities"][n]["val_gain"])
        return Sampler(self.fitted.densities[best])

    def reading(self) -> str:
        """What the bracket can pin, in plain words, from the mutual information against log N."""
        m, b = self.metrics, self.bracket
        log_n = math.log(len(self.codes.mu))
        width = b["upper"] - b["lower"]
        if m["mi_margin"] < 1.0:
            return (
                f"The mutual information ({m['mutual_info']:.2f} nats) is within {m['mi_margin']:.2f} of log N = "
                f"{log_n:.2f}, the most N codes can certify, so the upper end is near its ceiling (the rate minus "
                f"log N) and says little: KL(q || N(0,I)) is at least {b['lower']:.3f} nats, and the bracket is "
                f"{width:.1f} nats wide. More codes raise the ceiling; a better density raises the floor."
            )
        head = (f"The mutual information ({m['mutual_info']:.2f} nats) is {m['mi_margin']:.1f} nats below "
                f"log N = {log_n:.2f}: ")
        if width < 0:  # the lower end is measured on the test codes, the upper on the training codes
            return head + (
                f"the two ends meet, so KL(q || N(0,I)) is {b['upper']:.3f}-{b['lower']:.3f} nats (the held-out "
                "end sits above the training mixture's because the test codes are a little further from N(0,I))."
            )
        return head + f"the bracket pins KL(q || N(0,I)) between {b['lower']:.3f} and {b['upper']:.3f} nats."

    def rows(self) -> list[tuple[str, str]]:
        m, b = self.metrics, self.bracket
        share = "n/a" if m["gaussian_share"] is None else f"{m['gaussian_share']:.0%}"
        return [
            ("KL(q || N(0,I)), lower bound (held-out)", f"{b['lower']:.3f} ± {b['lower_se']:.3f} ({b['density']})"),
            ("KL(q || N(0,I)), upper estimate (training mixture)", f"{b['upper']:.3f} ± {b['upper_se']:.3f}"),
            ("mutual information / log N", f"{m['mutual_info']:.2f} / {math.log(len(self.codes.mu)):.2f}"),
            ("active units", f"{m['active_units']} of {self.codes.dim}"),
            ("Gaussian share of the bound (scale and correlation)", share),
            ("largest eigenvalue of q's covariance (1 under N(0,I))", f"{m['cov_eig_max']:.3f}"),
            ("holes: prior draws where q is thinner than at 99% of held-out codes", f"{m['holes_heldout']:.1%}"),
            ("sampler to use instead of N(0,I)", self.sampler.name),
        ]

    def to_markdown(self) -> str:
        lines = ["# How far is q(z) from N(0,I)?", "", self.reading(), "", "| measure | value |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.rows()]
        lines += [
            "",
            "Each density's held-out gain E[log g(z) - log N(z; 0, I)] on the test codes (a lower bound on "
            "the KL for any g; the validation codes chose each one's capacity):",
            "",
            "| density | held-out gain | validation gain |",
            "|---|---|---|",
        ]
        for name, s in self.metrics["densities"].items():
            lines.append(f"| {name} | {s['heldout_gain']:.3f} ± {s['heldout_gain_se']:.3f} | {s['val_gain']:.3f} |")
        lines += ["", "![capacity](figures/capacity.png) ![marginals](figures/marginals.png)", ""]
        return "\n".join(lines)

    def to_html(self, figures: Path | None = None) -> str:
        """The same report as one self-contained page (figures inlined from `figures`, if given)."""
        table = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in self.rows())
        gains = "".join(
            f"<tr><td>{n}</td><td>{s['heldout_gain']:.3f} ± {s['heldout_gain_se']:.3f}</td>"
            f"<td>{s['val_gain']:.3f}</td></tr>"
            for n, s in self.metrics["densities"].items()
        )
        pictures = ""
        for name in ("capacity.png", "marginals.png"):
            if figures is not None and (figures / name).is_file():
                data = base64.b64encode((figures / name).read_bytes()).decode()
                pictures += f'<img alt="{name}" src="data:image/png;base64,{data}" style="max-width:48%">'
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>priorgap measure</title></head><body>"
            f"<h1>How far is q(z) from N(0,I)?</h1><p>{html.escape(self.reading())}</p><table border=1>{table}</table>"
            f"<h2>Each density's held-out gain</h2><table border=1><tr><th>density</th><th>held-out gain</th>"
            f"<th>validation gain</th></tr>{gains}</table>{pictures}</body></html>"
        )

    def save(self, out: Path) -> None:
        """fit_posterior's own files (metrics.json, ks.csv, capacity.csv, densities/, figures/), the
        report as report.md and report.html, and the sampler as sampler.pt; all or nothing."""
        out = Path(out)
        with atomic_dir(out) as tmp:
            fitting.write(self.fitted, tmp, self.codes, self.prior)
            (tmp / "report.md").write_text(self.to_markdown())
            (tmp / "report.html").write_text(self.to_html(tmp / "figures"))
            self.sampler.save(tmp / "sampler.pt")

    def log_to_mlflow(self, run_name: str = "priorgap measure", saved: Path | None = None) -> str | None:
        """Into the store MLFLOW_TRACKING_URI names (nothing when none is set): the figures, the
        report and the sampler (those of `saved`, a folder save() wrote, else written anew).
        Returns the run id."""
        import os

        uri = os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            return None
        import mlflow

        from ..tracking import store
        from ..io.outputs import flatten_dict

        store.check_reachable(uri)  # an unreachable server: one line, before anything is written
        mlflow.set_tracking_uri(uri)  # the store named now, whatever an earlier call in this process set

        with mlflow.start_run(run_name=run_name) as run, tempfile.TemporaryDirectory() as tmp:
            mlflow.log_metrics(
                {
                    k: float(v)
                    for k, v in flatten_dict(self.metrics).items()
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                }
            )
            mlflow.set_tags({"bound_density": self.bracket["density"], "sampler": self.sampler.name})
            if saved is None:
                saved = Path(tmp) / "report"
                self.save(saved)
            mlflow.log_artifacts(str(saved))
            return run.info.run_id


def measure(
    train,
    val,
    test,
    *,
    densities: tuple[str, ...] | None = None,
    capacities: dict | None = None,
    seed: int | None = None,
    params=None,
    allow_positive_logvar: bool = False,
    progress=None,
) -> Report:
    """Each split as (mu, logvar), arrays or tensors (N x d). `densities`: which of the registry's
    densities to fit (default: all); `capacities`: {density: [capacity, ...]}; `seed`; `params`: a
    posterior section (default: the pipeline's)."""
    params = with_choices(params if params is not None else default_params(), seed, capacities)
    names = tuple(densities) if densities is not None else tuple(registry.REGISTRY)
    unknown = [n for n in names if n not in registry.REGISTRY]
    if unknown:
        raise PriorgapError(
            f"densities: {', '.join(map(repr, unknown))} unknown (known: {', '.join(registry.REGISTRY)})"
        )
    codes = inputs.splits(train, val, test, allow_positive_logvar, least_codes(params, names))
    prior = priors.StandardNormal(codes["train"].dim)
    fitted = fitting.fit_posterior(
        codes["train"], codes["val"], codes["test"], prior, params, progress, names=("prior", *names)
    )
    return Report(fitted, codes["train"], prior)
