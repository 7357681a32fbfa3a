"""`python -m tthc.progress` is an alias of `tthc progress` (tthc.commands)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from tthc.commands import main as tthc

    return tthc(["progress", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
