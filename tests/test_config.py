import re

import pytest
import yaml
from conftest import ROOT, write_params

from priorgap.config import cli, schema
from priorgap.errors import ParamError


def test_repository_params_load_and_every_leaf_is_read_as_written():
    """params.yaml validates, and what the models hand a stage is what the file says, leaf by leaf:
    a field the models drop, rename or coerce (1 for true, 2 for 2.5) fails here, whatever values
    the file holds."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())

    def leaves(node, prefix=""):
        for k, v in node.items():
            yield from leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [(f"{prefix}{k}", v)]

    written = dict(leaves(raw))
    loaded = schema.load_all(ROOT / "params.yaml")
    assert set(loaded) == set(written)
    for key, value in written.items():
        assert loaded[key] == value and type(loaded[key]) is type(value), key


@pytest.mark.parametrize(
    "override, message",
    [
        ({"data.val_size": -5}, "data.val_size must be an integer >= 0, got -5"),
        ({"data.seed": "zero"}, "data.seed must be an integer"),
        ({"data.train_size": 0}, "data.train_size must be an integer >= 1 or null"),
        ({"model.latent_dim": 0}, "model.latent_dim must be an integer >= 1, got 0"),
        ({"model.encoder.depth": -1}, "model.encoder.depth must be an integer >= 1, got -1"),
        ({"model.encoder.width": 2.5}, "model.encoder.width must be an integer"),
        ({"model.prior.kind": "flow"}, "model.prior.kind must be one of 'normal', 'vamp', got 'flow'"),
        ({"model.prior.components": 0}, "model.prior.components must be an integer >= 1, got 0"),
        ({"train.lr": 0}, "train.lr must be a number > 0.0, got 0"),
        ({"train.device": "tpu"}, "train.device must be one of 'auto', 'cpu', 'cuda', got 'tpu'"),
        ({"train.epochs": True}, "train.epochs must be an integer"),
        (
            {"posterior.two_stage.kl_warmup": 1.5},
            "posterior.two_stage.kl_warmup must be a number >= 0.0 and <= 1.0, got 1.5",
        ),
        (
            {"posterior.gmm.components": 10},
            "posterior.gmm.components must be a non-empty list, each an integer >= 1, got 10",
        ),
        (
            {"posterior.gmm.components": []},
            "posterior.gmm.components must be a non-empty list, each an integer >= 1, got []",
        ),
        (
            {"posterior.gmm.components": [10, 0]},
            "posterior.gmm.components must be a non-empty list, each an integer >= 1, got 0",
        ),
        ({"posterior.gmm.draws": 0}, "posterior.gmm.draws must be an integer >= 1, got 0"),
        (
            {"posterior.gmm.fit_on": "mu"},
            "posterior.gmm: draws (4) applies to fit_on: z; with fit_on: mu (one mean per image) set draws: 1",
        ),
        ({"posterior.gmm.fit_on": "means"}, "posterior.gmm.fit_on must be one of 'mu', 'z', got 'means'"),
        (
            {"model.encoder.dropout": 0.1},
            "unknown key model.encoder.dropout (allowed under model.encoder: depth, width)",
        ),
    ],
)
def test_bad_values_name_the_key(tmp_path, override, message):
    path = write_params(tmp_path / "params.yaml", **override)
    with pytest.raises(schema.ConfigError) as err:
        schema.load_all(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_key_and_unknown_section(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    del params["train"]["beta"]
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(schema.ConfigError, match="missing key train.beta"):
        schema.load(tmp_path / "p.yaml", "train")

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["modle"] = {"latent_dim": 3}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(params))
    with pytest.raises(schema.ConfigError, match="unknown section modle"):
        schema.load(tmp_path / "p.yaml", "data")


def test_scientific_notation_is_a_number(tmp_path):
    # PyYAML reads `1e-3` (no dot) as a string; users write it anyway.
    path = tmp_path / "p.yaml"
    path.write_text((ROOT / "params.yaml").read_text().replace("lr: 1.0e-3", "lr: 1e-3"))
    assert schema.load(path, "train").lr == pytest.approx(1e-3)


def test_the_canonical_params_ignore_comments_and_layout(tmp_path):
    """The pipeline run's key uses the parsed params: a comment edit must not open a new row."""
    text = (ROOT / "params.yaml").read_text()
    (tmp_path / "a.yaml").write_text(text)
    (tmp_path / "b.yaml").write_text(
        "# a new comment\n" + text.replace("  latent_dim: 2", "  latent_dim:   2   # edited")
    )
    (tmp_path / "c.yaml").write_text(text.replace("  latent_dim: 2", "  latent_dim: 3"))
    a, b, c = (schema.canonical(tmp_path / f"{n}.yaml") for n in "abc")
    assert a == b != c


def test_a_params_section_nobody_registered_is_refused(tmp_path):
    """A density's section is accepted once its registry entry adds it (tests/test_pipeline.py)."""
    params = write_params(tmp_path / "params.yaml", **{"posterior.kde": {"bandwidth": 0.3, "centres": 200}})
    with pytest.raises(schema.ConfigError, match="unknown key posterior.kde"):
        schema.load(params, "posterior")


def test_every_problem_in_one_line_named_by_its_file(tmp_path):
    """--params may name another file than params.yaml: the error names it, and lists every
    problem at once, so a user fixes the file in one go."""
    path = write_params(tmp_path / "sweep.yaml", **{"model.latent_dim": 0, "train.epochs": -2, "eval.k": "five"})
    with pytest.raises(schema.ConfigError) as err:
        schema.load_all(path)
    text = str(err.value)
    assert text.startswith(f"{path}: 3 problems: ") and "\n" not in text and "params.yaml" not in text
    for problem in (
        "model.latent_dim must be an integer >= 1, got 0",
        "train.epochs must be an integer >= 1, got -2",
        "eval.k must be an integer",
    ):
        assert problem in text
    with pytest.raises(
        schema.ConfigError, match=rf"^{re.escape(str(path))}: model.latent_dim must be an integer >= 1, got 0$"
    ):
        schema.load(path, "model")


@pytest.mark.parametrize(
    "argv, shown", [(["in", "out", "--params", "sweep.yaml"], "sweep.yaml"), (["in", "out"], "params.yaml")]
)
def test_a_value_the_library_refuses_names_the_file_params_gave(argv, shown, capsys):
    """The library knows the key (ParamError), not the file; the stage's one line names both."""

    def main(argv):
        cli.stage_args("t", ["in_dir"], ["out_dir"], argv)
        raise ParamError("posterior.gmm.components", "(200) exceeds the 100 training codes")

    with pytest.raises(SystemExit) as exit_:
        cli.run_stage("fit", main, argv)
    assert exit_.value.code == 1
    assert (
        capsys.readouterr().err
        == f"fit: error: {shown}: posterior.gmm.components (200) exceeds the 100 training codes\n"
    )
