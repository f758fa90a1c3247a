"""Rollout under load: moving `latest` from v1 to v2 while a steady stream (c=4, a new
connection per request) goes through the Service loses no request, and the answers
switch from v1's outputs to v2's."""

from __future__ import annotations

import time

from tests.e2e.conftest import wait_for
from tests.e2e.scenarios import BODY, V2, path, publish, serve_v1, version_of
from tests.e2e.traffic import Stream
from tests.support.objects import Objects


def test_rollout_to_a_new_version_under_load_loses_no_request(objs: Objects) -> None:
    address = serve_v1(objs)
    with Stream(address, path("float"), BODY, version_of) as stream:
        time.sleep(3)
        published = time.monotonic() - stream.started
        publish(objs, "float", "2", V2)
        wait_for(lambda: _only_v2_since(stream, 4.0), "every answer from v2", timeout=180)
        time.sleep(2)
    last_v1 = max(at for at, outcome in stream.timeline if outcome == "v1")
    print(f"\n[e2e] rollout: {stream.summary()}; every answer v2 {last_v1 - published:.1f}s after publishing")
    assert not stream.failures, stream.failures[:10]
    assert stream.answers["v1"] > 0 and stream.answers["v2"] > 0


def _only_v2_since(stream: Stream, seconds: float) -> bool:
    """The last `seconds` of answers all came from v2 (and there were some)."""
    now = time.monotonic() - stream.started
    recent = [outcome for at, outcome in list(stream.timeline) if at >= now - seconds]
    return bool(recent) and all(outcome == "v2" for outcome in recent)
