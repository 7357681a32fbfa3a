"""`python -m tthc.scans.cli` and `python -m tthc.scans` are aliases of `tthc scans` (tthc.commands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from tthc.commands import main as tthc

    return tthc(["scans", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
