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
    signed_copy_base: str
    signed_copy_archive: str
    signed_copy_trust_roots: tuple[Path, ...]

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
        )


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={raw!r} is not an integer") from exc
