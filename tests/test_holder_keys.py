"""The holder matching key's secret: required (no default, no placeholder), the demo's own one, and
rotation to a new one that recomputes every key in core and leaves holder_ref alone."""

from __future__ import annotations

import os
import stat

import pytest
from test_load_stage import _write_source

from tthc.commands import main
from tthc.load import holder_key
from tthc.settings import MissingSecretError, require_holder_key_secret
from tthc.sources.pipeline import run_batch
from tthc.warehouse.db import fetch_all, transaction
from tthc.warehouse.holder_keys import demo_secret, read_secret_file

ROWS = ["K1,1/2019,2019-03-01,Nguyễn Văn An,341234567,,29902,",
        "K2,2/2019,2019-03-02,Trần Thị Bình,341234568,,29905,",
        "K3,3/2019,2019-03-03,Lê Văn Cường,341234569,,29908,"]


@pytest.mark.parametrize("value", [None, "", "dev-only-not-secret", "change-me-holder-key", "short"])
def test_the_cli_refuses_to_start_without_a_real_secret(monkeypatch, capsys, value):
    if value is None:
        monkeypatch.delenv("TTHC_HOLDER_KEY_SECRET", raising=False)
    else:
        monkeypatch.setenv("TTHC_HOLDER_KEY_SECRET", value)
    assert main(["summary", "--warehouse-url", "postgresql://nobody@127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "TTHC_HOLDER_KEY_SECRET" in err and "Traceback" not in err
    with pytest.raises(MissingSecretError):
        require_holder_key_secret()


def test_a_source_run_without_the_secret_opens_no_batch(warehouse, tmp_path, monkeypatch):
    cfg = _write_source(tmp_path, monkeypatch, "nosecret", ROWS)
    monkeypatch.delenv("TTHC_HOLDER_KEY_SECRET")
    with pytest.raises(MissingSecretError, match="TTHC_HOLDER_KEY_SECRET"):
        run_batch(cfg, warehouse)
    assert fetch_all(warehouse, "SELECT count(*) FROM ops.batch") == [(0,)]


def test_the_demo_makes_its_secret_once_owner_only(tmp_path):
    first = demo_secret(tmp_path)
    path = tmp_path / "holder_key_secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) >= 32
    assert demo_secret(tmp_path) == first
    assert demo_secret(tmp_path / "other") != first


def test_a_secret_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "new-secret"
    path.write_text("x" * 40 + "\n")
    os.chmod(path, 0o644)
    with pytest.raises(ValueError, match="readable by others"):
        read_secret_file(path)
    os.chmod(path, 0o600)
    assert read_secret_file(path) == "x" * 40


def _holders(url):
    return fetch_all(url, """SELECT h.holder_id, h.holder_ref::text, h.match_key, i.id_type, i.id_value
                             FROM core.holder h JOIN core.holder_identity i USING (holder_id) ORDER BY 1""")


def test_rotation_recomputes_keys_and_keeps_refs(warehouse, tmp_path, monkeypatch, capsys):
    from tthc.progress.loaders import load_dossiers

    old = os.environ["TTHC_HOLDER_KEY_SECRET"]
    cfg = _write_source(tmp_path, monkeypatch, "rotation", ROWS)
    assert run_batch(cfg, warehouse).rows_loaded == 3
    before = _holders(warehouse)
    assert [k for _, _, k, t, v in before] == [holder_key(t, v, old) for _, _, _, t, v in before]
    # A dossier names the first holder (the key is all core keeps of it).
    with transaction(warehouse) as cur:
        cur.execute("""SELECT electronic_id FROM core.agency WHERE unit_key = 'pre2025/commune/29905'
                       AND kind = 'people_committee'""")
        agency = cur.fetchone()[0]
    dossiers = tmp_path / "dossiers.csv"
    dossiers.write_text("dossier_code,procedure_code,agency_electronic_id,received_date,channel,"
                        "resupplied_documents,holder_id,needed_procedure_code\n"
                        f"D1,KH,{agency},2024-03-01,online,false,{before[0][4]},KS\n", encoding="utf-8")
    assert load_dossiers(dossiers, warehouse)["loaded"] == 1

    new = "rotated-" + os.urandom(16).hex()
    secret_file = tmp_path / "new-secret"
    secret_file.write_text(new + "\n")
    os.chmod(secret_file, 0o600)
    assert main(["rotate-holder-key", "--new-secret-file", str(secret_file), "--warehouse-url", warehouse]) == 0
    assert '"holders": 3' in capsys.readouterr().out

    after = _holders(warehouse)
    assert [(h, ref, t, v) for h, ref, _, t, v in after] == [(h, ref, t, v) for h, ref, _, t, v in before]
    assert [k for _, _, k, t, v in after] == [holder_key(t, v, new) for _, _, _, t, v in after]
    assert fetch_all(warehouse, "SELECT holder_match_key FROM core.dossier") == [(after[0][2],)]

    # Loads under the new secret match the same holders: no new holder, the same refs.
    monkeypatch.setenv("TTHC_HOLDER_KEY_SECRET", new)
    more = _write_source(tmp_path, monkeypatch, "rotation_b", ["Z1,9/2020,2020-04-01,Nguyễn Văn An,341234567,,29902,"])
    assert run_batch(more, warehouse).rows_loaded == 1
    assert _holders(warehouse) == after
    (holder,), = fetch_all(warehouse, "SELECT holder_id FROM core.result WHERE doc_number = '9/2020'")
    assert holder == next(h for h, _, _, _, v in after if v == "341234567")
