"""The demo runs DAGs in data-flow order: sources before scans, snapshots after both."""

from tthc_dev.demo import ordered


def test_demo_runs_dags_in_data_flow_order():
    dag_ids = ["tthc_ops_monitoring", "tthc_progress_quarterly", "tthc_progress_annual", "tthc_progress_inputs", "tthc_scan_fixity",
               "tthc_scan_drop_demo_scans", "tthc_source_household_business", "tthc_source_civil_status",
               "tthc_inventory_declarations", "tthc_reference_data", "tthc_something_new"]
    assert ordered(dag_ids) == [
        "tthc_reference_data", "tthc_inventory_declarations",
        "tthc_source_civil_status", "tthc_source_household_business",
        "tthc_scan_drop_demo_scans", "tthc_something_new", "tthc_scan_fixity",
        "tthc_progress_inputs", "tthc_progress_annual", "tthc_progress_quarterly", "tthc_ops_monitoring",
    ]


def test_demo_takes_the_plan_periods_quarterly_snapshots_before_todays():
    from tthc_dev.demo import with_quarterly_history

    runs = with_quarterly_history(["tthc_progress_inputs", "tthc_progress_quarterly", "tthc_ops_monitoring"])
    history = [r for r in runs if "@" in r]
    assert len(history) == 16  # Q1/2022 .. Q4/2025
    assert history[0] == "tthc_progress_quarterly@2022-04-01T00:00:00+07:00"
    assert history[-1] == "tthc_progress_quarterly@2026-01-01T00:00:00+07:00"
    assert runs[0] == "tthc_progress_inputs" and runs[-2:] == ["tthc_progress_quarterly", "tthc_ops_monitoring"]
    assert with_quarterly_history(["tthc_reference_data"]) == ["tthc_reference_data"]
