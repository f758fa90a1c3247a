"""The operator's readiness: ready only with its watches established and the API server answering."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from fake_apiserver import FakeApiServer
from kopf._cogs.clients import watching
from kopf._core.reactor import queueing
from test_retries import kube_over, refused

from mlmodel_operator import metrics
from mlmodel_operator.config import Config
from mlmodel_operator.readiness import (
    KINDS,
    LISTED,
    LISTING,
    PAUSED,
    Observed,
    Readiness,
    observe_kopf_watches,
    observing,
    unready_reason,
    watch_api,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ALL_LISTED = {(kind, None): LISTED for kind in KINDS}
SERVER = "https://10.96.0.1:443 (in-cluster)"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_ready_once_every_watch_has_listed() -> None:
    assert unready_reason(Observed(ALL_LISTED), T0, 30) is None
    missing = {k: v for k, v in ALL_LISTED.items() if k[0] != "visionservices"}
    assert unready_reason(Observed(missing), T0, 30) == "no watch of visionservices yet"
    listing = {**ALL_LISTED, ("mlmodelservices", "team-b"): LISTING}
    assert unready_reason(Observed(listing), T0, 30) == (
        "watch of mlmodelservices not established yet (initial listing)"
    )


def test_a_paused_peering_standby_is_ready() -> None:
    assert unready_reason(Observed({**ALL_LISTED, ("modelpackages", None): PAUSED}), T0, 30) is None


def test_api_failures_shorter_than_the_tolerance_keep_it_ready() -> None:
    failing = Observed(ALL_LISTED, T0, "NewConnectionError: Connection refused", SERVER)
    assert unready_reason(failing, T0 + timedelta(seconds=29), 30) is None
    assert unready_reason(failing, T0 + timedelta(seconds=31), 30) == (
        f"API server {SERVER} not answering for 31s: NewConnectionError: Connection refused"
    )


def fake_watch(events: list[Any], hold: asyncio.Event) -> Any:
    """kopf's infinite_watch stand-in: yields `events`, then waits for `hold` (a live stream)."""

    async def infinite_watch(**_: Any) -> AsyncIterator[Any]:
        for event in events:
            yield event
        await hold.wait()

    return infinite_watch


class Resource:
    def __init__(self, plural: str, group: str = "mlmodel.dev") -> None:
        self.plural, self.group = plural, group


class Paused:
    def __init__(self, on: bool) -> None:
        self.on = on

    def is_on(self) -> bool:
        return self.on


def test_streams_are_followed_from_kopf_until_they_end() -> None:
    readiness = Readiness(Clock(), 30, SERVER)
    listed = object()

    async def scenario() -> list[str | None]:
        hold, seen = asyncio.Event(), []
        streams = [
            observing(fake_watch([{"type": None}, listed], hold), readiness, listed)(resource=Resource(kind))
            for kind in KINDS
        ]
        tasks = [asyncio.create_task(_drain(stream)) for stream in streams]
        await asyncio.sleep(0.01)
        seen.append(readiness.reason())
        hold.set()  # the streams end: kopf stopped, the supervisor will start it again
        await asyncio.gather(*tasks)
        seen.append(readiness.reason())
        return seen

    assert asyncio.run(scenario()) == [None, "no watch of modelpackages yet"]


def test_a_stream_still_listing_or_paused_by_peering() -> None:
    readiness = Readiness(Clock(), 30, SERVER)
    for kind in KINDS[1:]:
        readiness.stream_started((kind, None), lambda: False)
        readiness.stream_listed((kind, None))
    paused = Paused(False)

    async def scenario() -> list[tuple[str | None, bool]]:
        hold = asyncio.Event()
        watch = observing(fake_watch([], hold), readiness, object())
        task = asyncio.create_task(_drain(watch(resource=Resource("modelpackages"), operator_paused=paused)))
        await asyncio.sleep(0.01)
        seen = [(readiness.reason(), readiness.paused())]
        paused.on = True
        seen.append((readiness.reason(), readiness.paused()))
        hold.set()
        await task
        return seen

    assert asyncio.run(scenario()) == [
        ("watch of modelpackages not established yet (initial listing)", False),
        (None, True),  # a standby: ready, and acting on nothing (Runtime.paused)
    ]


def test_other_resources_kopf_watches_are_not_counted() -> None:
    readiness = Readiness(Clock(), 30, SERVER)

    async def scenario() -> list[Any]:
        hold = asyncio.Event()
        hold.set()
        watch = observing(fake_watch([{"type": "ADDED"}], hold), readiness, object())
        return [event async for event in watch(resource=Resource("deployments", group="apps"))]

    assert asyncio.run(scenario()) == [{"type": "ADDED"}]
    assert readiness.observed().streams == {}


async def _drain(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


def test_kopf_still_offers_the_hook_readiness_relies_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """A kopf release that renamed the stream or its end-of-listing mark fails here, not in a pod."""
    assert "watching.infinite_watch(" in inspect.getsource(queueing.watcher)
    params = inspect.signature(watching.infinite_watch).parameters
    assert {"resource", "namespace", "operator_paused"} <= params.keys()
    readiness = Readiness(Clock(), 30, SERVER)
    hold = asyncio.Event()
    hold.set()
    monkeypatch.setattr(watching, "infinite_watch", fake_watch([watching.Bookmark.LISTED], hold))
    observe_kopf_watches(readiness)

    async def one_stream() -> None:
        stream = watching.infinite_watch(resource=Resource("visionservices"), namespace="ns")
        async for _ in stream:
            assert readiness.observed().streams == {("visionservices", "ns"): LISTED}

    asyncio.run(one_stream())


def test_unanswered_contacts_are_logged_with_the_server_and_turn_it_unready(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    readiness = Readiness(clock, 30, SERVER)
    for kind in KINDS:
        readiness.stream_started((kind, None), lambda: False)
        readiness.stream_listed((kind, None))
    caplog.set_level(logging.INFO, "mlmodel_operator.readiness")
    for _ in range(8):  # every 5 s for 35 s
        readiness.contact("NewConnectionError: Connection refused")
        clock.advance(5)
    assert readiness.reason() == (
        f"API server {SERVER} not answering for 40s: NewConnectionError: Connection refused"
    )
    readiness.contact(None)
    assert readiness.reason() is None
    assert [r.getMessage() for r in caplog.records] == [
        f"cannot reach the API server at {SERVER}: NewConnectionError: Connection refused "
        "(asking again every 5s, not ready after 30s)",
        f"the API server at {SERVER} answers again, after 40s",
    ]


def counted_gets() -> float:
    samples = metrics.REGISTRY.get_sample_value
    codes = ("200", "503", "error")
    return sum(
        samples("mlmodel_operator_api_requests_total", {"method": "GET", "code": c}) or 0 for c in codes
    )


def test_the_api_server_is_asked_once_per_check_without_retries_or_counting() -> None:
    api = FakeApiServer({"/version": {"major": "1", "minor": "35"}})
    kube, _ = kube_over(api)
    before = counted_gets()
    assert kube.probe() is None
    api.fail("GET", "/version", refused(), 503)
    failure = kube.probe()
    assert failure is not None and failure.startswith("ConnectError") and "Connection refused" in failure
    assert kube.probe() == "HTTP 503 for GET /version"
    assert api.count("GET", "/version") == 3 and counted_gets() == before


def test_watch_api_records_each_check_until_stopped() -> None:
    api = FakeApiServer()  # no /version: 404
    kube, _ = kube_over(api)
    readiness, stop = Readiness(Clock(), 30, kube.server), threading.Event()
    stop.set()
    watch_api(kube, readiness, stop)
    assert readiness.observed().failure == "HTTP 404 for GET /version"


def readyz(unready: str | None, path: str = "/readyz") -> tuple[str, bytes]:
    environ: dict[str, Any] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    answer: list[str] = []
    body = metrics.app(lambda: unready)(environ, lambda status, headers: answer.append(status))
    return answer[0], b"".join(body)


def test_readyz_answers_the_reason_in_one_line_next_to_the_metrics() -> None:
    assert readyz(None) == ("200 OK", b"ok\n")
    assert readyz("no watch of modelpackages yet") == (
        "503 Service Unavailable",
        b"no watch of modelpackages yet\n",
    )
    status, body = readyz(None, "/metrics")
    assert status.startswith("200") and b"mlmodel_operator_workqueue_depth" in body


def test_the_api_tolerance_is_a_setting() -> None:
    assert Config().api_down_seconds == 30
    assert Config.from_env({"MLMODEL_OPERATOR_API_DOWN_SECONDS": "90"}).api_down_seconds == 90
