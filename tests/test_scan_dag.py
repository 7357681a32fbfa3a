"""The scan DAGs: one per drop zone, dynamic task mapping over chunks in the OCR pool, weekly fixity.
(tests/test_scan_dag_run.py runs a drop-zone DAG with `airflow dags test`.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from tthc.scans.config import MAX_CHUNK, load_drops

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
    mp.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    yield DagBag(dag_folder=str(ROOT / "dags"))
    mp.undo()


def test_one_dag_per_drop_zone_with_mapped_ocr_in_a_pool(dagbag):
    assert dagbag.import_errors == {}
    zones = load_drops()
    assert "demo_scans" in [z.name for z in zones]
    for zone in zones:
        dag = dagbag.dags[f"tthc_scan_drop_{zone.name}"]
        assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # backfillable intervals
        assert "Asia/Ho_Chi_Minh" in repr(dag.timetable)
        tasks = {t.task_id: t for t in dag.tasks}
        assert set(tasks) == {"open_batch", "list_new_files", "process_chunk", "finalize"}
        chunk = tasks["process_chunk"]
        assert type(chunk).__name__ == "DecoratedMappedOperator"
        assert chunk.pool == zone.pool == "ocr"
        assert set(chunk.upstream_task_ids) == {"open_batch", "list_new_files"}
        assert list(chunk.op_kwargs_expand_input.value) == ["files"]  # mapped over the chunks listed
        assert zone.chunk_size <= MAX_CHUNK == 1024
        assert tasks["finalize"].trigger_rule == "none_failed"  # runs when no chunk was listed
        assert set(tasks["finalize"].upstream_task_ids) == {"open_batch", "process_chunk"}
    fixity = dagbag.dags["tthc_scan_fixity"]
    assert type(fixity.timetable).__name__ == "CronDataIntervalTimetable"
    assert [t.task_id for t in fixity.tasks] == ["check_fixity"]
