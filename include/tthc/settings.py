"""Every runtime setting, read from the environment in one place.

The README's "Settings" table documents each variable; keep the two in sync.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tthc.paths import local_dir, seeds_dir


@dataclass(frozen=True)
class Settings:
    warehouse_url: str | None
    warehouse_conn_id: str
    local_dir: Path
    seeds_dir: Path
    demo_seed: int
    demo_size: int
    demo_data_dir: Path
    inventory_dir: Path
    inventory_glob: str
    holder_key_secret: str
    clean_workers: int
    signed_copy_base: str
    signed_copy_archive: str
    signed_copy_trust_roots: tuple[Path, ...]
    app: "AppSettings"

    @classmethod
    def from_env(cls) -> "Settings":
        local = local_dir()
        demo_data_dir = Path(os.environ.get("TTHC_DEMO_DATA_DIR", local / "demo-data")).resolve()
        return cls(
            warehouse_url=os.environ.get("WAREHOUSE_URL") or None,
            warehouse_conn_id=os.environ.get("TTHC_WAREHOUSE_CONN_ID", "tthc_warehouse"),
            local_dir=local,
            seeds_dir=Path(os.environ.get("TTHC_SEEDS_DIR", seeds_dir())).resolve(),
            demo_seed=_int_env("TTHC_DEMO_SEED", 42),
            demo_size=_int_env("TTHC_DEMO_SIZE", 1000),
            demo_data_dir=demo_data_dir,
            inventory_dir=Path(os.environ.get("TTHC_INVENTORY_DIR", demo_data_dir)).resolve(),
            inventory_glob=os.environ.get("TTHC_INVENTORY_GLOB", "inventory*.csv"),
            # Key of the HMAC that pseudonymizes personal IDs; override in production.
            holder_key_secret=os.environ.get("TTHC_HOLDER_KEY_SECRET", "dev-only-not-secret"),
            # Processes that clean a large source's rows beside the one that reads and COPYs them.
            clean_workers=_int_env("TTHC_CLEAN_WORKERS", min(2, os.cpu_count() or 1)),
            # Born-digital copies: where a source's signed_copy_ref is resolved (folder, s3://bucket/prefix
            # or http(s)://host/path), the write-once archive they are kept in, the CAs their signatures
            # must chain to (os.pathsep-separated PEM files).
            signed_copy_base=os.environ.get("TTHC_SIGNED_COPY_BASE") or str(demo_data_dir / "e_copies"),
            signed_copy_archive=(os.environ.get("TTHC_SIGNED_COPY_ARCHIVE") or os.environ.get("TTHC_SCAN_ARCHIVE")
                                 or str(local / "scan_archive")),
            signed_copy_trust_roots=tuple(Path(p) for p in (
                os.environ.get("TTHC_SIGNED_COPY_TRUST_ROOTS")
                or os.environ.get("TTHC_SCAN_TRUST_ROOTS")
                or str(demo_data_dir / "e_copies_ca" / "ca.pem")).split(os.pathsep) if p),
            app=AppSettings.from_env(),
        )


@dataclass(frozen=True)
class AppSettings:
    """The lookup/statistics application (tthc.app, `tthc serve`); docs/app.md."""
    database_url: str | None       # a login of the tthc_app role; None: provision tthc_app_login
    secret: str | None             # signs session tokens; None: random per process (sessions end on restart)
    cookie_secure: bool            # Secure flag on cookies (off only for plain-http development)
    token_minutes: int             # lifetime of a session / bearer token
    login_max_failures: int        # per user name and per client address, in the window below
    login_window_minutes: int
    pool_size: int                 # database connections per process
    threads: int                   # threads for blocking work per process (tthc serve)
    demo_password: str | None      # demo accounts' password; None: generated and printed once
    key_cache_seconds: int = 30    # verified API keys kept in memory (cleared on any NOTIFY); 0: off

    @classmethod
    def from_env(cls) -> "AppSettings":
        return cls(
            database_url=os.environ.get("TTHC_APP_DATABASE_URL") or None,
            secret=os.environ.get("TTHC_APP_SECRET") or None,
            cookie_secure=os.environ.get("TTHC_APP_COOKIE_SECURE", "1").lower() not in ("0", "false", "no"),
            token_minutes=_int_env("TTHC_APP_TOKEN_MINUTES", 30),
            login_max_failures=_int_env("TTHC_APP_LOGIN_MAX_FAILURES", 5),
            login_window_minutes=_int_env("TTHC_APP_LOGIN_WINDOW_MINUTES", 15),
            pool_size=_int_env("TTHC_APP_POOL_SIZE", 16),
            threads=_int_env("TTHC_APP_THREADS", 2),
            demo_password=os.environ.get("TTHC_DEMO_PASSWORD") or None,
            key_cache_seconds=_int_env("TTHC_APP_KEY_CACHE_SECONDS", 30),
        )


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc
