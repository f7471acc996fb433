"""An HTML template for `dvc plots show` / `dvc plots diff` that works offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so without a network the
interactive charts do not appear. This writes a template with the three libraries inlined, taken
from the npm registry once (pinned versions, checked against the registry's sha512 integrity),
and lays the charts and images out in a grid instead of one long column:

    python -m priorgap.reproducibility.plot_templates       # run by `make setup`; writes .dvc/plots_template.html

It then points this checkout's DVC at it (`dvc config --local plots.html_template`, in the
git-ignored .dvc/config.local), so plain `dvc plots show` uses it; where the registry cannot be
reached nothing is configured and DVC keeps its own (CDN) page.
"""
from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

from ..errors import PriorgapError
from ..io.shell import sh

# the versions DVC's own template loads, with the registry's integrity hashes
PACKAGES = [
    ("vega", "5.20.2", "build/vega.min.js",
     "qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw=="),
    ("vega-lite", "5.2.0", "build/vega-lite.min.js",
     "Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw=="),
    ("vega-embed", "6.18.2", "build/vega-embed.min.js",
     "wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg=="),
]
REGISTRY = "https://registry.npmjs.org"
TARGET = Path(__file__).resolve().parents[3] / ".dvc" / "plots_template.html"

PAGE = """<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>priorgap plots</title>
    SCRIPTS
    <style>
        body { font-family: sans-serif; margin: 12px; }
        body > div, body > table, body > img, body > p { display: inline-block; vertical-align: top; margin: 8px; }
        img { max-width: 620px; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def fetch(name: str, version: str, member: str, integrity: str) -> str:
    url = f"{REGISTRY}/{name}/-/{name}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=60) as r:
        data = r.read()
    digest = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        raise PriorgapError(f"{url}: sha512 {digest} is not the registry's {integrity}; not using it")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.extractfile(f"package/{member}").read().decode()


def build(target: Path = TARGET) -> Path:
    # "</script" cannot appear inside an inline script; the minified builds do not contain it
    scripts = "\n".join(f"<script>{fetch(*p)}</script>" for p in PACKAGES)
    tmp = target.with_suffix(".tmp")
    tmp.write_text(PAGE.replace("SCRIPTS", scripts))
    tmp.replace(target)
    sh([sys.executable, "-m", "dvc", "config", "--local", "plots.html_template", target.name], target.parent.parent)
    return target


if __name__ == "__main__":
    try:
        print(f"plots template: {build()}")
    except OSError as e:
        sys.exit(f"plots template: npm registry unreachable ({e}); `dvc plots show` falls back to DVC's CDN page")
    except PriorgapError as e:
        sys.exit(f"plots template: {e}")
