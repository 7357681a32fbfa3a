"""`tthc`: the one command line of the platform (Typer). `tthc --help` lists the groups; every
command and option has help. The README's "Commands" section documents them.

Errors are one line on stderr and a non-zero exit (1: the command failed, 2: the command line is
wrong); `tthc --debug …` shows the traceback. Dates are accepted as dd/mm/yyyy (as officials write
them) or ISO yyyy-mm-dd; naive times are Vietnam time.

The older entry points stay as thin aliases of the same commands: `python -m tthc.scans`,
`python -m tthc.progress`, `python -m tthc.alerts`, and the flat names of ALIASES (`tthc migrate`,
`tthc source run`, …), which are rewritten to their grouped command before parsing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tthc.cli_dates import parse_day

log = logging.getLogger("tthc")
_state = {"debug": False}


def _day(value) -> dt.date:
    return value if isinstance(value, dt.date) else parse_day(str(value))


def _choice(*allowed: str):
    def check(value: str) -> str:
        if value not in allowed:
            raise typer.BadParameter(f"{value!r} is not one of {', '.join(allowed)}")
        return value
    return check


PERIOD_KINDS = ("month", "quarter", "year")
WarehouseUrl = Annotated[Optional[str], typer.Option(
    "--warehouse-url", help="SQLAlchemy/libpq URL of the warehouse; default: WAREHOUSE_URL, else the Airflow "
                            "connection, else the embedded server")]
Kind = Annotated[str, typer.Option("--kind", help="period kind: month, quarter or year", metavar="KIND",
                                   parser=_choice(*PERIOD_KINDS))]


def _warehouse(url: str | None = None) -> str:
    from tthc.warehouse.server import normalize_url, warehouse_url

    return normalize_url(url) if url else warehouse_url()


def _print_json(value) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=1, default=str))


def _print_config_folder(lines: list[str], broken: dict) -> None:
    """`sources list` / `scans list`: one line per good file, then the broken ones on stderr (exit 1)."""
    for line in lines:
        print(line)
    for message in broken.values():
        print(f"BROKEN\t{message}", file=sys.stderr)
    if broken:
        raise typer.Exit(1)


def _moment(text: str | None, flag: str):
    """--start/--end: dd/mm/yyyy, yyyy-mm-dd (local midnight) or a datetime; naive values are Vietnam time."""
    from tthc.cli_dates import parse_moment

    try:
        return parse_moment(text, flag)
    except Exception as exc:  # noqa: BLE001 - typer's BadParameter: one line, as every error here
        raise ValueError(str(exc)) from None


# ------------------------------------------------------------------ the app

app = typer.Typer(help="Đồng Tháp TTHC-result digitization platform: sources, scans, progress, alerts, "
                       "the warehouse and the demo.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None)


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show the traceback of an error")] = False,
          verbose: Annotated[bool, typer.Option("-v", "--verbose", help="debug logging")] = False) -> None:
    _state["debug"] = debug
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)


sources = typer.Typer(help="legacy sources (sources/*.yaml): list, run one interval, check signed copies",
                      no_args_is_help=True)
scans = typer.Typer(help="scan drop zones (drops/*.yaml): run, fixity, duplicates, the review queue",
                    no_args_is_help=True)
review = typer.Typer(help="the officials' review queue: list, show, resolve, reject", no_args_is_help=True)
progress = typer.Typer(help="progress snapshots, backfills, reports for officials and their delivery",
                       no_args_is_help=True)
alerts = typer.Typer(help="alert channels and routes (config/alerts.yaml; docs/alerts.md)", no_args_is_help=True)
warehouse = typer.Typer(help="the warehouse: URL, migrations, reference data, inventory, summary, embedded server",
                        no_args_is_help=True)
config = typer.Typer(help="the configuration files: check them all, write their JSON Schemas", no_args_is_help=True)
app.add_typer(sources, name="sources")
app.add_typer(scans, name="scans")
scans.add_typer(review, name="review")
app.add_typer(progress, name="progress")
app.add_typer(alerts, name="alerts")
app.add_typer(warehouse, name="warehouse")
app.add_typer(config, name="config")
airflow = typer.Typer(help="Airflow on this machine: the UI on the demo's Airflow home and warehouse", no_args_is_help=True)
app.add_typer(airflow, name="airflow")


# ------------------------------------------------------------------ sources


@sources.command("list")
def sources_list() -> None:
    """The configured sources, and the broken files with their errors."""
    from tthc.sources.config import read_sources

    items, broken = read_sources()
    _print_config_folder([f"{c.name}\t{c.kind}\t{c.engine}\t{c.schedule}\t{c.path.name}" for c in items], broken)


@sources.command("run")
def sources_run(
        name: Annotated[str, typer.Argument(help="the source's name (sources/*.yaml)")],
        start: Annotated[Optional[str], typer.Option(help="interval start: dd/mm/yyyy, yyyy-mm-dd or an ISO "
                                                         "datetime (Vietnam time if naive)")] = None,
        end: Annotated[Optional[str], typer.Option(help="interval end (exclusive); without --start: "
                                                       "everything before it")] = None,
        warehouse_url: WarehouseUrl = None) -> None:
    """Run one interval of one source through its DAG's code path (stage, validate, load, signed copies)."""
    import dataclasses

    import psycopg2

    from tthc.born_digital import check_e_copies
    from tthc.sources.config import source_named
    from tthc.sources.pipeline import run_batch
    from tthc.warehouse.db import connect

    since, until = _moment(start, "--start"), _moment(end, "--end")
    if since is not None and until is None:
        raise ValueError("--start needs --end (the interval is [start, end))")
    if since is not None and since >= until:
        raise ValueError(f"--start {start} is not before --end {end}")
    cfg = source_named(name)
    if cfg.kind != "results":
        raise ValueError(f"source {cfg.name} is an exclusion list ({cfg.kind}), not a results source")
    url = _warehouse(warehouse_url)
    try:
        connect(url).close()
    except psycopg2.OperationalError as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[0]
        raise RuntimeError(f"cannot reach the warehouse: {first}") from None
    report = dataclasses.asdict(run_batch(cfg, url, since, until, dag_id="cli", run_id=f"cli:{start or ''}/{end or ''}"))
    # The DAG's last task: the signed copies this source claims are fetched and verified.
    report["signed_copies"] = check_e_copies(url, source=cfg.name)
    print(json.dumps(report, ensure_ascii=False, default=str))


@sources.command("check-signed-copies")
def sources_check_signed_copies(
        source: Annotated[Optional[str], typer.Option(help="only results of this source (default: all)")] = None,
        recheck: Annotated[bool, typer.Option(help="check every e-copy again, not only new or changed refs")] = False,
        warehouse_url: WarehouseUrl = None) -> None:
    """Fetch, archive and verify the signed e-copies that sources name (TTHC_SIGNED_COPY_*)."""
    from tthc.born_digital import check_e_copies

    print(json.dumps(check_e_copies(_warehouse(warehouse_url), source=source, recheck=recheck), ensure_ascii=False))


# ------------------------------------------------------------------ scans


@scans.command("list")
def scans_list() -> None:
    """The configured drop zones, and the broken files with their errors."""
    from tthc.scans.config import read_drops

    zones, broken = read_drops()
    _print_config_folder([f"{z.name}\t{z.location}\t→ {z.archive}\t{z.schedule}" for z in zones], broken)


@scans.command("run")
def scans_run(zone: Annotated[str, typer.Argument(help="drop zone: its name, its file in drops/, or a YAML path")],
              warehouse_url: WarehouseUrl = None) -> None:
    """List, OCR, validate and link one drop zone now (what its DAG runs)."""
    from tthc.scans.config import drop_named
    from tthc.scans.intake import run_drop

    found = drop_named(zone)  # before the warehouse: a wrong name is said at once
    _print_json(run_drop(found, _warehouse(warehouse_url)))


@scans.command("fixity")
def scans_fixity(warehouse_url: WarehouseUrl = None) -> None:
    """Re-verify the sha256 of every archived scan (exit 1 on a lost or damaged file)."""
    from tthc.scans.config import load_drops
    from tthc.scans.fixity import fixity_check

    _print_json(fixity_check(_warehouse(warehouse_url), load_drops()))


@scans.command("duplicates")
def scans_duplicates(batch_id: Annotated[Optional[int], typer.Argument(help="one batch (default: all)")] = None,
                     warehouse_url: WarehouseUrl = None) -> None:
    """The exact-duplicate report: files already archived under another name."""
    from tthc.warehouse.db import fetch_all

    where, params = ("WHERE batch_id = %s", (batch_id,)) if batch_id else ("", None)
    for row in fetch_all(_warehouse(warehouse_url), f"""
            SELECT batch_id, drop_zone, source_uri, original_source_uri, result_code
            FROM ops.scan_duplicate_report {where} ORDER BY batch_id, source_uri""", params):
        print("\t".join("" if v is None else str(v) for v in row))


@review.command("list")
def review_list(unit: Annotated[Optional[str], typer.Option(help="commune (5 digits) or district (3 digits) code")] = None,
                limit: Annotated[int, typer.Option(help="at most this many entries")] = 50,
                as_json: Annotated[bool, typer.Option("--json", help="everything, as JSON (page text included)")] = False,
                warehouse_url: WarehouseUrl = None) -> None:
    """Open entries, oldest first."""
    from tthc.scans.actions import print_review_list

    print_review_list(_warehouse(warehouse_url), unit, limit, as_json)


@review.command("show")
def review_show(review_id: Annotated[int, typer.Argument(help="the entry's number (#… in review list)")],
                warehouse_url: WarehouseUrl = None) -> None:
    """One entry: guessed fields, problems, page text."""
    from tthc.scans.actions import print_review_entry

    print_review_entry(_warehouse(warehouse_url), review_id)


@review.command("resolve")
def review_resolve(review_id: Annotated[int, typer.Argument(help="the entry's number")],
                   by: Annotated[str, typer.Option("--by", help="the official's name")],
                   fields: Annotated[Optional[list[str]], typer.Option(
                       "--set", metavar="FIELD=VALUE",
                       help="a corrected field (repeatable); FIELD= clears a misread field; dates dd/mm/yyyy")] = None,
                   warehouse_url: WarehouseUrl = None) -> None:
    """Correct fields and link the document like a confident scan."""
    from tthc.scans.actions import parse_fields
    from tthc.scans.review import resolve

    _print_json(resolve(_warehouse(warehouse_url), review_id, parse_fields(fields or []), by))


@review.command("reject")
def review_reject(review_id: Annotated[int, typer.Argument(help="the entry's number")],
                  reason: Annotated[str, typer.Option("--reason", help="why (e.g. không phải kết quả TTHC)")],
                  by: Annotated[str, typer.Option("--by", help="the official's name")],
                  warehouse_url: WarehouseUrl = None) -> None:
    """Not a result, or unreadable: the file goes to quarantine with the reason."""
    from tthc.scans.review import reject

    _print_json(reject(_warehouse(warehouse_url), review_id, by, reason))


# ------------------------------------------------------------------ progress

End = Annotated[dt.date, typer.Option("--end", parser=_day, metavar="DATE", help="the period's last day (dd/mm/yyyy or yyyy-mm-dd)")]
Out = Annotated[Optional[str], typer.Option("--out", help="reports folder or s3://bucket/prefix (default: "
                                                          "TTHC_REPORTS_DIR, else .local/reports)")]
NoPng = Annotated[bool, typer.Option("--no-png", help="skip the PNG and PDF (no Chromium)")]


@progress.command("snapshot")
def progress_snapshot(kind: Kind, end: End, report: Annotated[bool, typer.Option(help="also render the report")] = False,
                      out: Out = None, no_png: NoPng = False, warehouse_url: WarehouseUrl = None) -> None:
    """Take the progress snapshot of one period (what the snapshot DAG runs)."""
    from tthc.progress.actions import run
    from tthc.progress.snapshot import check_period

    check_period(kind, end)  # a wrong day is said before the warehouse is reached

    _print_json(run(_warehouse(warehouse_url), "snapshot", kind, [end], report=report, out=out, png=not no_png))


@progress.command("report")
def progress_report(kind: Kind, end: End, out: Out = None, no_png: NoPng = False,
                    plan: Annotated[Optional[str], typer.Option(help="only this plan (code of seeds/plans/*.yaml)")] = None,
                    unit: Annotated[Optional[str], typer.Option(help="a unit's own copy: only its figures")] = None,
                    warehouse_url: WarehouseUrl = None) -> None:
    """Render the report for officials of one period (HTML, XLSX, PNG, PDF)."""
    from tthc.progress.actions import run
    from tthc.progress.snapshot import check_period

    check_period(kind, end)  # a wrong day is said before the warehouse is reached

    _print_json(run(_warehouse(warehouse_url), "report", kind, [end], report=True, out=out, png=not no_png,
                    plan=plan, unit=unit))


@progress.command("backfill")
def progress_backfill(kind: Kind,
                      start: Annotated[dt.date, typer.Option("--from", parser=_day, metavar="DATE", help="first day (dd/mm/yyyy)")],
                      stop: Annotated[dt.date, typer.Option("--to", parser=_day, metavar="DATE", help="last day (dd/mm/yyyy)")],
                      report: Annotated[bool, typer.Option(help="also render each period's report")] = False,
                      out: Out = None, no_png: NoPng = False, warehouse_url: WarehouseUrl = None) -> None:
    """Snapshots of every period between two days (and their reports)."""
    from tthc.progress.actions import periods, run

    _print_json(run(_warehouse(warehouse_url), "backfill", kind, periods(kind, start, stop), report=report, out=out,
                    png=not no_png))


@progress.command("deliver")
def progress_deliver(kind: Kind, end: End,
                     force: Annotated[bool, typer.Option(help="send again to recipients already served")] = False,
                     warehouse_url: WarehouseUrl = None) -> None:
    """E-mail the period's reports to their recipients (config/reports.yaml)."""
    from tthc.progress.delivery import deliver_reports
    from tthc.progress.snapshot import check_period

    check_period(kind, end)  # a wrong day is said before the warehouse is reached
    _print_json(deliver_reports(_warehouse(warehouse_url), kind, end, force=force, run_id="cli:deliver"))


@progress.command("load-inputs")
def progress_load_inputs(folder: Annotated[Optional[Path], typer.Option(
        "--dir", help="folder with dossiers.csv and one_stop_offices.csv (default: the files of config/progress_inputs.yaml)")] = None,
        warehouse_url: WarehouseUrl = None) -> None:
    """Load the dossier and one-stop-office lists the indicators need."""
    from tthc.progress.actions import load_inputs

    _print_json(load_inputs(_warehouse(warehouse_url), folder))


# ------------------------------------------------------------------ alerts

Source = Annotated[Optional[str], typer.Option(help="the source (sources/*.yaml name, or scan.<zone>)")]
DagId = Annotated[Optional[str], typer.Option("--dag-id", help="the DAG id")]
AlertKind = Annotated[str, typer.Option(help="alert kind: task_failure, data_quality, stale_source, late_run, "
                                             "unit_behind, …")]
Unit = Annotated[Optional[str], typer.Option(help="unit code (commune or district)")]


@alerts.command("routes")
def alerts_routes(source: Source = None, dag_id: DagId = None, kind: AlertKind = "task_failure",
                  unit: Unit = None) -> None:
    """Who would receive an alert about this (exit 1 when nobody would)."""
    from tthc.alerts.actions import show_routes

    show_routes(source=source, dag_id=dag_id, kind=kind, unit=unit)


@alerts.command("send-test")
def alerts_send_test(source: Source = None, dag_id: DagId = None, kind: AlertKind = "task_failure",
                     unit: Unit = None) -> None:
    """Send a test alert through the configured routes."""
    from tthc.alerts.actions import send_test

    send_test(source=source, dag_id=dag_id, kind=kind, unit=unit)


@alerts.command("stale")
def alerts_stale(warehouse_url: WarehouseUrl = None) -> None:
    """Run the stale-source check now (sends its alerts)."""
    from tthc.alerts.config import load_config
    from tthc.alerts.monitoring import alert_stale_sources

    print(alert_stale_sources(_warehouse(warehouse_url), load_config()))


@alerts.command("digests")
def alerts_digests(warehouse_url: WarehouseUrl = None) -> None:
    """Send the digests of ended grouping windows."""
    from tthc.alerts.config import load_config
    from tthc.alerts.dispatch import flush_digests

    print(f"{flush_digests(_warehouse(warehouse_url), load_config())} digest(s) sent")


@alerts.command("receivers")
def alerts_receivers() -> None:
    """Local SMTP and HTTP receivers that print what arrives (to try the channels)."""
    from tthc.alerts.receivers import main as run

    run()


# ------------------------------------------------------------------ warehouse


@warehouse.command("url")
def warehouse_url_cmd(warehouse_url: WarehouseUrl = None) -> None:
    """Print the warehouse URL (starts the embedded server if needed)."""
    print(_warehouse(warehouse_url))


@warehouse.command("migrate")
def warehouse_migrate(warehouse_url: WarehouseUrl = None) -> None:
    """Apply pending SQL migrations from sql/."""
    from tthc.warehouse.migrate import migrate

    applied = migrate(_warehouse(warehouse_url))
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'none (already current)'}")


@warehouse.command("load-reference")
def warehouse_load_reference(seeds: Annotated[Optional[str], typer.Option(
        help="seed folder (default: TTHC_SEEDS_DIR or ./seeds)")] = None, warehouse_url: WarehouseUrl = None) -> None:
    """Load units, crosswalk, agencies, procedures and plans from the seeds."""
    from tthc.reference.load import load_reference

    print(json.dumps(load_reference(_warehouse(warehouse_url), Path(seeds) if seeds else None), ensure_ascii=False))


@warehouse.command("load-inventory")
def warehouse_load_inventory(path: Annotated[str, typer.Argument(help="the CSV file (columns: see README)")],
                             warehouse_url: WarehouseUrl = None) -> None:
    """Load a declared paper-inventory CSV."""
    from tthc.inventory import load_inventory

    print(json.dumps(load_inventory(Path(path), _warehouse(warehouse_url)), ensure_ascii=False, default=str))


@warehouse.command("summary")
def warehouse_summary(warehouse_url: WarehouseUrl = None) -> None:
    """Print what the warehouse holds."""
    from tthc.summary import render_summary

    print(render_summary(_warehouse(warehouse_url)))


@warehouse.command("embedded")
def warehouse_embedded(action: Annotated[str, typer.Argument(help="start or stop", metavar="ACTION",
                                                        parser=_choice("start", "stop"))]) -> None:
    """Start or stop the embedded PostgreSQL under .local/pgdata."""
    from tthc.warehouse.server import embedded_data_dir, embedded_url, start_embedded_server

    if action == "start":
        print(embedded_url())
        return
    data_dir = embedded_data_dir()
    if not (data_dir / "postmaster.pid").exists():
        print(f"no embedded server running in {data_dir}")
        return
    server = start_embedded_server(data_dir)
    server.cleanup_mode = "stop"
    server.cleanup()
    print(f"stopped the embedded server in {data_dir}")


@warehouse.command("rotate-holder-key")
def warehouse_rotate_holder_key(
        new_secret_file: Annotated[Path, typer.Option(help="file whose first line is the new secret "
                                                           "(mode 0600, at least 16 characters)")],
        warehouse_url: WarehouseUrl = None) -> None:
    """Recompute the holder matching keys in core under a new secret, in one transaction
    (holder_ref, what analysts see, does not change); then set TTHC_HOLDER_KEY_SECRET to it."""
    from tthc.warehouse.holder_keys import read_secret_file, rotate_holder_key

    report = rotate_holder_key(_warehouse(warehouse_url), read_secret_file(new_secret_file))
    print(json.dumps(report, ensure_ascii=False))
    print("Set TTHC_HOLDER_KEY_SECRET to the new secret before the next load.", file=sys.stderr)


# ------------------------------------------------------------------ config


@config.command("check")
def config_check() -> None:
    """Check every source, drop zone and the alert routes; one line per broken file (exit 1)."""
    from tthc.config.check import config_problems

    problems = config_problems()
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        raise typer.Exit(1)
    print("configuration OK")


@config.command("schema")
def config_schema(out: Annotated[Optional[Path], typer.Option(help="folder (default: docs/schemas)")] = None) -> None:
    """Write the JSON Schemas of the YAML files (for editors; docs/config.md)."""
    from tthc.config.schema import write_schemas

    for path in write_schemas(out):
        print(path)


# ------------------------------------------------------------------ demo, app


@app.command("demo")
def demo(seed: Annotated[Optional[int], typer.Option(help="random seed (default TTHC_DEMO_SEED, 42)")] = None,
         size: Annotated[Optional[int], typer.Option(help="true results (default TTHC_DEMO_SIZE, 1000)")] = None) -> None:
    """Set up the warehouse, generate data, run every DAG through Airflow, summarize."""
    from tthc.settings import settings
    from tthc_dev.demo import run_demo

    code = run_demo(seed=settings().demo_seed if seed is None else seed,
                    size=settings().demo_size if size is None else size)
    if code:
        raise typer.Exit(code)


@app.command("generate")
def generate(out: Annotated[Optional[Path], typer.Option(help="folder (default TTHC_DEMO_DATA_DIR)")] = None,
             seed: Annotated[Optional[int], typer.Option(help="random seed (default TTHC_DEMO_SEED, 42)")] = None,
             size: Annotated[Optional[int], typer.Option(help="true results (default TTHC_DEMO_SIZE; up to 10M)")] = None,
             permits_url: Annotated[Optional[str], typer.Option(
                 help="SQLAlchemy URL for the construction-permit database (PostgreSQL or MariaDB)")] = None,
             scans: Annotated[Optional[int], typer.Option(
                 help="number of scan-drop files (default scales with --size)")] = None) -> None:
    """Write the deterministic demo dataset (tthc_dev.demo_data)."""
    from tthc.settings import settings
    from tthc_dev.demo_data import generate as generate_demo_data

    s = settings()
    summary = generate_demo_data(Path(out or s.demo_data_dir), seed=s.demo_seed if seed is None else seed,
                                 size=s.demo_size if size is None else size, permits_url=permits_url, scans=scans)
    print(json.dumps(summary.get("counts", summary), ensure_ascii=False, indent=2, default=str))


@airflow.command("up")
def airflow_up(port: Annotated[int, typer.Option(help="port of the UI on 127.0.0.1")] = 8080) -> None:
    """Start api-server, scheduler and dag-processor (LocalExecutor) until Ctrl-C; prints the URL and login."""
    from tthc_dev.airflow_local import up

    code = up(port)
    if code:
        raise typer.Exit(code)


@app.command("serve")
def serve(host: Annotated[str, typer.Option(help="interface to listen on (0.0.0.0 only behind TLS)")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="TCP port")] = 8090,
          workers: Annotated[int, typer.Option(help="worker processes (on Linux each with its own listening socket)")] = 1,
          warehouse_url: WarehouseUrl = None) -> None:
    """Run the lookup/statistics application and its API (docs/app.md)."""
    import secrets

    import uvicorn

    from tthc.app.main import create_app
    from tthc.app.workers import APP, reuseport_available, supervise
    from tthc.settings import Settings

    if workers == 1:
        uvicorn.run(create_app(warehouse_url=_warehouse(warehouse_url)), host=host, port=port, log_level="info")
        return
    # Worker processes share one database login and one token secret (through the environment).
    from tthc.app.db import provision_login

    os.environ.setdefault("TTHC_APP_SECRET", secrets.token_urlsafe(48))
    if not Settings.from_env().app.database_url:
        os.environ["TTHC_APP_DATABASE_URL"] = provision_login(_warehouse(warehouse_url), os.environ["TTHC_APP_SECRET"])
    if reuseport_available():   # one listening socket per worker (tthc.app.workers)
        code = supervise(host, port, workers)
        if code:
            raise typer.Exit(code)
        return
    uvicorn.run(APP, factory=True, workers=workers, host=host, port=port, log_level="info")


@app.command("accounts", context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                                           "help_option_names": []})
def accounts(ctx: typer.Context) -> None:
    """Accounts and API keys of the application: add-user, disable-user, create-key, revoke-key,
    demo-accounts (`tthc accounts --help`)."""
    from tthc.app.admin import main as admin

    code = admin(list(ctx.args))
    if code:
        raise typer.Exit(code)


# ------------------------------------------------------------------ entry point


# Flat names kept for scripts and compose: rewritten to the grouped command they stand for.
ALIASES = {
    "migrate": ["warehouse", "migrate"], "load-reference": ["warehouse", "load-reference"],
    "load-inventory": ["warehouse", "load-inventory"], "summary": ["warehouse", "summary"],
    "warehouse-url": ["warehouse", "url"], "embedded": ["warehouse", "embedded"],
    "rotate-holder-key": ["warehouse", "rotate-holder-key"], "source": ["sources"],
    "check-signed-copies": ["sources", "check-signed-copies"],
}


def _expand_alias(argv: list[str]) -> list[str]:
    i = next((n for n, a in enumerate(argv) if not a.startswith("-")), None)
    if i is None or argv[i] not in ALIASES:
        return argv
    return argv[:i] + ALIASES[argv[i]] + argv[i + 1:]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (errors: one line on stderr)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    argv = _expand_alias(argv)
    try:
        if _needs_holder_secret(argv):
            from tthc.settings import require_holder_key_secret

            require_holder_key_secret()
        # Without standalone mode a typer.Exit(n) inside a command comes back as the return value.
        return app(argv, prog_name="tthc", standalone_mode=False) or 0
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        print("tthc: aborted", file=sys.stderr)
        return 130
    except typer.TyperException as exc:  # a wrong command line: one line, and where to look
        where = _command_path(argv)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        message = message.rstrip(".")
        print(f"{where}: error: {message[:1].lower()}{message[1:]} (see {where} --help)", file=sys.stderr)
        return getattr(exc, "exit_code", 2)
    except Exception as exc:  # noqa: BLE001 - one clear line for the operator; --debug shows the traceback
        if debug or _state["debug"]:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{_command_path(argv)}: error: {message}", file=sys.stderr)
        return 1


# Commands that never match holders; every other one refuses to start without TTHC_HOLDER_KEY_SECRET.
# The demo makes its own (.local/holder_key_secret); rotation reads the new one from its file; the
# application shows holder_ref only, so it runs without the key (least privilege).
WITHOUT_HOLDER_SECRET = frozenset({"demo", "generate", "serve", "airflow", "config", "accounts", "warehouse url",
                                   "warehouse embedded", "warehouse rotate-holder-key"})


def _needs_holder_secret(argv: list[str]) -> bool:
    if any(a in ("--help", "-h") for a in argv):
        return False
    words = _command_path(argv).split()[1:]
    return bool(words) and not ({words[0], " ".join(words[:2])} & WITHOUT_HOLDER_SECRET)


def _command_path(argv: list[str]) -> str:
    """'tthc scans run' of ['scans', 'run', 'x', '--opt', …]: the words that name groups and commands."""
    command = typer.main.get_command(app)
    path = ["tthc"]
    for word in argv:
        if word.startswith("-"):
            continue
        sub = getattr(command, "commands", {}).get(word)
        if sub is None:
            break
        path.append(word)
        command = sub
    return " ".join(path)


if __name__ == "__main__":
    sys.exit(main())
