"""Realistic, deterministic demo data for the TTHC digitization platform.

``generate(out_dir, seed=42, size=1000, permits_url=None, scans=None)`` writes the
legacy sources (civil-status SQLite, household-business CSV/XLSX, construction
permits on a second engine), the inventory and exclusion lists, dossiers, a scan
drop, and the ground truth, and returns the manifest. See README.md beside this
file, or run ``python -m tthc_dev.demo_data --help``.
"""

from tthc_dev.demo_data.generator import GENERATOR_VERSION, default_scans, generate
from tthc_dev.demo_data.sources import permits_table_digests

__all__ = ["GENERATOR_VERSION", "default_scans", "generate", "permits_table_digests"]
