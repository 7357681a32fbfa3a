"""CPU and wall time per lookup by code inside the application, without HTTP or concurrency: N
sequential GET /api/v1/results/{code} through the ASGI app (lifespan run, API key of the kept
benchmark database's `bench` account), optionally under pyinstrument (--profile).

    .venv/bin/python bench/profile_app_lookup.py --database bench_snapshot_XXXX [--requests 1500] [--profile]

The database is one kept by `bench/bench_app.py --keep`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", required=True)
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--profile", action="store_true", help="pyinstrument, flat, the event loop's thread")
    args = ap.parse_args()
    os.environ.setdefault("TTHC_APP_COOKIE_SECURE", "0")

    from tthc.app.admin import create_api_key
    from tthc.app.db import provision_login
    from tthc.app.main import create_app
    from tthc.warehouse.db import fetch_all, transaction
    from tthc.warehouse.server import with_database

    url = with_database("postgresql://postgres@127.0.0.1:5432/postgres", args.database)
    codes = [c for (c,) in fetch_all(url, "SELECT result_code FROM core.result TABLESAMPLE SYSTEM (1) LIMIT 3000")]
    with transaction(url) as cur:
        key, _ = create_api_key(cur, "bench", "profile", ["results:read"])
    app = create_app(database_url=provision_login(url))

    async def call(path: str) -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"host", b"bench"), (b"x-api-key", key.encode())], "client": ("127.0.0.1", 1),
                 "server": ("bench", 80)}
        sent = []

        async def receive():
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        if sent[0]["status"] != 200:
            raise RuntimeError(f"{path}: {sent}")

    async def run() -> None:
        async with app.router.lifespan_context(app):
            for c in codes[:50]:
                await call(f"/api/v1/results/{c}")
            profiler = None
            if args.profile:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
            wall, cpu = time.perf_counter(), time.process_time()
            for i in range(args.requests):
                await call(f"/api/v1/results/{codes[i % len(codes)]}")
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if profiler:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, flat=True)[:5000])
            print(f"{args.requests} lookups: {1000 * wall / args.requests:.3f} ms wall, "
                  f"{1000 * cpu / args.requests:.3f} ms CPU per request (this process); load {os.getloadavg()}")

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
