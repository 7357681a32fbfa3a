"""The typed config model: unknown keys and wrong values name the file, the key and what is
allowed; one broken source or drop YAML drops only its own DAG (an import error names it);
the JSON Schemas in docs/schemas are the models'."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _broken_copy(folder: Path, name: str, old: str, new: str) -> Path:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize("old, new, message", [
    ("quarantine_threshold: 0.25", "quarantine_treshold: 0.25",
     "civil_status.yaml: unknown key 'quarantine_treshold' (did you mean 'quarantine_threshold'?)"),
    ("engine: sqlalchemy", "engine: mysql",
     "civil_status.yaml: engine: 'mysql' is not allowed; allowed: 'sqlalchemy', 'csv' or 'xlsx'"),
    ("agency: {rule: commune_committee}", "agency: {rule: commune}",
     "civil_status.yaml: agency.rule: 'commune' is not allowed (did you mean 'commune_committee'?)"),
    ("  doc_book: QUYEN_SO", "  doc_bok: QUYEN_SO", "mapping: 'doc_bok' is not a canonical field (did you mean 'doc_book'?)"),
    ("quarantine_threshold: 0.25", "quarantine_threshold: lots", "civil_status.yaml: quarantine_threshold: input should be a valid number"),
    ("encoding: {declared: auto", "encoding: {declared: utf8", "encoding.declared: 'utf8' is not allowed; allowed: 'auto'"),
    ("name: civil_status", "name: Civil Status", "name: 'Civil Status' must be lowercase letters, digits and _"),
])
def test_source_errors_name_file_key_and_allowed_values(tmp_path, old, new, message):
    from tthc.sources.config import SourceConfigError, load_source

    shutil.copy(ROOT / "sources" / "civil_status.yaml", tmp_path)
    path = _broken_copy(tmp_path, "civil_status.yaml", old, new)
    with pytest.raises(SourceConfigError) as exc:
        load_source(path)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_csv_option_misspelling_is_an_error(tmp_path):
    from tthc.sources.config import SourceConfigError, load_source

    shutil.copy(ROOT / "sources" / "household_business.yaml", tmp_path)
    path = tmp_path / "household_business.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("delimiter:", "delimter:"), encoding="utf-8")
    with pytest.raises(SourceConfigError, match=r"csv: unknown key 'delimter' \(did you mean 'delimiter'\?\)"):
        load_source(path)


@pytest.mark.parametrize("old, new, message", [
    ("after_commit: keep", "after_comit: keep", "demo_scans.yaml: unknown key 'after_comit' (did you mean 'after_commit'?)"),
    ("after_commit: keep", "after_commit: shred", "after_commit: 'shred' is not allowed; allowed: 'keep' or 'delete'"),
    ("chunk_size: 1024", "chunk_size: 5000", "chunk_size: input should be less than or equal to 1024"),
    ("ocr: {lang: vie, dpi: 300", "ocr: {lang: vie, dpi: 300, psm: 6", "ocr: unknown key 'psm'"),
    ("  min_confidence: 0.6", "  min_confidence: high", "review.min_confidence: input should be a valid number"),
])
def test_drop_errors_name_file_key_and_allowed_values(tmp_path, old, new, message):
    from tthc.scans.config import DropConfigError, load_drop

    shutil.copy(ROOT / "drops" / "demo_scans.yaml", tmp_path)
    path = _broken_copy(tmp_path, "demo_scans.yaml", old, new)
    with pytest.raises(DropConfigError) as exc:
        load_drop(path)
    assert message in str(exc.value)


def test_settings_errors_name_the_variable(monkeypatch):
    from tthc.config.errors import ConfigError
    from tthc.settings import Settings

    monkeypatch.setenv("TTHC_DEMO_SIZE", "many")
    with pytest.raises(ConfigError, match="environment variable TTHC_DEMO_SIZE='many': input should be a valid integer"):
        Settings.from_env()
    monkeypatch.setenv("TTHC_DEMO_SIZE", "12")
    monkeypatch.setenv("TTHC_SCAN_TRUST_ROOTS", os.pathsep.join(["/a.pem", "/b.pem"]))
    monkeypatch.setenv("TTHC_DEADLINE_ALERTS", "off")
    s = Settings.from_env()
    assert (s.demo_size, s.scan_trust_roots, s.deadline_alerts) == (12, (Path("/a.pem"), Path("/b.pem")), False)


def test_one_time_zone():
    """The province's time zone is written once (tthc.config.settings)."""
    hits = subprocess.run(["grep", "-rln", "Asia/Ho_Chi_Minh", "include", "dags", "plugins", "--include=*.py"],
                          cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert [h for h in hits if "demo_data" not in h and "tthc_dev" not in h] == ["include/tthc/config/settings.py"]


@pytest.fixture()
def project_copy(tmp_path, monkeypatch):
    """sources/, drops/ and config/ copied, so the test can break them."""
    for folder in ("sources", "drops", "config"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    monkeypatch.setenv("TTHC_SOURCES_DIR", str(tmp_path / "sources"))
    monkeypatch.setenv("TTHC_DROPS_DIR", str(tmp_path / "drops"))
    monkeypatch.setenv("TTHC_ALERTS_CONFIG", str(tmp_path / "config" / "alerts.yaml"))
    return tmp_path


def _dagbag(home: Path):
    """A DagBag of the project's dags/ folder in a fresh process (DAG modules are cached per process)."""
    code = textwrap.dedent("""\
        import json, sys
        from airflow.dag_processing.dagbag import DagBag
        bag = DagBag(dag_folder=sys.argv[1])
        print(json.dumps({"dags": sorted(bag.dags), "errors": {k.rsplit('/', 1)[-1]: v for k, v in bag.import_errors.items()}}))
        """)
    env = dict(os.environ, AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "dags")], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_broken_source_or_drop_yaml_drops_only_its_own_dag(project_copy):
    clean = _dagbag(project_copy / "home0")
    assert clean["errors"] == {}
    assert {"tthc_source_civil_status", "tthc_source_household_business", "tthc_scan_drop_demo_scans"} <= set(clean["dags"])

    _broken_copy(project_copy / "sources", "civil_status.yaml", "quarantine_threshold: 0.25", "quarantine_treshold: 0.25")
    (project_copy / "drops" / "second.yaml").write_text(
        (project_copy / "drops" / "demo_scans.yaml").read_text(encoding="utf-8")
        .replace("name: demo_scans", "name: second_zone").replace("after_commit: keep", "after_commit: shred"),
        encoding="utf-8")
    broken = _dagbag(project_copy / "home1")
    assert set(clean["dags"]) - set(broken["dags"]) == {"tthc_source_civil_status"}
    assert "tthc_scan_drop_second_zone" not in broken["dags"]
    assert list(broken["errors"]) == ["tthc_config_check.py"]
    error = broken["errors"]["tthc_config_check.py"]
    assert ("sources/civil_status.yaml: unknown key 'quarantine_treshold' (did you mean 'quarantine_threshold'?)"
            in error), error
    assert "drops/second.yaml: after_commit: 'shred' is not allowed; allowed: 'keep' or 'delete'" in error, error


def test_other_sources_still_run_by_name_beside_a_broken_file(project_copy):
    from tthc.sources.config import SourceConfigError, source_named

    _broken_copy(project_copy / "sources", "civil_status.yaml", "engine: sqlalchemy", "engine: mysql")
    assert source_named("household_business").name == "household_business"
    with pytest.raises(SourceConfigError, match="civil_status.yaml: engine: 'mysql' is not allowed"):
        source_named("civil_status")


def test_committed_json_schemas_are_current(tmp_path):
    from tthc.config.schema import write_schemas

    written = write_schemas(tmp_path)
    assert {p.name for p in written} >= {"source.schema.json", "drop.schema.json", "alerts.schema.json",
                                         "scan_fields.schema.json", "reports.schema.json"}
    for path in written:
        committed = ROOT / "docs" / "schemas" / path.name
        assert committed.is_file(), f"{committed} missing: run `tthc config schema`"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{committed.name} is stale: run `tthc config schema`")
    source = json.loads((tmp_path / "source.schema.json").read_text(encoding="utf-8"))
    assert source["additionalProperties"] is False and "quarantine_threshold" in source["properties"]


def test_json_schemas_accept_the_project_files_and_reject_a_misspelling():
    """What an editor checks as one types: the project's own files pass, a misspelt key does not."""
    import jsonschema
    import yaml

    from tthc.config.schema import models
    from tthc.config.files import expand_env

    def check(kind: str, path: Path, mutate=None):
        schema = models()[kind].model_json_schema(mode="validation")
        doc = yaml.safe_load(expand_env(path.read_text(encoding="utf-8")))
        if mutate:
            mutate(doc)
        jsonschema.validate(json.loads(json.dumps(doc, default=str)), schema)  # as an editor sees it: dates are text

    files = [("source", p) for p in sorted((ROOT / "sources").glob("*.yaml"))] + [
        ("drop", p) for p in sorted((ROOT / "drops").glob("*.yaml"))] + [
        ("plan", p) for p in sorted((ROOT / "seeds" / "plans").glob("*.yaml"))] + [
        ("scan_fields", ROOT / "seeds" / "scan_fields.yaml"), ("procedures", ROOT / "seeds" / "procedures.yaml"),
        ("cost_rates", ROOT / "seeds" / "cost_rates.yaml")]
    for kind, path in files:
        if kind == "drop":  # numbers given as ${VAR:-60} are text until the loader converts them
            check(kind, path, lambda d: d["stability"].update(min_age_seconds=float(d["stability"]["min_age_seconds"])))
        else:
            check(kind, path)
    with pytest.raises(jsonschema.ValidationError, match="quarantine_treshold"):
        check("source", ROOT / "sources" / "civil_status.yaml", lambda d: d.update(quarantine_treshold=0.1))
    with pytest.raises(jsonschema.ValidationError, match="doc_bok"):
        check("source", ROOT / "sources" / "civil_status.yaml", lambda d: d["mapping"].update(doc_bok="X"))


def test_every_yaml_loader_reports_an_unreadable_or_broken_file_in_one_line(tmp_path):
    """One reader for every configuration file: the same one-line error, naming the file."""
    from tthc.alerts.config import AlertConfigError, load_config
    from tthc.progress.inputs import InputsConfigError, input_paths
    from tthc.progress.report_config import ReportConfigError, load_report_config
    from tthc.scans.config import DropConfigError, load_drop
    from tthc.sources.config import SourceConfigError, load_source

    broken = tmp_path / "broken.yaml"
    broken.write_text("routes: [\n  - a\n")
    listed = tmp_path / "listed.yaml"
    listed.write_text("- one\n- two\n")
    loaders = [(load_config, AlertConfigError), (input_paths, InputsConfigError),
               (load_report_config, ReportConfigError), (load_drop, DropConfigError), (load_source, SourceConfigError)]
    for load, error in loaders:
        with pytest.raises(error, match=r"^missing.yaml: cannot read .*missing.yaml \(No such file or directory\)$"):
            load(tmp_path / "missing.yaml")
        with pytest.raises(error, match=r"^broken.yaml: not valid YAML: [^\n]*line 2, column 3: expected the node content[^\n]*$"):
            load(broken)
        with pytest.raises(error, match=r"^listed.yaml: expected a mapping of keys at the top level$"):
            load(listed)
