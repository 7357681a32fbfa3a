import sys

from tthc.cli import main

sys.exit(main())
