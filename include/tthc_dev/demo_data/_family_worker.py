"""Second process of the generator: runs the "business" family (see generator.run_family).

Started by the generator as ``python -m tthc_dev.demo_data._family_worker JSON_ARGS``; writes its
state to ``<tmp>/.family_business.pkl``. A plain subprocess rather than multiprocessing, so
that callers need no ``if __name__ == "__main__"`` guard.
"""

from __future__ import annotations

import json
import logging
import pickle
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from tthc_dev.demo_data.generator import run_family

    logging.basicConfig(level=logging.DEBUG if "--debug" in argv else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kw = json.loads(argv[0])
    tmp = Path(kw.pop("tmp"))
    state = run_family("business", tmp, **kw)
    with (tmp / ".family_business.pkl").open("wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
