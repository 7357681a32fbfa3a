"""Product and tooling apart: DAGs and the product package never import the developer tooling
(tthc_dev) nor read the demo's folder; the progress inputs come from their config file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tthc.paths import project_root
from tthc.progress.inputs import InputsConfigError, input_paths

ROOT = project_root()


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_no_dag_reads_demo_paths_or_imports_dev_tooling():
    offenders = [f"{p.name}: {m}" for p in _python_files(ROOT / "dags")
                 for m in re.findall(r"tthc_dev|demo_data_dir|TTHC_DEMO_DATA_DIR|demo-data", p.read_text())]
    assert offenders == []


def test_product_package_does_not_import_dev_tooling():
    # The `tthc` command is the one entry point; its `demo`/`generate`/`airflow` subcommands import
    # the tooling lazily, nothing else in the product does.
    offenders = [str(p.relative_to(ROOT)) for p in _python_files(ROOT / "include" / "tthc")
                 if p.name != "commands.py" and re.search(r"^\s*(from|import) tthc_dev", p.read_text(), re.M)]
    assert offenders == []
    assert not (ROOT / "include" / "tthc" / "demo_data").exists()


def test_progress_inputs_come_from_the_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TTHC_PROGRESS_INPUTS_DIR", str(tmp_path))
    assert input_paths() == {"dossiers": tmp_path / "dossiers.csv",
                             "one_stop_offices": tmp_path / "one_stop_offices.csv"}


def test_progress_inputs_unset_folder_is_one_clear_error(monkeypatch):
    monkeypatch.delenv("TTHC_PROGRESS_INPUTS_DIR", raising=False)
    with pytest.raises(InputsConfigError, match=r"progress_inputs.yaml: dossiers: environment variable TTHC_PROGRESS_INPUTS_DIR is not set"):
        input_paths()


def test_progress_inputs_config_names_bad_keys(tmp_path):
    bad = tmp_path / "inputs.yaml"
    bad.write_text("dossiers: /x/d.csv\none_stop_offices: /x/o.csv\nofices: /x/typo.csv\n")
    with pytest.raises(InputsConfigError, match=r"inputs.yaml: unknown key 'ofices'; allowed: dossiers, one_stop_offices"):
        input_paths(bad)
