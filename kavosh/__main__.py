"""``python -m kavosh``: the same as the ``kavosh`` command."""
import sys

from kavosh.cli import main

sys.exit(main())
