"""JSON Schemas of the YAML files, generated from the models, for editors that validate as you
type (the YAML language server: `# yaml-language-server: $schema=…` in a file, or settings).
`tthc config schema` writes them to docs/schemas/; a test keeps the committed ones current."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from tthc.paths import project_root


def models() -> dict[str, type[BaseModel]]:
    from tthc.config.alerts import AlertsFile
    from tthc.config.drops import DropFile
    from tthc.config.inputs import ProgressInputsFile
    from tthc.config.scan_fields import ScanFieldsFile
    from tthc.config.seeds import CostRatesFile, PlanFile, ProceduresFile
    from tthc.config.sources import SourceFile
    from tthc.progress.report_config import ReportConfig

    return {"source": SourceFile, "drop": DropFile, "alerts": AlertsFile, "reports": ReportConfig,
            "scan_fields": ScanFieldsFile, "procedures": ProceduresFile, "cost_rates": CostRatesFile,
            "plan": PlanFile, "progress_inputs": ProgressInputsFile}


def schema_dir() -> Path:
    return project_root() / "docs" / "schemas"


def write_schemas(directory: Path | None = None) -> list[Path]:
    """docs/schemas/<name>.schema.json for every model; returns the files written."""
    directory = directory or schema_dir()
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in models().items():
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"} | model.model_json_schema(mode="validation")
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written
