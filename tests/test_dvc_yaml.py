"""dvc.yaml is the map of what each stage depends on: checked against the code, not by hand.

A stage that imports a library file it does not list as a dep is served stale from DVC's cache
when that file changes; one that reads a param it does not declare, likewise. A dep or param it
does not use re-runs it for nothing. Both directions are checked for every stage.
"""
import ast
from pathlib import Path

import yaml
from conftest import ROOT

from priorgap import config
from priorgap.outputs import flatten_dict

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
LIB = ROOT / "src" / "priorgap"


def _imported_modules(path: Path) -> set[str]:
    """Library modules (file stems under src/priorgap) that one file imports, anywhere in it."""
    in_library = path.parent == LIB
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("priorgap.")}
            found |= {"__init__" for a in node.names if a.name.split(".")[0] == "priorgap"}
        elif isinstance(node, ast.ImportFrom):
            package = node.module == "priorgap" or (in_library and node.level == 1 and node.module is None)
            if package:  # from priorgap import a, b: modules, or names defined in __init__
                found |= {a.name if (LIB / f"{a.name}.py").is_file() else "__init__" for a in node.names}
            elif node.module and node.module.startswith("priorgap."):
                found.add(node.module.split(".")[1])
            elif in_library and node.level == 1:
                found.add(node.module.split(".")[0])
            else:
                continue
            found.add("__init__")
    return found


def import_closure(script: Path) -> set[str]:
    """Every file under src/priorgap a stage script runs, as dvc.yaml paths."""
    todo, seen = list(_imported_modules(script)), set()
    while todo:
        mod = todo.pop()
        if mod not in seen:
            seen.add(mod)
            todo.extend(_imported_modules(LIB / f"{mod}.py"))
    return {f"src/priorgap/{m}.py" for m in seen}


def test_closure_follows_imports_through_the_library():
    closure = import_closure(ROOT / "stages" / "fit_posterior.py")
    # fit_posterior -> densities -> neural_densities -> vae: a chain two links from the script
    assert {"src/priorgap/densities.py", "src/priorgap/neural_densities.py", "src/priorgap/vae.py",
            "src/priorgap/__init__.py"} <= closure
    assert "src/priorgap/classifier.py" not in closure


def test_each_stage_depends_on_exactly_the_code_it_imports():
    for name, stage in STAGES.items():
        script = f"stages/{name}.py"
        assert (ROOT / script).is_file(), f"stage {name} has no script {script}"
        code = {d for d in stage["deps"] if not d.startswith("data/")}
        expected = {script} | import_closure(ROOT / script)
        assert code == expected, f"{name}: missing {sorted(expected - code)}, unused {sorted(code - expected)}"


def _leaves(entries) -> set[str]:
    """dvc.yaml params entries -> dotted leaf names (a section, or the whole file, expands)."""
    every = config.load_all(ROOT / "params.yaml")
    out = set()
    for e in entries:
        prefix = "" if e == {"params.yaml": None} else e
        out |= {k for k in every if not prefix or k == prefix or k.startswith(prefix + ".")}
    return out


def _params_read_by(script: Path) -> set[str]:
    """The leaves a stage loads: config.load(args.params, "<section>") or config.load_all."""
    every = config.load_all(ROOT / "params.yaml")
    read = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "config":
            if node.func.attr == "load_all":
                read |= set(every)
            elif node.func.attr == "load":
                section = node.args[1].value
                read |= {k for k in every if k.startswith(section + ".")}
    return read


def test_each_stage_declares_exactly_the_params_it_reads():
    """The same rule for every stage: no whole-file exception beyond what the script reads."""
    for name, stage in STAGES.items():
        assert _leaves(stage.get("params", [])) == _params_read_by(ROOT / "stages" / f"{name}.py"), name


def test_only_stage_scripts_read_params():
    """A library module a stage runs, reading params.yaml, would be a dependency no stage declares.
    (The study report, `python -m priorgap.report`, is run by no stage: it may read them.)"""
    ran = set().union(*(import_closure(ROOT / "stages" / f"{name}.py") for name in STAGES))
    assert "src/priorgap/report.py" not in ran
    for path in LIB.glob("*.py"):
        if path.name == "config.py" or f"src/priorgap/{path.name}" not in ran:
            continue
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Attribute)
                 and getattr(n.value, "id", "") == "config" and n.attr in ("load", "load_all", "read_yaml")]
        assert not calls, path.name


def test_flatten_is_one_function():
    assert config.flat(model=config.load(ROOT / "params.yaml", "model")) == flatten_dict(
        {"model": config.load(ROOT / "params.yaml", "model").model_dump()})


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
