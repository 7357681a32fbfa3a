"""Helper process for household_business.xlsx: reads JSON rows on stdin, writes the workbook.

Started by :class:`tthc_dev.demo_data.sources.XlsxSink` as ``python -m tthc_dev.demo_data._xlsx_writer
FINAL TMP``. One JSON array per line; a line ``"ABORT"`` ends without writing. Running it as a
plain subprocess (rather than through multiprocessing) works from any caller, including
scripts without an ``if __name__ == "__main__"`` guard.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from tthc_dev.demo_data.sources import _new_workbook, _save_workbook

    final_path, tmp_path = Path(argv[0]), Path(argv[1])
    wb, ws = _new_workbook()
    append = ws.append
    loads = json.loads
    for line in sys.stdin.buffer:
        row = loads(line)
        if row == "ABORT":
            return 0
        append(row)
    _save_workbook(wb, tmp_path, final_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
