"""Reading the project's YAML files: one way to read, expand ${VAR} and check the top level.

Every loader (sources, drop zones, alerts, reports, progress inputs, seeds) reads its file here, so
an unreadable file, broken YAML or a missing environment variable gives the same one-line error,
always naming the file. The loaders then validate the mapping with their model (tthc.config.errors).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml

from tthc.config.errors import ConfigError

_ENV = re.compile(r"\$\{([A-Z0-9_]+)(?::-([^${}]*))?\}")  # innermost first: defaults may nest


class EnvError(ConfigError):
    """A ${VAR} without default names an unset environment variable."""


def _setting_defaults() -> dict[str, str]:
    """Documented defaults of TTHC_* settings, so a file can use ${TTHC_DEMO_DATA_DIR}."""
    from tthc.settings import settings

    current = settings()
    return {"TTHC_DEMO_DATA_DIR": str(current.demo_data_dir), "TTHC_LOCAL_DIR": str(current.local_dir)}


def expand_env(text: str) -> str:
    """${VAR} and ${VAR:-default} from the environment; an unset VAR without default is an error."""
    defaults = None

    def repl(m):
        nonlocal defaults
        value = os.environ.get(m[1])
        if value is None and m[2] is not None:
            value = m[2]
        if value is None:
            defaults = _setting_defaults() if defaults is None else defaults
            value = defaults.get(m[1])
        if value is None:
            raise EnvError(f"environment variable {m[1]} is not set (used as ${{{m[1]}}})")
        return value
    previous = None
    while previous != text:
        previous, text = text, _ENV.sub(repl, text)
    return text


def expand_values(value: Any, where: str, error: type[Exception] = ConfigError) -> Any:
    """expand_env in every string of a parsed document; the error names the key path."""
    if isinstance(value, str):
        try:
            return expand_env(value)
        except EnvError as exc:
            raise error(f"{where}: {exc}") from None
    if isinstance(value, list):
        return [expand_values(v, where, error) for v in value]
    if isinstance(value, dict):
        return {k: expand_values(v, f"{where}.{k}", error) for k, v in value.items()}
    return value


def yaml_problem(exc: yaml.YAMLError) -> str:
    """'line 2, column 3: expected the node content, but found '-'' (one line, the file's own line number)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    text = " ".join(str(problem).split())
    return f"line {mark.line + 1}, column {mark.column + 1}: {text}" if mark is not None else text


def read_mapping(path: Path, error: type[Exception] = ConfigError, *,
                 expand: Literal["text", "values"] | None = None, where: str | None = None) -> dict:
    """The file's top-level mapping ({} for an empty file).

    expand="text" expands ${VAR} in the raw text (a variable may hold YAML); "values" only in the
    parsed strings (a value with YAML syntax stays a string). `where` names the file in errors
    (default: its name)."""
    path = Path(path)
    where = where or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{where}: cannot read {path} ({exc.strerror or exc})") from None
    try:
        if expand == "text":
            text = expand_env(text)
        doc = yaml.safe_load(text)
    except EnvError as exc:
        raise error(f"{where}: {exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{where}: not valid YAML: {yaml_problem(exc)}") from None
    doc = {} if doc is None else doc
    if not isinstance(doc, dict):
        raise error(f"{where}: expected a mapping of keys at the top level")
    if expand == "values":
        doc = {k: expand_values(v, f"{where}: {k}", error) for k, v in doc.items()}
    return doc
