"""`python -m tthc.alerts` is an alias of `tthc alerts` (tthc.commands; docs/alerts.md)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from tthc.commands import main as tthc

    return tthc(["alerts", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
