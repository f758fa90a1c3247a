"""Auto-stop and restart with an injected clock: no sleeping for hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mlmodel_operator.clock import format_time, system_clock
from mlmodel_operator.status.runstate import decide, parse_duration

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text, minutes", [("1m", 1), ("90m", 90), ("2h", 120), ("1h30m", 90), ("7d", 7 * 24 * 60)]
)
def test_parse_duration(text: str, minutes: int) -> None:
    assert parse_duration(text) == timedelta(minutes=minutes)


@pytest.mark.parametrize("text", ["", "30s", "8d", "2x", "h", "1.5h"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_timer_starts_when_first_seen() -> None:
    run = decide({"autoStop": "2h"}, {}, T0)
    assert not run.stopped
    assert run.running_since == T0 and run.due_time == T0 + timedelta(hours=2)


def test_stops_when_due_and_stays_stopped() -> None:
    status = {"runningSince": format_time(T0)}
    assert not decide({"autoStop": "2h"}, status, T0 + timedelta(minutes=119)).stopped
    later = T0 + timedelta(hours=2, seconds=1)
    run = decide({"autoStop": "2h"}, status, later)
    assert run.stopped and run.stop_reason == "AutoStop" and run.event[0] == "AutoStopped"
    stopped = {**status, **{k: v for k, v in run.status_fields().items() if v}}
    again = decide({"autoStop": "2h"}, stopped, later + timedelta(days=3))
    assert again.stopped and again.event is None and again.stop_time == run.stop_time


def test_restarted_at_after_stop_time_restarts_and_resets_timer() -> None:
    stop = T0 + timedelta(hours=2)
    status = {"stopTime": format_time(stop), "stopReason": "AutoStop"}
    old = format_time(stop - timedelta(minutes=5))
    assert decide({"autoStop": "2h", "restartedAt": old}, status, stop).stopped
    now = stop + timedelta(hours=1)
    run = decide({"autoStop": "2h", "restartedAt": format_time(now)}, status, now)
    assert not run.stopped and run.event[0] == "Restarted"
    assert run.running_since == now and run.due_time == now + timedelta(hours=2)
    assert run.status_fields()["stopTime"] is None  # cleared by the merge patch


def test_spec_stopped_and_back() -> None:
    run = decide({"stopped": True}, {"runningSince": format_time(T0)}, T0)
    assert run.stopped and run.stop_reason == "StoppedBySpec"
    status = {"stopTime": format_time(T0), "stopReason": "StoppedBySpec"}
    later = T0 + timedelta(hours=1)
    back = decide({"stopped": False}, status, later)
    assert not back.stopped and back.running_since == later


def test_auto_stop_needs_restarted_at_even_if_stopped_false() -> None:
    status = {"stopTime": format_time(T0), "stopReason": "AutoStop"}
    assert decide({"stopped": False, "autoStop": "1h"}, status, T0 + timedelta(hours=5)).stopped


def test_restarted_at_while_running_resets_the_timer() -> None:
    status = {"runningSince": format_time(T0)}
    now = T0 + timedelta(minutes=50)
    run = decide({"autoStop": "1h", "restartedAt": format_time(now)}, status, now)
    assert run.due_time == now + timedelta(hours=1)


def test_clock_offset_file_moves_time(tmp_path) -> None:  # type: ignore[no-untyped-def]
    offset = tmp_path / "offset"
    clock = system_clock(offset_file=str(offset))
    before = clock()
    offset.write_text("7200")
    assert clock() - before >= timedelta(hours=2)
