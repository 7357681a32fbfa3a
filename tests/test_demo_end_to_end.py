"""The README's demo command, end to end through Airflow, twice: same warehouse state."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tthc_dev.demo import permits_database
from tthc.warehouse.db import fetch_all
from tthc.warehouse.server import drop_database, with_database

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Business state: everything except run timestamps in ops.batch / ops.reference_load.
STATE_QUERIES = {
    "units": "SELECT * FROM core.admin_unit ORDER BY unit_key",
    "crosswalk": "SELECT * FROM core.unit_crosswalk ORDER BY 1, 2",
    "agencies": "SELECT * FROM core.agency ORDER BY 1",
    "procedures": "SELECT * FROM core.procedure ORDER BY 1",
    "plans": "SELECT * FROM core.plan_target ORDER BY 1, 2, 3",
    "inventory": "SELECT * FROM core.inventory_declaration ORDER BY 1, 2, 3, 4",
    "quarantine": "SELECT source, source_key, stage, reason, payload FROM ops.quarantine ORDER BY 1, 2, 4",
    "batches": "SELECT source, rows_in, rows_out, rows_quarantined, status FROM ops.batch ORDER BY 1",
    "migrations": "SELECT version, checksum FROM ops.schema_migration ORDER BY 1",
    "results": """SELECT result_code, procedure_code, agency_id, issuing_unit_key, doc_book, doc_number, issue_date,
                         valid_until, revoked_on FROM core.result ORDER BY result_code""",
    "lineage": "SELECT source, source_pk, row_hash FROM core.result_source ORDER BY 1, 2, 3",
    # The second run matches the same holders: the demo reuses its secret, refs stay as drawn.
    "holders": "SELECT holder_ref, match_key, kind FROM core.holder ORDER BY 1",
    "copies": "SELECT result_code, copy_kind, digitized_at, is_signed, recorded_at FROM core.result ORDER BY 1",
    "documents": """SELECT d.sha256, d.document_type, d.quality_ok, d.link_rule, r.result_code
                     FROM core.document d LEFT JOIN core.result r ON r.result_id = d.result_id ORDER BY 1""",
    "scan_files": "SELECT file_name, sha256, status, reason FROM ops.scan_file ORDER BY 1, 2",
    "snapshots": """SELECT period_kind, period_end, plan_code, unit_view, unit_key, in_scope, declared, known,
                           digitized, data_only, digitized_elsewhere, pct_digitized, target_pct, status
                    FROM mart.progress_snapshot ORDER BY 1, 2, 3, 4, 5""",
}


def _state(url):
    return {k: fetch_all(url, q) for k, q in STATE_QUERIES.items()}


@pytest.fixture
def demo_env(make_database, pg_admin_url, tmp_path):
    url = make_database("demo")
    env = dict(os.environ)
    env.update({"WAREHOUSE_URL": url, "TTHC_LOCAL_DIR": str(tmp_path / "local"),
                "TTHC_DEMO_SIZE": "300", "TTHC_DEMO_SEED": "7"})
    env.pop("TTHC_HOLDER_KEY_SECRET", None)  # as on a fresh clone: the demo makes its own
    yield url, env
    drop_database(pg_admin_url, permits_database(url))


def _run_demo(env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tthc", "demo"], env=env, capture_output=True, text=True, timeout=900)


def test_demo_runs_every_dag_and_is_repeatable(demo_env):
    url, env = demo_env
    first = _run_demo(env)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "All DAGs succeeded." in first.stdout
    secret_file = Path(env["TTHC_LOCAL_DIR"]) / "holder_key_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600 and str(secret_file) in first.stdout
    assert "Warehouse summary" in first.stdout
    assert "FAILED" not in first.stdout
    for dag_id in ("tthc_reference_data", "tthc_inventory_declarations", "tthc_source_civil_status",
                   "tthc_source_construction_permits", "tthc_source_household_business"):
        assert f"ok     {dag_id}" in first.stdout
    state = _state(url)
    assert len(state["units"]) == 257
    assert state["inventory"], "declared inventory must land"
    types = {r[1] for r in state["results"]}
    assert {"KS", "GPXD", "HKD"} <= types, types
    assert all(r[0] for r in state["results"]), "every result has its unique code"
    # Scans were read and linked, and the snapshots were taken with their reports.
    # (size 300 gives a 12-file drop: 4 broken files, a duplicate, the rest linked or waiting for review)
    assert sum(1 for d in state["documents"] if d[4]) >= 5, state["documents"]
    assert {f[2] for f in state["scan_files"]} <= {"linked", "review", "quarantined", "duplicate"}, state["scan_files"]
    assert {r[0] for r in state["snapshots"]} == {"month", "quarter", "year"}
    reports = sorted(p.parent.name for p in (Path(env["TTHC_LOCAL_DIR"]) / "reports").glob("*/*.xlsx"))
    # The plan period's 16 quarters (the demo backfills them), then this month's, quarter's and year's runs.
    plan_quarters = {f"quarter-{y}-{md}" for y in range(2022, 2026) for md in ("03-31", "06-30", "09-30", "12-31")}
    assert plan_quarters <= set(reports), reports
    current = [r for r in reports if r not in plan_quarters]
    assert sorted(r.split("-")[0] for r in current) == ["month", "quarter", "year"], reports
    # one report per period snapshotted
    periods = {(r[0], r[1]) for r in state["snapshots"]}
    assert len(reports) == len(periods), (reports, periods)

    second = _run_demo(env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert _state(url) == state

    # The demo data sits where the README says, and the permits DB was written next to the warehouse.
    data_dir = Path(env["TTHC_LOCAL_DIR"]) / "demo-data"
    assert (data_dir / "manifest.json").exists()
    permits_url = with_database(url, permits_database(url))
    assert fetch_all(permits_url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'xaydung'")[0][0] >= 1
