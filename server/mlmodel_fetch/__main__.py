"""`python -m mlmodel_fetch` behaves like `mlmodel fetch`."""

import sys

from mlmodel_fetch.cli import main

sys.exit(main())
