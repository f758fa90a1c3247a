"""`python -m mlmodel_operator` behaves like `mlmodel operator`."""

import sys

from mlmodel_operator.cli import main

sys.exit(main())
