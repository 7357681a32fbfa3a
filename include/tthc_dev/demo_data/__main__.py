"""CLI: python -m tthc_dev.demo_data --seed 42 --size 1000 --out data/demo [--permits-url URL] [--scans N]"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from tthc_dev.demo_data.generator import default_scans, generate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m tthc_dev.demo_data",
        description="Generate realistic, deterministic demo data (legacy sources, scan drop, ground truth).",
    )
    ap.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    ap.add_argument("--size", type=int, default=1000, help="true results in the structured sources (default 1000)")
    ap.add_argument("--out", default="data/demo", help="output directory, replaced on each run (default data/demo)")
    ap.add_argument(
        "--permits-url",
        default=None,
        help="SQLAlchemy URL for the construction-permit tables (postgresql+psycopg2://… or mysql+pymysql://…); "
        "default: construction_permits.sqlite in --out",
    )
    ap.add_argument("--scans", type=int, default=None, help="files in scan_drop/ (default min(40, max(12, size // 25)))")
    ap.add_argument("--force", action="store_true", help="replace --out even if it is not an earlier output of this generator")
    ap.add_argument("--log-level", default="INFO")
    args = ap.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    t0 = time.perf_counter()
    manifest = generate(
        args.out, seed=args.seed, size=args.size, permits_url=args.permits_url, scans=args.scans, force=args.force
    )
    counts = manifest["counts"]
    print(f"wrote {args.out}: {args.size} results in structured sources, {counts['paper_only_results']} paper-only, "
          f"{manifest['expected_distinct_results']} distinct; {len(manifest['files'])} files; "
          f"scans {args.scans if args.scans is not None else default_scans(args.size)}; "
          f"permits on {manifest['permits_db']['backend']}; {time.perf_counter() - t0:.1f}s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
