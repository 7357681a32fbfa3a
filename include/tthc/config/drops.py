"""The typed model of a drop-zone file (drops/*.yaml); docs/scans.md explains each key and
docs/schemas/drop.schema.json is generated from this model (tthc config schema)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator, model_validator
from pydantic import ConfigDict

from tthc.config.sources import NAME_PATTERN, ShortForm, Strict
from typing import Literal

MAX_CHUNK = 1024  # Airflow's max_map_length: a mapped task list never holds more files than this


class S3Model(Strict):
    # Endpoint, region and keys belong to the Airflow connection, never to the YAML.
    conn_id: str = Field("tthc_s3", description="the Airflow AWS connection of the bucket (docs/connections.md)")

    @model_validator(mode="before")
    @classmethod
    def _only_conn_id(cls, data):
        if isinstance(data, dict) and set(data) - {"conn_id"}:
            raise ValueError("only conn_id is allowed (an Airflow AWS connection; endpoint, region and keys go "
                             f"in the connection), got {sorted(data)}")
        return data


class ManifestModel(ShortForm):
    __short_form__ = "path"
    path: str = Field(description="the sidecar manifest, relative to location (.csv or .json)")
    file_column: str = Field("file_name", description="the manifest column naming the file")

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data):
        return {"path": data} if isinstance(data, str) else data

    @field_validator("path")
    @classmethod
    def _kind(cls, value):
        if not value.lower().endswith((".csv", ".json")):
            raise ValueError(f"manifest {value!r} must be a .csv or .json file")
        return value


class StabilityModel(Strict):
    min_age_seconds: float = Field(300, ge=0, description="a file older than this is stable")
    settle_seconds: float = Field(60, ge=0, description="else: unchanged size and mtime over this window")


class ReviewModel(Strict):
    # Above 1 sends every file to the review queue (confidences never exceed 1).
    min_confidence: float = Field(0.6, ge=0, description="overall confidence below this -> review queue")
    min_field_confidence: float = Field(0.5, ge=0, description="a required field below this -> review queue")


class OcrModel(Strict):
    lang: str = "vie"
    dpi: int = Field(300, ge=50, le=1200)
    min_text_chars: int = Field(40, ge=0, description="a PDF page with fewer characters in its text layer is OCRed")


class SigningModel(Strict):
    enabled: bool = False
    key_path: str | None = None
    cert_path: str | None = None
    passphrase_env: str | None = Field(None, description="the environment variable holding the key's passphrase")
    field_name: str = Field("TTHC_Digitized", description="the signature field of the digitized copy")
    ca_chain: list[str] = Field(default_factory=list, description="intermediate CA certificates to embed")

    @model_validator(mode="after")
    def _needs_key(self):
        if self.enabled and not (self.key_path and self.cert_path):
            raise ValueError("signing.enabled needs signing.key_path and signing.cert_path")
        return self


class DropFile(Strict):
    """One scan drop zone: where scans arrive, where they are archived, the rules of intake."""
    model_config = ConfigDict(extra="forbid", frozen=True, title="TTHC scan drop zone (drops/*.yaml)")

    name: str = Field(description="the drop zone id: lowercase letters, digits and _",
                      json_schema_extra={"pattern": NAME_PATTERN})
    description_vi: str = ""
    location: str = Field(min_length=1, description="folder, file:///path or s3://bucket/prefix")
    archive: str = Field(min_length=1, description="folder or s3://bucket/prefix: the immutable archive, by hash")
    signed_archive: str | None = Field(None, description="where signed copies go (default: <archive>/signed)")
    s3: S3Model = Field(default_factory=S3Model)
    manifest: ManifestModel | None = None
    stability: StabilityModel = Field(default_factory=StabilityModel)
    max_size_mb: float | None = Field(None, gt=0, description="largest accepted file; default TTHC_SCAN_MAX_FILE_MB")
    steps: list[str] | None = Field(None, description="the intake steps to run (tthc.scans.steps.names); "
                                    "default: every step, sign only when signing.enabled")
    after_commit: Literal["keep", "delete"] = "keep"
    review: ReviewModel = Field(default_factory=ReviewModel)
    ocr: OcrModel = Field(default_factory=OcrModel)
    chunk_size: int = Field(MAX_CHUNK, ge=1, le=MAX_CHUNK, description="files per mapped OCR task (Airflow max_map_length)")
    pool: str = Field("ocr", description="the Airflow pool that bounds concurrent OCR tasks")
    trust_roots: list[str] | None = Field(None, description="CA certificates signed scans must chain to "
                                                            "(default: TTHC_SCAN_TRUST_ROOTS)")
    signing: SigningModel = Field(default_factory=SigningModel)
    schedule: str = "@hourly"
    start_date: str = "2024-01-01"

    @field_validator("name")
    @classmethod
    def _name(cls, value):
        if not re.fullmatch(NAME_PATTERN, value):
            raise ValueError(f"{value!r} must be lowercase letters, digits and _ (3-41 characters)")
        return value

    @field_validator("start_date", "schedule", mode="before")
    @classmethod
    def _text(cls, value):
        return str(value)

    @field_validator("s3", "stability", "review", "ocr", "signing", mode="before")
    @classmethod
    def _empty(cls, value):
        return {} if value is None else value
