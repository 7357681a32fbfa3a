"""The flat commands of `tthc` (`tthc migrate`, `tthc source run`, `tthc generate`, …), kept for
scripts and compose; tthc.commands is the command line (`tthc --help`) and runs these for it."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from tthc.settings import Settings

log = logging.getLogger("tthc")


def _warehouse(args) -> str:
    from tthc.warehouse.server import normalize_url, resolve_warehouse_url

    return normalize_url(args.warehouse_url) if getattr(args, "warehouse_url", None) else resolve_warehouse_url()


def cmd_warehouse_url(args) -> int:
    print(_warehouse(args))
    return 0


def cmd_migrate(args) -> int:
    from tthc.warehouse.migrate import migrate

    applied = migrate(_warehouse(args))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none (already current)'}")
    return 0


def cmd_load_reference(args) -> int:
    from tthc.reference.load import load_reference

    counts = load_reference(_warehouse(args), Path(args.seeds) if args.seeds else None)
    print(json.dumps(counts, ensure_ascii=False))
    return 0


def cmd_load_inventory(args) -> int:
    from tthc.inventory import load_inventory

    report = load_inventory(Path(args.path), _warehouse(args))
    print(json.dumps(report, ensure_ascii=False, default=str))
    return 0


def cmd_generate(args) -> int:
    from tthc_dev.demo_data import generate

    summary = generate(Path(args.out), seed=args.seed, size=args.size, permits_url=args.permits_url, scans=args.scans)
    print(json.dumps(summary.get("counts", summary), ensure_ascii=False, indent=2, default=str))
    return 0


def cmd_summary(args) -> int:
    from tthc.summary import render_summary

    print(render_summary(_warehouse(args)))
    return 0


def cmd_check_signed_copies(args) -> int:
    from tthc.born_digital import check_e_copies

    report = check_e_copies(_warehouse(args), source=args.source, recheck=args.recheck)
    print(json.dumps(report, ensure_ascii=False))
    return 0


def cmd_demo(args) -> int:
    from tthc_dev.demo import run_demo

    return run_demo(seed=args.seed, size=args.size)


def _interval_bound(text: str | None, flag: str):
    """--start/--end: dd/mm/yyyy, yyyy-mm-dd (local midnight) or a datetime; naive values are Vietnam time."""
    from tthc.cli_dates import parse_moment

    try:
        return parse_moment(text, flag)
    except Exception as exc:  # noqa: BLE001 - typer's BadParameter: one line, as every error here
        raise ValueError(str(exc)) from None


def cmd_source_run(args) -> int:
    """One interval of one source, through the DAG's own code path (run_batch, then the signed-copy check)."""
    import dataclasses

    import psycopg2

    from tthc.sources.config import source_named
    from tthc.sources.pipeline import run_batch
    from tthc.warehouse.db import connect

    start, end = _interval_bound(args.start, "--start"), _interval_bound(args.end, "--end")
    if start is not None and end is None:
        raise ValueError("--start needs --end (the interval is [start, end))")
    if start is not None and start >= end:
        raise ValueError(f"--start {args.start} is not before --end {args.end}")
    cfg = source_named(args.name)
    if cfg.kind != "results":
        raise ValueError(f"source {cfg.name} is an exclusion list ({cfg.kind}), not a results source")
    url = _warehouse(args)
    try:
        connect(url).close()
    except psycopg2.OperationalError as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[0]
        raise RuntimeError(f"cannot reach the warehouse: {first}") from None
    from tthc.born_digital import check_e_copies

    report = dataclasses.asdict(run_batch(cfg, url, start, end, dag_id="cli",
                                          run_id=f"cli:{args.start or ''}/{args.end or ''}"))
    # The DAG's last task: the signed copies this source claims are fetched and verified.
    report["signed_copies"] = check_e_copies(url, source=cfg.name)
    print(json.dumps(report, ensure_ascii=False, default=str))
    return 0


def cmd_rotate_holder_key(args) -> int:
    from tthc.warehouse.holder_keys import read_secret_file, rotate_holder_key

    report = rotate_holder_key(_warehouse(args), read_secret_file(args.new_secret_file))
    print(json.dumps(report, ensure_ascii=False))
    print("Set TTHC_HOLDER_KEY_SECRET to the new secret before the next load.", file=sys.stderr)
    return 0


def cmd_embedded(args) -> int:
    from tthc.warehouse.server import embedded_data_dir, embedded_url, start_embedded_server

    if args.action == "start":
        print(embedded_url())
    elif args.action == "stop":
        data_dir = embedded_data_dir()
        if not (data_dir / "postmaster.pid").exists():
            print(f"no embedded server running in {data_dir}")
            return 0
        server = start_embedded_server(data_dir)
        server.cleanup_mode = "stop"
        server.cleanup()
        print(f"stopped the embedded server in {data_dir}")
    return 0


def cmd_airflow(args) -> int:
    from tthc_dev.airflow_local import up

    return up(args.port)


def cmd_serve(args) -> int:
    import secrets

    import uvicorn

    from tthc.app.main import create_app

    if args.workers == 1:
        uvicorn.run(create_app(warehouse_url=_warehouse(args)), host=args.host, port=args.port, log_level="info")
        return 0
    # Worker processes share one database login and one token secret (through the environment).
    from tthc.app.db import provision_login

    os.environ.setdefault("TTHC_APP_SECRET", secrets.token_urlsafe(48))
    if not Settings.from_env().app.database_url:
        os.environ["TTHC_APP_DATABASE_URL"] = provision_login(_warehouse(args), os.environ["TTHC_APP_SECRET"])
    uvicorn.run("tthc.app.main:create_app", factory=True, workers=args.workers, host=args.host, port=args.port,
                log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from tthc.settings import Settings

    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="tthc", description="Đồng Tháp TTHC-result digitization platform")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_url(p):
        p.add_argument("--warehouse-url", help="SQLAlchemy/libpq URL; default: WAREHOUSE_URL, else the embedded server")
        return p

    with_url(sub.add_parser("warehouse-url", help="print the warehouse URL (starts the embedded server if needed)")
             ).set_defaults(func=cmd_warehouse_url)
    with_url(sub.add_parser("migrate", help="apply pending SQL migrations from sql/")).set_defaults(func=cmd_migrate)
    p = with_url(sub.add_parser("load-reference", help="load units, crosswalk, agencies, procedures and plans"))
    p.add_argument("--seeds", help="seed folder (default: TTHC_SEEDS_DIR or ./seeds)")
    p.set_defaults(func=cmd_load_reference)
    p = with_url(sub.add_parser("load-inventory", help="load a declared paper-inventory CSV into core"))
    p.add_argument("path", help="CSV file (columns: see README)")
    p.set_defaults(func=cmd_load_inventory)
    p = sub.add_parser("generate", help="write the deterministic demo dataset")
    p.add_argument("--out", default=str(settings.demo_data_dir))
    p.add_argument("--seed", type=int, default=settings.demo_seed)
    p.add_argument("--size", type=int, default=settings.demo_size, help="number of true results (1k default, up to 10M)")
    p.add_argument("--permits-url", help="SQLAlchemy URL for the construction-permit database (PostgreSQL or MariaDB)")
    p.add_argument("--scans", type=int, help="number of scan-drop files (default scales with --size)")
    p.set_defaults(func=cmd_generate)
    with_url(sub.add_parser("summary", help="print what the warehouse holds")).set_defaults(func=cmd_summary)
    p = with_url(sub.add_parser("check-signed-copies",
                                help="fetch, archive and verify the signed e-copies sources name (TTHC_SIGNED_COPY_*)"))
    p.add_argument("--source", help="only results of this source (default: all)")
    p.add_argument("--recheck", action="store_true", help="check every e-copy again, not only new or changed refs")
    p.set_defaults(func=cmd_check_signed_copies)
    p = sub.add_parser("demo", help="set up the warehouse, generate data, run every DAG through Airflow, summarize")
    p.add_argument("--seed", type=int, default=settings.demo_seed)
    p.add_argument("--size", type=int, default=settings.demo_size)
    p.set_defaults(func=cmd_demo)
    p = with_url(sub.add_parser("serve", help="run the lookup/statistics application and API (docs/app.md)"))
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0 only behind TLS)")
    p.add_argument("--port", type=int, default=8090)
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.set_defaults(func=cmd_serve)
    p = with_url(sub.add_parser("source", help="run one interval of one legacy source (same code path as its DAG)"))
    p.add_argument("action", choices=["run"])
    p.add_argument("name", help="the source's name (sources/*.yaml)")
    p.add_argument("--start", help="interval start: YYYY-MM-DD or ISO datetime (local time if naive)")
    p.add_argument("--end", help="interval end (exclusive); without --start: everything before it")
    p.set_defaults(func=cmd_source_run)
    p = sub.add_parser("airflow", help="the Airflow UI on this machine, on the demo's Airflow home and warehouse")
    p.add_argument("action", choices=["up"], help="up: start api-server, scheduler and dag-processor until Ctrl-C")
    p.add_argument("--port", type=int, default=8080, help="port of the UI on 127.0.0.1 (default 8080)")
    p.set_defaults(func=cmd_airflow)
    p = with_url(sub.add_parser("rotate-holder-key",
                                help="recompute the holder matching keys in core under a new secret "
                                     "(holder_ref, what analysts see, does not change)"))
    p.add_argument("--new-secret-file", required=True,
                   help="file whose first line is the new secret (mode 0600, at least 16 characters)")
    p.set_defaults(func=cmd_rotate_holder_key)
    p = sub.add_parser("embedded", help="start or stop the embedded PostgreSQL under .local/pgdata")
    p.add_argument("action", choices=["start", "stop"])
    p.set_defaults(func=cmd_embedded)
    return parser


# Commands that never match holders; every other one refuses to start without TTHC_HOLDER_KEY_SECRET.
# The demo makes its own (.local/holder_key_secret); rotation reads the new one from its file; the
# application shows holder_ref only, so it runs without the key (least privilege).
WITHOUT_HOLDER_SECRET = frozenset({"demo", "generate", "embedded", "warehouse-url", "rotate-holder-key", "serve"})


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    try:
        if args.command not in WITHOUT_HOLDER_SECRET:
            from tthc.settings import require_holder_key_secret

            require_holder_key_secret()
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator, traceback with -v
        if args.verbose:
            raise
        print(f"tthc {args.command}: error: " + " ".join(str(exc).split()), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
