"""The embedded warehouse for newcomers (TCP on 127.0.0.1, pgserver's chatter in a log file) and
connections resolved the Airflow way (URI and JSON forms, the providers' hooks, no metadata DB)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg2
import pytest

from tthc_dev.airflow_cluster import free_port


def test_embedded_server_listens_on_tcp_and_keeps_initdb_out_of_the_terminal():
    # Under /tmp itself, like the conftest's embedded server: as root, pgserver runs PostgreSQL as the
    # `pgserver` user, who cannot enter pytest's private tmp_path.
    tmp_path = Path(tempfile.mkdtemp(prefix="tthc-test-embedded-"))
    port = free_port()
    # root's usual PATH: as root, pgserver adds its `pgserver` user with useradd (/usr/sbin).
    env = {"TTHC_LOCAL_DIR": str(tmp_path), "TTHC_EMBEDDED_PORT": str(port), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "XDG_RUNTIME_DIR": "/tmp"}
    start = subprocess.run([sys.executable, "-m", "tthc", "embedded", "start"], env=env, capture_output=True,
                           text=True, timeout=180)
    try:
        assert start.returncode == 0, start.stderr
        assert start.stdout.strip() == f"postgresql+psycopg2://postgres@127.0.0.1:{port}/warehouse"
        terminal = start.stdout + start.stderr
        assert "initdb" not in terminal and "pg_ctl" not in terminal, terminal
        assert "pg_ctl" in (tmp_path / "pgserver.log").read_text()
        # What DBeaver or Metabase does: TCP to 127.0.0.1, user postgres, no password.
        conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="warehouse")
        with conn, conn.cursor() as cur:
            cur.execute("SELECT inet_server_addr()::text, current_setting('port')")
            assert cur.fetchone() == ("127.0.0.1/32", str(port))
        conn.close()
    finally:
        stop = subprocess.run([sys.executable, "-m", "tthc", "embedded", "stop"], env=env, capture_output=True,
                              text=True, timeout=120)
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert stop.returncode == 0, stop.stderr
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="warehouse", connect_timeout=3)


def test_connections_in_uri_and_json_form_resolve_through_the_hooks(monkeypatch, tmp_path):
    from tthc.connections import database_url
    from tthc.warehouse.server import resolve_warehouse_url

    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_TTHC_WAREHOUSE", json.dumps({
        "conn_type": "postgres", "host": "db.example.vn", "port": 5433, "login": "tthc", "password": "p@ss/word",
        "schema": "warehouse", "extra": {"sslmode": "require"}}))
    assert resolve_warehouse_url() == ("postgresql+psycopg2://tthc:p%40ss%2Fword@db.example.vn:5433/warehouse"
                                       "?sslmode=require")
    monkeypatch.setenv("AIRFLOW_CONN_TTHC_SRC", "postgresql://u@127.0.0.1:5432/legacy?sslmode=disable")
    assert database_url("tthc_src") == "postgresql://u@127.0.0.1:5432/legacy?sslmode=disable"
    monkeypatch.setenv("AIRFLOW_CONN_TTHC_FILE", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "a.db")}))
    assert database_url("tthc_file") == f"sqlite:///{tmp_path / 'a.db'}"


def test_s3_client_comes_from_the_aws_connection(monkeypatch, moto_s3):
    from tthc.connections import s3_client

    moto_s3.create_bucket(Bucket="conn-check")
    client = s3_client()
    assert client.meta.endpoint_url == moto_s3.meta.endpoint_url
    client.put_object(Bucket="conn-check", Key="a.txt", Body=b"x")
    assert moto_s3.get_object(Bucket="conn-check", Key="a.txt")["Body"].read() == b"x"


def test_drop_zone_rejects_raw_s3_settings(tmp_path):
    from tthc.scans.config import DropConfigError, load_drop

    cfg = tmp_path / "z.yaml"
    cfg.write_text("name: raw_s3_zone\nlocation: s3://b/in\narchive: s3://b/arch\ns3: {endpoint_url: 'http://x:9000'}\n")
    with pytest.raises(DropConfigError, match=r"z.yaml: s3: only conn_id is allowed.*\['endpoint_url'\]"):
        load_drop(cfg)
