"""The migration runner: ordered, recorded, idempotent, and strict about edited history."""

from __future__ import annotations

import shutil

import pytest

from tthc.paths import sql_dir
from tthc.warehouse.db import fetch_all
from tthc.warehouse.migrate import MigrationError, discover, migrate

SNAPSHOT_QUERIES = {
    "columns": """SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default
                  FROM information_schema.columns
                  WHERE table_schema IN ('raw', 'staging', 'core', 'mart', 'ops')
                  ORDER BY 1, 2, 3""",
    "constraints": """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
                      FROM pg_constraint WHERE connamespace::regnamespace::text IN ('raw','staging','core','mart','ops')
                      ORDER BY 1, 2""",
    "indexes": """SELECT schemaname, indexname, indexdef FROM pg_indexes
                  WHERE schemaname IN ('raw','staging','core','mart','ops') ORDER BY 1, 2""",
    "views": """SELECT schemaname, viewname, definition FROM pg_views
                WHERE schemaname IN ('raw','staging','core','mart','ops') ORDER BY 1, 2""",
    "comments": """SELECT c.relnamespace::regnamespace::text, c.relname, a.attname,
                          col_description(c.oid, a.attnum), obj_description(c.oid, 'pg_class')
                   FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
                   WHERE c.relnamespace::regnamespace::text IN ('raw','staging','core','mart','ops')
                   ORDER BY 1, 2, 3""",
    "migrations": "SELECT version, name, kind, checksum FROM ops.schema_migration ORDER BY version",
}


def snapshot(url: str) -> dict[str, list[tuple]]:
    return {name: fetch_all(url, q) for name, q in SNAPSHOT_QUERIES.items()}


def test_twice_equals_once(empty_warehouse):
    first = migrate(empty_warehouse)
    assert first, "a fresh database must get every migration"
    once = snapshot(empty_warehouse)
    assert migrate(empty_warehouse) == []
    assert snapshot(empty_warehouse) == once


def test_every_file_is_recorded_in_order(empty_warehouse):
    migrate(empty_warehouse)
    recorded = [row[0] for row in fetch_all(empty_warehouse, "SELECT version FROM ops.schema_migration")]
    expected = [m.version for m in discover()]
    assert sorted(recorded) == sorted(expected)
    versioned = [m.version for m in discover() if m.kind == "versioned"]
    assert versioned == sorted(versioned, key=int)


def test_layers_exist(empty_warehouse):
    migrate(empty_warehouse)
    schemas = {r[0] for r in fetch_all(empty_warehouse, "SELECT nspname FROM pg_namespace")}
    assert {"raw", "staging", "core", "mart", "ops"} <= schemas


def test_edited_versioned_migration_is_refused(empty_warehouse, tmp_path):
    for path in sql_dir().glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    migrate(empty_warehouse, tmp_path)
    first = sorted(tmp_path.glob("V*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(empty_warehouse, tmp_path)


def test_changed_view_file_is_reapplied(empty_warehouse, tmp_path):
    for path in sql_dir().glob("*.sql"):
        shutil.copy(path, tmp_path / path.name)
    migrate(empty_warehouse, tmp_path)
    view_file = tmp_path / "R__mart_reference.sql"
    view_file.write_text(view_file.read_text() + "\nCOMMENT ON VIEW mart.dim_unit IS 'Danh mục đơn vị (đã sửa)';\n")
    applied = migrate(empty_warehouse, tmp_path)
    assert "R:mart_reference" in applied
    comment = fetch_all(empty_warehouse, "SELECT obj_description('mart.dim_unit'::regclass, 'pg_class')")[0][0]
    assert comment == "Danh mục đơn vị (đã sửa)"


def test_failed_migration_leaves_nothing_half_applied(empty_warehouse, tmp_path):
    for path in sql_dir().glob("V*.sql"):
        shutil.copy(path, tmp_path / path.name)
    (tmp_path / "V999__broken.sql").write_text("CREATE TABLE ops.half_done (x int);\nSELECT no_such_function();\n")
    with pytest.raises(MigrationError, match="V999__broken.sql"):
        migrate(empty_warehouse, tmp_path)
    assert fetch_all(empty_warehouse, "SELECT to_regclass('ops.half_done')")[0][0] is None
    assert not fetch_all(empty_warehouse, "SELECT 1 FROM ops.schema_migration WHERE version = '999'")


def test_bad_file_name_is_named_in_the_error(tmp_path):
    (tmp_path / "001_oops.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="001_oops.sql"):
        discover(tmp_path)
