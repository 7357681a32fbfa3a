"""Apply the ordered SQL migrations in sql/ and record each applied version.

File naming (Flyway style):
  sql/V001__short_name.sql   versioned: applied once, in version order, never edited afterwards
  sql/R__short_name.sql      repeatable (views, comments): re-applied when their checksum changes,
                             after all versioned files, in name order

Each file runs in its own transaction together with its bookkeeping row in
ops.schema_migration, under an advisory lock so that two runners cannot race.
Running the runner again changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from tthc.paths import sql_dir
from tthc.warehouse.db import connect

log = logging.getLogger(__name__)

VERSIONED = re.compile(r"^V(?P<version>\d{3,})__(?P<name>[a-z0-9_]+)\.sql$")
REPEATABLE = re.compile(r"^R__(?P<name>[a-z0-9_]+)\.sql$")
# Arbitrary constant: the advisory-lock key that serializes migration runners.
MIGRATION_LOCK_KEY = 720_2025

BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migration (
    version     text PRIMARY KEY,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('versioned', 'repeatable')),
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str  # "001" for versioned, "R:name" for repeatable
    name: str
    kind: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path | None = None) -> list[Migration]:
    directory = directory or sql_dir()
    versioned, repeatable = [], []
    for path in sorted(directory.glob("*.sql")):
        if m := VERSIONED.match(path.name):
            versioned.append(Migration(m["version"], m["name"], "versioned", path))
        elif m := REPEATABLE.match(path.name):
            repeatable.append(Migration(f"R:{m['name']}", m["name"], "repeatable", path))
        else:
            raise MigrationError(f"{path}: not a migration name (expected V001__name.sql or R__name.sql)")
    versions = [m.version for m in versioned]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration versions in {directory}: {versions}")
    versioned.sort(key=lambda m: int(m.version))
    return versioned + repeatable


def migrate(url: str | None = None, directory: Path | None = None) -> list[str]:
    """Apply pending migrations; returns the versions applied by this call."""
    migrations = discover(directory)
    applied_now: list[str] = []
    conn = connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
            cur.execute(BOOTSTRAP)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT version, checksum FROM ops.schema_migration")
                done = dict(cur.fetchall())
            conn.commit()
            # One changed view file re-applies all of them: a DROP ... CASCADE in one
            # may remove views that another file defines.
            repeatables_dirty = any(done.get(m.version) != m.checksum for m in migrations if m.kind == "repeatable")
            for mig in migrations:
                previous = done.get(mig.version)
                if previous == mig.checksum and not (mig.kind == "repeatable" and repeatables_dirty):
                    continue
                if previous is not None and mig.kind == "versioned":
                    raise MigrationError(
                        f"{mig.path.name} was changed after it was applied "
                        f"(checksum {previous[:12]} → {mig.checksum[:12]}); add a new migration instead")
                log.info("applying %s", mig.path.name)
                try:
                    with conn, conn.cursor() as cur:
                        cur.execute(mig.sql)
                        cur.execute(
                            """INSERT INTO ops.schema_migration (version, name, kind, checksum)
                               VALUES (%s, %s, %s, %s)
                               ON CONFLICT (version) DO UPDATE
                               SET checksum = EXCLUDED.checksum, applied_at = now()""",
                            (mig.version, mig.name, mig.kind, mig.checksum))
                except Exception as exc:
                    raise MigrationError(f"{mig.path.name} failed: {exc}") from exc
                applied_now.append(mig.version)
        finally:
            with conn, conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_KEY,))
    finally:
        conn.close()
    log.info("migrations: %d applied, %d already current", len(applied_now), len(migrations) - len(applied_now))
    return applied_now
