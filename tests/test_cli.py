"""The one command line (`tthc`): every error is one line on stderr and a non-zero exit, never a
traceback unless --debug; every option has help; dd/mm/yyyy dates beside ISO; the older module
entry points are aliases."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest


def tthc(*args: str, module: str = "tthc") -> subprocess.CompletedProcess:
    env = dict(os.environ, TTHC_TASK_RETRIES="0")
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("args, message", [
    (["scans", "run", "no_such_zone"], "tthc scans run: error: no drop zone named 'no_such_zone'"),
    (["progress", "report", "--kind", "quarter", "--end", "2025-09-15"],
     "tthc progress report: error: 2025-09-15 is not the last day of a quarter; expected 2025-09-30"),
    (["progress", "report", "--kind", "quarter", "--end", "15/09/2025"],
     "tthc progress report: error: 2025-09-15 is not the last day of a quarter; expected 2025-09-30"),
    (["progress", "report", "--kind", "quarter", "--end", "31/02/2025"],
     "tthc progress report: error: invalid value for '--end': '31/02/2025' is not a date (dd/mm/yyyy or yyyy-mm-dd)"),
    (["progress", "snapshot", "--kind", "week", "--end", "30/09/2025"], "'week' is not one of month, quarter, year"),
    (["alerts", "routes", "--source", "no_such_source"],
     "tthc alerts routes: error: --source 'no_such_source' is not a configured source"),
    (["sources", "run", "no_such_source"], "tthc sources run: error: no source named 'no_such_source'"),
    (["sources", "run", "civil_status", "--start", "31/13/2020", "--end", "01/01/2021"],
     "--start '31/13/2020' is not a date"),
    (["scans", "run"], "tthc scans run: error: missing argument 'zone'"),
    (["scans", "nonsense"], "tthc scans: error: no such command 'nonsense'"),
])
def test_errors_are_one_line_and_a_non_zero_exit(args, message):
    out = tthc(*args)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines() if "[info" not in line]  # pgserver's own log lines
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_debug_shows_the_traceback():
    out = tthc("--debug", "scans", "run", "no_such_zone")
    assert out.returncode != 0 and "Traceback" in out.stderr and "DropConfigError" in out.stderr


def test_old_entry_points_are_aliases():
    out = tthc("list", module="tthc.scans")
    assert out.returncode == 0 and out.stdout.startswith("demo_scans\t"), out.stderr
    out = tthc("run", "no_such_zone", module="tthc.scans.cli")
    assert out.returncode == 1 and "no drop zone named 'no_such_zone'" in out.stderr
    out = tthc("report", "--kind", "quarter", "--end", "2025-09-15", module="tthc.progress")
    assert out.returncode == 1 and "expected 2025-09-30" in out.stderr
    out = tthc("routes", "--source", "no_such_source", module="tthc.alerts")
    assert out.returncode == 1 and "is not a configured source" in out.stderr


def test_config_check_passes_on_the_project_and_names_a_broken_file(tmp_path):
    import shutil
    from pathlib import Path

    assert tthc("config", "check").returncode == 0
    sources = tmp_path / "sources"
    shutil.copytree(Path(__file__).resolve().parents[1] / "sources", sources)
    path = sources / "civil_status.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("quarantine_threshold", "quarantine_treshold"), encoding="utf-8")
    env = dict(os.environ, TTHC_SOURCES_DIR=str(sources))
    out = subprocess.run([sys.executable, "-m", "tthc", "config", "check"], capture_output=True, text=True, env=env)
    assert out.returncode == 1
    assert out.stderr.strip() == ("sources/civil_status.yaml: unknown key 'quarantine_treshold' "
                                  "(did you mean 'quarantine_threshold'?)")


def test_every_command_and_option_has_help():
    import typer

    from tthc.commands import app

    def walk(command, path):
        assert (command.help or "").strip(), f"{path} has no help"
        for param in command.params:
            if param.name == "help" or param.__class__.__name__ == "Argument" and param.name == "ctx":
                continue
            assert (getattr(param, "help", None) or "").strip(), f"{path} {param.name} has no help"
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}")

    walk(typer.main.get_command(app), "tthc")


def test_vietnamese_and_iso_dates():
    from tthc.cli_dates import parse_day, parse_moment
    from tthc.settings import LOCAL_TZ

    assert parse_day("31/12/2024") == parse_day("2024-12-31") == parse_day("31.12.2024") == dt.date(2024, 12, 31)
    assert parse_moment("01/07/2025 08:30", "--start") == dt.datetime(2025, 7, 1, 8, 30, tzinfo=LOCAL_TZ)
    assert parse_moment("2025-07-01", "--start") == dt.datetime(2025, 7, 1, tzinfo=LOCAL_TZ)
    assert parse_moment("2025-07-01T08:00:00+00:00", "--start").utcoffset() == dt.timedelta(0)
    for bad in ("31/02/2024", "2024-13-01", "12/31/2024"):
        with pytest.raises(Exception, match="is not a date"):
            parse_day(bad)
