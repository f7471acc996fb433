"""params.yaml as typed, validated pydantic models.

Each stage loads only the sections it declares in dvc.yaml, so a stage never depends on a value
DVC cannot see. Every key must be present (params.yaml is the single source of defaults); unknown
keys and impossible values stop the stage with one line naming the key and what is allowed.
pydantic (installed with mlflow) does the checking; this module only words its errors.
"""
from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Annotated, Literal, Optional

import annotated_types as at
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from ..errors import PriorgapError
from ..io.outputs import flatten_dict


class ConfigError(PriorgapError):
    pass


def _yaml_number(raw):
    # PyYAML reads 1e-3 as a string (YAML 1.1 wants 1.0e-3): accept it as the number users mean.
    if isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw


Number = Annotated[float, BeforeValidator(_yaml_number)]
Device = Literal["auto", "cpu", "cuda"]  # auto = CUDA when available


class Section(BaseModel):
    # strict: true is not 1, 2.5 is not an integer, "3" is not a number
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --- sections ---------------------------------------------------------------------------------


class DataParams(Section):
    val_size: int = Field(ge=0)  # images carved from the 60,000 training images for validation
    seed: int = Field(ge=0)
    train_size: Optional[int] = Field(ge=1)  # null = all remaining training images


class MLPShape(Section):
    depth: int = Field(ge=1)  # hidden layers
    width: int = Field(ge=1)


class DecoderShape(Section):
    depth: Optional[int] = Field(ge=1)  # null = mirror the encoder
    width: Optional[int] = Field(ge=1)


class PriorParams(Section):
    kind: Literal["normal", "vamp"]  # N(0, I), or Tomczak & Welling's VampPrior learned with the model
    components: int = Field(ge=1)  # the VampPrior's pseudo-inputs K (read only when kind is vamp)


class ModelParams(Section):
    latent_dim: int = Field(ge=1)
    encoder: MLPShape
    decoder: DecoderShape
    prior: PriorParams


class TrainParams(Section):
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: Number = Field(gt=0.0)
    seed: int = Field(ge=0)
    beta: Number = Field(ge=0.0)  # weight of the KL term
    kl_warmup_epochs: int = Field(ge=0)  # beta ramps linearly from 0 over this many epochs
    device: Device


class MMDParams(Section):
    n_samples: int = Field(ge=2)  # draws from q and from N(0,I) each
    permutations: int = Field(ge=1)


class PosteriorShared(Section):
    seed: int = Field(ge=0)
    n_samples: int = Field(ge=2)  # M: Monte Carlo draws for the KL estimates
    chunk_size: int = Field(ge=1)  # rows of the M x N log-density matrix held at once (memory bound)
    mmd: MMDParams


# posterior.<section> of each fitted density that has params, as its registry entry adds it
# (latent/densities.py register(): add_density_section): the density's module holds its model
DENSITY_SECTIONS: dict[str, type[Section]] = {}


def _posterior() -> type[Section]:
    return create_model(
        "PosteriorParams", __base__=PosteriorShared, **{k: (m, ...) for k, m in DENSITY_SECTIONS.items()}
    )


PosteriorParams = _posterior()


def add_density_section(name: str, params: type[Section]) -> None:
    """A new density's params section, validated under posterior.<name> from now on."""
    global PosteriorParams
    if DENSITY_SECTIONS.get(name) is params:
        return
    if name in PosteriorShared.model_fields:
        raise ValueError(f"posterior.{name} is taken by the shared posterior params")
    DENSITY_SECTIONS[name] = params
    PosteriorParams = SECTIONS["posterior"] = _posterior()


class ClassifierParams(Section):
    channels: int = Field(ge=1)  # of the first conv layer; the second has twice as many
    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: Number = Field(gt=0.0)
    seed: int = Field(ge=0)
    device: Device


class EvalParams(Section):
    seed: int = Field(ge=0)
    n_samples: int = Field(ge=2)  # decoded samples per sampler
    k: int = Field(ge=1)  # neighbours for precision/recall/density/coverage
    nn_samples: int = Field(ge=1)  # samples per sampler measured against every training image
    iwae_k: int = Field(ge=1)
    iwae_images: int = Field(ge=1)
    device: Device


SECTIONS: dict[str, type[Section]] = {
    "data": DataParams,
    "model": ModelParams,
    "train": TrainParams,
    "posterior": PosteriorParams,
    "classifier": ClassifierParams,
    "eval": EvalParams,
}


# --- errors in words ----------------------------------------------------------------------------


def _describe(annotation, metadata) -> str:
    """What a key accepts, in words: 'an integer >= 1 or null'."""
    nullable = False
    if typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable, annotation = True, args[0]
    if typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        inner = _describe(item, typing.get_args(item)[1].metadata if typing.get_origin(item) is Annotated else [])
        text = f"a non-empty list, each {inner}"
        metadata = []
    elif typing.get_origin(annotation) is Literal:
        text = "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        text = "a mapping of " + ", ".join(annotation.model_fields)
    else:
        text = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[annotation]
    for m in metadata:
        if isinstance(m, at.Gt):
            text += f" > {m.gt}"
        elif isinstance(m, at.Ge):
            text += f" >= {m.ge}"
        elif isinstance(m, at.Le):
            text += f" and <= {m.le}"
    return text + (" or null" if nullable else "")


def _field(model: type[BaseModel], loc: tuple):
    """The field a pydantic error location points at, and the model holding it."""
    for name in loc[:-1]:
        model = model.model_fields[name].annotation
    return model, model.model_fields.get(loc[-1])


def _message(section: str, error: dict) -> str:
    loc = tuple(str(p) for p in error["loc"] if not isinstance(p, int))  # an item of a list: name the list
    key = ".".join((section, *loc))
    owner, info = _field(SECTIONS[section], loc)
    if error["type"] == "value_error":  # a rule across keys (a model validator): its own words
        return f"{key}: {error['msg'].removeprefix('Value error, ')}"
    if error["type"] == "extra_forbidden":
        parent = ".".join((section, *loc[:-1]))
        return f"unknown key {key} (allowed under {parent}: {', '.join(owner.model_fields)})"
    allowed = _describe(info.annotation, info.metadata) if info else "a mapping"
    if error["type"] == "missing":
        return f"missing key {key} ({allowed})"
    return f"{key} must be {allowed}, got {error['input']!r}"


def _problems(source, problems: list[str]) -> ConfigError:
    """Every problem of the file in one line, named by the file it is in (--params may name another)."""
    if len(problems) == 1:
        return ConfigError(f"{source}: {problems[0]}")
    return ConfigError(f"{source}: {len(problems)} problems: " + "; ".join(problems))


# --- loading ------------------------------------------------------------------------------------


def _parsed(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: params file not found; run from the repository root or pass --params")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]}); fix the file") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of sections ({', '.join(SECTIONS)})")
    return raw


def read_yaml(path: Path) -> dict:
    raw = _parsed(path)
    unknown = [f"unknown section {key} (allowed: {', '.join(SECTIONS)})" for key in raw if key not in SECTIONS]
    if unknown:
        raise _problems(path, unknown)
    return raw


def _section_problems(section: str, raw) -> tuple[Section | None, list[str]]:
    if not isinstance(raw, dict):
        return None, [f"{section} must be a mapping, got {raw!r}"]
    try:
        return SECTIONS[section].model_validate(raw), []
    except ValidationError as e:
        return None, [_message(section, error) for error in e.errors()]


def parse(section: str, raw, source="params.yaml") -> Section:
    parsed, problems = _section_problems(section, raw)
    if problems:
        raise _problems(source, problems)
    return parsed


def load(path: Path, section: str) -> Section:
    """One validated section of params.yaml (or of the file --params names)."""
    raw = read_yaml(path)
    if section not in raw:
        raise _problems(path, [f"missing section {section}"])
    return parse(section, raw[section], path)


def flat(**sections: Section) -> dict:
    """Dotted params.yaml names -> values, e.g. {'model.encoder.depth': 2}: what DVC and MLflow see."""
    return flatten_dict({name: s.model_dump() for name, s in sections.items()})


def load_all(path: Path) -> dict:
    """Every param of every section as {dotted name: value}, validated: the pipeline run's row."""
    raw = read_yaml(path)
    problems = [f"missing section {name}" for name in SECTIONS if name not in raw]
    parsed = {}
    for name in (n for n in SECTIONS if n in raw):
        parsed[name], found = _section_problems(name, raw[name])
        problems += found
    if problems:
        raise _problems(path, problems)
    return flat(**parsed)


def canonical(path: Path) -> str:
    """params.yaml as parsed, in one canonical text: comments and layout do not change it."""
    return json.dumps(_parsed(path), sort_keys=True, default=str)
