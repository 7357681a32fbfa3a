"""Stream a source's rows for a data interval, in chunks with bounded memory.

Rows come out as dicts of column -> str | None (the values as the source holds them,
dates as ISO strings), ready to land in raw.source_row.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import create_engine, text

from tthc.sources.config import SourceConfig, SourceConfigError
from tthc.settings import LOCAL_TZ

log = logging.getLogger(__name__)


def _as_text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bound(value: dt.datetime | None, fmt: str) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(LOCAL_TZ)
    return value.strftime(fmt)


def source_url(cfg: SourceConfig) -> str:
    url = cfg.connection.get("url")
    if url:
        return url
    conn_id = cfg.connection.get("conn_id")
    if conn_id:
        from tthc.warehouse.server import connection_url  # Airflow connection, resolved only when asked

        return connection_url(conn_id)
    raise SourceConfigError(f"{cfg.path.name}: connection needs url or conn_id")


def extract(cfg: SourceConfig, start: dt.datetime | None = None, end: dt.datetime | None = None) -> Iterator[list[dict]]:
    """Chunks of rows changed in [start, end) by the incremental column; all rows without one."""
    if cfg.engine == "sqlalchemy":
        yield from _extract_sql(cfg, start, end)
    elif cfg.engine == "csv":
        yield from _chunked(_filter(cfg, _read_csv(cfg), start, end), cfg.chunk_size)
    elif cfg.engine == "xlsx":
        yield from _chunked(_filter(cfg, _read_xlsx(cfg), start, end), cfg.chunk_size)
    else:  # pragma: no cover - config validation prevents it
        raise SourceConfigError(f"unknown engine {cfg.engine}")


def _extract_sql(cfg: SourceConfig, start, end) -> Iterator[list[dict]]:
    # Without an interval, a query written with :start/:end reads everything.
    params = {"start": _bound(start or dt.datetime(1, 1, 1), cfg.incremental_format),
              "end": _bound(end or dt.datetime(9999, 12, 31, 23, 59, 59), cfg.incremental_format)}
    if cfg.query:
        sql = cfg.query
    else:
        where = ""
        if cfg.incremental_column and end is not None:
            col = cfg.incremental_column
            # The first run (no start) catches up on all history before the interval end, and
            # loads rows without a timestamp once; later runs read just their window.
            where = (f" WHERE {col} >= :start AND {col} < :end" if start is not None
                     else f" WHERE ({col} < :end OR {col} IS NULL)")
        sql = f"SELECT * FROM {cfg.table}{where} ORDER BY {', '.join(cfg.primary_key)}"
    engine = create_engine(source_url(cfg))
    try:
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=cfg.chunk_size).execute(
                text(sql), {k: v for k, v in params.items() if f":{k}" in sql})
            for partition in result.mappings().partitions(cfg.chunk_size):
                yield [{k: _as_text(v) for k, v in row.items()} for row in partition]
    finally:
        engine.dispose()


def _path(cfg: SourceConfig) -> Path:
    path = Path(cfg.connection.get("path") or cfg.connection.get("url", ""))
    if not path.exists():
        raise FileNotFoundError(f"source {cfg.name}: file {path} does not exist")
    return path


def _read_csv(cfg: SourceConfig) -> Iterator[dict]:
    opts = cfg.csv_options
    with _path(cfg).open(encoding=opts.get("encoding", "utf-8-sig"), newline="") as fh:
        for row in csv.DictReader(fh, delimiter=opts.get("delimiter", ",")):
            yield {k.strip(): (v if v != "" else None) for k, v in row.items() if k is not None}


def _read_xlsx(cfg: SourceConfig) -> Iterator[dict]:
    from openpyxl import load_workbook

    wb = load_workbook(_path(cfg), read_only=True, data_only=True)
    try:
        ws = wb[cfg.csv_options["sheet"]] if cfg.csv_options.get("sheet") else wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else f"col{i}" for i, h in enumerate(next(rows))]
        for values in rows:
            if all(v is None for v in values):
                continue
            yield {h: _as_text(v) for h, v in zip(header, values)}
    finally:
        wb.close()


def _filter(cfg: SourceConfig, rows: Iterator[dict], start, end) -> Iterator[dict]:
    """Same window as the SQL engines: [start, end), or everything before end on the first run."""
    if not cfg.incremental_column or end is None:
        yield from rows
        return
    lo = _bound(start, cfg.incremental_format) if start is not None else None
    hi = _bound(end, cfg.incremental_format)
    for row in rows:
        value = row.get(cfg.incremental_column)
        if value is None:
            if lo is None:
                yield row
        elif (lo is None or lo <= value) and value < hi:
            yield row


def _chunked(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
