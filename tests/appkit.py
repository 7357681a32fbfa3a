"""Shared set-up of the application tests: a warehouse with loaded results, accounts of every role,
an archived copy, and a real `tthc serve` (uvicorn) process on a free localhost port."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tthc.app.admin import create_account, create_api_key
from tthc.warehouse.db import fetch_all, transaction

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "mat-khau-thu-nghiem-" + os.urandom(6).hex()


def load_results(url: str, interval=None) -> None:
    """The public entry point of ingestion, used by every application test (and the feed test's
    concurrent load): one legacy source's batch through the pipeline."""
    from tthc.sources.config import load_source
    from tthc.sources.pipeline import run_batch

    cfg = load_source(ROOT / "sources" / "civil_status.yaml")
    run_batch(cfg, url, *(interval or ()))


def build_site(tmp_path_factory, make_database, name: str, quarters=(dt.date(2025, 12, 31),)) -> dict:
    """A migrated warehouse with generated civil-status results loaded, quarterly snapshots, accounts
    of every role (officials of the commune `unit_a`) and an archived copy of `code_a`. Sets
    TTHC_DEMO_DATA_DIR for the caller's module (undo with the returned `monkeypatch`)."""
    import pytest

    from tthc_dev.demo_data import generate
    from tthc.progress.snapshot import take_snapshot

    mp = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp(name) / "data"
    generate(data, seed=5, size=300, scans=12)
    mp.setenv("TTHC_DEMO_DATA_DIR", str(data))
    url = make_database(name, migrated=True)
    load_results(url)
    for quarter_end in quarters:
        take_snapshot(url, "quarter", quarter_end)
    (unit_a, code_a), (unit_b, code_b) = two_units(url)
    keys = make_accounts(url, unit_a)
    copy_path = attach_copy(url, code_a, tmp_path_factory.mktemp("archive"))
    return {"url": url, "unit_a": unit_a, "code_a": code_a, "unit_b": unit_b, "code_b": code_b, "keys": keys,
            "copy_path": copy_path, "monkeypatch": mp}


def pdf_bytes(text: str) -> bytes:
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf)
    c.drawString(72, 720, text)
    c.save()
    return buf.getvalue()


def attach_copy(url: str, result_code: str, archive: Path) -> Path:
    """Archive a PDF for a result as the scan intake does (file named by its hash, core.document row)."""
    data = pdf_bytes(f"Ban sao {result_code}")
    sha = hashlib.sha256(data).hexdigest()
    path = archive / sha[:2] / f"{sha}.pdf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    with transaction(url) as cur:
        cur.execute("""INSERT INTO core.document (sha256, archive_uri, media_type, page_count, result_id, link_rule,
                                                  linked_at, signature_status)
                       SELECT %s, %s, 'application/pdf', 1, result_id, 'natural_key', now(), 'unsigned'
                       FROM core.result WHERE result_code = %s""", (sha, path.as_uri(), result_code))
        cur.execute("UPDATE core.result SET copy_kind = 'scan', digitized_at = now() WHERE result_code = %s",
                    (result_code,))
    return path


def two_units(url: str) -> list[tuple[str, str]]:
    """(unit_key, a result code) for the two communes with most results holding a holder."""
    return fetch_all(url, """
        SELECT DISTINCT ON (r.issuing_unit_key) r.issuing_unit_key, r.result_code
        FROM core.result r
        JOIN (SELECT issuing_unit_key, count(*) n FROM core.result WHERE holder_id IS NOT NULL
              AND issuing_unit_key LIKE 'pre2025/commune/%%' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 2) t USING (issuing_unit_key)
        WHERE r.holder_id IS NOT NULL
        ORDER BY r.issuing_unit_key, r.result_code""")


def make_accounts(url: str, unit_a: str) -> dict:
    """One account per role (officials of unit_a with and without pii:read) and integration keys."""
    keys = {}
    with transaction(url) as cur:
        create_account(cur, "admin", "admin", "Quản trị", PASSWORD)
        create_account(cur, "canbo.pii", "official", "Cán bộ A (được xem dữ liệu cá nhân)", PASSWORD, [unit_a],
                       ["pii:read"])
        create_account(cur, "canbo.a", "official", "Cán bộ A", PASSWORD, [unit_a])
        create_account(cur, "phantich", "analyst", "Chuyên viên phân tích", PASSWORD, [], ["pii:read"])
        create_account(cur, "motcua", "integration", "Một cửa", None)
        keys["feed"], _ = create_api_key(cur, "motcua", "feed", ["results:read", "feed:read", "progress:read"])
        keys["lookup"], _ = create_api_key(cur, "motcua", "lookup only", ["results:read"])
        keys["revoked"], prefix = create_api_key(cur, "motcua", "revoked", ["results:read", "feed:read"])
        cur.execute("UPDATE app.api_key SET revoked_at = now() WHERE prefix = %s", (prefix,))
        keys["expired"], prefix = create_api_key(cur, "motcua", "expired", ["results:read", "feed:read"])
        cur.execute("UPDATE app.api_key SET expires_at = now() - interval '1 minute' WHERE prefix = %s", (prefix,))
    return keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(url: str, extra_env: dict | None = None):
    """`tthc serve` as a real process; yields its base URL."""
    with serve_process(url, extra_env) as (base, _proc):
        yield base


@contextlib.contextmanager
def serve_process(url: str, extra_env: dict | None = None, workers: int = 1):
    """`tthc serve --workers N` as a real process; yields its base URL and the process."""
    port = free_port()
    env = {**os.environ, "TTHC_APP_COOKIE_SECURE": "0", "TTHC_APP_SECRET": "test-" + os.urandom(16).hex(),
           **(extra_env or {})}
    env.pop("TTHC_APP_DATABASE_URL", None)
    log = tempfile.NamedTemporaryFile("w+", prefix="tthc-serve-", suffix=".log", delete=False)  # a pipe would fill up
    proc = subprocess.Popen([sys.executable, "-m", "tthc", "serve", "--warehouse-url", url, "--port", str(port),
                             "--workers", str(workers)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("tthc serve did not start:\n" + Path(log.name).read_text())
            time.sleep(0.3)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        if os.environ.get("TTHC_TEST_KEEP_SERVER_LOG") is None:
            os.unlink(log.name)


def login(base: str, username: str, password: str = PASSWORD) -> str:
    r = httpx.post(base + "/api/v1/token", data={"username": username, "password": password})
    r.raise_for_status()
    return r.json()["access_token"]
