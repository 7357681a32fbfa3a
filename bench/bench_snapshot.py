"""Progress-snapshot benchmark: the snapshot over N synthetic results for all units vs a plain
GROUP BY count over the same table, same database, same run.

    .venv/bin/python bench/bench_snapshot.py --rows 10000000 --repeat 3

In a throwaway database (migrated, reference data loaded) it generates N core.result rows
directly in SQL (generate_series, in chunks): every old-era unit's own procedures, issue dates
1995–2025, recorded_at, ~35 % scanned with digitized_at in 2022–2025, 2 % digitized elsewhere,
and a declared inventory per (unit, procedure, year). Then it times, as medians of --repeat:
  snapshot   tthc.progress.snapshot.take_snapshot(quarter, 2024-12-31): both plans, both unit views,
             indicators, DELETE + INSERT into mart.progress_snapshot
  as_of      SELECT count(*) FROM mart.progress_as_of('2024-12-31') (the computation alone)
  baseline   SELECT issuing_unit_key, procedure_code, year, count(*) FROM core.result GROUP BY 1, 2, 3
and reports the ratios. The database is dropped at the end (--keep to keep it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
import uuid

ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
CHUNK = 1_000_000

FILL = """
INSERT INTO core.result (procedure_code, agency_id, issuing_unit_key, successor_unit_key, doc_number, issue_date,
                         valid_until, revoked_on, recorded_at, copy_kind, digitized_at, is_signed, digitized_elsewhere)
SELECT c.procedure_code, c.agency_id, c.unit_key, c.successor, 'B' || g,
       d.issue,
       CASE WHEN c.validity_months IS NULL THEN NULL ELSE (d.issue + make_interval(months => c.validity_months))::date END,
       CASE WHEN g % 97 = 0 THEN d.issue + 200 END,
       d.issue::timestamp AT TIME ZONE 'Asia/Ho_Chi_Minh' + (g % 40) * interval '1 day',
       CASE WHEN g % 100 < 35 THEN 'scan' ELSE 'data_only' END,
       CASE WHEN g % 100 < 35 THEN timestamptz '2022-03-03 08:00+07' + (g % 1380) * interval '1 day' END,
       g % 100 < 35,
       CASE WHEN g % 50 = 7 THEN 'EXT-' || (g % 1000) END
FROM generate_series(%(lo)s, %(hi)s) g
JOIN bench_cell c ON c.k = g %% %(ncells)s
CROSS JOIN LATERAL (SELECT date '1995-01-01' + ((g::bigint * 7919) %% 11138)::int AS issue) d
"""


def fresh_db() -> tuple[str, str]:
    from tthc.warehouse.server import ensure_database, with_database

    name = f"bench_snapshot_{uuid.uuid4().hex[:8]}"
    ensure_database(ADMIN, name)
    return name, with_database(ADMIN, name)


def generate(url: str, rows: int) -> float:
    from tthc.warehouse.db import connect

    started = time.monotonic()
    conn = connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("""
                CREATE TABLE bench_cell AS
                SELECT row_number() OVER (ORDER BY a.electronic_id, p.code) - 1 AS k, a.electronic_id AS agency_id,
                       a.unit_key, p.code AS procedure_code, p.validity_months,
                       (SELECT min(new_unit_key) FROM core.unit_crosswalk x WHERE x.old_unit_key = a.unit_key) AS successor
                FROM core.agency a
                JOIN core.admin_unit u ON u.unit_key = a.unit_key AND u.era = 'pre2025'
                JOIN core.procedure p ON p.level = a.level""")
            cur.execute("SELECT count(*) FROM bench_cell")
            ncells = cur.fetchone()[0]
            cur.execute("""INSERT INTO core.external_digitization (source, external_ref, digitized_on)
                           SELECT 'bench', 'EXT-' || g, date '2024-03-01' + g % 300 FROM generate_series(0, 999) g""")
            # Bulk fill: drop the secondary indexes and unique constraints, rebuild them after (much faster).
            cur.execute("""SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                           WHERE conrelid = 'core.result'::regclass AND contype = 'u'""")
            constraints = cur.fetchall()
            cur.execute("""SELECT i.indexname, i.indexdef FROM pg_indexes i
                           WHERE i.schemaname = 'core' AND i.tablename = 'result'
                             AND i.indexname NOT IN (SELECT conname FROM pg_constraint
                                                     WHERE conrelid = 'core.result'::regclass)""")
            indexes = cur.fetchall()
            for name, _ in constraints:
                cur.execute(f"ALTER TABLE core.result DROP CONSTRAINT {name}")
            for name, _ in indexes:
                cur.execute(f"DROP INDEX core.{name}")
            cur.execute("SET synchronous_commit = off")
            cur.execute("SET session_replication_role = replica")  # bench only: skip FK triggers on the fill
            for lo in range(1, rows + 1, CHUNK):
                hi = min(rows, lo + CHUNK - 1)
                t = time.monotonic()
                cur.execute(FILL.replace("%(lo)s", str(lo)).replace("%(hi)s", str(hi))
                            .replace("%(ncells)s", str(ncells)).replace("%%", "%"))
                print(f"  generated {hi:,} / {rows:,} rows ({time.monotonic() - t:.1f}s)", file=sys.stderr, flush=True)
            t = time.monotonic()
            cur.execute("SET maintenance_work_mem = '512MB'")
            for name, definition in constraints:
                cur.execute(f"ALTER TABLE core.result ADD CONSTRAINT {name} {definition}")
            for _, definition in indexes:
                cur.execute(definition)
            print(f"  rebuilt {len(constraints)} constraints, {len(indexes)} indexes ({time.monotonic() - t:.1f}s)",
                  file=sys.stderr, flush=True)
            cur.execute("""INSERT INTO core.inventory_declaration (agency_id, unit_key, procedure_code, issue_year,
                                                                   declared_paper_count, declared_on, source_file)
                           SELECT agency_id, unit_key, procedure_code, y, (%s / %s / 27) + (k + y) %% 23 - 11,
                                  date '2022-06-01', 'bench'
                           FROM bench_cell CROSS JOIN generate_series(1995, 2021) y""", (rows, ncells))
            cur.execute("VACUUM ANALYZE core.result")
            cur.execute("ANALYZE")
    finally:
        conn.close()
    return time.monotonic() - started


def timed(fn, repeat: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the throwaway database")
    args = ap.parse_args()

    from tthc.progress.snapshot import take_snapshot
    from tthc.reference.load import load_reference
    from tthc.warehouse.db import fetch_all
    from tthc.warehouse.migrate import migrate
    from tthc.warehouse.server import drop_database

    name, url = fresh_db()
    try:
        migrate(url)
        load_reference(url)
        print(f"generating {args.rows:,} results in {name} ...", file=sys.stderr)
        gen_s = generate(url, args.rows)
        end = dt.date(2024, 12, 31)
        baseline_sql = """SELECT issuing_unit_key, procedure_code, extract(year FROM issue_date), count(*)
                          FROM core.result GROUP BY 1, 2, 3"""
        fetch_all(url, baseline_sql)  # warm the cache once for everyone
        base, base_all = timed(lambda: fetch_all(url, baseline_sql), args.repeat)
        as_of, as_of_all = timed(lambda: fetch_all(url, "SELECT count(*) FROM mart.progress_as_of(%s)", (end,)),
                                 args.repeat)
        snap, snap_all = timed(lambda: take_snapshot(url, "quarter", end, run_id="bench"), args.repeat)
        rows = fetch_all(url, "SELECT count(*) FROM mart.progress_snapshot")[0][0]
        server = fetch_all(url, "SHOW server_version")[0][0]
        workers = fetch_all(url, "SHOW max_parallel_workers_per_gather")[0][0]
        report = {
            "rows": args.rows, "repeat": args.repeat, "generate_s": round(gen_s, 1), "snapshot_rows": rows,
            "snapshot_s_median": round(snap, 2), "snapshot_s_all": [round(x, 2) for x in snap_all],
            "as_of_s_median": round(as_of, 2), "as_of_s_all": [round(x, 2) for x in as_of_all],
            "baseline_group_by_s_median": round(base, 2), "baseline_s_all": [round(x, 2) for x in base_all],
            "ratio_snapshot_to_baseline": round(snap / base, 2), "ratio_as_of_to_baseline": round(as_of / base, 2),
            "postgres": server, "max_parallel_workers_per_gather": workers, "cpus": os.cpu_count(),
        }
        print(json.dumps(report, indent=2))
        print(f"snapshot of {args.rows:,} results: {snap:.2f}s median (baseline GROUP BY {base:.2f}s, "
              f"ratio {snap / base:.2f}x)", file=sys.stderr)
    finally:
        if not args.keep:
            drop_database(ADMIN, name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
