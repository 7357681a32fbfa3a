"""What the warehouse, source, demo and application commands of `tthc` do; tthc.commands is the
command line (`tthc --help`) and calls these with its parsed options."""

from __future__ import annotations

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
