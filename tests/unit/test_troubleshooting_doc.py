"""Every failure reason our processes can state has a row in the troubleshooting table that
the operator's Warning Events point to, so the pointer never leads nowhere."""

from __future__ import annotations

import re
from pathlib import Path

from mlmodel_fetch import errors as fetch_errors
from mlmodel_operator.status.events import TROUBLESHOOTING
from mlmodel_server import errors as server_errors
from mlmodel_server.selftest import SelfTestFailed

ROOT = Path(__file__).resolve().parents[2]


def table_reasons() -> set[str]:
    """The reasons in the first column of the section the Events name."""
    doc, anchor = TROUBLESHOOTING.split("#")
    text = (ROOT / doc).read_text()
    headings = [m for m in re.finditer(r"^#+ (.+)$", text, re.M) if m.group(1).lower() == anchor]
    assert len(headings) == 1, f"no single heading for #{anchor} in {doc}"
    section = text[headings[0].end() :].split("\n#", 1)[0]
    rows = [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`(\w+)`", row)}


def stated_reasons() -> set[str]:
    fetch = {v for k, v in vars(fetch_errors).items() if k.isupper() and isinstance(v, str)}
    server = {v for k, v in vars(server_errors).items() if k.isupper() and isinstance(v, str)}
    return fetch | server | {server_errors.ModelLoadError.reason, SelfTestFailed.reason}


def test_every_stated_reason_has_a_troubleshooting_row() -> None:
    missing = stated_reasons() - table_reasons()
    assert not missing, f"reasons without a row in {TROUBLESHOOTING}: {sorted(missing)}"
