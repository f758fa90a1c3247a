"""Make `server/` importable when the project is not pip-installed."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
for src in ("server", "operator"):
    if str(ROOT / src) not in sys.path:
        sys.path.insert(0, str(ROOT / src))
