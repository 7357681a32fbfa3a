"""Reliability probe of the legacy-source load: bad files and values fed to real sources.

Builds a corpus of CSV and XLSX files (a 1 MB field, a NUL byte, invalid UTF-8, a CCCD with '²',
merged cells, formulas without cached values, SQL-like text, extra fields …) and of sources that are
unreadable as a whole (a missing column, the wrong delimiter, a missing or empty file, a corrupt
workbook, a missing table, a subquery as table, an unreachable database). Each row-level probe runs
the real pipeline (tthc.sources.pipeline.run_batch) into a throwaway warehouse twice, then checks:

* every row of the file is loaded or quarantined (rows lost = rows in the file − loaded − quarantined);
* the bad row is quarantined with a reason naming the file, the row and the column;
* the second run adds nothing (rows duplicated = raw, lineage or quarantine rows added by it);
* no batch is left 'running'.

Each source-wide probe must fail with one SourceUnreadable line naming what is missing, and leave
its batch 'failed'. Any other exception counts as a crash. Prints a JSON summary:

    .venv/bin/python tools/probe_sources.py            # needs PostgreSQL (TTHC_PROBE_PG_ADMIN_URL)

Exit status 1 when a row is lost or duplicated, a probe crashed or a check failed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ["ma", "so", "ngay", "ten", "cmnd", "gioi", "xa", "sua"]
UNITS = ["29902", "29905", "29908", "29911", "29914"]
GOOD_ROWS = 4
MAPPING = """\
mapping:
  document_type: {constant: BLR}
  doc_number: so
  issue_date: {column: ngay, parse: date}
  holder_name: ten
  holder_id: cmnd
  holder_gender: gioi
  unit_code: xa
agency: {rule: district_committee}
quarantine_threshold: 1.0
"""


@dataclass
class Probe:
    name: str
    kind: str                    # csv | xlsx | sqlalchemy
    bad: list | None = None      # the bad row's values (row-level probes)
    expect: str = ""             # a fragment the quarantine reason or the error must hold
    raw: bytes | None = None     # the file's bytes, when the probe is about bytes
    whole: bool = False          # the source as a whole is unreadable
    yaml_extra: str = ""
    connection: str | None = None
    table: str | None = None
    results: dict = field(default_factory=dict)


def _good(probe_no: int) -> list[list[str]]:
    names = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"]
    return [[f"G{probe_no:02d}{i}", f"{probe_no * 10 + i}/2019", f"2019-03-{1 + i:02d}", names[i % 4],
             str(310000000 + probe_no * 10 + i), "", UNITS[i % 5], ""] for i in range(GOOD_ROWS)]


def _bad(probe_no: int, **values) -> list[str]:
    row = dict(zip(HEADER, [f"B{probe_no:02d}", f"{probe_no * 10 + 9}/2019", "2019-04-01", "Võ Thị Em",
                            str(320000000 + probe_no), "", "29902", ""]))
    row.update(values)
    return list(row.values())


def corpus() -> list[Probe]:
    """The probes, in order (their number keeps document numbers apart)."""
    return [
        Probe("field_1mb", "csv", _bad(1, ten="A" * 1_048_576), "longer than the limit"),
        Probe("nul_byte", "csv", _bad(2, ten="Nguyễn\x00Văn"), "NUL byte"),
        Probe("invalid_utf8", "csv", _bad(3, ten="\udcffBad"), "is not valid utf-8"),
        Probe("cccd_superscript", "csv", _bad(4, cmnd="08708500123²"), "non-digit"),
        Probe("extra_fields", "csv", _bad(5) + ["x", "y"], "10 fields where the header has 8"),
        Probe("impossible_date", "csv", _bad(6, ngay="31/02/2020"), "impossible date"),
        Probe("sql_like_text", "csv", _bad(7, so="1'; DROP TABLE core.result; --"), ""),
        Probe("control_and_bidi", "csv", _bad(8, ten="Lê\u202eVăn\x07\x1b[31m"), ""),
        Probe("cp1258_bytes", "csv", _bad(9, ten="\udcd0\udcecng"), "is not valid utf-8"),
        Probe("merged_cells", "xlsx", _bad(10), "merged cell"),
        Probe("formula_without_value", "xlsx", _bad(11, so="=CONCAT(\"12\",\"/2019\")"),
              "without a cached value"),
        Probe("key_column_with_space", "sqlalchemy", _bad(12, ngay="31/02/2020"), "impossible date", table="so_gcn"),
        # The source as a whole
        Probe("missing_column", "csv", expect="column 'cmnd' is not in file", whole=True),
        Probe("wrong_delimiter", "csv", expect="seems to use ';'", whole=True),
        Probe("empty_file", "csv", raw=b"", expect="is empty", whole=True),
        Probe("missing_file", "csv", expect="does not exist", whole=True),
        Probe("corrupt_xlsx", "xlsx", raw=os.urandom(2048), expect="not a readable XLSX", whole=True),
        Probe("missing_table", "sqlalchemy", table="khong_co", expect="does not exist", whole=True),
        Probe("subquery_as_table", "sqlalchemy", table="(SELECT * FROM so_gcn) t", expect="is not a table name",
              whole=True),
        Probe("unreachable_database", "sqlalchemy", table="so_gcn", whole=True, expect="cannot connect",
              connection="postgresql+psycopg2://nobody@127.0.0.1:1/none"),
    ]


def _csv_bytes(rows: list[list[str]], delimiter: str = ",", header=HEADER) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    # surrogate escapes stand for raw bytes: the probe writes invalid UTF-8 on purpose
    return buf.getvalue().encode("utf-8", "surrogateescape")


def _xlsx(path: Path, probe: Probe, rows: list[list[str]]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for row in rows:
        ws.append(row)
    if probe.name == "merged_cells":
        last = len(rows) + 1
        ws.merge_cells(f"G{last - 1}:G{last}")  # the bad row's commune code merged with the row above
    wb.save(path)  # openpyxl never computes formulas: saved without cached values


def write_probe(folder: Path, no: int, probe: Probe) -> Path:
    """The probe's file (or database) and source YAML; returns the sources folder."""
    sources = folder / f"sources_{probe.name}"
    sources.mkdir(parents=True, exist_ok=True)
    data = folder / f"{probe.name}.{'xlsx' if probe.kind == 'xlsx' else 'csv' if probe.kind == 'csv' else 'db'}"
    rows = _good(no) + ([probe.bad] if probe.bad else [])
    if probe.kind == "sqlalchemy":
        con = sqlite3.connect(data)
        con.execute('CREATE TABLE so_gcn ("Số GCN" TEXT PRIMARY KEY, so TEXT, ngay TEXT, ten TEXT, cmnd TEXT,'
                    ' gioi TEXT, xa TEXT, sua TEXT)')
        if probe.bad:
            con.executemany("INSERT INTO so_gcn VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        con.commit()
        con.close()
        url = probe.connection or f"sqlite:///{data}"
        head = (f"engine: sqlalchemy\nconnection: {{url: {json.dumps(url)}}}\ntable: {json.dumps(probe.table)}\n"
                'primary_key: "Số GCN"\n')
    else:
        if probe.raw is not None:
            data.write_bytes(probe.raw)
        elif probe.name == "missing_column":
            data.write_bytes(_csv_bytes([r[:4] + r[5:] for r in rows], header=HEADER[:4] + HEADER[5:]))
        elif probe.name == "wrong_delimiter":
            data.write_bytes(_csv_bytes(rows, delimiter=";"))
        elif probe.name == "missing_file":
            data = folder / "nowhere" / "missing.csv"
        elif probe.kind == "xlsx":
            _xlsx(data, probe, rows)
        else:
            data.write_bytes(_csv_bytes(rows))
        head = f"engine: {probe.kind}\nconnection: {{path: {json.dumps(str(data))}}}\nprimary_key: ma\n"
    (sources / f"{probe.name}.yaml").write_text(f"name: probe_{probe.name}\n" + head + MAPPING + probe.yaml_extra,
                                                encoding="utf-8")
    return sources


def _counts(url: str, source: str) -> dict:
    from tthc.warehouse.db import fetch_all

    q = {
        "raw": "SELECT count(*) FROM raw.source_row WHERE source = %s",
        "lineage": "SELECT count(*) FROM core.result_source WHERE source = %s",
        "quarantine": "SELECT count(*) FROM ops.quarantine WHERE source = %s",
        "batches": "SELECT count(*) FROM ops.batch WHERE source = %s",
        "running": "SELECT count(*) FROM ops.batch WHERE source = %s AND status = 'running'",
    }
    return {k: fetch_all(url, sql, (source,))[0][0] for k, sql in q.items()}


def run_probe(url: str, folder: Path, no: int, probe: Probe) -> dict:
    """One probe, run twice; its figures and the checks that failed."""
    from tthc.sources.config import load_sources
    from tthc.sources.extract import SourceUnreadable
    from tthc.sources.pipeline import run_batch
    from tthc.warehouse.db import fetch_all

    sources = write_probe(folder, no, probe)
    cfg = load_sources(sources)[0]
    out = {"probe": probe.name, "kind": probe.kind, "crash": None, "failures": [], "rows_lost": 0,
           "rows_duplicated": 0}
    expected_rows = 0 if probe.whole else GOOD_ROWS + 1
    counts = []
    for attempt in range(2):
        try:
            report = run_batch(cfg, url)
        except SourceUnreadable as exc:
            if not probe.whole:
                out["crash"] = f"SourceUnreadable: {exc}"
                break
            out["error"] = str(exc)
            if probe.expect not in str(exc):
                out["failures"].append(f"error does not say {probe.expect!r}: {exc}")
            if "\n" in str(exc):
                out["failures"].append("error is more than one line")
        except Exception as exc:  # noqa: BLE001 - anything else is a crash
            out["crash"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            break
        else:
            if probe.whole:
                out["failures"].append("the source should have failed as a whole")
            else:
                out.update(rows_in=report.rows_in, loaded=report.rows_loaded, quarantined=report.rows_quarantined)
                out["rows_lost"] = max(out["rows_lost"], expected_rows - report.rows_loaded - report.rows_quarantined)
                if report.rows_in != expected_rows:
                    out["failures"].append(f"rows_in {report.rows_in}, the file holds {expected_rows}")
                if report.rows_loaded < GOOD_ROWS:
                    out["failures"].append(f"only {report.rows_loaded} of the {GOOD_ROWS} good rows loaded")
        counts.append(_counts(url, cfg.name))
    if out["crash"] is None and len(counts) == 2:
        first, second = counts
        out["rows_duplicated"] = sum(max(0, second[k] - first[k]) for k in ("raw", "lineage", "quarantine", "batches"))
        if second["running"]:
            out["failures"].append("a batch was left running")
        if probe.whole:
            status = fetch_all(url, "SELECT status FROM ops.batch WHERE source = %s", (cfg.name,))
            if status != [("failed",)]:
                out["failures"].append(f"batch status {status}, expected one failed batch")
        elif probe.expect:
            reasons = fetch_all(url, "SELECT source_key, reason FROM ops.quarantine WHERE source = %s", (cfg.name,))
            out["reasons"] = [r[:300] for _, r in reasons]
            hit = [r for _, r in reasons if probe.expect in r]
            if not hit:
                out["failures"].append(f"no quarantine reason says {probe.expect!r}: {out['reasons']}")
            elif not any(Path(cfg.connection.get("path") or "-").name in r for r in hit) and not any(
                    key == f"B{no:02d}" for key, r in reasons if probe.expect in r):
                out["failures"].append("the entry names neither the file and line nor the row's key")
    return out


def probe_all(url: str, folder: Path) -> dict:
    results = [run_probe(url, folder, no, p) for no, p in enumerate(corpus(), 1)]
    row_level = [p for p in corpus() if not p.whole]
    return {
        "probes_run": len(results) * 2,
        "files_tried": len(results),
        "bad_values_tried": len(row_level),
        "rows_in": sum(r.get("rows_in", 0) for r in results),
        "rows_lost": sum(r["rows_lost"] for r in results),
        "rows_duplicated": sum(r["rows_duplicated"] for r in results),
        "crashes": sum(r["crash"] is not None for r in results),
        "failed_checks": sum(len(r["failures"]) for r in results),
        "probes": results,
    }


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
    from tthc.reference.load import load_reference
    from tthc.warehouse.migrate import migrate
    from tthc.warehouse.server import drop_database, ensure_database, with_database

    admin = os.environ.get("TTHC_PROBE_PG_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    name = f"tthc_probe_{uuid.uuid4().hex[:10]}"
    ensure_database(admin, name)
    url = with_database(admin, name)
    try:
        migrate(url)
        load_reference(url)
        os.environ.setdefault("TTHC_CLEAN_WORKERS", "0")
        with tempfile.TemporaryDirectory(prefix="tthc-probe-") as tmp:
            summary = probe_all(url, Path(tmp))
    finally:
        drop_database(admin, name)
    verbose = "--verbose" in sys.argv
    shown = summary if verbose else {k: v for k, v in summary.items() if k != "probes"} | {
        "problems": [{k: r[k] for k in ("probe", "crash", "failures")} for r in summary["probes"]
                     if r["crash"] or r["failures"]]}
    print(json.dumps(shown, ensure_ascii=False, indent=2))
    bad = summary["rows_lost"] or summary["rows_duplicated"] or summary["crashes"] or summary["failed_checks"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
