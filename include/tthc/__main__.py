import sys

from tthc.commands import main

sys.exit(main())
