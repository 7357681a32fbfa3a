"""The Airflow plugin, loaded by Airflow's own plugin manager from plugins/ and mounted by the
api-server's own init_plugins: /tthc/api/v1/health answers, everything else under /tthc needs the
application's credentials, and the UI lists the "Tra cứu – Thống kê" entry. Runs in a child
process: Airflow reads its plugins folder once per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from airflow import plugins_manager
    from airflow.api_fastapi.app import init_plugins

    host = FastAPI()
    init_plugins(host)                                   # the api-server's own mounting code
    client = TestClient(host, follow_redirects=False)
    info = [p for p in plugins_manager.get_plugin_info() if p["name"] == "tthc_app"]
    print(json.dumps({
        "errors": plugins_manager.get_import_errors(),
        "info": json.loads(json.dumps(info, default=str)),
        "health": client.get("/tthc/api/v1/health").json(),
        "api": client.get("/tthc/api/v1/results?procedure=KS").status_code,
        "page": [client.get("/tthc/tra-cuu").status_code, client.get("/tthc/tra-cuu").headers.get("location")],
    }))
""")


def test_airflow_loads_the_plugin_and_mounts_the_app(tmp_path, reference_warehouse):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
           "AIRFLOW__CORE__LAZY_LOAD_PLUGINS": "False", "WAREHOUSE_URL": reference_warehouse,
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["errors"] == {}
    (info,) = got["info"]
    (view,) = info["external_views"]
    assert view["name"] == "Tra cứu – Thống kê" and view["href"] == "tthc/tra-cuu" and view["destination"] == "nav"
    assert [a["url_prefix"] for a in info["fastapi_apps"]] == ["/tthc"]
    assert got["health"] == {"status": "ok"}
    assert got["api"] == 401
    assert got["page"] == [303, "/tthc/dang-nhap?next=/tra-cuu"]
