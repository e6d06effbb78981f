"""Typed job configs: YAML files mapped onto frozen dataclasses, with key=value overrides.

    python -m jobs.X --config conf/X.yaml key=value section.key=value

Values in overrides are parsed as YAML scalars (`5`, `0.5`, `true`, `[a, b]`).
Unknown keys and values of the wrong type are errors naming the file and key.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from tracknet.errors import TrackNetError

_EXPONENT_FLOAT = re.compile(r"[-+]?\d+(\.\d*)?[eE][-+]?\d+")

T = TypeVar("T")


class ConfigError(TrackNetError, ValueError):
    """A config file or override is invalid; the message names the file and key."""


def parse_args(cls: type[T], argv: Sequence[str] | None = None, description: str | None = None) -> T:
    """Build a job config from `--config FILE` and `key=value` arguments."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", help="YAML file mapping onto the job's config")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override a config key")
    args = parser.parse_args(argv)
    return load_config(cls, args.config, args.overrides)


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Config of type `cls` from an optional YAML file plus `key=value` overrides."""
    source = str(path) if path is not None else "<defaults>"
    values: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text())
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({exc})") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(loaded).__name__}")
        values = loaded or {}
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot parse value ({exc})") from exc
        _check_key(cls, key, item)
        _set_dotted(values, key.split("."), value, item)
    return _build(cls, values, source, prefix="")


def config_keys(cls: type, prefix: str = "") -> list[str]:
    """Every settable key of a config dataclass, nested ones dotted ('predictor.threshold')."""
    keys = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        keys.append(f"{prefix}{f.name}")
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            keys += config_keys(hint, f"{prefix}{f.name}.")
    return keys


def _suggestion(key: str, valid: Sequence[str]) -> str:
    """' (did you mean 'x'?)' for the valid key nearest to `key`, or ''."""
    leaf = key.rsplit(".", 1)[-1]
    same_leaf = [k for k in valid if k.rsplit(".", 1)[-1] == leaf]
    close = same_leaf or difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _check_key(cls: type, key: str, item: str) -> None:
    """A command-line override must name a key of the config (the error says so, not the file)."""
    valid = config_keys(cls)
    if key not in valid:
        raise ConfigError(f"command line: unknown key '{key}' in {item!r}{_suggestion(key, valid)}")


def _set_dotted(values: dict[str, Any], keys: list[str], value: Any, item: str) -> None:
    for key in keys[:-1]:
        child = values.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {key} is not a section")
        values = child
    values[keys[-1]] = value


def _build(cls: type[T], values: dict[str, Any], source: str, prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(
            f"{source}: unknown key '{key}'{_suggestion(key, [prefix + k for k in config_keys(cls)])}; "
            f"valid keys here: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _coerce(hints[name], value, source, f"{prefix}{name}") for name, value in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {prefix.rstrip('.') or cls.__name__}: {exc}") from exc


def _coerce(hint: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, source, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return _build(hint, value, source, prefix=f"{key}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        item_hint = args[0] if args else Any
        items = [_coerce(item_hint, v, source, key) for v in value]
        return tuple(items) if origin is tuple else items
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{source}: {key} must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str) and _EXPONENT_FLOAT.fullmatch(value.strip()):
        return float(value)  # YAML 1.1 reads 1e-4 (no '.') as a string
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ConfigError(f"{source}: {key} must be {hint.__name__}, got {value!r}")
    return value
