"""dvc.yaml is the map of what each stage depends on: checked against the code, not by hand.

A stage that imports a library file it does not list as a dep is served stale from DVC's cache
when that file changes; one that reads a param it does not declare, likewise. A dep or param it
does not use re-runs it for nothing. Both directions are checked for every stage.
"""
import ast
import os
import subprocess
import sys
from pathlib import Path

import yaml
from conftest import ROOT

from priorgap.config import schema
from priorgap.io.outputs import flatten_dict
from priorgap.latent import densities, fitting
from priorgap.reproducibility.stage_deps import (OUTPUT_FREE, PER_DENSITY, WRITES_TRACKING, code_deps, density_modules,
                                                  density_only, import_closure, imported_modules, rewrite,
                                                  RUNS_NO_DENSITY)

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def body(stage: dict) -> dict:
    """A stage's fields; a foreach stage's are under `do`."""
    return stage.get("do", stage)


def resolved() -> dict:
    """The stages as DVC runs them: a foreach stage becomes <name>@<key>, its ${key} and ${item.*} filled."""
    out = {}
    for name, stage in STAGES.items():
        for key, item in stage.get("foreach", {None: None}).items():
            if key is None:
                out[name] = stage
                continue

            def fill(text, key=key, item=item):
                for k, v in item.items():
                    text = text.replace(f"${{item.{k}}}", v)
                return text.replace("${key}", key)
            out[f"{name}@{key}"] = {"cmd": fill(stage["do"]["cmd"]), "deps": [fill(d) for d in stage["do"]["deps"]]}
    return out
SRC = ROOT / "src"
LIB = SRC / "priorgap"


def test_closure_follows_imports_through_the_library():
    closure = import_closure(ROOT / "stages" / "fit_posterior.py")
    # fit_posterior -> latent.densities -> latent.neural_densities -> model.vae -> io.checkpoints:
    # a chain four links from the script, through three packages and their __init__.py files
    assert {"src/priorgap/latent/densities.py", "src/priorgap/latent/neural_densities.py",
            "src/priorgap/model/vae.py", "src/priorgap/model/__init__.py", "src/priorgap/io/checkpoints.py",
            "src/priorgap/__init__.py", "src/priorgap/latent/__init__.py"} <= closure
    assert "src/priorgap/samples/classifier.py" not in closure
    assert "src/priorgap/samples/__init__.py" not in closure


def test_what_priorgap_imports_lazily_is_no_stage_code():
    """priorgap.measure and friends load on attribute access (the package's __getattr__): the
    closure leaves them out, and importing every stage script indeed never loads them."""
    assert not any("instruments" in f for f in import_closure(ROOT / "stages" / "fit_posterior.py"))
    code = ("import importlib, sys; [importlib.import_module(n) for n in sys.argv[1:]]; "
            "print(sorted(m for m in sys.modules if m.startswith('priorgap.instruments')))")
    names = [p.stem for p in (ROOT / "stages").glob("*.py")]
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'stages'}"})
    assert proc.stdout.strip() == "[]"


def test_each_stage_depends_on_exactly_the_code_it_imports():
    """dvc.yaml is what `make deps` writes: each stage's script and the library it runs."""
    assert rewrite((ROOT / "dvc.yaml").read_text()) == (ROOT / "dvc.yaml").read_text(), "run `make deps`"
    for name, stage in STAGES.items():
        script = f"stages/{name}.py"
        assert (ROOT / script).is_file(), f"stage {name} has no script {script}"
        code = {d for d in body(stage)["deps"] if not d.startswith("data/")}
        expected = {script} | import_closure(ROOT / script)
        if name not in WRITES_TRACKING:
            expected -= set(OUTPUT_FREE)
        if name in RUNS_NO_DENSITY:  # without the modules that only register a density
            expected -= density_only(script, expected)
        if name == PER_DENSITY:  # and in their place the density's own
            expected |= {"${item.module}"}
        assert code == expected, f"{name}: missing {sorted(expected - code)}, unused {sorted(code - expected)}"


def test_one_fit_stage_per_density_with_its_module_and_params():
    each = STAGES[PER_DENSITY]["foreach"]
    assert list(each) == list(densities.names())
    for name, item in each.items():
        assert item["module"] == density_modules()[name]
        assert (ROOT / item["module"]).is_file()
        assert {"posterior." + k for k in fitting.fit_params(name)} == {
            *STAGES[PER_DENSITY]["do"]["params"][:-1],
            item["params"],
        }
    # the densities left out of the shared deps are the registered ones no machinery imports
    shared = import_closure(ROOT / "stages" / "fit.py")
    assert density_only("stages/fit.py", shared) == {
        density_modules()[n] for n in ("gmm", "flow", "two_stage", "widened", "tempered")
    } | {"src/priorgap/latent/catalog.py"}  # the line that registers them: adding a density stales no other fit


def test_a_density_module_only_registers_when_imported():
    """The argument for leaving the other densities' modules out of fit@<density>'s deps: importing
    one defines its classes and functions and calls register(), and does nothing else a fit could
    see (no module-level computation, no global state but the registry), and a density's fit never
    calls another's code (tests/test_posterior.py: each density fitted with every other class broken)."""
    for path in density_only("stages/fit.py", import_closure(ROOT / "stages" / "fit.py")):
        tree = ast.parse((ROOT / path).read_text())
        for node in tree.body:
            ok = isinstance(node, (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef))
            ok |= isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)  # the docstring
            ok |= (
                isinstance(node, ast.Expr)
                and isinstance(node.value, ast.Call)
                and getattr(node.value.func, "id", "") == "register"
            )
            ok |= isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, (ast.Constant, ast.Tuple))
            assert ok, f"{path}:{node.lineno}: runs code on import ({type(node).__name__})"


def test_the_deps_rewrite_keeps_data_deps_and_comments():
    text = ("stages:\n  train:\n    cmd: x\n    deps:\n      - stages/old.py\n      - src/gone.py\n      - data/mnist\n"
            "    # a note\n    outs:\n      - data/vae\n")
    out = rewrite(text.replace("stages/old.py", "stages/train.py"))
    assert "src/gone.py" not in out and "      - data/mnist\n    # a note\n    outs:" in out
    assert "".join(f"      - {d}\n" for d in code_deps("train")) in out


def test_the_deps_rewrite_fills_the_per_density_stage_from_the_registry():
    """The foreach list comes from the registry and the `do:` deps (indented deeper) get the code
    deps, while ${item.module} and the data deps stay."""
    text = (
        "stages:\n  fit:\n    foreach:\n      stale: {module: src/gone.py, params: posterior.seed}\n    do:\n"
        "      cmd: x ${key}\n      deps:\n        - stages/fit.py\n        - src/gone.py\n        - ${item.module}\n"
        "        - data/match\n      outs:\n        - data/fits/${key}\n"
    )
    out = yaml.safe_load(rewrite(text))["stages"]["fit"]
    assert list(out["foreach"]) == list(densities.names()) and "stale" not in out["foreach"]
    assert out["do"]["deps"] == [*code_deps("fit"), "${item.module}", "data/match"]
    assert (
        "src/priorgap/latent/flow.py" not in out["do"]["deps"] and "src/priorgap/latent/fitting.py" in out["do"]["deps"]
    )


# What a stage may do with the output-free modules: open its MLflow run, log to it, check and name the store.
MLFLOW_ONLY = {"stage_run", "check_reachable", "tracking_uri", "shown", "view_url", "existing_uri"}


def test_output_free_modules_reach_no_output():
    """The argument for leaving store, tracking and naming out of a stage's deps, checked: no library
    module a stage runs imports them (so no computed figure passes through them), and a stage script
    uses them only to open, log to and name its MLflow run (`run.<method>(...)` as statements, never
    a value it keeps), except the stages of WRITES_TRACKING, which keep them as deps."""
    for name in STAGES:
        for path in import_closure(ROOT / "stages" / f"{name}.py") - set(OUTPUT_FREE):
            imported = {f"src/{m.replace('.', '/')}.py" for m in imported_modules(ROOT / path)}
            assert not imported & set(OUTPUT_FREE), f"{path} imports {imported & set(OUTPUT_FREE)}"
        if name in WRITES_TRACKING:
            continue
        tree = ast.parse((ROOT / "stages" / f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", "") in ("tracking", "store"):
                assert node.attr in MLFLOW_ONLY, f"{name}: {node.value.id}.{node.attr}"
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                f = node.value.func
                assert not (isinstance(f, ast.Attribute) and getattr(f.value, "id", "") == "run"), (
                    f"{name}: keeps what its MLflow run returns (line {node.lineno})"
                )


def _leaves(entries) -> set[str]:
    """dvc.yaml params entries -> dotted leaf names (a section, or the whole file, expands)."""
    every = schema.load_all(ROOT / "params.yaml")
    out = set()
    for e in entries:
        prefix = "" if e == {"params.yaml": None} else e
        out |= {k for k in every if not prefix or k == prefix or k.startswith(prefix + ".")}
    return out


def _params_read_by(script: Path) -> set[str]:
    """The leaves a stage loads: schema.load(args.params, "<section>") or schema.load_all."""
    every = schema.load_all(ROOT / "params.yaml")
    read = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and getattr(node.func.value, "id", "") == "schema"
        ):
            if node.func.attr == "load_all":
                read |= set(every)
            elif node.func.attr == "load":
                section = node.args[1].value
                read |= {k for k in every if k.startswith(section + ".")}
    return read


def test_each_stage_declares_exactly_the_params_it_reads():
    """The same rule for every stage: no whole-file exception beyond what the script reads."""
    for name, stage in STAGES.items():
        if name in NARROWED:
            continue
        assert _leaves(stage.get("params", [])) == _params_read_by(ROOT / "stages" / f"{name}.py"), name
    # the stages that read part of the posterior section, through fitting.Declared (which raises on
    # any other key: every test that fits through fitting.fit_posterior checks it)
    assert _leaves(STAGES["match"]["params"]) == _leaves(f"posterior.{k}" for k in fitting.MATCH_PARAMS)
    for name, item in STAGES[PER_DENSITY]["foreach"].items():
        declared = [*STAGES[PER_DENSITY]["do"]["params"][:-1], item["params"]]
        assert _leaves(declared) == _leaves(f"posterior.{k}" for k in fitting.fit_params(name)), name


NARROWED = ("match", PER_DENSITY)


# Everything in config/schema.py that opens params.yaml
READERS = {"load", "load_all", "read_yaml", "canonical", "_parsed"}
# stage_runs.py reads the whole file to name and key each MLflow pipeline row (run_name, pipeline_key);
# no output depends on it, so it is no dependency DVC must see
MAY_READ = {"src/priorgap/tracking/stage_runs.py"}


def _params_reads(source: str) -> list[str]:
    """Calls in `source` that read params.yaml: schema.load(...) through the module, or read_yaml(...)
    and the like imported from it by name."""
    tree = ast.parse(source)
    by_name = {
        a.asname or a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[-1] == "schema"
        for a in n.names
        if a.name in READERS
    }
    found = []
    for n in ast.walk(tree):
        if not isinstance(n, ast.Call):
            continue
        f = n.func
        if isinstance(f, ast.Attribute) and getattr(f.value, "id", "") == "schema" and f.attr in READERS:
            found.append(f"schema.{f.attr}")
        elif isinstance(f, ast.Name) and f.id in by_name:
            found.append(f.id)
    return found


def test_only_stage_scripts_read_params():
    """A library module a stage runs, reading params.yaml, would be a dependency no stage declares.
    (The study report, `python -m priorgap.report`, is run by no stage: it may read them.)"""
    ran = set().union(*(import_closure(ROOT / "stages" / f"{name}.py") for name in STAGES))
    assert not {
        p for p in ran if p.startswith(("src/priorgap/report/", "src/priorgap/analysis/", "src/priorgap/study/"))
    }
    for path in LIB.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        if path.name == "schema.py" or rel not in ran or rel in MAY_READ:
            continue
        assert not _params_reads(path.read_text()), rel
    assert _params_reads((ROOT / "src/priorgap/tracking/stage_runs.py").read_text()), (
        "MAY_READ lists a module that reads none"
    )


def test_the_params_reader_check_sees_every_way_in():
    assert _params_reads("from priorgap.config import schema\nschema.load(p, 'eval')") == ["schema.load"]
    assert _params_reads("from .schema import read_yaml\nraw = read_yaml(p)") == ["read_yaml"]
    assert _params_reads("from ..config.schema import canonical as c\nc(p)") == ["c"]
    assert _params_reads("from .schema import ConfigError\nraise ConfigError('x')") == []


def test_the_flat_names_are_the_leaves_of_params_yaml():
    """What DVC and MLflow see: one dotted name per leaf of params.yaml (a list is one leaf), walked here apart."""

    def leaves(node, prefix=()):
        if not isinstance(node, dict):
            return {".".join(prefix)}
        return set().union(*(leaves(v, (*prefix, k)) for k, v in node.items()))

    assert set(schema.load_all(ROOT / "params.yaml")) == leaves(yaml.safe_load((ROOT / "params.yaml").read_text()))


def test_summarize_is_never_restored_from_the_run_cache():
    """A stage DVC restores from its run cache executes nothing and logs nothing: a re-run that
    reproduces earlier figures bit for bit would leave its MLflow pipeline row RUNNING, without
    the headline. summarize closes the row, so it must always execute (the other stages may be
    restored: summarize reads their metrics files)."""
    from dvc.repo import Repo

    # DVC's rule (dvc/stage/cache.py): a stage with a persistent output is never saved to, nor
    # restored from, the run cache. (Asked of the outputs only: a clean clone has no data/ deps.)
    with Repo(str(ROOT)) as repo:
        persistent = {s.name: any(o.persist for o in s.outs) for s in repo.index.stages}
    assert persistent["summarize"]
    assert not persistent["fit_posterior"]  # the expensive stages may still be restored


def test_dvc_lock_records_the_committed_code_and_params():
    """In a fresh clone `dvc status` lists only missing outputs, never changed code: every code
    dependency and param that dvc.lock records is the file and the value as they are here. When it
    fails: `make repro`, then commit dvc.lock with the metrics it reproduced (docs/development.md)."""
    import hashlib

    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    params = schema.load_all(ROOT / "params.yaml")
    stages = resolved()
    assert set(lock) == set(stages), "dvc.lock lacks a stage of dvc.yaml, or holds one it no longer has"
    stale = []
    for name, entry in lock.items():
        if entry["cmd"] != stages[name]["cmd"]:
            stale.append(f"{name}: its command")
        recorded = {d["path"]: d["md5"] for d in entry["deps"] if not d["path"].startswith("data/")}
        declared = {d for d in stages[name]["deps"] if not d.startswith("data/")}
        stale += [f"{name}: {path} (declared, not recorded)" for path in sorted(declared - set(recorded))]
        stale += [
            f"{name}: {path}"
            for path, md5 in recorded.items()
            if not (ROOT / path).is_file() or hashlib.md5((ROOT / path).read_bytes()).hexdigest() != md5
        ]
        values = entry.get("params", {}).get("params.yaml", {})
        flat = flatten_dict(values) if any(isinstance(v, dict) for v in values.values()) else values
        stale += [f"{name}: param {k}" for k, v in flat.items() if params.get(k) != v]
    assert not stale, (
        "dvc.lock records other code or params than these: "
        + "; ".join(stale)
        + ". Run `make repro` and commit dvc.lock with the metrics files it wrote"
    )
