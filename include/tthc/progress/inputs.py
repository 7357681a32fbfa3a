"""Where the progress indicators' inputs are read from: config/progress_inputs.yaml.

Each key names one input and gives its file (``${VAR}`` expanded from the environment).
TTHC_PROGRESS_INPUTS_CONFIG points to another file.
"""

from __future__ import annotations

from pathlib import Path

from tthc.config.errors import ConfigError


INPUTS = ("dossiers", "one_stop_offices")


class InputsConfigError(ConfigError):
    pass


def inputs_config_path() -> Path:
    from tthc.settings import settings

    return settings().progress_inputs_config.resolve()


def input_paths(path: Path | None = None) -> dict[str, Path]:
    """{input name: file} from the config file; one clear error naming the file and key otherwise."""
    from tthc.config.errors import validate
    from tthc.config.files import read_mapping
    from tthc.config.inputs import ProgressInputsFile

    path = Path(path) if path else inputs_config_path()
    doc = read_mapping(path, InputsConfigError, expand="values")
    model = validate(ProgressInputsFile, doc, path.name, InputsConfigError)
    return {name: Path(getattr(model, name)) for name in INPUTS}


def load_input(name: str, url: str, folder: Path | None = None) -> dict:
    """Load one input into the warehouse: from its configured file, or from ``folder`` (same file name)."""
    from tthc.progress import loaders

    file = Path(folder) / f"{name}.csv" if folder is not None else input_paths()[name]
    return getattr(loaders, f"load_{name}")(file, url)
