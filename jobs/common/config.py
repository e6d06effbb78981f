"""Typed job configs: YAML files mapped onto frozen dataclasses, with key=value overrides.

    python -m jobs.X --config conf/X.yaml key=value section.key=value

Values in overrides are parsed as YAML scalars (`5`, `0.5`, `true`, `[a, b]`).
Unknown keys and values of the wrong type are errors naming the file and key.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import difflib
import inspect
import textwrap
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


CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
"""The repository's conf/ folder, where each job's default config file lives."""


def parse_args(cls: type[T], argv: Sequence[str] | None = None, *, prog: str | None = None, conf: str | None = None,
               description: str | None = None) -> T:
    """Build a job config from `--config FILE` (default conf/`conf`) and `key=value` arguments.

    `--help` lists every key of `cls` with its type, default and doc (from the field docs).
    """
    default = CONF_DIR / conf if conf is not None and (CONF_DIR / conf).is_file() else None
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="keys (key=value on the command line; nested keys dotted):\n" + format_keys(cls),
    )
    parser.add_argument(
        "--config", default=default, metavar="FILE",
        help=f"YAML file mapping onto the config (default: {_shown(default) if default else 'the built-in defaults'})",
    )
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="override a config key")
    args = parser.parse_args(argv)
    return load_config(cls, args.config, args.overrides)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Config of type `cls` from an optional YAML file plus `key=value` overrides.

    Errors name where the offending value came from: the file and line, or the command line.
    """
    source = str(path) if path is not None else "<defaults>"
    values: dict[str, Any] = {}
    origins = _Origins(source)
    if path is not None:
        try:
            text = Path(path).read_text()
            loaded = yaml.safe_load(text)
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read config ({exc.strerror})") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{source}: not valid YAML ({exc})") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(loaded).__name__}")
        values = loaded or {}
        origins.lines = _key_lines(text)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"command line: {item!r}: expected key=value")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError as exc:
            raise ConfigError(f"command line: {item!r}: cannot parse value ({exc})") from exc
        _check_key(cls, key, item)
        _set_dotted(values, key.split("."), value, item)
        origins.command_line.add(key)
    return _build(cls, values, origins, prefix="")


class _Origins:
    """Where each key's value came from: the command line, or a line of the config file."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[str, int] = {}
        self.command_line: set[str] = set()

    def of(self, key: str) -> str:
        """'command line', 'conf/x.yaml, line 12', or the file (or '<defaults>') alone."""
        if any(key == k or key.startswith(k + ".") for k in self.command_line):
            return "command line"
        line = self.lines.get(key)
        return f"{self.source}, line {line}" if line else self.source

    def section(self, prefix: str) -> str:
        """Where a section's values came from (for errors of the section as a whole)."""
        key = prefix.rstrip(".")
        if key and any(k == key or k.startswith(prefix) for k in self.command_line):
            return f"{self.of(key)} ({', '.join(sorted(k for k in self.command_line if k.startswith(prefix)))})"
        if not key and self.command_line:
            return f"{self.source} + command line"
        return self.of(key) if key else self.source


def _key_lines(text: str) -> dict[str, int]:
    """1-based line of every dotted key in a YAML mapping document."""
    lines: dict[str, int] = {}

    def walk(node: yaml.Node, prefix: str) -> None:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = f"{prefix}{key_node.value}"
                lines[key] = key_node.start_mark.line + 1
                walk(value_node, key + ".")

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, "")
    return lines


def field_docs(cls: type) -> dict[str, str]:
    """A dataclass's field docs: the string literal after each field, base classes' included."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in zip(body, body[1:]):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def format_keys(cls: type, prefix: str = "", defaults: Any = None) -> str:
    """Every key of a config dataclass, one per line: `key  (type, default)  doc`; sections nested.

    `defaults` is the section's default instance when its parent's default differs from the class's.
    """
    hints = typing.get_type_hints(cls)
    docs = field_docs(cls)
    lines = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        hint, doc = hints[f.name], docs.get(f.name, "")
        if defaults is not None:
            default = getattr(defaults, f.name)
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        if dataclasses.is_dataclass(hint):
            lines.append(f"  {prefix}{f.name}:  {doc}")
            lines.append(format_keys(hint, f"{prefix}{f.name}.", default))
            continue
        lines.append(f"  {prefix}{f.name}  ({_type_name(hint)}, default {_yaml_value(default)})  {doc}")
    return "\n".join(lines)


def _type_name(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Literal:
        return "|".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " or ".join(names) + (" or null" if type(None) in args else "")
    if origin in (tuple, list):
        return f"list of {_type_name(args[0]) if args else 'any'}"
    if hint is Any:
        return "any"
    return getattr(hint, "__name__", str(hint))


def _yaml_value(value: Any) -> str:
    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


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
    leaves = {k.rsplit(".", 1)[-1]: k for k in reversed(valid)}
    close = [k for k in valid if k.rsplit(".", 1)[-1] == leaf] or difflib.get_close_matches(key, valid, n=1)
    if not close:
        close = [leaves[name] for name in difflib.get_close_matches(leaf, list(leaves), n=1)]
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


def _build(cls: type[T], values: dict[str, Any], origins: _Origins, prefix: str) -> T:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(
            f"{origins.of(key)}: unknown key '{key}'{_suggestion(key, [prefix + k for k in config_keys(cls)])}; "
            f"valid keys here: {', '.join(sorted(fields))}"
        )
    kwargs = {name: _coerce(hints[name], value, origins, f"{prefix}{name}") for name, value in values.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        section = f"{prefix.rstrip('.')}: " if prefix else ""
        raise ConfigError(f"{origins.section(prefix)}: {section}{exc}") from exc


def _coerce(hint: Any, value: Any, origins: _Origins, key: str) -> Any:
    source = origins.of(key)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, origins, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0])
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        return _build(hint, value, origins, prefix=f"{key}.")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        item_hint = args[0] if args else Any
        items = [_coerce(item_hint, v, origins, key) for v in value]
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
