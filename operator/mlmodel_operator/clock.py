"""An injectable clock, so auto-stop can be tested without waiting for hours.

Production uses the system clock. Tests shift it: either by a fixed offset or
through a file holding a number of seconds that is re-read on every call, which
lets a test advance time for an operator running in another process.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]


def _file_offset(path: str | None) -> float:
    if path is None:
        return 0.0
    try:
        return float(Path(path).read_text().strip() or 0)
    except (OSError, ValueError):
        return 0.0


def system_clock(offset_seconds: float = 0.0, offset_file: str | None = None) -> Clock:
    """UTC now, shifted by `offset_seconds` plus whatever `offset_file` says."""

    def now() -> datetime:
        shift = offset_seconds + _file_offset(offset_file)
        return datetime.now(UTC) + timedelta(seconds=shift)

    return now


def fixed_clock(at: datetime) -> Clock:
    """A clock that never moves (unit tests)."""
    return lambda: at


def parse_time(value: str | None) -> datetime | None:
    """RFC3339 (as Kubernetes writes it) to an aware datetime; None if absent/invalid."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_time(value: datetime) -> str:
    """Seconds-precision RFC3339 in UTC, the format `metav1.Time` uses."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
