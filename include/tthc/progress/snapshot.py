"""Period snapshots of the progress definition (mart.progress_as_of / mart.indicators_as_of).

A snapshot of a period is computed AS OF the period's last day (end of day, Vietnam time)
from when each result was recorded and digitized, so a backfilled past quarter gives the
same figures as a run on that day would have (given the same data). Re-running a period
replaces exactly that period's rows, atomically (DELETE + INSERT in one transaction, under a
per-period advisory lock); nothing else is touched and no row is ever updated.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import time
from dataclasses import dataclass

from tthc.warehouse.db import transaction
from tthc.settings import LOCAL_TZ

log = logging.getLogger(__name__)

PERIOD_KINDS = ("month", "quarter", "year")
SNAPSHOT_COLUMNS = (
    "plan_code", "unit_view", "unit_key", "unit_code", "unit_name", "unit_level", "in_scope", "declared", "known",
    "digitized", "data_only", "digitized_elsewhere", "pct_digitized", "target_year", "target_pct", "expected_pct",
    "gap_records", "status", "monthly_pace_needed", "issued_since_2022", "signed", "signed_pct", "needs_rescan",
)
INDICATOR_COLUMNS = ("plan_code", "indicator", "unit_level", "numerator", "denominator", "pct", "target_year",
                     "target_pct", "status", "derived")


@dataclass(frozen=True)
class SnapshotReport:
    period_kind: str
    period_end: dt.date
    rows: int
    indicator_rows: int
    replaced: int
    seconds: float


def period_end(kind: str, day: dt.date) -> dt.date:
    """Last day of the month / quarter / year that contains ``day``."""
    if kind == "month":
        return dt.date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    if kind == "quarter":
        month = 3 * ((day.month - 1) // 3) + 3
        return dt.date(day.year, month, calendar.monthrange(day.year, month)[1])
    if kind == "year":
        return dt.date(day.year, 12, 31)
    raise ValueError(f"period kind {kind!r} is not one of {PERIOD_KINDS}")


def check_period(kind: str, end: dt.date) -> None:
    if kind not in PERIOD_KINDS:
        raise ValueError(f"period kind {kind!r} is not one of {PERIOD_KINDS}")
    # The annual run may be taken before the year ends (14 November, before the plans' due date of
    # 15 November): it covers the year to date, so any day is accepted for 'year'.
    if kind != "year" and period_end(kind, end) != end:
        raise ValueError(f"{end.isoformat()} is not the last day of a {kind}; expected {period_end(kind, end).isoformat()}")


def take_snapshot(url: str | None, kind: str, end: dt.date, run_id: str | None = None) -> SnapshotReport:
    """Compute the progress as of ``end`` and store it as the (kind, end) snapshot, replacing it."""
    check_period(kind, end)
    started = time.monotonic()
    with transaction(url) as cur:
        # Two runs of the same period serialize; different periods run in parallel.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('tthc.progress_snapshot'), hashtext(%s))",
                    (f"{kind}:{end.isoformat()}",))
        cur.execute("DELETE FROM mart.progress_snapshot WHERE period_kind = %s AND period_end = %s", (kind, end))
        replaced = cur.rowcount
        cols = ", ".join(SNAPSHOT_COLUMNS)
        cur.execute(f"""INSERT INTO mart.progress_snapshot (period_kind, period_end, {cols}, run_id, taken_at)
                        SELECT %s, %s, {cols}, %s, now() FROM mart.progress_as_of(%s)""", (kind, end, run_id, end))
        rows = cur.rowcount
        cur.execute("DELETE FROM mart.indicator_snapshot WHERE period_kind = %s AND period_end = %s", (kind, end))
        icols = ", ".join(INDICATOR_COLUMNS)
        cur.execute(f"""INSERT INTO mart.indicator_snapshot (period_kind, period_end, {icols}, run_id, taken_at)
                        SELECT %s, %s, {icols}, %s, now() FROM mart.indicators_as_of(%s, false)""",
                    (kind, end, run_id, end))
        irows = cur.rowcount
        # signed_share from the progress rows just written (same rule as mart.indicators_as_of)
        cur.execute("""
            INSERT INTO mart.indicator_snapshot (period_kind, period_end, plan_code, indicator, unit_level, numerator,
                                                 denominator, pct, target_year, target_pct, status, run_id, taken_at)
            SELECT s.period_kind, s.period_end, s.plan_code, 'signed_share', '', s.num, s.den,
                   CASE WHEN s.den > 0 THEN round(100.0 * s.num / s.den, 2) END, tg.year, tg.target_pct,
                   CASE WHEN tg.year IS NULL OR s.den = 0 THEN NULL
                        WHEN 100.0 * s.num / s.den >= tg.target_pct THEN 'met' ELSE 'behind' END, %s, now()
            FROM (SELECT period_kind, period_end, plan_code, sum(signed)::bigint AS num,
                         sum(issued_since_2022)::bigint AS den
                  FROM mart.progress_snapshot
                  WHERE period_kind = %s AND period_end = %s AND unit_view = 'issuing'
                  GROUP BY 1, 2, 3) s
            LEFT JOIN LATERAL (
                SELECT i.year, i.target_pct FROM core.plan_indicator_target i
                WHERE i.plan_code = s.plan_code AND i.indicator = 'signed_share' AND i.level = ''
                ORDER BY (i.year < extract(year FROM s.period_end)), abs(i.year - extract(year FROM s.period_end))
                LIMIT 1) tg ON true
            -- a plan with a signing requirement gets its row even with nothing issued yet (no data)
            WHERE s.den > 0 OR EXISTS (SELECT 1 FROM core.plan_signing_rule sr WHERE sr.plan_code = s.plan_code)""",
                    (run_id, kind, end))
        irows += cur.rowcount
    report = SnapshotReport(kind, end, rows, irows, replaced, time.monotonic() - started)
    log.info("progress snapshot %s %s: %d rows (%d replaced), %d indicator rows, %.2fs",
             kind, end.isoformat(), rows, replaced, irows, report.seconds)
    return report


def snapshot_for_interval(url: str | None, kind: str, interval_end: dt.datetime, run_id: str | None = None) -> SnapshotReport:
    """The snapshot an Airflow run stands for: its data interval ends at the period boundary
    (00:00 local of the next period's first day; 14 Nov for the annual run), so the period's
    last day is the local day before interval_end."""

    local_end = interval_end.astimezone(LOCAL_TZ)
    day = local_end.date() - dt.timedelta(days=1) if local_end.time() == dt.time(0) else local_end.date()
    end = day if kind == "year" else period_end(kind, day)
    return take_snapshot(url, kind, end, run_id)
