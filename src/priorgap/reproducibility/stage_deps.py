"""dvc.yaml's code dependencies, read from the imports: `make deps` (python -m priorgap.reproducibility.stage_deps).

Each stage depends on its script and on every file under src/priorgap that the script runs, found
by following the imports (a package's __init__.py too), with one argued exception: the modules of
OUTPUT_FREE talk to MLflow and to no file a stage writes, so a change to them (a tag renamed, a
message reworded) cannot change an output and re-runs nothing. A stage that does write what they
return lists them all the same (WRITES_TRACKING: summarize puts the run's name in summary.html).
The `fit` stage runs once per density (DVC's foreach): this writes its list from the registry
(each density's module and params section), and its code deps leave out the modules that only
register a density (density_only: latent/catalog.py's import line, and the density modules
nothing else imports), since a density's
fit never runs another's code (nor does the match stage run any): each fit@<density> lists its
own module instead.
tests/test_dvc_yaml.py checks that dvc.yaml is what this writes, and that both exceptions hold.

    python -m priorgap.reproducibility.stage_deps           # rewrite the deps in dvc.yaml
    python -m priorgap.reproducibility.stage_deps --check   # exit 1, naming the stages, if it would change
"""
from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "src"
OUTPUT_FREE = (
    "src/priorgap/tracking/store.py",
    "src/priorgap/tracking/stage_runs.py",
    "src/priorgap/tracking/naming.py",
)
WRITES_TRACKING = ("summarize",)


def file_of(module: str) -> Path | None:
    """The file a dotted module name runs (a package: its __init__.py), if it is under src/."""
    path = SRC.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return path / "__init__.py"
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def _with_parents(module: str) -> set[str]:
    """Importing a.b.c runs a, a.b and a.b.c."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)}


def imported_modules(path: Path) -> set[str]:
    """Library modules (dotted names under priorgap) that one file imports, anywhere in it."""
    # the package a relative import starts from (a package's __init__.py: the package itself)
    package = ".".join(path.relative_to(SRC).parts[:-1]) if SRC in path.parents else ""
    found = set()
    tree = ast.parse(path.read_text())
    # a module's __getattr__ imports on attribute access only (priorgap.measure for a user); no stage
    # touches those attributes, so what it imports is not what the stage runs (tests/test_dvc_yaml.py)
    lazy = {id(n) for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == "__getattr__" for n in ast.walk(f)}
    for node in ast.walk(tree):
        if id(node) in lazy:
            continue
        if isinstance(node, ast.Import):
            for a in node.names:
                found |= _with_parents(a.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from .. import x, from .mod import y
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found |= _with_parents(module)
            # from a.b import c: c is a submodule or a name defined in a.b
            found |= {f"{module}.{a.name}" for a in node.names if file_of(f"{module}.{a.name}")}
    return {m for m in found if m.split(".")[0] == "priorgap"}


def import_closure(script: Path) -> set[str]:
    """Every file under src/priorgap a script runs, as dvc.yaml paths."""
    todo, seen = list(imported_modules(script)), set()
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(imported_modules(file_of(mod)))
    return {file_of(m).relative_to(ROOT).as_posix() for m in seen}


CATALOG = "src/priorgap/latent/catalog.py"  # the import line that registers every density
PER_DENSITY = "fit"  # the stage run once per density
RUNS_NO_DENSITY = ("match", PER_DENSITY)  # stages that run no density's code but (fit) their own


def density_modules() -> dict[str, str]:
    """Each density fit_posterior fits -> the file that defines it ("prior": the model's own, priors.py)."""
    from priorgap.latent import densities

    files = {name: sys.modules[e.cls.__module__].__file__ for name, e in densities.REGISTRY.items()}
    return {
        "prior": "src/priorgap/latent/priors.py",
        **{name: Path(f).resolve().relative_to(ROOT).as_posix() for name, f in files.items()},
    }


def density_only(script: str, closure: set[str]) -> set[str]:
    """The modules that only register densities: CATALOG (their import line, alone in its file) and
    each density module no other file the script runs imports. One that some file imports for a
    name (densities.py's `from .gaussian import MomentMatched`) is machinery, kept."""

    def path(module):
        return f"src/{module.replace('.', '/')}.py"

    tree = ast.parse((ROOT / CATALOG).read_text())
    registering = {
        f"src/priorgap/latent/{a.name}.py" for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names
    }
    used = set()
    for f in (closure | {script}) - {CATALOG}:
        used |= {path(m) for m in imported_modules(ROOT / f)} - {f}
    return (set(density_modules().values()) & registering) - used | {CATALOG}


def code_deps(stage: str) -> list[str]:
    """The script, then the library files it runs, sorted; without OUTPUT_FREE unless the stage
    writes what they return; for the stages of RUNS_NO_DENSITY, without density_only() too."""
    script = f"stages/{stage}.py"
    lib = import_closure(ROOT / script)
    if stage not in WRITES_TRACKING:
        lib -= set(OUTPUT_FREE)
    if stage in RUNS_NO_DENSITY:
        lib -= density_only(script, lib)
    return [script, *sorted(lib)]


def foreach_lines() -> list[str]:
    """The per-density stage's foreach: each density, its module and its params (the section, or
    posterior.seed again for a density without one: DVC takes a repeated param as one)."""
    from priorgap.latent import fitting

    rows = []
    for name, module in density_modules().items():
        extra = fitting.fit_params(name)[len(fitting.FIT_PARAMS) :]
        rows.append(f"      {name}: {{module: {module}, params: posterior.{extra[0] if extra else 'seed'}}}\n")
    return rows


def rewrite(text: str) -> str:
    """dvc.yaml with each stage's code deps (its `stages/` and `src/` entries) replaced by
    code_deps(); data deps, comments and everything else stay as they are."""
    out, stage, in_deps, in_foreach, written, indent = [], None, False, False, False, ""
    for line in text.splitlines(keepends=True):
        head = re.match(r"^  (\w+):\s*$", line)
        if head:
            stage, in_deps = head.group(1), False
        if in_foreach:
            if line.startswith("      "):
                continue
            in_foreach = False
        if stage == PER_DENSITY and re.match(r"^    foreach:\s*$", line):
            out += [line, *foreach_lines()]
            in_foreach = True
            continue
        deps = re.match(r"^( +)deps:\s*$", line) if stage else None
        if deps:
            in_deps, written, indent = True, False, deps.group(1) + "  "
            out.append(line)
            continue
        if in_deps:
            item = re.match(rf"^{indent}- (\S+)\s*$", line)
            if item and item.group(1).startswith(("stages/", "src/")):
                if not written:
                    out += [f"{indent}- {d}\n" for d in code_deps(stage)]
                    written = True
                continue
            if not item and not line.startswith(indent):
                in_deps = False
        out.append(line)
    return "".join(out)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dvc-yaml", type=Path, default=ROOT / "dvc.yaml")
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if dvc.yaml is not up to date")
    args = ap.parse_args(argv)
    old = args.dvc_yaml.read_text()
    new = rewrite(old)
    if args.check:
        if new != old:
            sys.exit(f"{args.dvc_yaml}: its code deps are not the imports; run `make deps`")
        return
    if new != old:
        args.dvc_yaml.write_text(new)
    print(f"stage_deps: {args.dvc_yaml} {'rewritten' if new != old else 'already up to date'}")


if __name__ == "__main__":
    main()
