"""End-to-end ingestion benchmark: our pipeline vs raw COPY vs naive pandas, same rows, same run.

    .venv/bin/python bench/bench_ingest.py --size 100000 --repeat 3

Generates the demo civil-status database (size = true results; about 70% land in the
civil-status source), then, each in a fresh throwaway database on the same PostgreSQL:
  ours    extract → land raw → clean → GX validate → quarantine → normalize → codes
  copy    read the same rows from SQLite and COPY them into one text table (the floor)
  pandas  pandas.read_sql + DataFrame.to_sql (a naive pipeline with no cleaning at all)
Reports records/s, peak RSS of the pipeline process, and the ratios, as medians.

The clock times the work only: the pipeline's imports and GX start-up (importing
great_expectations, seconds on its own) happen before it, in the same child process, and
are reported apart as `cold_start_seconds_ours`. Building the demo data is not timed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def fresh_db(prefix: str) -> tuple[str, str]:
    from tthc.warehouse.server import ensure_database, with_database

    name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
    ensure_database(ADMIN, name)
    return name, with_database(ADMIN, name)


def drop(name: str) -> None:
    from tthc.warehouse.server import drop_database

    drop_database(ADMIN, name)


def run_ours(data_dir: Path) -> dict:
    """In a child process, so that peak RSS is the pipeline's own."""
    code = """
import json, os, resource, time
t0 = time.perf_counter()
import great_expectations  # GX start-up: before the clock, reported apart
import tthc.validation, tthc.load, tthc.sources.pipeline
cold = time.perf_counter() - t0


def peak_rss_mb():
    # VmHWM: this process's own peak. ru_maxrss is not: Linux carries it over fork and exec, so a child
    # would report the RSS of the benchmark process that generated the data.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

from tthc.reference.load import load_reference
from tthc.sources.config import load_sources
from tthc.sources.pipeline import run_batch
from tthc.warehouse.migrate import migrate
url = os.environ["BENCH_URL"]
migrate(url)
load_reference(url)
cfg = next(c for c in load_sources() if c.name == "civil_status")
t = time.perf_counter()
report = run_batch(cfg, url)
seconds = time.perf_counter() - t
from tthc.validation import last_timings
print(json.dumps({"seconds": seconds, "cold_start_seconds": cold, "rows": report.rows_in,
                  "gx_checkpoint_seconds": last_timings().get("checkpoint"),
                  "loaded": report.rows_loaded,
                  "quarantined": report.rows_quarantined,
                  "peak_rss_mb": peak_rss_mb()}))
"""
    name, url = fresh_db("ours")
    try:
        env = dict(os.environ, BENCH_URL=url, TTHC_DEMO_DATA_DIR=str(data_dir),
                   TTHC_DATA_DOCS_DIR=str(data_dir.parent / "data_docs"))
        env.setdefault("TTHC_HOLDER_KEY_SECRET", "bench-" + uuid.uuid4().hex)  # a throwaway database
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"pipeline run failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        drop(name)


def run_copy(sqlite_path: Path) -> dict:
    import psycopg2

    from tthc.warehouse.server import psycopg_kwargs

    name, url = fresh_db("copy")
    try:
        t = time.perf_counter()
        src = sqlite3.connect(sqlite_path)
        cur = src.execute("SELECT * FROM SO_HO_TICH")
        columns = [d[0] for d in cur.description]
        conn = psycopg2.connect(**psycopg_kwargs(url))
        with conn, conn.cursor() as pg:
            pg.execute(f"CREATE TABLE so_ho_tich ({', '.join(f'{c} text' for c in columns)})")
            rows = 0
            while batch := cur.fetchmany(50_000):
                buf = io.StringIO()
                for row in batch:
                    buf.write("\t".join(r"\N" if v is None else str(v).replace("\\", "\\\\").replace("\t", "\\t")
                                        .replace("\n", "\\n") for v in row) + "\n")
                buf.seek(0)
                pg.copy_expert("COPY so_ho_tich FROM STDIN", buf)
                rows += len(batch)
        conn.close()
        return {"seconds": time.perf_counter() - t, "rows": rows}
    finally:
        drop(name)


def run_pandas(sqlite_path: Path) -> dict:
    import pandas as pd
    from sqlalchemy import create_engine

    name, url = fresh_db("pandas")
    try:
        t = time.perf_counter()
        df = pd.read_sql("SELECT * FROM SO_HO_TICH", f"sqlite:///{sqlite_path}")
        engine = create_engine(url)
        df.to_sql("so_ho_tich", engine, index=False)
        engine.dispose()
        return {"seconds": time.perf_counter() - t, "rows": len(df)}
    finally:
        drop(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    from tthc_dev.demo_data import generate

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        print(f"generating {args.size} results …", flush=True)
        generate(data, seed=args.seed, size=args.size, scans=12)
        runs = {"ours": [], "copy": [], "pandas": []}
        for i in range(args.repeat):
            for kind, fn, arg in (("copy", run_copy, data / "civil_status.sqlite"),
                                  ("pandas", run_pandas, data / "civil_status.sqlite"),
                                  ("ours", run_ours, data)):
                result = fn(arg)
                runs[kind].append(result)
                print(f"  run {i + 1} {kind:<6} {result['rows']:>9} rows {result['seconds']:8.2f}s "
                      f"{result['rows'] / result['seconds']:>10,.0f} rows/s", flush=True)
    med = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    rows = runs["ours"][0]["rows"]
    summary = {
        "size": args.size, "rows": rows, "repeat": args.repeat,
        "median_seconds": {k: round(v, 3) for k, v in med.items()},
        "rows_per_second": {k: round(rows / v) for k, v in med.items()},
        "ours_vs_copy_time_ratio": round(med["ours"] / med["copy"], 2),
        "ours_vs_pandas_time_ratio": round(med["ours"] / med["pandas"], 2),
        "peak_rss_mb_ours": round(statistics.median(r["peak_rss_mb"] for r in runs["ours"])),
        "cold_start_seconds_ours": round(statistics.median(r["cold_start_seconds"] for r in runs["ours"]), 2),
        # The GX floor: the bare checkpoint (every suite over the staged batch) inside ours, against COPY.
        "gx_checkpoint_seconds_ours": round(statistics.median(r["gx_checkpoint_seconds"] for r in runs["ours"]), 2),
        "gx_checkpoint_vs_copy_time_ratio": round(
            statistics.median(r["gx_checkpoint_seconds"] for r in runs["ours"]) / med["copy"], 2),
        "loaded": runs["ours"][0]["loaded"], "quarantined": runs["ours"][0]["quarantined"],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
