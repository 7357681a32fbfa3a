"""The Airflow UI on one's own machine (`tthc airflow up`), on a demo-shaped Airflow home.

A DAG runs first the way the demo runs it (`airflow dags test`, tthc_dev.airflow_runner); then
the command starts api-server, scheduler and dag-processor. Headless Debian Chromium logs in and
reads the DAG list: the project's DAGs and nothing else. The REST API (v2, JWT) serves the demo
run's task log from the log folder. Plain `airflow` commands work in that home with nothing but
AIRFLOW_HOME set. Ctrl-C stops every process the command started.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tthc_dev.airflow_cluster import free_port
from tthc_dev.airflow_runner import airflow_bin, dags_test_many, list_dag_ids, prepare_metadata

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
DAG = "tthc_inventory_declarations"

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def _processes_with(marker: str) -> list[int]:
    """Live processes whose environment holds `marker` (e.g. AIRFLOW_HOME=<this test's home>)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _api(base: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{base}{path}", data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json", "Accept": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory, make_database):
    """A demo-shaped local dir: a warehouse, the demo's Airflow env (airflow.cfg, SQLite metadata)
    and one DAG run by `airflow dags test`, as `tthc demo` leaves them."""
    from tthc.settings import Settings
    from tthc_dev.demo import demo_airflow_env

    local = tmp_path_factory.mktemp("local")
    (local / "inventory").mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("TTHC_LOCAL_DIR", str(local))
    mp.setenv("WAREHOUSE_URL", make_database("ui"))
    mp.setenv("TTHC_INVENTORY_DIR", str(local / "inventory"))
    mp.setenv("TTHC_AIRFLOW_PASSWORD", secrets.token_urlsafe(12))
    env = demo_airflow_env(Settings.from_env(), os.environ["WAREHOUSE_URL"])
    prepare_metadata(env)
    [run] = dags_test_many([DAG], env, dt.date.today().isoformat())
    assert run.ok, run.log_path.read_text()[-3000:]
    yield {"local": local, "env": env, "home": Path(env["AIRFLOW_HOME"]), "dags": list_dag_ids(env)}
    mp.undo()


def test_plain_airflow_commands_work_in_the_demo_home(demo_home):
    """Only AIRFLOW_HOME set: the home's airflow.cfg carries the project's DAG folder, time zone and DB."""
    home = demo_home["home"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TTHC_", "WAREHOUSE"))}
    env["AIRFLOW_HOME"] = str(home)
    cfg = (home / "airflow.cfg").read_text()
    assert "load_examples = False" in cfg and "default_timezone = Asia/Ho_Chi_Minh" in cfg
    assert "secret" not in cfg.lower() and "password" not in cfg.lower()
    # Both at once: each command imports Airflow, which is most of its time.
    runs = {name: subprocess.Popen([airflow_bin(), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
            for name, args in {"tasks": ["tasks", "list", DAG],
                               "connections": ["connections", "list", "-o", "json"]}.items()}
    out = {}
    for name, proc in runs.items():
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, f"airflow {name}: {stderr[-2000:]}"
        out[name] = stdout
    assert out["tasks"].split() == ["list_declaration_files", "load_declaration_file"]
    # The demo's connections, imported from config/local/airflow_connections.yaml by prepare_metadata.
    conns = {c["conn_id"]: c for c in json.loads(out["connections"][out["connections"].index("["):])}
    assert {"tthc_warehouse", "tthc_permits", "tthc_s3", "smtp_default"} <= set(conns)
    assert conns["tthc_warehouse"]["conn_type"] == "postgres"


def test_ui_lists_the_project_dags_only_and_serves_the_demo_task_log(demo_home):
    home, port = demo_home["home"], free_port()
    password = os.environ.get("TTHC_AIRFLOW_PASSWORD") or demo_home["env"].get("TTHC_AIRFLOW_PASSWORD")
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "tthc", "airflow", "up", "--port", str(port)],
                            env={**os.environ}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Airflow UI ready" in line:
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert ready.wait(240) or proc.poll() is not None, "".join(lines)
        assert ready.is_set(), f"`tthc airflow up` exited {proc.poll()}:\n{''.join(lines)}"
        print(f"command to UI ready: {time.monotonic() - started:.1f}s")
        out = "".join(lines)
        base = f"http://127.0.0.1:{port}"
        assert base in out and f"admin / {password}" in out

        token = _api(base, "/auth/token", body={"username": "admin", "password": password})["access_token"]
        expected = set(demo_home["dags"])
        deadline = time.monotonic() + 120
        while True:  # the dag-processor serializes every DAG file once after start
            listed = {d["dag_id"] for d in _api(base, "/api/v2/dags?limit=100", token)["dags"]}
            if listed >= expected or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert listed == expected

        # The run `airflow dags test` made, with its task log read from the log folder.
        [run] = _api(base, f"/api/v2/dags/{DAG}/dagRuns", token)["dag_runs"]
        log = _api(base, f"/api/v2/dags/{DAG}/dagRuns/{run['dag_run_id']}/taskInstances/"
                         f"list_declaration_files/logs/1", token)
        text = json.dumps(log["content"], ensure_ascii=False)
        assert f"0 declaration file(s) in {demo_home['local'] / 'inventory'}" in text
        assert "Could not read served logs" not in text

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.goto(f"{base}/", wait_until="networkidle")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", password)
            page.keyboard.press("Enter")
            page.wait_for_url(lambda u: "/auth/" not in u, timeout=30000)
            page.goto(f"{base}/dags", wait_until="networkidle")
            page.wait_for_selector(f"text={DAG}", timeout=30000)
            links = set(page.eval_on_selector_all("a[href^='/dags/']", "els => els.map(e => e.getAttribute('href'))"))
            browser.close()
        shown = {href.split("/")[2] for href in links}
        assert shown == expected, f"UI lists {sorted(shown ^ expected)} differently"
    finally:
        os.killpg(proc.pid, signal.SIGINT) if proc.poll() is None else None
        try:
            proc.wait(timeout=60)
        finally:
            reader.join(5)
    assert proc.returncode == 0, "".join(lines)[-3000:]
    assert "stopped" in "".join(lines)
    assert _processes_with(f"AIRFLOW_HOME={home}") == [], "processes of the local Airflow are still running"
