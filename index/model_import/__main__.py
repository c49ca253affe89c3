"""``python -m index.model_import``: see index/model_import/cli.py."""
import sys

from index.model_import.cli import main

sys.exit(main())
