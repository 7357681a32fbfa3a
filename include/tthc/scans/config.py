"""Drop-zone definitions (drops/*.yaml): where scans arrive, where they are archived, the rules.

See docs/scans.md for the reference of every key. `${VAR}` / `${VAR:-default}` are
expanded from the environment (tthc.config.files).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from tthc.config.drops import MAX_CHUNK, DropFile  # noqa: F401
from tthc.config.errors import validate
from tthc.config.files import read_mapping
from tthc.paths import project_root
from tthc.scans.steps.names import default_steps, resolve_steps
from tthc.settings import ScanLimits, settings
from tthc.sources.config import SourceConfigError, config_named, load_config_folder, read_config_folder



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
    steps: tuple[str, ...] = default_steps(False)   # the intake chain (tthc.scans.steps), in order

    @property
    def source(self) -> str:
        """The source name of this drop's rows (ops.batch, staging, quarantine, lineage)."""
        return f"scan.{self.name}"

    @property
    def dag_id(self) -> str:
        return f"tthc_scan_drop_{self.name}"


def drops_dir() -> Path:
    return settings().drops_dir


def load_drop(path: Path) -> DropZone:
    where = path.name
    doc = read_mapping(path, DropConfigError, expand="text")
    # An empty ${VAR:-} means "not set": the key's default applies.
    doc = {k: v for k, v in doc.items() if v != ""} | {k: doc[k] for k in ("location", "archive") if k in doc}
    m = validate(DropFile, doc, where, DropConfigError)
    roots = m.trust_roots
    if roots is None:
        roots = list(settings().scan_trust_roots)
    archive = _local_path(m.archive.rstrip("/"))
    steps = resolve_steps(m.steps, m.signing.enabled, where, DropConfigError)
    if "sign" in steps and not (m.signing.key_path and m.signing.cert_path):
        raise DropConfigError(f"{where}: steps: sign needs signing.key_path and signing.cert_path")
    return DropZone(
        name=m.name, description_vi=m.description_vi,
        location=_local_path(m.location.rstrip("/")), archive=archive,
        signed_archive=_local_path((m.signed_archive or f"{archive}/signed").rstrip("/")),
        s3=S3Options(conn_id=m.s3.conn_id),
        manifest=m.manifest.path if m.manifest else None,
        manifest_key=m.manifest.file_column if m.manifest else "file_name",
        min_age_seconds=m.stability.min_age_seconds, settle_seconds=m.stability.settle_seconds,
        max_size_bytes=(int(m.max_size_mb * 1024 * 1024) if m.max_size_mb is not None
                        else ScanLimits.from_env().max_file_bytes),
        after_commit=m.after_commit,
        review_min_confidence=m.review.min_confidence, review_min_field_confidence=m.review.min_field_confidence,
        ocr_lang=m.ocr.lang, ocr_dpi=m.ocr.dpi, min_text_chars=m.ocr.min_text_chars,
        chunk_size=m.chunk_size, pool=m.pool,
        trust_roots=tuple(Path(r) for r in roots), signing=m.signing.model_dump(exclude_none=True),
        schedule=m.schedule, start_date=m.start_date, path=path, steps=steps)


def _local_path(location: str) -> str:
    """A relative folder ("drops/inbox") is the project's, not the current directory's; URIs stay as given."""
    if "://" in location or Path(location).expanduser().is_absolute():
        return location
    return str(project_root() / location)


def load_drops(directory: Path | None = None) -> list[DropZone]:
    return load_config_folder(directory or drops_dir(), load_drop, "drop-zone", DropConfigError)


def read_drops(directory: Path | None = None) -> tuple[list[DropZone], dict[Path, str]]:
    """The valid drop zones and the broken files with their errors."""
    return read_config_folder(directory or drops_dir(), load_drop, "drop-zone", DropConfigError)


def drop_named(name: str, directory: Path | None = None) -> DropZone:
    """A drop zone by its `name:`, by its file in the drops folder ("demo_scans.yaml", or the stem), or by the
    path of a YAML file anywhere. The error lists the known names."""
    folder = directory or drops_dir()
    as_path = Path(name).expanduser()
    if as_path.suffix in (".yaml", ".yml") and as_path.is_file():
        return load_drop(as_path.resolve())
    zones, broken = read_drops(directory)
    for zone in zones:
        if zone.name == name or (zone.path is not None and name in (zone.path.name, zone.path.stem)):
            return zone
    return config_named(zones, Path(name).stem, folder, "drop zone", DropConfigError, broken=broken)
