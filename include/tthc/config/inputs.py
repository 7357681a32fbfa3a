"""Typed model of config/progress_inputs.yaml: the files the plan's other indicators are read from."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from tthc.config.sources import Strict


class ProgressInputsFile(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC progress inputs (config/progress_inputs.yaml)")
    dossiers: str = Field(min_length=1, description="the one-stop system's dossier export (CSV, docs/progress.md)")
    one_stop_offices: str = Field(min_length=1, description="the register of one-stop offices (CSV, docs/progress.md)")
