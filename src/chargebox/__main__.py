"""`python -m chargebox` is the `chargebox` command (an OCPP Reset re-executes it)."""

import sys

from chargebox.cli import main

sys.exit(main())
