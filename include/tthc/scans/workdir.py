"""Temporary copies of scans (personal data) under the project's own work directory, never in the
system temp folder: one folder per chunk run, named after the process that owns it, so that the next
run removes what a killed run left behind and never touches a running sibling's folder."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "tthc-scan-"
_OWNED = re.compile(rf"^{PREFIX}(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # someone else's process: alive
        return True
    return True


def scans_dir(work_dir: Path) -> Path:
    folder = work_dir / "scans"
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    return folder


def remove_leftovers(work_dir: Path) -> list[Path]:
    """Remove the temporary folders of runs whose process is gone; returns them."""
    folder = scans_dir(work_dir)
    removed = []
    for path in folder.iterdir():
        m = _OWNED.match(path.name)
        if not m or _alive(int(m.group(1))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
        log.warning("removed %s: temporary scan copies left by an interrupted run (process %s)", path, m.group(1))
    return removed


def new_tmpdir(work_dir: Path) -> Path:
    """A fresh private folder for this process's copies, after removing any a crash left."""
    remove_leftovers(work_dir)
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=scans_dir(work_dir)))
