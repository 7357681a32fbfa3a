"""Broken configuration files as an Airflow import error (a DAG file that defines no DAG).

dags/tthc_sources.py and dags/tthc_scan_drops.py build the DAGs of the valid YAML files only,
so one broken file never hides the other sources' DAGs. This file raises the broken files' errors,
one line each (file, key, what is allowed), so they show in the UI's import errors and in
`airflow dags list-import-errors`. The same check: `tthc config check`.
"""

from __future__ import annotations

from tthc.config.check import ConfigError, config_problems

_problems = config_problems()
if _problems:
    raise ConfigError("\n".join(_problems))
