"""Alerts through real channels: a real SMTP server (aiosmtpd) and a real HTTP server on localhost
receive what the callbacks send; grouping and the alert log live in a real warehouse."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import sqlite3
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pendulum
import pytest

from tthc.alerts.receivers import LocalReceivers, free_port
from tthc.warehouse.db import fetch_all, transaction
from tthc.warehouse.migrate import migrate

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "https://airflow.tthc.example.vn"


@pytest.fixture(scope="module")
def alerts_db(make_database):
    """One migrated warehouse for the module (each test uses its own DAG ids, so fingerprints differ)."""
    url = make_database("alerts")
    migrate(url)
    return url


@pytest.fixture
def receivers():
    with LocalReceivers() as r:
        yield r


def write_config(path: Path, default_emails, default_hooks, extra_routes: str = "", unit_contacts: str = "") -> Path:
    path.write_text(textwrap.dedent("""\
        settings:
          airflow_base_url: http://unused.example
          smtp_conn_id: smtp_default
          group_window_minutes: 60
          webhook_timeout_seconds: 3
          error_lines: 8
        routes:
        {extra}
          - name: operators
            default: true
            emails: {emails}
            webhooks: {hooks}
        unit_contacts:
        {units}
        """).format(extra=textwrap.indent(extra_routes, "  "), emails=list(default_emails), hooks=list(default_hooks),
                    units=textwrap.indent(unit_contacts, "  ") or "  {}"), encoding="utf-8")
    return path


@pytest.fixture
def alert_env(tmp_path, monkeypatch, receivers, alerts_db):
    """Routes: default → ops@ + the local webhook; civil_status also → a second address via env expansion."""
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", receivers.smtp_conn_uri)
    monkeypatch.setenv("TTHC_TEST_CIVIL_EMAILS", "civil1@tthc.example.vn; civil2@tthc.example.vn")
    monkeypatch.setenv("TTHC_AIRFLOW_BASE_URL", BASE_URL)
    monkeypatch.setenv("WAREHOUSE_URL", alerts_db)
    cfg = write_config(tmp_path / "alerts.yaml", ["ops@tthc.example.vn"], [receivers.webhook_url("/ops")],
                       extra_routes=textwrap.dedent("""\
                           - name: civil
                             match: {source: civil_*}
                             emails: ["${TTHC_TEST_CIVIL_EMAILS}"]
                             webhooks: ["${TTHC_TEST_CIVIL_HOOK:-}"]
                           - name: ops-too
                             match: {source: civil_*}
                             emails: [ops@tthc.example.vn]
                             webhooks: ["%s"]
                           """ % receivers.webhook_url("/ops")))
    monkeypatch.setenv("TTHC_ALERTS_CONFIG", str(cfg))
    return SimpleNamespace(receivers=receivers, url=alerts_db, config=cfg)


def raised(exc: BaseException) -> BaseException:
    """The exception with a real traceback, as a task callback sees it."""
    def inner():
        raise exc
    try:
        inner()
    except BaseException as caught:  # noqa: BLE001
        return caught
    raise AssertionError("unreachable")


def task_context(dag_id, task_id, exc, run_id="scheduled__2025-03-01T17:00:00+00:00", tags=(), try_number=3,
                 map_index=-1):
    start = pendulum.datetime(2025, 3, 1, 17, tz="UTC")
    ti = SimpleNamespace(dag_id=dag_id, task_id=task_id, run_id=run_id, map_index=map_index, try_number=try_number,
                         max_tries=2)
    return {"ti": ti, "dag": SimpleNamespace(dag_id=dag_id, tags=list(tags)), "exception": exc, "run_id": run_id,
            "data_interval_start": start, "data_interval_end": start.add(days=1)}


def alert_rows(url, dag_id):
    return fetch_all(url, """SELECT kind, status, occurrences, routes, channels FROM ops.alert_log
                             WHERE dag_id = %s ORDER BY alert_id""", (dag_id,))


def test_task_failure_reaches_email_and_webhook_with_everything_an_operator_needs(alert_env):
    from tthc.orchestration import DEFAULT_ARGS, task_failure_callback

    assert DEFAULT_ARGS["on_failure_callback"] is task_failure_callback
    r = alert_env.receivers
    exc = raised(ConnectionError("could not open sqlite:///missing/civil_status.sqlite: unable to open database file"))
    ctx = task_context("tthc_source_civil_status", "stage", exc, tags=["tthc", "source", "civil_status"])
    assert task_failure_callback(ctx) is None
    r.wait_for(emails=1, webhooks=1)

    mail = r.emails[0]
    assert sorted(mail.rcpt_tos) == ["civil1@tthc.example.vn", "civil2@tthc.example.vn", "ops@tthc.example.vn"], \
        "union of the matching routes, env-expanded, without duplicates"
    assert mail.subject.startswith("[TTHC] Lỗi tác vụ / task failed: tthc_source_civil_status.stage — ConnectionError")
    body = mail.body
    log_url = (f"{BASE_URL}/dags/tthc_source_civil_status/runs/scheduled__2025-03-01T17%3A00%3A00%2B00%3A00"
               "/tasks/stage?try_number=3")
    for expected in ("DAG: tthc_source_civil_status", "Task: stage (try 3 of 3)",
                     "Run: scheduled__2025-03-01T17:00:00+00:00",
                     "Data interval: 2025-03-02T00:00:00+07:00 → 2025-03-03T00:00:00+07:00",
                     "Source: civil_status — Sổ hộ tịch",                     # Vietnamese decoded
                     "ConnectionError: could not open sqlite:///missing/civil_status.sqlite",
                     "raise exc",                                              # a traceback line
                     f'<a href="{log_url}">',
                     "retries exhausted",
                     "airflow tasks clear tthc_source_civil_status --task-regex &#x27;^stage$&#x27; "
                     "--start-date 2025-03-02T00:00:00+07:00 --end-date 2025-03-02T00:00:00+07:00 --only-failed --yes",
                     "airflow backfill create --dag-id tthc_source_civil_status --from-date 2025-03-02T00:00:00+07:00",
                     "FROM ops.quarantine WHERE source = &#x27;civil_status&#x27;"):
        assert expected in body, f"{expected!r} missing from the email:\n{body}"

    hook = r.webhooks[0]
    assert hook.path == "/ops" and hook.headers["Content-Type"].startswith("application/json")
    doc = hook.json
    assert doc["text"].startswith("[TTHC] Lỗi tác vụ") and "Sổ hộ tịch" in doc["text"] and log_url in doc["text"]
    assert (doc["kind"], doc["dag_id"], doc["task_id"], doc["source"]) == (
        "task_failure", "tthc_source_civil_status", "stage", "civil_status")
    assert doc["run_id"] == "scheduled__2025-03-01T17:00:00+00:00" and doc["try_number"] == 3
    assert doc["data_interval"] == {"start": "2025-03-02T00:00:00+07:00", "end": "2025-03-03T00:00:00+07:00"}
    assert doc["error"]["class"] == "ConnectionError" and "unable to open database file" in doc["error"]["last_lines"][-1]
    assert doc["log_url"] == log_url
    assert any(s.startswith("airflow backfill create") or "airflow backfill create" in s for s in doc["next_steps"])

    [(kind, status, occurrences, routes, channels)] = alert_rows(alert_env.url, "tthc_source_civil_status")
    assert (kind, status, occurrences, routes) == ("task_failure", "sent", 1, ["civil", "ops-too"])
    assert [c["channel"] for c in channels] == ["email", "webhook"] and all(c["ok"] for c in channels)


def test_a_storm_of_identical_failures_sends_one_message_then_one_digest(alert_env):
    from tthc.alerts.dispatch import dispatch, flush_digests
    from tthc.alerts.message import Alert
    from tthc.orchestration import task_failure_callback

    r = alert_env.receivers
    for i in range(50):   # 50 mapped tasks / runs failing the same way (numbers differ: same fingerprint)
        exc = raised(TimeoutError(f"warehouse statement timeout after 300 s in batch {1000 + i}"))
        task_failure_callback(task_context("tthc_storm", "load_declaration_file", exc, map_index=i,
                                           run_id=f"scheduled__2025-03-{1 + i % 28:02d}T17:00:00+00:00"))
    r.wait_for(emails=1, webhooks=1)
    assert len(r.emails) == 1 and len(r.webhooks) == 1, "one message for the storm"
    statuses = [row[1] for row in alert_rows(alert_env.url, "tthc_storm")]
    assert statuses == ["sent"] + ["suppressed"] * 49

    # The window ends (simulated: moved into the past): the digest goes out once, with the count.
    with transaction(alert_env.url) as cur:
        cur.execute("""UPDATE ops.alert_group SET window_end = now() - interval '1 second'
                       WHERE fingerprint = (SELECT fingerprint FROM ops.alert_log WHERE dag_id = 'tthc_storm' LIMIT 1)""")
    assert flush_digests(alert_env.url) == 1
    assert flush_digests(alert_env.url) == 0, "a digest is sent once"
    r.wait_for(emails=2, webhooks=2)
    digest = r.emails[1]
    assert digest.subject.startswith("[TTHC] Digest: Lỗi tác vụ / task failed: tthc_storm.load_declaration_file")
    assert "(×49)" in digest.subject and "49 more identical alert(s)" in digest.body
    assert "batch 1049" in digest.body, "the digest repeats the latest failure"
    assert r.webhooks[1].json["kind"] == "digest" and r.webhooks[1].json["occurrences"] == 49
    assert fetch_all(alert_env.url, "SELECT status, occurrences FROM ops.alert_log WHERE kind = 'digest' "
                                    "AND dag_id = 'tthc_storm'") == [("sent", 49)]

    # A new storm after the window: sent again; its digest also goes out with the next alert of any kind.
    task_failure_callback(task_context("tthc_storm", "load_declaration_file", raised(TimeoutError("timeout in batch 7"))))
    task_failure_callback(task_context("tthc_storm", "load_declaration_file", raised(TimeoutError("timeout in batch 8"))))
    r.wait_for(emails=3)
    with transaction(alert_env.url) as cur:
        cur.execute("UPDATE ops.alert_group SET window_end = now() - interval '1 second' WHERE suppressed > 0")
    result = dispatch(Alert(kind="task_failure", title="something else", summary="x", dag_id="tthc_other"))
    assert result.status == "sent" and result.digests == 1
    r.wait_for(emails=5)
    assert sorted(m.subject for m in r.emails[3:]) == ["[TTHC] Digest: Lỗi tác vụ / task failed: "
                                                       "tthc_storm.load_declaration_file — TimeoutError",
                                                       "[TTHC] something else"]


def test_broken_channels_are_logged_and_recorded_and_never_mask_the_failure(tmp_path, monkeypatch, alerts_db, caplog):
    from tthc.orchestration import task_failure_callback

    dead_port = free_port()   # nothing listens there
    with LocalReceivers() as broken_relay:
        broken_relay.http_status = 500
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", f"smtp://127.0.0.1:{dead_port}?from_email=a%40b.vn"
                                                        "&disable_ssl=true&disable_tls=true&timeout=3&retry_limit=0")
        monkeypatch.setenv("WAREHOUSE_URL", alerts_db)
        cfg = write_config(tmp_path / "alerts.yaml", ["ops@tthc.example.vn"],
                           [f"http://127.0.0.1:{dead_port}/hook?token=SECRET", broken_relay.webhook_url("/relay")])
        monkeypatch.setenv("TTHC_ALERTS_CONFIG", str(cfg))
        original = raised(ValueError("the original failure"))
        with caplog.at_level(logging.ERROR):
            assert task_failure_callback(task_context("tthc_broken_channels", "stage", original)) is None
        assert len(broken_relay.webhooks) == 1, "the relay was reached (and answered 500)"
    assert str(original) == "the original failure" and original.__traceback__ is not None
    [(kind, status, _, _, channels)] = alert_rows(alerts_db, "tthc_broken_channels")
    assert status == "failed"
    by_channel = {(c["channel"], c["ok"]) for c in channels}
    assert by_channel == {("email", False), ("webhook", False)}
    errors = " ".join(c["error"] for c in channels)
    assert "ConnectionRefusedError" in errors and "HTTP 500" in errors
    assert "SECRET" not in str(channels), "webhook secrets are masked in the log table"
    logged = caplog.text
    assert "alert email to ops@tthc.example.vn" in logged and "HTTP 500" in logged and "SECRET" not in logged

    # A config that cannot be read: logged, nothing raised.
    monkeypatch.setenv("TTHC_ALERTS_CONFIG", str(tmp_path / "missing.yaml"))
    caplog.clear()
    with caplog.at_level(logging.ERROR):
        assert task_failure_callback(task_context("tthc_broken_channels", "stage", original)) is None
    assert "missing.yaml" in caplog.text


def test_alerts_still_go_out_when_the_warehouse_is_down(alert_env, monkeypatch):
    from tthc.orchestration import task_failure_callback

    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://postgres@127.0.0.1:5432/tthc_no_such_database")
    task_failure_callback(task_context("tthc_source_civil_status", "normalize",
                                       raised(RuntimeError("warehouse down: connection refused"))))
    alert_env.receivers.wait_for(emails=1, webhooks=1)
    assert "warehouse down" in alert_env.receivers.emails[0].body


@pytest.fixture
def poisoned_source(tmp_path, monkeypatch):
    """Six rows, three of them bad: 50% rejected, above the source's 20% threshold."""
    db = tmp_path / "ruou.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE gp (MaGP TEXT PRIMARY KEY, SoGP TEXT, NgayCap TEXT, Ten TEXT, MaXa TEXT)")
    conn.executemany("INSERT INTO gp VALUES (?, ?, ?, ?, ?)", [
        ("A1", "12/2019/GPBLR", "2019-03-05", "Nguyễn Thị Lan", "29902"),
        ("A2", "13/2019/GPBLR", "2019-03-06", "Trần Văn Bình", "29905"),
        ("A3", "14/2019/GPBLR", "2019-03-07", "Lê Văn Cường", "29908"),
        ("A4", None, "2019-03-08", "Phạm Văn Dũng", "29911"),              # no number
        ("A5", "16/2019/GPBLR", "31/02/2019", "Võ Thị Em", "29914"),       # impossible date
        ("A6", "17/2019/GPBLR", "2019-03-10", "Huỳnh Văn Phúc", "99999"),  # unknown unit
    ])
    conn.commit()
    conn.close()
    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "poisoned.yaml").write_text(textwrap.dedent(f"""\
        name: poisoned_licences
        description_vi: Giấy phép bán lẻ rượu (nguồn thử nghiệm lỗi)
        engine: sqlalchemy
        connection: {{url: "sqlite:///{db}"}}
        table: gp
        primary_key: MaGP
        mapping:
          document_type: {{constant: BLR}}
          doc_number: SoGP
          issue_date: {{column: NgayCap, parse: date}}
          holder_name: Ten
          unit_code: MaXa
        agency: {{rule: district_committee}}
        quarantine_threshold: 0.2
        quarantine_min_rows: 1
        """), encoding="utf-8")
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(sources))
    from tthc.sources.config import source_named

    return source_named("poisoned_licences")


def test_a_poisoned_batch_alerts_with_the_quarantine_count_and_the_data_docs(warehouse, poisoned_source, tmp_path,
                                                                            monkeypatch, receivers):
    from tthc.orchestration import task_failure_callback
    from tthc.sources.pipeline import QuarantineThresholdExceeded, run_batch

    with pytest.raises(QuarantineThresholdExceeded) as info:
        run_batch(poisoned_source, warehouse, dag_id="tthc_source_poisoned_licences", run_id="manual__poison")
    exc = info.value
    assert (exc.source, exc.failed, exc.evaluated, exc.quarantined, exc.threshold) == ("poisoned_licences", 3, 6, 3, 0.2)
    assert exc.data_docs and Path(exc.data_docs).is_file()

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", receivers.smtp_conn_uri)
    monkeypatch.setenv("WAREHOUSE_URL", warehouse)
    monkeypatch.setenv("TTHC_DATA_DOCS_BASE_URL", "https://docs.tthc.example.vn/gx")
    cfg = tmp_path / "alerts.yaml"
    shutil.copy(PROJECT_ROOT / "config" / "alerts.yaml", cfg)   # the shipped routes, fed by env
    monkeypatch.setenv("TTHC_ALERTS_CONFIG", str(cfg))
    monkeypatch.setenv("TTHC_ALERT_DATA_EMAILS", "data-team@tthc.example.vn")
    monkeypatch.setenv("TTHC_ALERT_EMAILS", "ops@tthc.example.vn")
    monkeypatch.setenv("TTHC_ALERT_WEBHOOK_URL", receivers.webhook_url("/zalo-relay"))
    task_failure_callback(task_context("tthc_source_poisoned_licences", "normalize", exc,
                                       tags=["tthc", "source", "poisoned_licences"]))
    receivers.wait_for(emails=1, webhooks=1)
    mail = receivers.emails[0]
    assert sorted(mail.rcpt_tos) == ["data-team@tthc.example.vn", "ops@tthc.example.vn"], "data-quality route"
    assert "Dữ liệu lỗi vượt ngưỡng / data quality: poisoned_licences batch" in mail.subject
    batch_id = exc.batch_id
    for expected in ("Quarantine count: 3", "Failed rows: 3", "Evaluated rows: 6", "Threshold: 20%",
                     "Data Docs: https://docs.tthc.example.vn/gx/index.html",
                     f"FROM ops.quarantine WHERE batch_id = {batch_id}",
                     "Giấy phép bán lẻ rượu (nguồn thử nghiệm lỗi)"):
        assert expected in mail.body, f"{expected!r} missing:\n{mail.body}"
    doc = receivers.webhooks[0].json
    assert doc["kind"] == "data_quality" and doc["details"]["quarantine_count"] == 3
    assert doc["details"]["data_docs_url"] == "https://docs.tthc.example.vn/gx/index.html"
    assert doc["details"]["batch_id"] == batch_id

    # Without a served site the link is the local file.
    monkeypatch.delenv("TTHC_DATA_DOCS_BASE_URL")
    from tthc.alerts.callbacks import alert_from_task_context

    alert = alert_from_task_context(task_context("tthc_source_poisoned_licences", "normalize", exc))
    assert alert.details["data_docs_url"] == Path(exc.data_docs).resolve().as_uri()


def test_stale_sources_alert_per_source_limit(alert_env, tmp_path, monkeypatch):
    from tthc.alerts.monitoring import alert_stale_sources

    sources = tmp_path / "sources"
    sources.mkdir()
    civil = (PROJECT_ROOT / "sources" / "civil_status.yaml").read_text(encoding="utf-8")
    (sources / "civil_status.yaml").write_text(civil + "stale_after_days: 2\n", encoding="utf-8")
    household = (PROJECT_ROOT / "sources" / "household_business.yaml").read_text(encoding="utf-8")
    (sources / "household_business.yaml").write_text(household, encoding="utf-8")
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(sources))
    with transaction(alert_env.url) as cur:
        cur.execute("DELETE FROM ops.batch WHERE source IN ('civil_status', 'household_business')")
        cur.execute("""INSERT INTO ops.batch (source, status, rows_in, started_at, finished_at) VALUES
            ('civil_status', 'succeeded', 120, now() - interval '5 days', now() - interval '5 days'),
            ('civil_status', 'succeeded', 0, now() - interval '1 day', now() - interval '1 day'),      -- nothing new
            ('household_business', 'succeeded', 40, now() - interval '2 days', now() - interval '2 days')""")
    found = alert_stale_sources(alert_env.url)
    assert [f["source"] for f in found] == ["civil_status"], "household_business: 2 days < default 3"
    assert found[0]["stale_after_days"] == 2 and 4.9 < found[0]["days_without_data"] < 5.1
    r = alert_env.receivers
    r.wait_for(emails=1, webhooks=1)
    assert "stale source: civil_status (5 days)" in r.emails[0].subject
    assert "has sent nothing new for 5 days (limit 2)" in r.emails[0].body
    assert r.webhooks[0].json["kind"] == "stale_source" and r.webhooks[0].json["source"] == "civil_status"
    alert_stale_sources(alert_env.url)
    assert len(r.emails) == 1, "checked again within the window: grouped"


def test_units_behind_get_one_vietnamese_message_each_once(alert_env, tmp_path, monkeypatch):
    from tthc.alerts import notify_units_behind

    r = alert_env.receivers
    cfg = write_config(tmp_path / "units.yaml", ["ops@tthc.example.vn"], [r.webhook_url("/default")],
                       unit_contacts=textwrap.dedent(f"""\
                           "29902":
                             name: UBND phường 1
                             emails: [vanthu.p1@dongthap.gov.vn]
                             webhooks: ["{r.webhook_url('/zalo/29902')}"]
                           """))
    monkeypatch.setenv("TTHC_ALERTS_CONFIG", str(cfg))
    rows = [  # unit_code, unit_key, name, status, pct, target, gap, plan, view
        ("29902", "pre2025/commune/29902", "Phường 1", "behind", 42.5, 100, 575, "KH-2025", "issuing"),
        ("29902", "pre2025/commune/29902", "Phường 1", "behind", 40.0, 100, 600, "KH-2025", "successor"),
        ("29905", "pre2025/commune/29905", "Phường Hòa Thuận", "behind", 10, 80, 1400, "KH-2025", "issuing"),
        ("29908", "pre2025/commune/29908", "Xã Tịnh Thới", "on_track", 55, 80, 10, "KH-2025", "issuing"),
    ]
    with transaction(alert_env.url) as cur:
        for code, key, name, status, pct, target, gap, plan, view in rows:
            cur.execute("""INSERT INTO mart.progress_snapshot (period_kind, period_end, plan_code, unit_view, unit_key,
                               unit_code, unit_name, unit_level, in_scope, declared, known, digitized, data_only,
                               digitized_elsewhere, pct_digitized, target_pct, expected_pct, gap_records, status)
                           VALUES ('quarter', '2025-06-30', %s, %s, %s, %s, %s, 'commune', 1000, 1000, 1000, %s, 0, 0,
                                   %s, %s, 50, %s, %s)""",
                        (plan, view, key, code, name, int(pct * 10), pct, target, gap, status))
    assert notify_units_behind(alert_env.url, "quarter", dt.date(2025, 6, 30)) == 2
    r.wait_for(emails=2, webhooks=2)
    by_to = {tuple(m.rcpt_tos): m for m in r.emails}
    unit_mail = by_to[("vanthu.p1@dongthap.gov.vn",)]
    assert unit_mail.subject == "[TTHC] Đơn vị Phường 1 chậm tiến độ số hóa: 42,5% / mục tiêu 100,0%"
    assert "Đơn vị Phường 1 (mã 29902) chậm tiến độ số hóa: 42,5% / mục tiêu 100,0% (quý kết thúc ngày 30/06/2025)" \
        in unit_mail.body
    assert "theo đơn vị kế thừa sau sắp xếp" in unit_mail.body and "còn thiếu 600 hồ sơ" in unit_mail.body
    assert "Việc cần làm tiếp" in unit_mail.body and "Cấp: xã" in unit_mail.body
    fallback = by_to[("ops@tthc.example.vn",)]
    assert "Phường Hòa Thuận" in fallback.subject and "10,0% / mục tiêu 80,0%" in fallback.subject
    assert {w.path for w in r.webhooks} == {"/zalo/29902", "/default"}
    assert all("Tịnh Thới" not in m.body for m in r.emails), "on-track units get nothing"
    assert notify_units_behind(alert_env.url, "quarter", "2025-06-30") == 0, "once per snapshot and unit"
    assert len(r.emails) == 2


def test_late_run_deadline_is_an_airflow_deadline_alert_that_sends(alert_env):
    import asyncio

    from airflow.sdk import AsyncCallback, DeadlineAlert
    from airflow.sdk.definitions.deadline import DagRunQueuedAtDeadline

    from tthc.alerts.deadlines import late_run_deadline, on_late_run

    deadline = late_run_deadline("snapshot", dt.timedelta(hours=12))
    assert isinstance(deadline, DeadlineAlert) and isinstance(deadline.callback, AsyncCallback)
    assert isinstance(deadline.reference, DagRunQueuedAtDeadline) and deadline.interval == dt.timedelta(hours=12)
    assert deadline.callback.path == "tthc.alerts.deadlines.on_late_run"
    with pytest.raises(ValueError, match="positive timedelta"):
        late_run_deadline("snapshot", dt.timedelta(0))

    # What the triggerer does when the deadline passes: await the callback with the kwargs + context.
    context = {"dag_run": {"dag_id": "tthc_progress_snapshot_quarterly", "dag_run_id": "scheduled__2025-06-30",
                           "state": "running", "queued_at": "2025-07-01T00:00:05+00:00",
                           "data_interval_start": "2025-03-31T17:00:00+00:00",
                           "data_interval_end": "2025-06-30T17:00:00+00:00"},
               "deadline": {"id": "x", "deadline_time": dt.datetime(2025, 7, 1, 12, 0, 5, tzinfo=dt.timezone.utc)}}
    status = asyncio.run(on_late_run(**deadline.callback.kwargs, context=context))
    assert status == "sent"
    r = alert_env.receivers
    r.wait_for(emails=1, webhooks=1)
    assert r.emails[0].subject == "[TTHC] Chạy trễ / late snapshot: tthc_progress_snapshot_quarterly"
    assert "has not finished 12 h after it was queued (deadline 2025-07-01T19:00:05+07:00; state running)" \
        in r.emails[0].body
    assert r.webhooks[0].json["kind"] == "late_run"
    assert f"{BASE_URL}/dags/tthc_progress_snapshot_quarterly/runs/scheduled__2025-06-30" in r.webhooks[0].json["text"]


def test_routes_and_config_errors_name_the_bad_input(tmp_path):
    from tthc.alerts.config import AlertConfigError, load_config

    cfg = tmp_path / "a.yaml"
    cfg.write_text(textwrap.dedent("""\
        routes:
          - {name: scans, match: {source: "scan[.:]*", kind: [task_failure, digest]}, emails: [scan@x.vn]}
          - {name: tagged, match: {tag: reference}, emails: [ref@x.vn]}
          - {name: unit, match: {unit: "299*"}, emails: [unit@x.vn]}
          - {name: default, default: true, emails: [ops@x.vn]}
        """), encoding="utf-8")
    config = load_config(cfg)
    assert config.recipients({"source": "scan.inbox", "kind": ["task_failure"]}).emails == ("scan@x.vn",)
    assert config.recipients({"source": "scan.inbox", "kind": ["late_run"]}).emails == ("ops@x.vn",)
    assert config.recipients({"tag": ["tthc", "reference"], "kind": ["task_failure"]}).routes == ("tagged",)
    assert config.unit_recipients("29914", {"unit": "29914", "kind": ["unit_behind"]}).emails == ("unit@x.vn",)
    for bad, message in (
            ("routes: [{name: r, match: {colour: red}, emails: [a@b.vn]}]", "match.colour"),
            ("routes: [{name: r, match: {dag_id: x}, emails: [not-an-email]}]", "'not-an-email'"),
            ("routes: [{name: r, default: true, webhooks: [ftp://x]}]", "http(s) URL"),
            ("routes: [{name: r, default: true, emails: ['${TTHC_SURELY_UNSET_VAR}']}]", "TTHC_SURELY_UNSET_VAR"),
            ("settings: {group_minutes: 5}", "settings: unknown key 'group_minutes' (did you mean 'group_window_minutes'"),
            ("routes: [{name: r, default: true, emails: [a@b.vn], webhook: [http://x]}]",
             "routes[0]: unknown key 'webhook' (did you mean 'webhooks'"),
            ("settings: {error_lines: many}", "settings.error_lines: input should be a valid integer")):
        cfg.write_text(bad, encoding="utf-8")
        with pytest.raises(AlertConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            load_config(cfg)


def test_concurrent_identical_failures_send_exactly_once(alert_env):
    from concurrent.futures import ThreadPoolExecutor

    from tthc.orchestration import task_failure_callback

    def fail(i):
        task_failure_callback(task_context("tthc_parallel", "ocr_chunk", raised(MemoryError(f"chunk {i} out of memory")),
                                           map_index=i))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(fail, range(16)))
    alert_env.receivers.wait_for(emails=1, webhooks=1)
    assert len(alert_env.receivers.emails) == 1, "the row lock on ops.alert_group lets one of them send"
    statuses = sorted(row[1] for row in alert_rows(alert_env.url, "tthc_parallel"))
    assert statuses == ["sent"] + ["suppressed"] * 15


def test_retries_are_recorded_and_dag_run_failures_alert(alert_env):
    from tthc.orchestration import dag_failure_callback, task_retry_callback

    task_retry_callback(task_context("tthc_retrying", "stage", raised(ConnectionResetError("peer reset")), try_number=1))
    assert [row[:2] for row in alert_rows(alert_env.url, "tthc_retrying")] == [("task_retry", "recorded")]
    assert alert_env.receivers.emails == [], "retries are not sent by default (settings.notify_on_retry)"

    class FakeRun:
        dag_id, run_id = "tthc_source_civil_status", "scheduled__2025-03-01T17:00:00+00:00"
        data_interval_start = pendulum.datetime(2025, 3, 1, 17, tz="UTC")
        data_interval_end = pendulum.datetime(2025, 3, 2, 17, tz="UTC")

        def get_task_instances(self, state=None):
            return [SimpleNamespace(task_id="stage")]

    dag_failure_callback({"dag_run": FakeRun(), "dag": SimpleNamespace(dag_id="tthc_source_civil_status", tags=[]),
                          "reason": "task_failure"})
    alert_env.receivers.wait_for(emails=1, webhooks=1)
    mail = alert_env.receivers.emails[0]
    assert mail.subject == "[TTHC] Lần chạy thất bại / DAG run failed: tthc_source_civil_status"
    assert "Failed tasks: stage." in mail.body and "--start-date 2025-03-02T00:00:00+07:00" in mail.body
    assert f"{BASE_URL}/dags/tthc_source_civil_status/runs/scheduled__2025-03-01T17%3A00%3A00%2B00%3A00" in mail.body
