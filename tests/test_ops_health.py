"""ops.pipeline_health on real rows: runs, quarantine, the review queue and fixity of a scan drop, alerts."""

from __future__ import annotations

import pytest

from tthc.warehouse.db import fetch_all, transaction
from tthc.warehouse.migrate import migrate


@pytest.fixture(scope="module")
def health_db(make_database):
    url = make_database("health")
    migrate(url)
    with transaction(url) as cur:
        # civil_status: an old successful run, then a failed one (the last run).
        cur.execute("""INSERT INTO ops.batch (source, status, rows_in, rows_out, rows_quarantined, started_at, finished_at)
                       VALUES ('civil_status', 'succeeded', 100, 95, 5, '2025-03-01 01:00+07', '2025-03-01 01:05+07'),
                              ('civil_status', 'succeeded', 40, 40, 0, '2025-03-02 01:00+07', '2025-03-02 01:02+07'),
                              ('civil_status', 'failed', 30, 10, 20, '2025-03-03 01:00+07', '2025-03-03 01:03+07'),
                              ('household_business', 'succeeded', 12, 12, 0, '2025-03-03 02:00+07', '2025-03-03 02:01+07')
                       RETURNING batch_id""")
        first, _, failed, _ = [r[0] for r in cur.fetchall()]
        for i in range(3):
            cur.execute("""INSERT INTO ops.quarantine (batch_id, source, source_key, stage, reason, dedup_key, resolved_at)
                           VALUES (%s, 'civil_status', %s, 'validate', 'bad date', %s, %s)""",
                        (failed, f"K{i}", f"d{i}", None if i else "2025-03-04"))
        # A scan drop (source scan.inbox): 3 documents, one also dropped in a second zone.
        cur.execute("""INSERT INTO ops.batch (source, status, rows_in, rows_out, rows_quarantined, started_at, finished_at)
                       VALUES ('scan.inbox', 'succeeded', 4, 3, 1, '2025-03-03 03:00+07', '2025-03-03 03:10+07')""")
        docs = {}
        for sha in ("a" * 64, "b" * 64, "c" * 64):
            cur.execute("""INSERT INTO core.document (sha256, archive_uri, media_type) VALUES (%s, %s, 'application/pdf')
                           RETURNING document_id""", (sha, f"file:///archive/{sha[:2]}/{sha}"))
            docs[sha[0]] = cur.fetchone()[0]
            cur.execute("""INSERT INTO ops.scan_file (drop_zone, source_uri, sha256, size_bytes)
                           VALUES ('inbox', %s, %s, 1000)""", (f"file:///drop/inbox/{sha[0]}.pdf", sha))
        cur.execute("""INSERT INTO ops.scan_file (drop_zone, source_uri, sha256, size_bytes)
                       VALUES ('inbox', 'file:///drop/inbox/copy-of-a.pdf', %s, 1000),
                              ('archive_room', 'file:///drop/archive_room/a.pdf', %s, 1000)""", ("a" * 64, "a" * 64))
        for key, status in (("a", "open"), ("b", "open"), ("c", "resolved")):
            cur.execute("""INSERT INTO ops.review_queue (document_id, reason, page_text, guessed_fields, status)
                           VALUES (%s, 'low confidence', 'text', '{}', %s)""", (docs[key], status))
        # Fixity: a failed then ok (latest ok); b ok then failed (latest failed); c never checked.
        cur.execute("""INSERT INTO ops.fixity_check (document_id, checked_at, ok) VALUES
                       (%(a)s, '2025-03-01 00:00+07', false), (%(a)s, '2025-03-05 00:00+07', true),
                       (%(b)s, '2025-03-01 00:00+07', true), (%(b)s, '2025-03-04 00:00+07', false)""", docs)
        cur.execute("""INSERT INTO ops.alert_log (kind, fingerprint, status, subject, source, created_at) VALUES
                       ('task_failure', 'f1', 'sent', 'old alert', 'civil_status', '2025-03-01 02:00+07'),
                       ('data_quality', 'f2', 'sent', 'Dữ liệu lỗi vượt ngưỡng', 'civil_status', '2025-03-03 01:04+07'),
                       ('task_failure', 'f3', 'suppressed', 'not sent', 'civil_status', '2025-03-03 05:00+07'),
                       ('stale_source', 'f4', 'failed', 'channel down', 'household_business', '2025-03-03 06:00+07')""")
    return url, first


def health(url) -> dict[str, dict]:
    with transaction(url) as cur:
        cur.execute("SELECT * FROM ops.pipeline_health ORDER BY source")
        names = [d.name for d in cur.description]
        return {row[0]: dict(zip(names, row)) for row in cur.fetchall()}


def test_pipeline_health_per_source(health_db):
    url, _ = health_db
    rows = health(url)
    assert sorted(rows) == ["civil_status", "household_business", "scan.archive_room", "scan.inbox"]

    civil = rows["civil_status"]
    assert civil["source_kind"] == "records" and civil["health"] == "failed"
    assert civil["last_run_status"] == "failed"
    assert civil["last_success_at"].isoformat() == "2025-03-01T18:02:00+00:00"     # 2025-03-02 01:02 +07
    assert (civil["last_rows_in"], civil["last_rows_out"], civil["last_rows_quarantined"]) == (30, 10, 20)
    assert (civil["total_runs"], civil["total_rows_in"], civil["total_rows_out"], civil["total_rows_quarantined"]) \
        == (3, 170, 145, 25)
    assert civil["open_quarantine"] == 2, "the resolved entry does not count"
    assert (civil["open_review"], civil["archived_documents"], civil["fixity_failed"]) == (0, 0, 0)
    assert civil["last_alert_subject"] == "Dữ liệu lỗi vượt ngưỡng", "last alert actually sent"
    assert civil["last_alert_kind"] == "data_quality"

    household = rows["household_business"]
    assert household["health"] == "ok" and household["last_alert_at"] is None, "a failed send is not 'sent'"

    inbox = rows["scan.inbox"]
    assert inbox["source_kind"] == "scan"
    assert (inbox["last_rows_in"], inbox["total_rows_quarantined"]) == (4, 1)
    assert inbox["open_review"] == 2
    assert inbox["archived_documents"] == 3, "the same content dropped twice is one document"
    assert (inbox["fixity_ok"], inbox["fixity_failed"], inbox["fixity_never_checked"]) == (1, 1, 1)
    assert inbox["fixity_last_checked_at"].isoformat() == "2025-03-04T17:00:00+00:00"
    assert inbox["health"] == "failed", "a document failing fixity"

    room = rows["scan.archive_room"]
    assert room["last_batch_id"] is None and room["total_runs"] == 0
    assert (room["archived_documents"], room["open_review"], room["fixity_ok"]) == (1, 1, 1)
    assert room["health"] == "attention"


def test_pipeline_health_is_documented_in_vietnamese(health_db):
    url, _ = health_db
    view_comment = fetch_all(url, "SELECT obj_description('ops.pipeline_health'::regclass, 'pg_class')")[0][0]
    assert view_comment and "Tình trạng vận hành" in view_comment
    columns = fetch_all(url, """SELECT a.attname, col_description(a.attrelid, a.attnum)
                                FROM pg_attribute a WHERE a.attrelid = 'ops.pipeline_health'::regclass
                                AND a.attnum > 0 AND NOT a.attisdropped""")
    missing = [name for name, comment in columns if not comment]
    assert not missing, f"columns without a comment: {missing}"
    assert any("rà soát" in c for _, c in columns) and any("toàn vẹn" in c for _, c in columns)


def test_pipeline_health_follows_new_runs(health_db):
    url, _ = health_db
    with transaction(url) as cur:
        cur.execute("""INSERT INTO ops.batch (source, status, rows_in, rows_out, rows_quarantined, started_at, finished_at)
                       VALUES ('civil_status', 'succeeded', 8, 8, 0, '2025-03-06 01:00+07', '2025-03-06 01:01+07')""")
        cur.execute("UPDATE ops.quarantine SET resolved_at = now() WHERE source = 'civil_status'")
    civil = health(url)["civil_status"]
    assert civil["last_run_status"] == "succeeded" and civil["health"] == "ok"
    assert civil["last_success_at"].isoformat() == "2025-03-05T18:01:00+00:00"
    assert (civil["last_rows_in"], civil["total_rows_in"], civil["open_quarantine"]) == (8, 178, 0)
