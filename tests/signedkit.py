"""A legacy licence register (SQLite) whose rows may be flagged signed at issue, with their e-copy refs,
and its source YAML: shared by the born-digital tests of the load stage and of the signed-copy check."""

from __future__ import annotations

import sqlite3
import textwrap

from tthc.sources.config import load_sources


def write_register(db, rows) -> None:
    """rows: (MaGP, SoGP, NgayCap, Ten, MaXa, KySo, FileDienTu, NgaySua); replaces the table."""
    conn = sqlite3.connect(db)
    conn.execute("DROP TABLE IF EXISTS tblGP")
    conn.execute("""CREATE TABLE tblGP (MaGP TEXT PRIMARY KEY, SoGP TEXT, NgayCap TEXT, Ten TEXT, MaXa TEXT,
                    KySo TEXT, FileDienTu TEXT, NgaySua TEXT)""")
    conn.executemany("INSERT INTO tblGP VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.close()


def register_source(tmp_path, monkeypatch, db, name: str, description_vi: str | None = None):
    """The register's source config, written as sources/gp.yaml under tmp_path and loaded from there."""
    sources = tmp_path / "sources"
    sources.mkdir()
    description = f"description_vi: {description_vi}\n" if description_vi else ""
    (sources / "gp.yaml").write_text(f"name: {name}\n{description}" + textwrap.dedent(f"""\
        engine: sqlalchemy
        connection: {{url: "sqlite:///{db}"}}
        table: tblGP
        primary_key: MaGP
        incremental_column: NgaySua
        mapping:
          document_type: {{constant: BLR}}
          doc_number: SoGP
          issue_date: {{column: NgayCap, parse: date}}
          holder_name: Ten
          unit_code: MaXa
          signed_copy: {{column: KySo, values: {{'1': signed, '0': unsigned}}}}
          signed_copy_ref: FileDienTu
        agency: {{rule: district_committee}}
        """), encoding="utf-8")
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(sources))
    return next(c for c in load_sources() if c.name == name)
