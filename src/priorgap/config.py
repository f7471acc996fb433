"""params.yaml as typed, validated dataclasses.

Each stage loads only the sections it declares in dvc.yaml, so a stage never depends on a value
DVC cannot see. Every key must be present (params.yaml is the single source of defaults), unknown
keys and impossible values stop the stage with one line naming the key and what is allowed.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import yaml

from . import PriorgapError


class ConfigError(PriorgapError):
    pass


def _ge(lo):
    return field(metadata={"min": lo})


def _gt(lo):
    return field(metadata={"gt": lo})


# --- sections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataParams:
    val_size: int = _ge(0)  # images carved from the 60,000 training images for validation
    seed: int = _ge(0)
    train_size: Optional[int] = _ge(1)  # null = all remaining training images


@dataclass(frozen=True)
class MLPShape:
    depth: int = _ge(1)  # hidden layers
    width: int = _ge(1)


@dataclass(frozen=True)
class DecoderShape:
    depth: Optional[int] = _ge(1)  # null = mirror the encoder
    width: Optional[int] = _ge(1)


@dataclass(frozen=True)
class ModelParams:
    latent_dim: int = _ge(1)
    encoder: MLPShape
    decoder: DecoderShape


@dataclass(frozen=True)
class TrainParams:
    epochs: int = _ge(1)
    batch_size: int = _ge(1)
    lr: float = _gt(0.0)
    seed: int = _ge(0)
    beta: float = _ge(0.0)  # weight of the KL term
    kl_warmup_epochs: int = _ge(0)  # beta ramps linearly from 0 over this many epochs
    device: Literal["auto", "cpu", "cuda"]  # auto = CUDA when available


@dataclass(frozen=True)
class MMDParams:
    n_samples: int = _ge(2)  # draws from q and from N(0,I) each
    permutations: int = _ge(1)


@dataclass(frozen=True)
class GMMParams:
    components: int = _ge(1)
    covariance_type: Literal["full", "tied", "diag", "spherical"]
    fit_on: Literal["mu", "z"]  # one z ~ Q(z|x) per image, or the means widened by the posterior variance


@dataclass(frozen=True)
class FlowParams:
    transforms: int = _ge(1)
    hidden: int = _ge(1)
    autoregressive: bool  # false: coupling (2 passes to sample), true: fully autoregressive (latent_dim passes)
    steps: int = _ge(1)
    batch_size: int = _ge(1)
    lr: float = _gt(0.0)


@dataclass(frozen=True)
class TwoStageParams:
    hidden: int = _ge(1)
    steps: int = _ge(1)
    batch_size: int = _ge(1)
    lr: float = _gt(0.0)
    kl_warmup: float = field(metadata={"min": 0.0, "max": 1.0})  # share of steps over which the KL weight ramps 0 -> 1
    importance_samples: int = _ge(1)  # draws per z for the importance-weighted log g(z)


@dataclass(frozen=True)
class PosteriorParams:
    seed: int = _ge(0)
    n_samples: int = _ge(2)  # M: Monte Carlo draws for the KL estimates
    chunk_size: int = _ge(1)  # rows of the M x N log-density matrix held at once (memory bound)
    mmd: MMDParams
    gmm: GMMParams
    flow: FlowParams
    two_stage: TwoStageParams


@dataclass(frozen=True)
class EvaluatorParams:
    channels: int = _ge(1)  # of the first conv layer; the second has twice as many
    epochs: int = _ge(1)
    batch_size: int = _ge(1)
    lr: float = _gt(0.0)
    seed: int = _ge(0)
    device: Literal["auto", "cpu", "cuda"]


@dataclass(frozen=True)
class EvalParams:
    seed: int = _ge(0)
    n_samples: int = _ge(2)  # decoded samples per sampler
    k: int = _ge(1)  # neighbours for precision/recall/density/coverage
    nn_samples: int = _ge(1)  # samples per sampler measured against every training image
    iwae_k: int = _ge(1)
    iwae_images: int = _ge(1)
    device: Literal["auto", "cpu", "cuda"]


SECTIONS = {
    "data": DataParams,
    "model": ModelParams,
    "train": TrainParams,
    "posterior": PosteriorParams,
    "evaluator": EvaluatorParams,
    "eval": EvalParams,
}


# --- parsing ----------------------------------------------------------------------------------


def _describe(tp, meta=None) -> str:
    """What a key accepts, in words: 'an integer >= 1 or null'."""
    meta = meta or {}
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _describe(inner[0], meta) + " or null"
    words = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    text = words.get(tp, getattr(tp, "__name__", str(tp)))
    if "gt" in meta:
        text += f" > {meta['gt']}"
    elif "min" in meta:
        text += f" >= {meta['min']}"
    if "max" in meta:
        text += f" and <= {meta['max']}"
    return text


def _value(tp, raw, key: str, meta, allowed: str = ""):
    """Convert one raw YAML value to `tp`, or raise ConfigError naming `key` and what it allows."""
    allowed = allowed or _describe(tp, meta)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if raw is None:
            return None
        (inner,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _value(inner, raw, key, meta, allowed)
    if dataclasses.is_dataclass(tp):
        return _parse(tp, raw, key)

    def bad():
        return ConfigError(f"params.yaml: {key} must be {allowed}, got {raw!r}")

    if origin is Literal:
        if raw not in typing.get_args(tp):
            raise bad()
        return raw
    if tp is bool:
        ok = isinstance(raw, bool)
    elif tp is int:
        ok = isinstance(raw, int) and not isinstance(raw, bool)
    elif tp is float:
        # YAML reads 1e-3 as a string (YAML 1.1 wants 1.0e-3): accept it as a number.
        if isinstance(raw, str):
            try:
                raw = float(raw)
            except ValueError:
                raise bad() from None
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        raw = float(raw) if ok else raw
    elif tp is str:
        ok = isinstance(raw, str)
    else:  # pragma: no cover - a programming error in the dataclasses above
        raise TypeError(f"unsupported param type {tp}")
    if not ok:
        raise bad()
    if ("min" in meta and raw < meta["min"]) or ("gt" in meta and raw <= meta["gt"]) or ("max" in meta and raw > meta["max"]):
        raise bad()
    return raw


def _parse(cls, raw, prefix: str):
    if not isinstance(raw, dict):
        raise ConfigError(f"params.yaml: {prefix} must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise ConfigError(
                f"params.yaml: unknown key {prefix}.{key} (allowed under {prefix}: {', '.join(fields)})"
            )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}"
        if name not in raw:
            raise ConfigError(f"params.yaml: missing key {key} ({_describe(hints[name])})")
        values[name] = _value(hints[name], raw[name], key, f.metadata)
    return cls(**values)


def read_yaml(path: Path) -> dict:
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


def load(path: Path, *sections: str):
    """Parse the named sections of params.yaml; returns one dataclass per section, in order."""
    raw = read_yaml(path)
    for key in raw:
        if key not in SECTIONS:
            raise ConfigError(f"params.yaml: unknown section {key} (allowed: {', '.join(SECTIONS)})")
    out = []
    for name in sections:
        if name not in raw:
            raise ConfigError(f"params.yaml: missing section {name}")
        out.append(_parse(SECTIONS[name], raw[name], name))
    return out[0] if len(out) == 1 else tuple(out)


def flatten(section: str, params) -> dict:
    """Dotted params.yaml names -> values, e.g. {'model.encoder.depth': 2}: what DVC and MLflow see."""
    out = {}

    def walk(prefix, value):
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                walk(f"{prefix}.{f.name}", getattr(value, f.name))
        else:
            out[prefix] = value

    walk(section, params)
    return out


def load_all(path: Path) -> dict:
    """Every param of every section as {dotted name: value}, validated: the pipeline run's row."""
    out = {}
    for name, params in zip(SECTIONS, load(path, *SECTIONS)):  # one read of the file
        out.update(flatten(name, params))
    return out
