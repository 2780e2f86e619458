"""``python3 -m minicnn ...`` runs the ``minicnn`` command (for when pip's script folder is not on
the PATH)."""

import sys

from minicnn.cli import main

sys.exit(main())
