"""Drop-zone definitions (drops/*.yaml): where scans arrive, where they are archived, the rules.

See docs/scans.md for the reference of every key. `${VAR}` / `${VAR:-default}` are
expanded from the environment with tthc.sources.config.expand_env.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tthc.paths import project_root
from tthc.sources.config import SourceConfigError, config_named, expand_env, load_config_folder

MAX_CHUNK = 1024  # Airflow's max_map_length: a mapped task list never holds more files than this


class DropConfigError(SourceConfigError):
    pass


@dataclass(frozen=True)
class S3Options:
    # The Airflow AWS connection (endpoint_url and region_name in its extra, keys as login/password);
    # undefined: the AWS default credential chain.
    conn_id: str = "tthc_s3"


@dataclass(frozen=True)
class DropZone:
    name: str
    description_vi: str
    location: str                  # folder path, file:///path or s3://bucket/prefix
    archive: str                   # folder path or s3://bucket/prefix: the immutable archive, by hash
    signed_archive: str            # where signed copies go (default: <archive>/signed)
    s3: S3Options
    manifest: str | None           # sidecar manifest, relative to location (CSV or JSON)
    manifest_key: str              # the manifest column naming the file
    min_age_seconds: float         # a file older than this is stable
    settle_seconds: float          # else: unchanged size+mtime over this window
    max_size_bytes: int
    after_commit: str              # keep | delete
    review_min_confidence: float   # overall confidence below this -> review queue
    review_min_field_confidence: float   # a required field below this -> review queue
    ocr_lang: str
    ocr_dpi: int
    min_text_chars: int            # a PDF page with fewer real characters in its text layer is OCRed
    chunk_size: int
    pool: str
    trust_roots: tuple[Path, ...]
    signing: dict
    schedule: str
    start_date: str
    path: Path | None = None

    @property
    def source(self) -> str:
        """The source name of this drop's rows (ops.batch, staging, quarantine, lineage)."""
        return f"scan.{self.name}"

    @property
    def dag_id(self) -> str:
        return f"tthc_scan_drop_{self.name}"


def drops_dir() -> Path:
    return Path(os.environ.get("TTHC_DROPS_DIR", project_root() / "drops")).resolve()


def _float(doc: dict, key: str, default: float, where: str) -> float:
    try:
        return float(doc.get(key, default))
    except (TypeError, ValueError) as exc:
        raise DropConfigError(f"{where}: {key} must be a number, got {doc.get(key)!r}") from exc


KNOWN_KEYS = {"name", "description_vi", "location", "archive", "signed_archive", "s3", "manifest", "stability",
              "max_size_mb", "after_commit", "review", "ocr", "chunk_size", "pool", "trust_roots", "signing",
              "schedule", "start_date"}


def load_drop(path: Path) -> DropZone:
    where = path.name
    try:
        doc = yaml.safe_load(expand_env(path.read_text(encoding="utf-8"))) or {}
    except yaml.YAMLError as exc:
        raise DropConfigError(f"{where}: not valid YAML: {exc}") from exc
    unknown = set(doc) - KNOWN_KEYS
    if unknown:
        raise DropConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(KNOWN_KEYS)}")
    for key in ("name", "location", "archive"):
        if not doc.get(key):
            raise DropConfigError(f"{where}: missing required key {key!r}")
    if not re.fullmatch(r"[a-z][a-z0-9_]{2,40}", str(doc["name"])):
        raise DropConfigError(f"{where}: name {doc['name']!r} must be lowercase letters, digits and _")
    s3 = doc.get("s3") or {}
    if not isinstance(s3, dict) or set(s3) - {"conn_id"}:
        raise DropConfigError(f"{where}: s3: only conn_id is allowed (an Airflow AWS connection; endpoint, "
                              f"region and keys go in the connection), got {sorted(s3) if isinstance(s3, dict) else s3!r}")
    manifest = doc.get("manifest")
    manifest_key = "file_name"
    if isinstance(manifest, dict):
        manifest_key = manifest.get("file_column", manifest_key)
        manifest = manifest.get("path")
    if manifest and not str(manifest).lower().endswith((".csv", ".json")):
        raise DropConfigError(f"{where}: manifest {manifest!r} must be a .csv or .json file")
    stability = doc.get("stability") or {}
    after_commit = doc.get("after_commit", "keep")
    if after_commit not in ("keep", "delete"):
        raise DropConfigError(f"{where}: after_commit must be keep or delete, got {after_commit!r}")
    review = doc.get("review") or {}
    ocr = doc.get("ocr") or {}
    chunk = int(doc.get("chunk_size", MAX_CHUNK))
    if not 1 <= chunk <= MAX_CHUNK:
        raise DropConfigError(f"{where}: chunk_size must be 1..{MAX_CHUNK} (Airflow max_map_length), got {chunk}")
    signing = doc.get("signing") or {}
    if signing.get("enabled") and not (signing.get("key_path") and signing.get("cert_path")):
        raise DropConfigError(f"{where}: signing.enabled needs signing.key_path and signing.cert_path")
    roots = doc.get("trust_roots")
    if roots is None:
        roots = [r for r in os.environ.get("TTHC_SCAN_TRUST_ROOTS", "").split(os.pathsep) if r]
    archive = _local_path(str(doc["archive"]).rstrip("/"))
    return DropZone(
        name=doc["name"], description_vi=doc.get("description_vi", ""),
        location=_local_path(str(doc["location"]).rstrip("/")), archive=archive,
        signed_archive=_local_path(str(doc.get("signed_archive") or f"{archive}/signed").rstrip("/")),
        s3=S3Options(conn_id=str(s3.get("conn_id") or S3Options.conn_id)),
        manifest=str(manifest) if manifest else None, manifest_key=manifest_key,
        min_age_seconds=_float(stability, "min_age_seconds", 300, where),
        settle_seconds=_float(stability, "settle_seconds", 60, where),
        max_size_bytes=int(_float(doc, "max_size_mb", 200, where) * 1024 * 1024),
        after_commit=after_commit,
        review_min_confidence=_float(review, "min_confidence", 0.6, where),
        review_min_field_confidence=_float(review, "min_field_confidence", 0.5, where),
        ocr_lang=str(ocr.get("lang", "vie")), ocr_dpi=int(_float(ocr, "dpi", 300, where)),
        min_text_chars=int(_float(ocr, "min_text_chars", 40, where)),
        chunk_size=chunk, pool=str(doc.get("pool", "ocr")),
        trust_roots=tuple(Path(r) for r in roots), signing=dict(signing),
        schedule=str(doc.get("schedule", "@hourly")), start_date=str(doc.get("start_date", "2024-01-01")),
        path=path)


def _local_path(location: str) -> str:
    """A relative folder ("drops/inbox") is the project's, not the current directory's; URIs stay as given."""
    if "://" in location or Path(location).expanduser().is_absolute():
        return location
    return str(project_root() / location)


def load_drops(directory: Path | None = None) -> list[DropZone]:
    return load_config_folder(directory or drops_dir(), load_drop, "drop-zone", DropConfigError)


def drop_named(name: str, directory: Path | None = None) -> DropZone:
    """A drop zone by its `name:`, by its file in the drops folder ("demo_scans.yaml", or the stem), or by the
    path of a YAML file anywhere. The error lists the known names."""
    folder = directory or drops_dir()
    as_path = Path(name).expanduser()
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return load_drop(as_path.resolve())
    zones = load_drops(directory)
    for zone in zones:
        if zone.name == name or (zone.path is not None and name in (zone.path.name, zone.path.stem)):
            return zone
    return config_named(zones, name, folder, "drop zone", DropConfigError)
