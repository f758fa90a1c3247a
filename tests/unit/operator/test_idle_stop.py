"""Idle stop with an injected clock and scripted pod reads: when it looks, when it stops,
what a user reads in status, and that it never stops on what it could not read."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from tests.support.httpd import QuietHandler, serving

from mlmodel_operator import activity
from mlmodel_operator.clock import format_time
from mlmodel_operator.status import idlestop
from mlmodel_operator.status.idlestop import Seen
from mlmodel_operator.status.runstate import decide

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SPEC = {"idleStop": "30m"}


def running(at: datetime = T0, **status: str) -> tuple[dict[str, str], object]:
    status = {"runningSince": format_time(T0), **status}
    return status, decide(SPEC, status, at)


def test_nothing_is_read_before_a_stop_could_fire() -> None:
    status, run = running()
    assert not idlestop.look_due(SPEC, status, run, T0 + timedelta(minutes=29))
    assert idlestop.look_due(SPEC, status, run, T0 + timedelta(minutes=30))
    idle = idlestop.decide(SPEC, status, run, None, T0 + timedelta(minutes=29))
    assert idle.status_fields() == {
        "lastRequestTime": None,
        "idleStopDueTime": "2026-01-01T12:30:00Z",
        "idleStopDeferred": None,
    }


def test_a_service_never_asked_stops_idle_stop_after_it_started() -> None:
    now = T0 + timedelta(minutes=31)
    status, run = running(now)
    idle = idlestop.decide(SPEC, status, run, Seen(pods=2), now)
    assert idle.stop
    stopped = idlestop.stopped(SPEC, idle, now)
    assert stopped.stopped and stopped.stop_reason == "IdleStop" and stopped.stop_time == now
    assert stopped.event == ("IdleStopped", "No inference request since it started: stopped after 30m idle.")
    assert idle.status_fields()["idleStopDueTime"] is None


def test_a_newer_request_moves_the_due_time_and_status_shows_it() -> None:
    now = T0 + timedelta(minutes=30)
    status, run = running(now)
    seen = Seen(T0 + timedelta(minutes=20, seconds=5), pods=1)
    idle = idlestop.decide(SPEC, status, run, seen, now)
    assert not idle.stop
    assert idle.status_fields()["lastRequestTime"] == "2026-01-01T12:20:05Z"
    assert idle.status_fields()["idleStopDueTime"] == "2026-01-01T12:50:05Z"
    # Until then, no read: the status already says when the next look is due.
    status = {**status, **idle.status_fields()}
    assert not idlestop.look_due(SPEC, status, run, T0 + timedelta(minutes=50))
    assert idlestop.look_due(SPEC, status, run, T0 + timedelta(minutes=50, seconds=5))


def test_the_newest_request_of_all_pods_counts() -> None:
    a, b = Seen(T0 + timedelta(minutes=5), 1), Seen(T0 + timedelta(minutes=25), 1)
    assert a.plus(b).last_request == T0 + timedelta(minutes=25) and a.plus(b).pods == 2


def test_a_pod_that_does_not_answer_defers_the_stop_and_says_why() -> None:
    now = T0 + timedelta(hours=1)
    status, run = running(now)
    seen = Seen(None, 2, ("fruit-abc: timed out",))
    idle = idlestop.decide(SPEC, status, run, seen, now)
    assert not idle.stop
    assert idle.status_fields()["idleStopDeferred"] == "a pod's last request is unknown: fruit-abc: timed out"


def test_a_restart_counts_from_the_restart_not_the_old_requests() -> None:
    stop = T0 + timedelta(hours=1)
    restart = stop + timedelta(hours=5)
    status = {"stopTime": format_time(stop), "stopReason": "IdleStop", "lastRequestTime": format_time(T0)}
    assert decide(SPEC, status, restart).stopped  # same restart rule as auto-stop
    run = decide({**SPEC, "restartedAt": format_time(restart)}, status, restart)
    assert not run.stopped
    idle = idlestop.decide(SPEC, status, run, None, restart)
    assert idle.due == restart + timedelta(minutes=30)


def test_a_departing_pods_request_is_folded_in() -> None:
    status, run = running()
    idle = idlestop.decide(SPEC, status, run, None, T0)
    later = idlestop.advanced(SPEC, idle, run, T0 + timedelta(minutes=3))
    assert later.due == T0 + timedelta(minutes=33)
    assert idlestop.advanced(SPEC, later, run, T0).due == later.due  # an older one changes nothing


def test_status_fields_when_disabled_or_stopped() -> None:
    old = {"lastRequestTime": "2026-01-01T11:00:00Z", "idleStopDueTime": "2026-01-01T11:30:00Z"}
    assert idlestop.status_fields(None, SPEC, old)["lastRequestTime"] == old["lastRequestTime"]
    assert idlestop.status_fields(None, {}, old) == {
        "lastRequestTime": None,
        "idleStopDueTime": None,
        "idleStopDeferred": None,
    }


EXPOSITION = """# HELP mlmodel_last_request_timestamp_seconds When ...
# TYPE mlmodel_last_request_timestamp_seconds gauge
mlmodel_last_request_timestamp_seconds 1.7672256e+09
"""


def test_the_gauge_is_read_from_exposition_text() -> None:
    assert activity.last_request(EXPOSITION) == datetime(2026, 1, 1, tzinfo=UTC)
    assert activity.last_request(EXPOSITION.replace("1.7672256e+09", "0.0")) is None
    assert activity.last_request("") is None


@pytest.fixture
def pod_server() -> Iterator[str]:
    class Handler(QuietHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/good" else 500)
            self.end_headers()
            self.wfile.write(EXPOSITION.encode())

    with serving(Handler) as url:
        yield url + "/{name}"


def pod(name: str, phase: str = "Running", ip: str | None = "10.0.0.1") -> dict[str, object]:
    return {"metadata": {"name": name, "namespace": "ns"}, "status": {"phase": phase, "podIP": ip}}


def test_pods_are_read_and_failures_named(pod_server: str) -> None:
    pods = [pod("good"), pod("bad"), pod("pending", "Pending"), pod("noip", ip=None)]
    seen = activity.read(pods, pod_server, timeout=2)
    assert seen.pods == 2 and seen.last_request == datetime(2026, 1, 1, tzinfo=UTC)
    assert len(seen.unreadable) == 1 and seen.unreadable[0].startswith("bad: HTTP Error 500")
    assert activity.read([pod("pending", "Pending")], pod_server, timeout=2) == Seen()
