"""Load a generated demo dataset (tthc_dev.demo_data) into a warehouse through the real pipeline:
every legacy source over one wide interval, the exclusion list, the declared inventory and
the indicator inputs. Used by the progress tests and handy for a local demo."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from tthc.settings import LOCAL_TZ

TZ = LOCAL_TZ


def load_demo(url: str, demo_dir: Path | str) -> dict:
    from tthc.born_digital import check_e_copies
    from tthc.inventory import load_inventory
    from tthc.progress.loaders import load_dossiers, load_one_stop_offices
    from tthc.sources.config import load_sources
    from tthc.sources.exclusions import load_exclusions
    from tthc.sources.pipeline import run_batch

    demo_dir = Path(demo_dir)
    previous = os.environ.get("TTHC_DEMO_DATA_DIR")
    os.environ["TTHC_DEMO_DATA_DIR"] = str(demo_dir)
    out: dict = {}
    try:
        for cfg in load_sources():
            if cfg.kind == "exclusion":
                out[cfg.name] = load_exclusions(cfg, url)
            else:
                out[cfg.name] = run_batch(cfg, url, dt.datetime(1990, 1, 1, tzinfo=TZ), dt.datetime(2030, 1, 1, tzinfo=TZ))
        out["signed_copies"] = check_e_copies(url)   # the source DAGs' last step; the demo's e-copies and CA
    finally:
        if previous is None:
            os.environ.pop("TTHC_DEMO_DATA_DIR", None)
        else:
            os.environ["TTHC_DEMO_DATA_DIR"] = previous
    out["inventory"] = load_inventory(demo_dir / "inventory_declared.csv", url)
    out["dossiers"] = load_dossiers(demo_dir / "dossiers.csv", url)
    out["one_stop_offices"] = load_one_stop_offices(demo_dir / "one_stop_offices.csv", url)
    return out
