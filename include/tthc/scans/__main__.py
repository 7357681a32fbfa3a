"""python -m tthc.scans …: an alias of `tthc scans …`."""

import sys

from tthc.scans.cli import main

sys.exit(main())
