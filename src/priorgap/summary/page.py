"""The one-page HTML summary of one experiment (data/summary/summary.html, the pipeline row's
artifact): the headline figures with their meanings, and the key figures inlined."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from ..io.numbers import fmt
from .headline import HEADLINE


def _img(path: Path, caption: str) -> str:
    """A figure inlined; one wider than tall by half again (the multi-panel ones) gets the page's
    whole width, since at half of it their 10 pt text shrank below legibility."""
    png = Path(path).read_bytes()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # the PNG header
    wide = ' class="wide"' if width > 1.5 * height else ""
    return (f'<figure{wide}><img src="data:image/png;base64,{base64.b64encode(png).decode()}" '
            f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>')


def prior_label(params: dict) -> str:
    """The prior the model was trained with, in words, from the flat params."""
    if params.get("model.prior.kind") == "vamp":
        return f"a VampPrior of {params['model.prior.components']} pseudo-inputs"
    return "N(0,I)"


def render_html(name: str, values: dict, params: dict, figures: list[tuple[Path, str]], best: str) -> str:
    """A self-contained page (figures inlined), so MLflow's artifact view shows it in one click;
    `best` is best_fitted(values), which the caller also needs for its figures."""
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td class=n>{fmt(values[k])}</td><td>{html.escape(HEADLINE[k][2])}</td></tr>"
        for k in HEADLINE
    )
    setting = ", ".join(
        f"{k} = {params[k]}"
        for k in ("model.encoder.depth", "model.decoder.depth", "model.latent_dim", "train.epochs", "train.seed")
        if k in params
    )
    setting += f"; prior: {prior_label(params)} (every gain and KL on this page is measured against it)"
    verdict = (
        f"Sampling the model's prior ({prior_label(params)}): Frechet distance {fmt(values['fd.prior'])}; best "
        f"fitted density ({best}, chosen on "
        f"validation codes): "
        f"{fmt(values[f'fd.{best}'])}; replaying q: {fmt(values['fd.aggregate'])}."
    )
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>priorgap {html.escape(name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left}}
td.n{{text-align:right;font-variant-numeric:tabular-nums}}figure{{display:inline-block;margin:6px;vertical-align:top}}
img{{max-width:520px}}figure.wide img{{max-width:100%}}figcaption{{font-size:90%;color:#555}}</style></head><body>
<h1>priorgap experiment {html.escape(name)}</h1>
<p>{html.escape(setting)}</p>
<p><b>{html.escape(verdict)}</b></p>
<table><tr><th>figure</th><th>value</th><th>meaning</th></tr>{rows}</table>
{"".join(_img(p, c) for p, c in figures if Path(p).is_file())}
</body></html>
"""
