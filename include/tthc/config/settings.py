"""Every runtime setting, read from the environment here and nowhere else.

The README's "Settings" table documents each variable; keep the two in sync. The project root
(TTHC_PROJECT_ROOT) and the local state folder (TTHC_LOCAL_DIR) are read by tthc.paths, which
every default below is relative to. Settings are read afresh on each settings() call, so a
changed environment (a test, a subprocess) is seen.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tthc.config.errors import ConfigError
from tthc.paths import local_dir, project_root, seeds_dir

# The province's time zone: legacy databases keep local wall-clock times, schedules and reports are local.
TIMEZONE = "Asia/Ho_Chi_Minh"
LOCAL_TZ = ZoneInfo(TIMEZONE)


def env(name: str, *more: str):
    """An optional setting and the environment variable(s) it is read from, first set wins."""
    return Field(None, validation_alias=AliasChoices(name, *more) if more else name)


def _paths(value):
    """An os.pathsep-separated list of files."""
    if value is None:
        return None
    if isinstance(value, str):
        return tuple(Path(p) for p in value.split(os.pathsep) if p)
    return tuple(Path(p) for p in value)


class _Env(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, extra="ignore", frozen=True)


class AppSettings(_Env):
    """The lookup/statistics application (tthc.app, `tthc serve`); docs/app.md."""
    database_url: str | None = env("TTHC_APP_DATABASE_URL")   # a login of the tthc_app role; None: provision one
    secret: str | None = env("TTHC_APP_SECRET")               # signs session tokens; None: random per process
    cookie_secure: bool = Field(True, validation_alias="TTHC_APP_COOKIE_SECURE")  # off only for plain-http development
    token_minutes: int = Field(30, validation_alias="TTHC_APP_TOKEN_MINUTES")
    login_max_failures: int = Field(5, validation_alias="TTHC_APP_LOGIN_MAX_FAILURES")  # per user name and per address
    login_window_minutes: int = Field(15, validation_alias="TTHC_APP_LOGIN_WINDOW_MINUTES")
    pool_size: int = Field(16, validation_alias="TTHC_APP_POOL_SIZE")   # database connections per process
    threads: int = Field(2, validation_alias="TTHC_APP_THREADS")        # threads for blocking work per process
    demo_password: str | None = env("TTHC_DEMO_PASSWORD")  # demo accounts' password; None: generated, printed once
    # Verified API keys kept in memory per process (cleared on any NOTIFY of a change); 0: off.
    key_cache_seconds: int = Field(30, ge=0, validation_alias="TTHC_APP_KEY_CACHE_SECONDS")

    @classmethod
    def from_env(cls) -> "AppSettings":
        return _read(cls)



class ScanLimits(_Env):
    """What one scan file may cost the worker (defaults fit a 2-core, 24 GB worker with two OCR
    processes). A file over a limit is quarantined with the limit named; the batch goes on."""
    max_file_mb: int = Field(200, ge=1, validation_alias="TTHC_SCAN_MAX_FILE_MB")  # a zone's max_size_mb overrides it
    # 100 M pixels: an A3 page at 600 dpi (70 M) fits; a 20000 x 20000 image (400 M) does not.
    max_image_pixels: int = Field(100_000_000, ge=1, validation_alias="TTHC_SCAN_MAX_IMAGE_PIXELS")
    # 3370 pt: the long side of A0 (1189 mm); larger pages are posters, not records.
    max_page_points: float = Field(3370, gt=0, validation_alias="TTHC_SCAN_MAX_PAGE_POINTS")
    max_pages: int = Field(300, ge=1, validation_alias="TTHC_SCAN_MAX_PAGES")  # pages (PDF) or frames (TIFF)
    # Temporary copies of scans (personal data) live here, never in the system temp folder.
    work_dir: Path | None = env("TTHC_WORK_DIR")

    @model_validator(mode="after")
    def _derived(self):
        object.__setattr__(self, "work_dir", Path(self.work_dir or local_dir() / "work").resolve())
        return self

    @property
    def max_file_bytes(self) -> int:
        return self.max_file_mb * 1024 * 1024

    @classmethod
    def from_env(cls) -> "ScanLimits":
        return _read(cls)


class Settings(_Env):
    warehouse_url: str | None = env("WAREHOUSE_URL")
    warehouse_conn_id: str = Field("tthc_warehouse", validation_alias="TTHC_WAREHOUSE_CONN_ID")
    local_dir: Path = Field(default_factory=local_dir, validation_alias="TTHC_LOCAL_DIR")
    seeds_dir: Path = Field(default_factory=seeds_dir, validation_alias="TTHC_SEEDS_DIR")
    sources_dir: Path = Field(default_factory=lambda: project_root() / "sources", validation_alias="TTHC_SOURCES_DIR")
    drops_dir: Path = Field(default_factory=lambda: project_root() / "drops", validation_alias="TTHC_DROPS_DIR")
    alerts_config: Path = Field(default_factory=lambda: project_root() / "config" / "alerts.yaml",
                                validation_alias="TTHC_ALERTS_CONFIG")
    reports_config: Path = Field(default_factory=lambda: project_root() / "config" / "reports.yaml",
                                 validation_alias="TTHC_REPORTS_CONFIG")
    reports_dir: Path | None = env("TTHC_REPORTS_DIR")   # None: .local/reports
    demo_seed: int = Field(42, validation_alias="TTHC_DEMO_SEED")
    demo_size: int = Field(1000, validation_alias="TTHC_DEMO_SIZE")
    demo_data_dir: Path | None = env("TTHC_DEMO_DATA_DIR")   # None: .local/demo-data
    inventory_dir: Path | None = env("TTHC_INVENTORY_DIR")   # None: the demo data folder
    inventory_glob: str = Field("inventory*.csv", validation_alias="TTHC_INVENTORY_GLOB")
    # Key of the HMAC that matches a personal ID to its holder inside core; no default:
    # require_holder_key_secret() refuses to go on without a real one.
    holder_key_secret: str | None = env("TTHC_HOLDER_KEY_SECRET")
    # Processes that clean a large source's rows beside the one that reads and COPYs them.
    clean_workers: int = Field(default_factory=lambda: min(2, os.cpu_count() or 1), validation_alias="TTHC_CLEAN_WORKERS")
    # Born-digital copies: where a source's signed_copy_ref is resolved (folder, s3://bucket/prefix
    # or http(s)://host/path), the write-once archive they are kept in, the CAs their signatures
    # must chain to (os.pathsep-separated PEM files).
    signed_copy_base: str | None = env("TTHC_SIGNED_COPY_BASE")
    signed_copy_archive: str | None = env("TTHC_SIGNED_COPY_ARCHIVE", "TTHC_SCAN_ARCHIVE")
    signed_copy_trust_roots: Annotated[tuple[Path, ...] | None, NoDecode] = env("TTHC_SIGNED_COPY_TRUST_ROOTS", "TTHC_SCAN_TRUST_ROOTS")
    # CA certificates a drop zone's signed scans chain to when its YAML names none.
    scan_trust_roots: Annotated[tuple[Path, ...], NoDecode] = Field((), validation_alias="TTHC_SCAN_TRUST_ROOTS")
    # Scan intake: OCR engine (auto | tesserocr | pytesseract), OCR processes, their start method, the stamp font.
    ocr_engine: str = Field("auto", validation_alias="TTHC_OCR_ENGINE")
    ocr_workers: str | None = env("TTHC_OCR_WORKERS")
    ocr_start_method: str | None = env("TTHC_OCR_START_METHOD")
    tessdata_prefix: str | None = env("TESSDATA_PREFIX")
    stamp_font: Path | None = env("TTHC_STAMP_FONT")
    # Orchestration: retries of every task; deadline (late run) alerts on or off.
    task_retries: int = Field(2, validation_alias="TTHC_TASK_RETRIES")
    deadline_alerts: bool = Field(True, validation_alias="TTHC_DEADLINE_ALERTS")
    airflow_base_url: str | None = env("TTHC_AIRFLOW_BASE_URL", "AIRFLOW__API__BASE_URL")
    data_docs_dir: Path | None = env("TTHC_DATA_DOCS_DIR")
    result_code_template: str | None = env("TTHC_RESULT_CODE_TEMPLATE")
    chromium: str = Field("/usr/bin/chromium", validation_alias="TTHC_CHROMIUM")
    embedded_pgdata: Path | None = env("TTHC_EMBEDDED_PGDATA")   # None: .local/pgdata
    # Longest value a legacy file source may hold; a longer one quarantines its row.
    max_field_chars: int = Field(65_536, ge=1, validation_alias="TTHC_MAX_FIELD_CHARS")
    embedded_port: int = Field(54329, ge=1, le=65535, validation_alias="TTHC_EMBEDDED_PORT")  # also on 127.0.0.1
    progress_inputs_config: Path = Field(default_factory=lambda: project_root() / "config" / "progress_inputs.yaml",
                                         validation_alias="TTHC_PROGRESS_INPUTS_CONFIG")

    _paths = field_validator("signed_copy_trust_roots", "scan_trust_roots", mode="before")(
        classmethod(lambda cls, v: _paths(v)))

    @field_validator("deadline_alerts", mode="before")
    @classmethod
    def _switch(cls, value):
        return str(value).strip().lower() not in {"off", "0", "false", "no"}

    @model_validator(mode="after")
    def _derived(self):
        """Defaults that follow other settings (the demo data folder, the born-digital copies)."""
        set_ = object.__setattr__  # frozen: fill the derived defaults once, here
        set_(self, "demo_data_dir", Path(self.demo_data_dir or self.local_dir / "demo-data").resolve())
        set_(self, "inventory_dir", Path(self.inventory_dir or self.demo_data_dir).resolve())
        set_(self, "seeds_dir", Path(self.seeds_dir).resolve())
        for name in ("sources_dir", "drops_dir", "alerts_config", "reports_config"):
            set_(self, name, Path(getattr(self, name)).resolve())
        set_(self, "reports_dir", Path(self.reports_dir or self.local_dir / "reports"))
        set_(self, "embedded_pgdata", Path(self.embedded_pgdata or self.local_dir / "pgdata").resolve())
        set_(self, "signed_copy_base", self.signed_copy_base or str(self.demo_data_dir / "e_copies"))
        set_(self, "signed_copy_archive", self.signed_copy_archive or str(self.local_dir / "scan_archive"))
        if self.signed_copy_trust_roots is None:
            set_(self, "signed_copy_trust_roots", (self.demo_data_dir / "e_copies_ca" / "ca.pem",))
        return self

    @property
    def app(self) -> AppSettings:
        """The application's settings (TTHC_APP_*)."""
        return AppSettings.from_env()

    @classmethod
    def from_env(cls) -> "Settings":
        return _read(cls)


def _read(cls):
    """The settings from the environment; a bad value is one line naming the variable."""
    try:
        return cls()
    except ValidationError as exc:
        problems = []
        for e in exc.errors(include_url=False):
            name = e["loc"][-1] if e["loc"] else "?"
            problems.append(f"environment variable {name}={e.get('input')!r}: {e['msg'][:1].lower()}{e['msg'][1:]}")
        raise ConfigError("; ".join(problems)) from None


class MissingSecretError(RuntimeError):
    """A required secret is not set, or is a known public value."""


# Values printed in documentation and examples: a key anyone can read is no key.
_PUBLIC_SECRETS = frozenset({"dev-only-not-secret", "changeme", "secret"})
MIN_SECRET_LENGTH = 16


def check_holder_key_secret(secret: str | None, origin: str = "TTHC_HOLDER_KEY_SECRET") -> str:
    """The secret itself, or MissingSecretError naming where it should come from."""
    if not secret:
        raise MissingSecretError(f"{origin} is not set: the holder matching key needs a secret "
                                 "(make demo generates one under .local/; see README, Settings)")
    if secret in _PUBLIC_SECRETS or secret.startswith("change-me") or len(secret) < MIN_SECRET_LENGTH:
        raise MissingSecretError(f"{origin} is a placeholder or short value: use a random secret of "
                                 f"at least {MIN_SECRET_LENGTH} characters")
    return secret


def require_holder_key_secret() -> str:
    """TTHC_HOLDER_KEY_SECRET, checked: every task that matches holders calls this before it starts."""
    return check_holder_key_secret(settings().holder_key_secret)


_cache: dict[tuple, Settings] = {}


def settings() -> Settings:
    """The settings of the current environment (reading them takes milliseconds: kept per environment)."""
    key = tuple(sorted(os.environ.items()))
    found = _cache.get(key)
    if found is None:
        if len(_cache) > 32:
            _cache.clear()
        found = _cache[key] = Settings.from_env()
    return found


