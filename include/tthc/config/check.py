"""Every configuration file checked at once: `tthc config check`, and the import error of
dags/tthc_config_check.py that shows a broken file in the Airflow UI."""

from __future__ import annotations

from pathlib import Path

from tthc.config.errors import ConfigError  # noqa: F401 - raised by dags/tthc_config_check.py


def config_problems() -> list[str]:
    """One line per broken file: the folder and file, the key, what is wrong (empty when all is well).

    Sources and drop zones are checked file by file (a broken one drops only its own DAG); the
    alert routes, the report delivery and the scan-field rules are single files."""
    from tthc.alerts.config import AlertConfigError, config_path, load_config
    from tthc.scans.config import drops_dir, read_drops
    from tthc.sources.config import read_sources, sources_dir

    problems = []
    for folder, (_, broken) in ((sources_dir(), read_sources()), (drops_dir(), read_drops())):
        problems += [_with_folder(folder, path, message) for path, message in broken.items()]
    try:
        load_config()
    except AlertConfigError as exc:
        problems.append(_with_folder(config_path().parent, config_path(), str(exc)))
    return problems


def _with_folder(folder: Path, path: Path, message: str) -> str:
    """'civil_status.yaml: …' -> 'sources/civil_status.yaml: …' (the folder makes the file findable)."""
    return f"{folder.name}/{message}" if message.startswith(path.name) else f"{folder.name}/{path.name}: {message}"
