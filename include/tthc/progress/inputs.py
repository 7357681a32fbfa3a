"""Where the progress indicators' inputs are read from: config/progress_inputs.yaml.

Each key names one input and gives its file (``${VAR}`` expanded from the environment).
TTHC_PROGRESS_INPUTS_CONFIG points to another file.
"""

from __future__ import annotations

from pathlib import Path

import yaml


INPUTS = ("dossiers", "one_stop_offices")


class InputsConfigError(ValueError):
    pass


def inputs_config_path() -> Path:
    from tthc.settings import settings

    return settings().progress_inputs_config.resolve()


def input_paths(path: Path | None = None) -> dict[str, Path]:
    """{input name: file} from the config file; one clear error naming the file and key otherwise."""
    from tthc.sources.config import SourceConfigError, expand_env

    path = path or inputs_config_path()
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise InputsConfigError(f"{path}: cannot read the progress inputs config ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise InputsConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise InputsConfigError(f"{path}: expected a mapping of {', '.join(INPUTS)}")
    unknown = sorted(set(doc) - set(INPUTS))
    if unknown:
        raise InputsConfigError(f"{path}: unknown keys {unknown}; allowed: {', '.join(INPUTS)}")
    out: dict[str, Path] = {}
    for name in INPUTS:
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise InputsConfigError(f"{path}: key {name}: expected the path of a CSV file")
        try:
            out[name] = Path(expand_env(doc[name]))
        except SourceConfigError as exc:
            raise InputsConfigError(f"{path}: key {name}: {exc}") from exc
    return out


def load_input(name: str, url: str, folder: Path | None = None) -> dict:
    """Load one input into the warehouse: from its configured file, or from ``folder`` (same file name)."""
    from tthc.progress import loaders

    file = Path(folder) / f"{name}.csv" if folder is not None else input_paths()[name]
    return getattr(loaders, f"load_{name}")(file, url)
