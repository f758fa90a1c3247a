"""Where our server's time goes in a cell, from its own Prometheus metrics.

Scraped at the opening and the close of the measured window: the mean invoke
time (`mlmodel_inference_duration_seconds`) and the mean time a POST spends
inside the ASGI app or the gRPC handler (`mlmodel_request_duration_seconds`). With the client's
latency they split a request into invoke, app overhead (body, parsing, the
executor hop, encoding) and HTTP + client.
"""

from __future__ import annotations

import http.client
import re

SERIES = {
    "invoke": re.compile(r"^mlmodel_inference_duration_seconds_(sum|count)\{.*\} (\S+)$", re.M),
    "app": re.compile(
        r'^mlmodel_request_duration_seconds_(sum|count)\{method="(?:POST|GRPC)".*\} (\S+)$', re.M
    ),
}


def scrape(host: str, port: int) -> dict[str, tuple[float, float]] | None:
    """{series: (sum seconds, count)} now, or None when /metrics cannot be read."""
    conn = http.client.HTTPConnection(host, port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()
    found = {}
    for name, pattern in SERIES.items():
        totals = {"sum": 0.0, "count": 0.0}
        for kind, value in pattern.findall(text):
            totals[kind] += float(value)
        found[name] = (totals["sum"], totals["count"])
    return found


class Meter:
    """Mean invoke and in-app milliseconds per request over the window."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._before: dict[str, tuple[float, float]] | None = None

    def start(self) -> None:
        self._before = scrape(self.host, self.port)

    def stop(self) -> dict[str, float] | None:
        after = scrape(self.host, self.port)
        if self._before is None or after is None:
            return None
        out = {}
        for name, (total, count) in after.items():
            d_sum, d_count = total - self._before[name][0], count - self._before[name][1]
            if d_count > 0:
                out[f"{name}_ms"] = round(d_sum / d_count * 1e3, 3)
        return out
