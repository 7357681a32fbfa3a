"""Well-known project locations. Override the root with TTHC_PROJECT_ROOT."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    env = os.environ.get("TTHC_PROJECT_ROOT")
    if env:
        return Path(env).resolve()
    # include/tthc/paths.py -> project root is two levels above the package.
    return Path(__file__).resolve().parents[2]


def seeds_dir() -> Path:
    return project_root() / "seeds"


def sql_dir() -> Path:
    return project_root() / "sql"


def local_dir() -> Path:
    """Project-local state (embedded PostgreSQL, Airflow home, demo data). Git-ignored."""
    return Path(os.environ.get("TTHC_LOCAL_DIR", project_root() / ".local")).resolve()
