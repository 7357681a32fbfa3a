"""Load all reference data into core.* in one transaction. Idempotent: upserts, and
rows that vanished from a seed are removed when nothing references them (else the
load fails and names them). ops.reference_load keeps one checksum per dataset."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from pathlib import Path

from psycopg2.extras import execute_values

from tthc.reference import seeds, units
from tthc.settings import Settings
from tthc.warehouse.db import transaction

log = logging.getLogger(__name__)


def load_reference(url: str | None = None, seeds_dir: Path | None = None) -> dict[str, int]:
    """Load units, crosswalk, agencies, procedures and plans. Returns row counts per dataset."""
    seeds_dir = seeds_dir or Settings.from_env().seeds_dir
    old, new = units.old_units(), units.new_units()
    unit_rows = old + new
    cross = units.crosswalk(old, new)
    agencies = seeds.read_agencies(seeds_dir / "agencies.csv")
    procedures = seeds.read_procedures(seeds_dir / "procedures.yaml")
    plans = seeds.read_plans(seeds_dir / "plans")
    cost_rates = seeds.read_cost_rates(seeds_dir / "cost_rates.yaml", {p.code for p in procedures})

    known_units = {u.unit_key for u in unit_rows}
    for agency in agencies:
        if agency.unit_key not in known_units:
            raise seeds.SeedError(f"agencies.csv: {agency.electronic_id} refers to unknown unit {agency.unit_key}")
    for plan in plans:
        for key in plan.scope_unit_keys:
            if key not in known_units:
                raise seeds.SeedError(f"{plan.source_file}: scope unit {key} is not a known unit")

    with transaction(url) as cur:
        _upsert(cur, "core.admin_unit", "unit_key", unit_rows)
        _upsert(cur, "core.unit_crosswalk", "old_unit_key, new_unit_key", cross)
        _upsert(cur, "core.agency", "electronic_id", agencies)
        _upsert(cur, "core.procedure", "code", procedures)
        plan_rows = [{k: v for k, v in dataclasses.asdict(p).items()
                      if k not in ("scope_unit_keys", "targets", "indicators", "signing")} for p in plans]
        _upsert(cur, "core.plan", "plan_code", plan_rows)
        _upsert(cur, "core.plan_scope", "plan_code, unit_key",
                [{"plan_code": p.plan_code, "unit_key": k} for p in plans for k in p.scope_unit_keys])
        _upsert(cur, "core.plan_target", "plan_code, level, year",
                [{"plan_code": p.plan_code, "level": lv, "year": y, "target_pct": pct}
                 for p in plans for lv, y, pct in p.targets])
        _upsert(cur, "core.plan_indicator_target", "plan_code, indicator, level, year",
                [{"plan_code": p.plan_code, "indicator": ind, "level": lv, "year": y, "target_pct": pct}
                 for p in plans for ind, lv, y, pct in p.indicators])
        _upsert(cur, "core.plan_signing_rule", "plan_code, level",
                [{"plan_code": p.plan_code, "level": lv, "required_from": d} for p in plans for lv, d in p.signing])
        _upsert(cur, "core.cost_rate", "version, procedure_code", cost_rates)
        # Remove what disappeared from the seeds (children first).
        _delete_missing(cur, "core.cost_rate", ("version", "procedure_code"),
                        [(r.version, r.procedure_code) for r in cost_rates])
        _delete_missing(cur, "core.plan_signing_rule", ("plan_code", "level"),
                        [(p.plan_code, lv) for p in plans for lv, _ in p.signing])
        _delete_missing(cur, "core.plan_indicator_target", ("plan_code", "indicator", "level", "year"),
                        [(p.plan_code, ind, lv, y) for p in plans for ind, lv, y, _ in p.indicators])
        _delete_missing(cur, "core.plan_target", ("plan_code", "level", "year"),
                        [(p.plan_code, lv, y) for p in plans for lv, y, _ in p.targets])
        _delete_missing(cur, "core.plan_scope", ("plan_code", "unit_key"),
                        [(p.plan_code, k) for p in plans for k in p.scope_unit_keys])
        _delete_missing(cur, "core.plan", ("plan_code",), [(p.plan_code,) for p in plans])
        _delete_missing(cur, "core.procedure", ("code",), [(p.code,) for p in procedures])
        _delete_missing(cur, "core.agency", ("electronic_id",), [(a.electronic_id,) for a in agencies])
        _delete_missing(cur, "core.unit_crosswalk", ("old_unit_key", "new_unit_key"),
                        [(c.old_unit_key, c.new_unit_key) for c in cross])
        _delete_missing(cur, "core.admin_unit", ("unit_key",), [(u.unit_key,) for u in unit_rows])

        counts = {"admin_unit": len(unit_rows), "unit_crosswalk": len(cross), "agency": len(agencies),
                  "procedure": len(procedures), "plan": len(plans)}
        versions = {"admin_unit": units.source_version(), "unit_crosswalk": units.source_version(),
                    "agency": "seeds/agencies.csv", "procedure": "seeds/procedures.yaml", "plan": "seeds/plans/*.yaml"}
        payloads = {"admin_unit": unit_rows, "unit_crosswalk": cross, "agency": agencies,
                    "procedure": procedures, "plan": plans}
        for dataset, rows in payloads.items():
            cur.execute(
                """INSERT INTO ops.reference_load (dataset, version, row_count, checksum)
                   VALUES (%s, %s, %s, %s)
                   ON CONFLICT (dataset) DO UPDATE
                   SET version = EXCLUDED.version, row_count = EXCLUDED.row_count,
                       checksum = EXCLUDED.checksum, loaded_at = now()
                   WHERE ops.reference_load.checksum IS DISTINCT FROM EXCLUDED.checksum""",
                (dataset, versions[dataset], len(rows), _checksum(rows)))
    log.info("reference data loaded: %s", counts)
    return counts


def _as_dict(row) -> dict:
    return row if isinstance(row, dict) else dataclasses.asdict(row)


def _upsert(cur, table: str, key: str, rows) -> None:
    if not rows:
        return
    dicts = [_as_dict(r) for r in rows]
    columns = list(dicts[0])
    key_cols = [k.strip() for k in key.split(",")]
    updates = [c for c in columns if c not in key_cols]
    set_clause = ", ".join(f"{c} = EXCLUDED.{c}" for c in updates)
    changed = " OR ".join(f"{table}.{c} IS DISTINCT FROM EXCLUDED.{c}" for c in updates)
    conflict = f"DO UPDATE SET {set_clause} WHERE {changed}" if updates else "DO NOTHING"
    # Parents before children within a self-referencing table (units, agencies).
    execute_values(cur, f"INSERT INTO {table} ({', '.join(columns)}) VALUES %s ON CONFLICT ({key}) {conflict}",
                   [tuple(d[c] for c in columns) for d in dicts], page_size=1000)


def _delete_missing(cur, table: str, key_cols: tuple[str, ...], keep: list[tuple]) -> None:
    cols = ", ".join(key_cols)
    if not keep:
        cur.execute(f"DELETE FROM {table}")
        return
    placeholder = "(" + ", ".join(["%s"] * len(key_cols)) + ")"
    values = ", ".join(cur.mogrify(placeholder, k).decode() for k in keep)
    cur.execute(f"DELETE FROM {table} WHERE ({cols}) NOT IN ({values}) RETURNING {cols}")
    removed = cur.fetchall()
    if removed:
        log.info("%s: removed %d rows no longer in the seeds: %s", table, len(removed), removed[:5])


def _checksum(rows) -> str:
    canonical = json.dumps([_as_dict(r) for r in rows], sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
