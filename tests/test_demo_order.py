"""The demo runs DAGs in data-flow order: sources before scans, snapshots after both."""

from tthc.demo import ordered


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
