"""One-line messages from pydantic validation errors: the file, the key path, what is allowed.

An unknown key is the commonest mistake in hand-edited YAML, and a misspelling of a known key
otherwise loads silently with the default, so the message suggests the closest known key.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


class ConfigError(ValueError):
    """A configuration file or setting is invalid; the message names the file, the key and what is allowed."""


def key_path(loc: tuple) -> str:
    """('routes', 0, 'match', 'colour') -> routes[0].match.colour"""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class whose fields are the keys at `loc` (walking through lists, tuples and dicts)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            if isinstance(part, str) and part in current.model_fields:
                current = current.model_fields[part].annotation
                continue
            return None
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in (list, tuple, set, frozenset) and args:
            current = args[0]
        elif origin is dict and len(args) == 2:
            current = args[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Optional[X] / X | None / X | str -> the BaseModel member if there is one, else X."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        others = [a for a in args if a is not type(None)]
        return others[0] if len(others) == 1 else annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(args[0])
    return annotation


def suggestion(word: str, known: typing.Iterable[str]) -> str:
    known = sorted(known)
    prefixed = [k for k in known if k.startswith(str(word)) and len(str(word)) >= 3]
    close = prefixed[:1] if len(prefixed) == 1 else difflib.get_close_matches(str(word), known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(error: dict, model: type[BaseModel]) -> str:
    """One pydantic error as 'key.path: what is wrong'."""
    loc = tuple(error["loc"])
    kind = error["type"]
    where = key_path(loc)
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        known = list(parent.model_fields) if parent else []
        prefix = f"{key_path(loc[:-1])}: " if loc[:-1] else ""
        allowed = f"; allowed: {', '.join(sorted(known))}" if known else ""
        hint = suggestion(loc[-1], known)
        return f"{prefix}unknown key {loc[-1]!r}{hint}" + ("" if hint else allowed)
    if kind == "missing":
        prefix = f"{key_path(loc[:-1])}: " if loc[:-1] else ""
        return f"{prefix}missing required key {loc[-1]!r}"
    if kind in ("literal_error", "enum"):
        expected = (error.get("ctx") or {}).get("expected", "")
        if loc and loc[-1] == "[key]":
            return f"{where}: key {error['input']!r} is not allowed; allowed: {expected}"
        hint = ""
        choices = [c.strip(" '\"") for c in expected.replace(" or ", ", ").split(",")]
        if isinstance(error.get("input"), str):
            hint = suggestion(error["input"], choices)
        return f"{where}: {error['input']!r} is not allowed{hint}; allowed: {expected}"
    message = error["msg"]
    if kind in ("value_error", "assertion_error"):
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return f"{where}: {message}" if where else message
    got = error.get("input")
    shown = "" if isinstance(got, dict) else f", got {got!r}"
    return f"{where}: {message[:1].lower()}{message[1:]}{shown}" if where else f"{message}{shown}"


def format_errors(exc: ValidationError, model: type[BaseModel], where: str) -> str:
    """All errors on one line, each prefixed by the file: '<file>: <key path>: <problem>; …'."""
    parts = []
    for error in exc.errors(include_url=False):
        text = describe(error, model)
        if text not in parts:
            parts.append(text)
    return "; ".join(f"{where}: {p}" for p in parts)


def validate(model: type[BaseModel], data: Any, where: str, error: type[Exception] = ConfigError):
    """model.model_validate(data), or `error` with one line naming the file, the keys and the allowed values."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise error(format_errors(exc, model, where)) from None
