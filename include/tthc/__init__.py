"""Đồng Tháp TTHC-result digitization platform: importable pipeline logic.

DAG files under ``dags/`` only orchestrate; everything here runs without a scheduler.
"""

__version__ = "0.1.0"
