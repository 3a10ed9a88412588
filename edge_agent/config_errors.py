"""Config mistakes as a technician can fix them: the file, the line, the key, and a "did you mean"."""

from __future__ import annotations

import difflib
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

_LINE = re.compile(r"\(at line (\d+), column \d+\)")
_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file, the line and what is wrong."""


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """Return the parsed TOML and its text; raise ``ConfigError`` (``file:line: message``) if it is not TOML."""
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a text file") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as err:
        found = _LINE.search(str(err))
        message = _LINE.sub("", str(err)).strip()
        raise ConfigError(f"{path}:{found.group(1)}: {message}" if found else f"{path}: {message}") from None


def explain(err: ValidationError, path: Path, text: str, root: type[BaseModel], prefix: tuple[str, ...] = ()) -> str:
    """Return every problem of ``err`` as ``file:line: key.path: message``, joined by "; ".

    ``prefix``: where in ``root`` the validated part sits (``("lock",)`` for the lock table alone).
    """
    problems = []
    for e in err.errors():
        loc = prefix + tuple(e.get("loc", ()))
        message = str(e.get("msg", "invalid"))
        if e.get("type") == "extra_forbidden" and loc:
            close = difflib.get_close_matches(str(loc[-1]), sorted(fields_at(root, loc[:-1])), n=1, cutoff=0.6)
            message = "unknown key" + (f" (did you mean {close[0]!r}?)" if close else "")
        elif e.get("type") == "missing":
            message = "required key missing"
        line = line_of(text, loc)
        where = ".".join(str(p) for p in loc) or "(top level)"
        problems.append(f"{path}:{line}: {where}: {message}" if line else f"{path}: {where}: {message}")
    return "; ".join(problems)


def line_of(text: str, loc: Sequence[int | str]) -> int | None:
    """Return the 1-based line where the key at ``loc`` is written (its table's header if it is a table)."""
    keys = [p for p in loc if isinstance(p, str)]
    if not keys:
        return None
    table: list[str] = []
    header_of: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(raw)
        if header:
            table = [k.strip().strip('"') for k in header.group(1).split(".")]
            header_of.setdefault(".".join(table), number)
            continue
        key = raw.split("=", 1)[0].strip().strip('"') if "=" in raw else None
        if key is not None and _is_under(table + key.split("."), keys):
            return number
    for length in range(len(keys), 0, -1):  # the table itself, or the nearest enclosing one
        found = next((n for name, n in header_of.items() if _is_under(name.split("."), keys[:length])), None)
        if found is not None:
            return found
    return None


def _is_under(written: list[str], wanted: list[str]) -> bool:
    """Return whether a key written at ``written`` is the one at ``wanted`` (union tags may sit between)."""
    if not written or written[-1] != wanted[-1]:
        return False
    it = iter(wanted)
    return all(part in it for part in written)  # ``written`` is a subsequence of ``wanted``


def fields_at(root: type[BaseModel], loc: Sequence[int | str]) -> set[str]:
    """Return the keys a model allows at ``loc`` (the union of every model a union there may be)."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        named = [m for m in models if part in m.model_fields]
        if named:
            models = [sub for m in named for sub in _models_in(m.model_fields[part].annotation)]
        # else: a union tag (``lcus`` in ``lock.lcus.url``); keep the candidates
    return {name for m in models for name in m.model_fields}


def _models_in(annotation: Any) -> Iterable[type[BaseModel]]:
    """Yield the pydantic models an annotation can hold (through Optional, lists, unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _models_in(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType, list, tuple, dict) or origin is not None:
        for arg in typing.get_args(annotation):
            yield from _models_in(arg)
