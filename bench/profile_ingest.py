"""Phase-by-phase timing of one civil-status batch (the load stage), for BENCHMARKS.md "Where the time goes".

    .venv/bin/python bench/profile_ingest.py --size 100000 [--data DIR] [--cprofile OUT.prof]

Generates the demo data (or reuses --data), makes a throwaway database, then runs the steps of
`run_batch` one by one with their times: stage (extract+clean+COPY), GX validation (the bare
checkpoint apart: the GX floor), plan (fuzzy + codes), normalize chunks, close. Prints JSON.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--data", type=Path, help="reuse (or make) the demo data here")
    parser.add_argument("--cprofile", type=Path, help="write a cProfile of the whole run")
    args = parser.parse_args()
    data = args.data or Path(tempfile.mkdtemp(prefix="tthc-profile-")) / "data"
    if not (data / "civil_status.sqlite").exists():
        from tthc_dev.demo_data import generate

        generate(data, seed=args.seed, size=args.size, scans=12)
    os.environ["TTHC_DEMO_DATA_DIR"] = str(data)
    os.environ.setdefault("TTHC_HOLDER_KEY_SECRET", "bench-" + uuid.uuid4().hex)  # a throwaway database
    os.environ.setdefault("TTHC_DATA_DOCS_DIR", str(data.parent / "data_docs"))
    sys.path.insert(0, str(Path(__file__).parent))
    import great_expectations  # noqa: F401  (start-up out of the clock, as in bench_ingest)

    from bench_ingest import drop, fresh_db
    from tthc.load import LoadTotals
    from tthc.reference.load import load_reference
    from tthc.sources.config import load_sources
    from tthc.sources.pipeline import close_and_report, load_chunk, plan_chunks, stage_batch, validate_and_quarantine
    from tthc.warehouse.migrate import migrate

    name, url = fresh_db("profile")
    phases: dict[str, float] = {}
    profiler = cProfile.Profile() if args.cprofile else None
    try:
        migrate(url)
        load_reference(url)
        cfg = next(c for c in load_sources() if c.name == "civil_status")
        if profiler:
            profiler.enable()
        t0 = t = time.perf_counter()

        def mark(phase):
            nonlocal t
            now = time.perf_counter()
            phases[phase] = round(now - t, 2)
            t = now

        batch_id = stage_batch(cfg, url)
        mark("stage (extract+clean+COPY)")
        validate_and_quarantine(cfg, url, batch_id)
        mark("validate (GX+conflicts+quarantine)")
        ranges = plan_chunks(cfg, url, batch_id)
        mark("plan (fuzzy+codes)")
        totals = LoadTotals()
        for lo, hi in ranges:
            for k, v in load_chunk(url, batch_id, lo, hi).items():
                setattr(totals, k, getattr(totals, k) + v)
        mark("normalize chunks")
        report = close_and_report(cfg, url, batch_id, totals)
        mark("close")
        total = time.perf_counter() - t0
        if profiler:
            profiler.disable()
            profiler.dump_stats(args.cprofile)
        try:
            from tthc.validation import last_timings
        except ImportError:
            last_timings = dict

        print(json.dumps({"rows": report.rows_in, "loaded": report.rows_loaded,
                          "quarantined": report.rows_quarantined, "total_seconds": round(total, 2),
                          "phases": phases, "gx": last_timings(),
                          "load_average": [round(x, 2) for x in os.getloadavg()]}, indent=2))
    finally:
        drop(name)


if __name__ == "__main__":
    main()
