"""Application benchmark: lookup by code and the progress endpoint of `tthc serve` over N results,
with C concurrent clients, against the same queries run bare through psycopg2 in the same run.

    .venv/bin/python bench/bench_app.py --rows 1000000 --clients 32 --seconds 20

In a throwaway database (migrated, reference data loaded) it generates N core.result rows with the
snapshot benchmark's generator (bench/bench_snapshot.py), gives them their unique codes with the
pipeline's own allocator (tthc.codes.assign_result_codes), creates an integration client with an API
key (results:read, progress:read; no personal data, so no audit write per request), and starts a real
`tthc serve` (uvicorn, --workers processes) on localhost. Then, for each scenario, C clients run for
--seconds, each with one keep-alive HTTP connection (the app) or one psycopg2 connection (bare):
  lookup        GET /api/v1/results/{code}, random codes          vs tthc.app.queries.result_by_code bare
  progress      GET /api/v1/progress?as_of=...&unit=<a district>   vs tthc.app.queries.progress bare
and the lookup once more with a single client (latency without queueing).
Reported: requests/s, p50/p95/p99 latency (ms), and app/bare throughput ratios. Goals: lookup p95
< 50 ms; app throughput >= 0.5x bare. The clients run on the same 2-core machine as the server and
the database. The bare clients are C threads. The HTTP clients (--client, reported as "app_client")
are C threads with http.client by default; --client asyncio runs C connections on one event loop
speaking raw HTTP/1.1, each answer checked (200, and a lookup's body carries its code): ~0.07 ms of
client CPU per request and no GIL inside the clock, but one thread, so on a loaded machine the
scheduler gives it the share of one thread where the threaded clients get 32 (BENCHMARKS.md). The database is dropped at
the end (--keep to keep it; --database NAME reuses a kept one without generating, and --scenarios
lookup runs only the lookup).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_snapshot  # noqa: E402  (its generator: one way to make synthetic results)

ADMIN = bench_snapshot.ADMIN


def run_clients(n: int, seconds: float, make_worker) -> dict:
    """n threads call their worker() until the time is up; returns throughput and latency percentiles."""
    latencies: list[list[float]] = [[] for _ in range(n)]
    errors = [0] * n
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(n + 1)

    def loop(i):
        work = make_worker(i)
        barrier.wait()
        lat = latencies[i]
        while time.perf_counter() < stop:
            t = time.perf_counter()
            try:
                work()
            except Exception:  # noqa: BLE001 - counted, reported
                errors[i] += 1
                continue
            lat.append(time.perf_counter() - t)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return summarize(latencies, errors, time.perf_counter() - started)


def run_http_clients(n: int, seconds: float, port: int, key: str, next_path) -> dict:
    """The HTTP load generator of --client asyncio: one event loop in this thread, n keep-alive
    connections, raw HTTP/1.1 (the request bytes out; the status line, headers and Content-Length
    body in). Each answer must be 200 and carry the code it asked for (lookups). No threads: no
    waiting for the GIL inside the clock, and little CPU taken from the server on the shared cores.
    Same report as run_clients."""
    import asyncio

    latencies: list[list[float]] = [[] for _ in range(n)]
    errors = [0] * n

    async def client(i, start, stop):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        rnd = random.Random(i)
        lat = latencies[i]
        await start.wait()
        try:
            while time.perf_counter() < stop[0]:
                path, expect = next_path(rnd)
                request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
                           f"\r\n").encode()
                t = time.perf_counter()
                try:
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = None
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if length is None:
                        raise RuntimeError("no Content-Length")
                    body = await reader.readexactly(length)
                    if not head.startswith(b"HTTP/1.1 200 ") or not body or (expect and expect not in body):
                        raise RuntimeError(head[:40])
                except (OSError, RuntimeError, ValueError, asyncio.IncompleteReadError):
                    errors[i] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    continue
                lat.append(time.perf_counter() - t)
        finally:
            writer.close()

    async def run():
        start, stop = asyncio.Event(), [float("inf")]
        tasks = [asyncio.create_task(client(i, start, stop)) for i in range(n)]
        await asyncio.sleep(0.2)            # every connection open before the clock
        started = time.perf_counter()
        stop[0] = started + seconds
        start.set()
        await asyncio.gather(*tasks)
        return time.perf_counter() - started

    elapsed = asyncio.run(run())
    return summarize(latencies, errors, elapsed)


def summarize(latencies: list[list[float]], errors: list[int], elapsed: float) -> dict:
    all_lat = sorted(x for lat in latencies for x in lat)
    q = statistics.quantiles(all_lat, n=100) if len(all_lat) >= 2 else [float("nan")] * 99
    return {"requests": len(all_lat), "errors": sum(errors), "seconds": round(elapsed, 2),
            "rps": round(len(all_lat) / elapsed, 1), "p50_ms": round(1000 * q[49], 2),
            "p95_ms": round(1000 * q[94], 2), "p99_ms": round(1000 * q[98], 2)}


def start_server(url: str, workers: int, port: int) -> subprocess.Popen:
    import httpx


    env = {**os.environ, "WAREHOUSE_URL": url, "TTHC_APP_COOKIE_SECURE": "0"}
    env.pop("TTHC_APP_DATABASE_URL", None)
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_app_server_{port}.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "tthc", "serve", "--port", str(port), "--workers", str(workers)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"tthc serve did not start; see {log.name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=20, help="per scenario and side")
    ap.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of tthc serve")
    ap.add_argument("--port", type=int, default=18090)
    ap.add_argument("--keep", action="store_true", help="keep the throwaway database")
    ap.add_argument("--database", help="reuse a database kept by an earlier run (--keep): no generation, "
                                       "and it is kept")
    ap.add_argument("--scenarios", default="lookup,progress", help="comma-separated: lookup, progress")
    ap.add_argument("--client", choices=("threads", "asyncio"), default="threads",
                    help="the HTTP load generator: one http.client thread per client (threads), or one event "
                         "loop with raw keep-alive connections (asyncio)")
    args = ap.parse_args()

    import datetime as dt

    import psycopg2

    from tthc.app import queries
    from tthc.app.admin import create_account, create_api_key
    from tthc.app.db import provision_login
    from tthc.app.security import Principal
    from tthc.codes import assign_result_codes
    from tthc.reference.load import load_reference
    from tthc.warehouse.db import fetch_all, transaction
    from tthc.warehouse.migrate import migrate
    from tthc.warehouse.server import drop_database, psycopg_kwargs

    scenarios = [s for s in args.scenarios.split(",") if s]
    if args.database:
        from tthc.warehouse.server import with_database

        name, url, args.keep = args.database, with_database(ADMIN, args.database), True
    else:
        name, url = bench_snapshot.fresh_db()
    proc = None
    try:
        migrate(url)
        gen_s = codes_s = 0.0
        if not args.database:
            load_reference(url)
            print(f"generating {args.rows:,} results in {name} ...", file=sys.stderr)
            gen_s = bench_snapshot.generate(url, args.rows)
            t = time.monotonic()
            with transaction(url) as cur:
                assign_result_codes(cur)
            codes_s = time.monotonic() - t
            conn = psycopg2.connect(**psycopg_kwargs(url))
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute("VACUUM ANALYZE core.result")
            conn.close()
            print(f"  codes assigned ({codes_s:.1f}s); database {name}", file=sys.stderr)
        codes = [c for (c,) in fetch_all(url, "SELECT result_code FROM core.result TABLESAMPLE SYSTEM (2) LIMIT 20000")]
        districts = [u for (u,) in fetch_all(url, "SELECT unit_key FROM core.admin_unit WHERE era = 'pre2025' "
                                                  "AND level = 'district' ORDER BY 1")]
        with transaction(url) as cur:
            cur.execute("SELECT 1 FROM app.account WHERE username = 'bench'")
            if cur.fetchone() is None:
                create_account(cur, "bench", "integration", "Benchmark client", None)
            key, _ = create_api_key(cur, "bench", "bench", ["results:read", "progress:read"])
        as_of = dt.date(2024, 12, 31)
        who = Principal(0, "bench", "bench", "integration", frozenset({"results:read", "progress:read"}), (), None,
                        "api_key")
        # bare: the application's own SQL, as the application's own role, one connection per client
        app_url = provision_login(url)

        def bare_worker(kind):
            def make(i):
                c = psycopg2.connect(**psycopg_kwargs(app_url))
                rnd = random.Random(i)

                def work():
                    with c, c.cursor() as cur:
                        if kind == "lookup":
                            assert queries.result_by_code(cur, who, rnd.choice(codes)) is not None
                        else:
                            assert queries.progress(cur, who, as_of, None, "issuing", rnd.choice(districts), None)
                return work
            return make

        proc = start_server(url, args.workers, args.port)

        def app_worker(kind):
            # stdlib http.client, one keep-alive connection per client: a light client, so the clock
            # measures the server more than the load generator sharing its two cores
            def make(i):
                client = http.client.HTTPConnection("127.0.0.1", args.port, timeout=120)
                rnd = random.Random(i)
                headers = {"X-API-Key": key}

                def work():
                    if kind == "lookup":
                        path = f"/api/v1/results/{rnd.choice(codes)}"
                    else:
                        path = f"/api/v1/progress?as_of={as_of.isoformat()}&unit={rnd.choice(districts)}"
                    client.request("GET", path, headers=headers)
                    r = client.getresponse()
                    body = r.read()
                    if r.status != 200 or not body:
                        raise RuntimeError(r.status)
                return work
            return make

        def app_paths(kind):
            def next_path(rnd):
                if kind == "lookup":
                    code = rnd.choice(codes)
                    return f"/api/v1/results/{code}", code.encode()
                return f"/api/v1/progress?as_of={as_of.isoformat()}&unit={rnd.choice(districts)}", None
            return next_path

        def run_app(n, seconds, kind):
            if args.client == "threads":
                return run_clients(n, seconds, app_worker(kind))
            return run_http_clients(n, seconds, args.port, key, app_paths(kind))

        # warm both paths (caches, pools) before the clock
        run_app(4, 2, "lookup")
        run_clients(4, 2, bare_worker("lookup"))
        report = {"rows": args.rows, "clients": args.clients, "seconds": args.seconds, "workers": args.workers,
                  "app_client": args.client, "generate_s": round(gen_s, 1), "assign_codes_s": round(codes_s, 1), "cpus": os.cpu_count(),
                  "loadavg_before": os.getloadavg()}
        for kind in scenarios:
            bare = run_clients(args.clients, args.seconds, bare_worker(kind))
            app = run_app(args.clients, args.seconds, kind)
            report[kind] = {"app": app, "bare": bare,
                            "ratio_rps_app_to_bare": round(app["rps"] / bare["rps"], 2) if bare["rps"] else None}
            print(f"{kind}: app {app['rps']} req/s p95 {app['p95_ms']} ms; bare {bare['rps']} q/s p95 "
                  f"{bare['p95_ms']} ms; ratio {report[kind]['ratio_rps_app_to_bare']}", file=sys.stderr)
        # one client: the latency of a lookup on its own, without queueing behind 31 others
        bare1 = run_clients(1, args.seconds / 2, bare_worker("lookup"))
        app1 = run_app(1, args.seconds / 2, "lookup")
        report["lookup_one_client"] = {"app": app1, "bare": bare1}
        print(f"lookup, one client: app p50 {app1['p50_ms']} ms p95 {app1['p95_ms']} ms; bare p50 {bare1['p50_ms']} ms "
              f"p95 {bare1['p95_ms']} ms", file=sys.stderr)
        report["loadavg_after"] = os.getloadavg()
        report["goals"] = {}
        if "lookup" in report:
            report["goals"].update(lookup_p95_below_50ms=report["lookup"]["app"]["p95_ms"] < 50,
                                   lookup_rps_at_least_half_of_bare=report["lookup"]["ratio_rps_app_to_bare"] >= 0.5)
        if "progress" in report:
            report["goals"]["progress_rps_at_least_half_of_bare"] = report["progress"]["ratio_rps_app_to_bare"] >= 0.5
        print(json.dumps(report, indent=2))
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if not args.keep:
            drop_database(ADMIN, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
