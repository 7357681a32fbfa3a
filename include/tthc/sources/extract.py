"""Stream a source's rows for a data interval, in chunks with bounded memory.

Rows come out as dicts of column -> str | None (the values as the source holds them,
dates as ISO strings), ready to land in raw.source_row.

One bad row never stops a source: a record that cannot be read cleanly (invalid bytes for the
declared encoding, a NUL byte, a value longer than TTHC_MAX_FIELD_CHARS, a broken CSV record, an
XLSX merged cell or a formula without a cached value) is still yielded, with the reasons under
EXTRACT_PROBLEMS; cleaning turns them into clean problems, and validation quarantines the row with
its payload. Only what makes the whole source unreadable raises SourceUnreadable, one line naming
the source, the file or table, and what is missing.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import logging
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import iterparse

from tthc.sources.config import SourceConfig, SourceConfigError
from tthc.settings import LOCAL_TZ

log = logging.getLogger(__name__)

# Reserved keys of a raw row: why extraction could not read it cleanly (a list of reasons naming the
# file, the row and the column), and where it stands (its source key when it has no primary key).
# A row carrying them is always quarantined, with the payload as read.
EXTRACT_PROBLEMS = "_extract_problems"
EXTRACT_AT = "_extract_at"
# A CSV record longer than this many times the field limit is cut by the CSV reader itself.
_CSV_HARD_FACTOR = 64
_DELIMITERS = (",", ";", "\t", "|")


class SourceUnreadable(RuntimeError):
    """The source as a whole cannot be read: the task fails with this one-line message."""


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


def _field_limit() -> int:
    from tthc.settings import Settings

    return Settings.from_env().max_field_chars


def expected_columns(cfg: SourceConfig) -> list[str]:
    """Every column of the source the YAML names: each must exist, or the source cannot be read."""
    cols = [c for c in cfg.primary_key]
    cols += [rule.column for rule in cfg.mapping.values() if rule.column]
    if cfg.incremental_column:
        cols.append(cfg.incremental_column)
    cols += list(cfg.encoded_columns)
    if cfg.agency_rule == "column" and cfg.agency_value:
        cols.append(cfg.agency_value)
    return list(dict.fromkeys(cols))


def _check_columns(cfg: SourceConfig, found: list[str], where: str, delimited: bool = False) -> None:
    expected = expected_columns(cfg)
    missing = [c for c in expected if c not in found]
    if not missing:
        return
    if delimited and len(found) == 1 and len(expected) > 1:
        delimiter = cfg.csv_options.get("delimiter", ",")
        guess = max(_DELIMITERS, key=found[0].count)
        hint = (f"; it seems to use {guess!r}: set csv.delimiter in {cfg.path.name}"
                if guess != delimiter and found[0].count(guess) else "")
        raise SourceUnreadable(f"source {cfg.name}: {where} has a single column {found[0][:200]!r} where "
                               f"{len(expected)} are mapped: the delimiter is not {delimiter!r}{hint}")
    raise SourceUnreadable(_missing(cfg, missing, found, where))


def _missing(cfg: SourceConfig, missing: list[str], found: list[str], where: str) -> str:
    shown = ", ".join(repr(c) for c in found[:40]) + (" …" if len(found) > 40 else "")
    return (f"source {cfg.name}: column {missing[0]!r} is not in {where}"
            + (f" (nor {', '.join(repr(c) for c in missing[1:])})" if missing[1:] else "")
            + f"; columns found: {shown}")


def _value_problems(value: str, column: str, where: str, limit: int) -> tuple[str, list[str]]:
    """(value safe to store, problems): NUL bytes escaped as \\x00, an over-long value cut to the limit."""
    problems = []
    if "\x00" in value:
        problems.append(f"{where}, column {column!r}: NUL byte at position {value.index(chr(0))} "
                        "(kept escaped as \\x00)")
        value = value.replace("\x00", "\\x00")
    if len(value) > limit:
        digest = hashlib.sha256(value.encode("utf-8", "backslashreplace")).hexdigest()
        problems.append(f"{where}, column {column!r}: value of {len(value)} characters is longer than the "
                        f"limit of {limit} (TTHC_MAX_FIELD_CHARS); kept its first {limit}, sha256 {digest}")
        value = value[:limit]
    return value, problems


def _row(header: list[str], values: list, where: str, limit: int, problems: list[str]) -> dict:
    row: dict = {}
    for i, value in enumerate(values):
        column = header[i] if i < len(header) else f"extra{i - len(header) + 1}"
        text = _as_text(value)
        if text is not None:
            text, found = _value_problems(text, column, where, limit)
            problems.extend(found)
        row[column] = text if text != "" else None
    for column in header[len(values):]:
        row.setdefault(column, None)
    if problems:
        row[EXTRACT_PROBLEMS] = problems
        row[EXTRACT_AT] = where
    return row


def source_key(pk_cols: tuple[str, ...], row: dict) -> str:
    """The row's primary key; where it stands in its file when extraction could not read the key."""
    values = [row.get(c) for c in pk_cols]
    if EXTRACT_AT in row and any(v is None for v in values):
        return row[EXTRACT_AT]
    return "|".join(str(v) for v in values)


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


# --- SQL sources ---------------------------------------------------------------------------------

_TABLE = re.compile(r"[^\s().;,'\"`]+(?: [^\s().;,'\"`]+)*(?:\.[^\s().;,'\"`]+(?: [^\s().;,'\"`]+)*)?")


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


def _match_name(wanted: str, names: list[str]) -> str | None:
    """The source's own spelling of a name from the YAML: exact, else the one case-insensitive match."""
    if wanted in names:
        return wanted
    folded = [n for n in names if n.lower() == wanted.lower()]
    return folded[0] if len(folded) == 1 else None


def _read_only(conn) -> None:
    """A read-only transaction where the engine has one: a query: from the YAML can read, never write."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    elif dialect in ("mysql", "mariadb"):
        conn.exec_driver_sql("START TRANSACTION READ ONLY")
    elif dialect == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")


def _table_statement(cfg: SourceConfig, conn, start, end):
    """SELECT * FROM the YAML's table, identifiers quoted by SQLAlchemy, never pasted into the SQL."""
    import sqlalchemy as sa

    if not _TABLE.fullmatch(cfg.table or ""):
        raise SourceUnreadable(f"source {cfg.name}: table: {cfg.table!r} in {cfg.path.name} is not a table name "
                               "([schema.]table); SQL belongs in query:")
    schema, _, name = cfg.table.rpartition(".")
    inspector = sa.inspect(conn)
    table = _match_name(name, inspector.get_table_names(schema=schema or None)
                        + inspector.get_view_names(schema=schema or None))
    if table is None:
        raise SourceUnreadable(f"source {cfg.name}: table {cfg.table!r} (table: in {cfg.path.name}) does not exist "
                               f"in {conn.engine.url.render_as_string(hide_password=True)}")
    found = [c["name"] for c in inspector.get_columns(table, schema=schema or None)]
    columns = {c: _match_name(c, found) for c in expected_columns(cfg)}
    missing = [c for c, real in columns.items() if real is None]
    if missing:
        raise SourceUnreadable(_missing(cfg, missing, found, f"table {cfg.table!r}"))
    col = {c: sa.column(real) for c, real in columns.items()}
    stmt = sa.select(sa.literal_column("*")).select_from(sa.table(table, schema=schema or None))
    if cfg.incremental_column and end is not None:
        inc = col[cfg.incremental_column]
        # The first run (no start) catches up on all history before the interval end, and
        # loads rows without a timestamp once; later runs read just their window.
        stmt = stmt.where(sa.and_(inc >= sa.bindparam("start"), inc < sa.bindparam("end")) if start is not None
                          else sa.or_(inc < sa.bindparam("end"), inc.is_(None)))
    return stmt.order_by(*(col[c] for c in cfg.primary_key)), {c: real for c, real in columns.items() if c != real}


def _extract_sql(cfg: SourceConfig, start, end) -> Iterator[list[dict]]:
    import sqlalchemy as sa

    # Without an interval, a query written with :start/:end reads everything.
    params = {"start": _bound(start or dt.datetime(1, 1, 1), cfg.incremental_format),
              "end": _bound(end or dt.datetime(9999, 12, 31, 23, 59, 59), cfg.incremental_format)}
    url = source_url(cfg)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise SourceUnreadable(f"source {cfg.name}: connection URL in {cfg.path.name} is not usable: {exc}") from exc
    where = engine.url.render_as_string(hide_password=True)
    try:
        try:
            conn = engine.connect()
        except sa.exc.DBAPIError as exc:
            raise SourceUnreadable(f"source {cfg.name}: cannot connect to {where}: {_first_line(exc)}") from exc
        with conn:
            _read_only(conn)
            renamed: dict[str, str] = {}
            if cfg.query:
                stmt = sa.text(cfg.query)
                bound = {k: v for k, v in params.items() if f":{k}" in cfg.query}
            else:
                stmt, renamed = _table_statement(cfg, conn, start, end)
                bound = {k: v for k, v in params.items() if k in stmt.compile().params}
            try:
                result = conn.execution_options(stream_results=True, yield_per=cfg.chunk_size).execute(stmt, bound)
            except sa.exc.DBAPIError as exc:
                what = "query: in" if cfg.query else f"reading table {cfg.table!r} of"
                raise SourceUnreadable(f"source {cfg.name}: {what} {cfg.path.name} failed on {where}: "
                                       f"{_first_line(exc)}") from exc
            keys = list(result.keys())
            if not renamed:
                try:
                    _check_columns(cfg, keys, f"the result of query: in {cfg.path.name}" if cfg.query
                                   else f"table {cfg.table!r}")
                except SourceUnreadable:
                    result.close()
                    raise
            back = {real: c for c, real in renamed.items()}
            limit = _field_limit()
            for partition in result.mappings().partitions(cfg.chunk_size):
                yield [_sql_row(cfg, {back.get(k, k): _as_text(v) for k, v in row.items()}, limit)
                       for row in partition]
    finally:
        engine.dispose()


def _sql_row(cfg: SourceConfig, row: dict, limit: int) -> dict:
    """A database row as text; a NUL byte or an over-long value (text columns of MariaDB and SQLite
    may hold both) spoils the row, not the batch."""
    if not any(v is not None and ("\x00" in v or len(v) > limit) for v in row.values()):
        return row
    where = f"{cfg.table or 'query'} key {'|'.join(str(row.get(c)) for c in cfg.primary_key)}"
    return _row(list(row), list(row.values()), where, limit, [])


# --- file sources --------------------------------------------------------------------------------

def _path(cfg: SourceConfig) -> Path:
    path = Path(cfg.connection.get("path") or cfg.connection.get("url", ""))
    if not path.is_file():
        raise SourceUnreadable(f"source {cfg.name}: file {path} does not exist (connection.path in {cfg.path.name})")
    return path


def _read_csv(cfg: SourceConfig) -> Iterator[dict]:
    """Records of a CSV file, each line decoded on its own: bytes invalid in the declared encoding
    spoil one record (kept escaped as \\xNN, quarantined naming the byte offset), not the file.

    The encoding must be ASCII-compatible (UTF-8, cp1258, latin-1 …): lines are split on b'\\n'."""
    opts = cfg.csv_options
    encoding = opts.get("encoding", "utf-8-sig")
    delimiter = opts.get("delimiter", ",")
    limit = _field_limit()
    path = _path(cfg)
    name = path.name
    try:
        codec = codecs.lookup(encoding).name
    except LookupError as exc:
        raise SourceUnreadable(f"source {cfg.name}: csv.encoding {encoding!r} in {cfg.path.name} is unknown") from exc
    bom = codec == "utf-8-sig"
    codec = "utf-8" if bom else codec
    if "a,;\t|\n".encode(codec, "replace") != b"a,;\t|\n":
        raise SourceUnreadable(f"source {cfg.name}: csv.encoding {encoding!r} in {cfg.path.name} is not "
                               "ASCII-compatible (lines are read one by one); convert the file to UTF-8")
    bad_lines: dict[int, str] = {}
    record: list[str] = []

    def lines() -> Iterator[str]:
        offset = 0
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, 1):
                if number == 1 and bom and raw.startswith(codecs.BOM_UTF8):
                    offset, raw = len(codecs.BOM_UTF8), raw[len(codecs.BOM_UTF8):]
                try:
                    text = raw.decode(codec)
                except UnicodeDecodeError as exc:
                    text = raw.decode(codec, errors="backslashreplace")
                    bad_lines[number] = (f"{name} line {number}: byte {raw[exc.start]:#04x} at byte offset "
                                         f"{offset + exc.start} is not valid {codec} (kept escaped as \\x..)")
                offset += len(raw)
                record.append(text)
                yield text

    previous = csv.field_size_limit()
    csv.field_size_limit(limit * _CSV_HARD_FACTOR)
    try:
        reader = csv.reader(lines(), delimiter=delimiter)
        try:
            header_values = next(reader)
        except StopIteration:
            raise SourceUnreadable(f"source {cfg.name}: file {path} is empty: no header line") from None
        except csv.Error as exc:
            raise SourceUnreadable(f"source {cfg.name}: the header of {path} cannot be read: {exc}") from exc
        if 1 in bad_lines:
            raise SourceUnreadable(f"source {cfg.name}: the header of {path} is not valid {codec}: "
                                   f"{bad_lines[1]} (set csv.encoding in {cfg.path.name})")
        header = [h.strip() for h in header_values]
        _check_columns(cfg, header, f"file {path}", delimited=True)
        last = reader.line_num
        while True:
            record.clear()
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                first = last + 1
                last = reader.line_num
                text = "".join(record)[:limit].replace("\x00", "\\x00")
                yield {"_record": text, EXTRACT_AT: f"{name} line {first}", EXTRACT_PROBLEMS: [
                    f"{name} line {first}: the record cannot be read as CSV ({exc}; longer than "
                    f"{limit * _CSV_HARD_FACTOR} characters or broken quoting); kept its first {limit} characters, "
                    "NUL bytes escaped as \\x00"]}
                continue
            first, last = last + 1, reader.line_num
            if not values:
                continue  # a blank line is no record
            where = f"{name} line {first}"
            problems = [bad_lines.pop(n) for n in range(first, last + 1) if n in bad_lines]
            if len(values) != len(header):
                problems.append(f"{where}: {len(values)} fields where the header has {len(header)}")
            yield _row(header, values, where, limit, problems)
    finally:
        csv.field_size_limit(previous)


def _merged_ranges(path: Path, worksheet_path: str) -> list[tuple[int, int, int, int, str]]:
    """(min_row, min_col, max_row, max_col, 'A2:A4') of every merged cell, read from the sheet's XML
    (read-only worksheets do not expose them; the sheet is streamed, not loaded)."""
    from openpyxl.utils.cell import range_boundaries

    ranges = []
    with zipfile.ZipFile(path) as archive, archive.open(worksheet_path) as fh:
        for _, elem in iterparse(fh):
            if elem.tag.endswith("}mergeCell"):
                ref = elem.get("ref")
                min_col, min_row, max_col, max_row = range_boundaries(ref)
                ranges.append((min_row, min_col, max_row, max_col, ref))
            elem.clear()
    return ranges


def _read_xlsx(cfg: SourceConfig) -> Iterator[dict]:
    from openpyxl import load_workbook
    from openpyxl.utils import get_column_letter

    path = _path(cfg)
    name, limit = path.name, _field_limit()
    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        formulas = load_workbook(path, read_only=True, data_only=False)
    except Exception as exc:  # noqa: BLE001 - zip, XML and openpyxl errors alike: the file is unreadable
        raise SourceUnreadable(f"source {cfg.name}: file {path} is not a readable XLSX workbook: "
                               f"{type(exc).__name__}: {exc}") from exc
    try:
        sheet = cfg.csv_options.get("sheet")
        if sheet and sheet not in wb.sheetnames:
            raise SourceUnreadable(f"source {cfg.name}: sheet {sheet!r} is not in {path}; sheets found: {wb.sheetnames}")
        ws = wb[sheet] if sheet else wb.worksheets[0]
        fs = formulas[ws.title]
        merged = _merged_ranges(path, ws._worksheet_path)
        rows = zip(ws.iter_rows(values_only=True), fs.iter_rows(values_only=True))
        try:
            first, _ = next(rows)
        except StopIteration:
            raise SourceUnreadable(f"source {cfg.name}: sheet {ws.title!r} of {path} is empty: no header row") from None
        header = [str(h).strip() if h is not None else f"col{i}" for i, h in enumerate(first)]
        _check_columns(cfg, header, f"file {path}")
        for number, (values, written) in enumerate(rows, 2):
            if all(v is None for v in values) and all(v is None for v in written):
                continue
            where = f"{name} row {number}"
            problems = []
            for i, (value, formula) in enumerate(zip(values, written)):
                if value is None and isinstance(formula, str) and formula.startswith("="):
                    column = header[i] if i < len(header) else get_column_letter(i + 1)
                    problems.append(f"{where}, column {column!r}: formula {formula[:200]!r} without a cached value "
                                    "(open and save the file in a spreadsheet program to compute it)")
            for min_row, min_col, max_row, max_col, ref in merged:
                if min_row <= number <= max_row:
                    for col in range(min_col, max_col + 1):
                        if (number, col) != (min_row, min_col) and col <= len(header):
                            problems.append(f"{where}, column {header[col - 1]!r}: merged cell {ref}; its value "
                                            f"stands in row {min_row} only (unmerge and fill in every row)")
            yield _row(header, list(values), where, limit, problems)
    finally:
        wb.close()
        formulas.close()


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
