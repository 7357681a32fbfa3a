"""What the DAG factory needs from the source configs, cheap enough for parse time (YAML only)."""

from __future__ import annotations

from dataclasses import dataclass

import pendulum

from tthc.sources.config import read_sources
from tthc.settings import TIMEZONE

PRESETS = {"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *"}


@dataclass(frozen=True)
class SourceDagSpec:
    dag_id: str
    source: str
    kind: str
    cron: str
    start_date: pendulum.DateTime
    doc_md: str


def source_dag_specs() -> list[SourceDagSpec]:
    """The DAGs of the valid source files; a broken file is reported by dags/tthc_config_check.py."""
    specs = []
    for cfg in read_sources()[0]:
        types = ", ".join(cfg.document_types)
        specs.append(SourceDagSpec(
            dag_id=f"tthc_source_{cfg.name}", source=cfg.name, kind=cfg.kind, cron=PRESETS.get(cfg.schedule, cfg.schedule),
            start_date=pendulum.parse(cfg.start_date, tz=TIMEZONE),
            doc_md=(f"**{cfg.description_vi or cfg.name}** (`{cfg.path.name}`)\n\n" + (
                    "Exclusion source: loads results already digitized by another project into "
                    "`core.external_digitization` and marks the matching `core.result` rows as digitized elsewhere."
                    if cfg.kind == "exclusion" else
                    f"Extracts `{cfg.name}` ({cfg.engine}; {types}) for each data interval, lands raw rows with "
                    f"lineage, cleans them into `staging.result_candidate`, validates them with Great Expectations, "
                    f"quarantines failures and normalizes the rest into `core.result` with unique codes. "
                    f"Re-running or backfilling an interval leaves the same warehouse state."))))
    return specs
