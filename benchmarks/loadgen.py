"""A closed-loop HTTP/1.1 load generator with as little client overhead as Python allows.

Each of `concurrency` workers owns one keep-alive connection and sends the same
pre-serialised request (request line, headers and body built once) again as soon
as the previous answer is in. The client shares the machine's cores with the
server under test, so every request costs it only one `write` of a prepared byte
string and a minimal response parse (status line, Content-Length or chunked) on
uvloop streams — no per-request header dicts, no URL parsing, no JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

REQUEST_TIMEOUT_S = 60.0
T = TypeVar("T")


class WindowMeter(Protocol):
    """Something to measure over the measured window (e.g. CPU use)."""

    def start(self) -> None: ...

    def stop(self) -> dict[str, float] | None: ...


@dataclass(frozen=True)
class HttpRequest:
    """One request, serialised once: `wire` is what goes on the socket every time."""

    method: str
    path: str
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def wire(self, host: str, port: int) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}:{port}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass
class HttpResponse:
    status: int
    headers: bytes  # the raw, lower-cased header block
    body: bytes

    def header(self, name: str) -> str | None:
        marker = f"\r\n{name.lower()}:".encode()
        start = self.headers.find(marker)
        if start < 0:
            return None
        end = self.headers.find(b"\r\n", start + len(marker))
        return self.headers[start + len(marker) : end].strip().decode("latin-1")


@dataclass
class CellResult:
    """Throughput and latency of one (server, path, concurrency) cell."""

    requests: int
    errors: int
    duration_s: float
    throughput: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    first_error: str = ""
    # Measured over the window by the meters: cores in use (cpustat), server timings (servermetrics).
    window: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_latencies(cls, latencies: list[float], duration: float, errors: int = 0, first_error: str = ""):
        lat = np.asarray(latencies, dtype=np.float64) * 1e3
        p50, p99 = np.percentile(lat, [50, 99]) if lat.size else (float("nan"), float("nan"))
        return cls(
            requests=int(lat.size),
            errors=errors,
            duration_s=round(duration, 3),
            throughput=round(lat.size / duration, 2),
            p50_ms=round(float(p50), 3),
            p99_ms=round(float(p99), 3),
            mean_ms=round(float(lat.mean()) if lat.size else float("nan"), 3),
            first_error=first_error,
        )


class Connection:
    """One keep-alive connection: send prepared bytes, read one response."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def exchange(self, wire: bytes) -> HttpResponse:
        if self._writer is None:
            await self.open()
        assert self._reader is not None and self._writer is not None
        self._writer.write(wire)
        await self._writer.drain()
        response = await read_response(self._reader)
        if response.header("connection") == "close":
            await self.close()
        return response

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None


async def read_response(reader: asyncio.StreamReader) -> HttpResponse:
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    status = int(head[9:12])
    response = HttpResponse(status, head, b"")
    length = response.header("content-length")
    if length is not None:
        response.body = await reader.readexactly(int(length))
    elif response.header("transfer-encoding") == "chunked":
        response.body = await _read_chunked(reader)
    return response


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def fetch(host: str, port: int, request: HttpRequest) -> HttpResponse:
    """One request on a fresh connection (set-up checks, not measured)."""
    conn = Connection(host, port)
    try:
        return await asyncio.wait_for(conn.exchange(request.wire(host, port)), REQUEST_TIMEOUT_S)
    finally:
        await conn.close()


@dataclass
class Tally:
    """Latencies of the requests that completed inside the measured window."""

    window: tuple[float, float]
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""

    def record(self, start: float, end: float, ok: bool, error: str = "") -> None:
        if not self.window[0] <= end <= self.window[1]:
            return
        if ok:
            self.latencies.append(end - start)
        else:
            self.errors += 1
            self.first_error = self.first_error or error


async def _worker(host: str, port: int, wire: bytes, tally: Tally) -> None:
    conn = Connection(host, port)
    try:
        while time.perf_counter() < tally.window[1]:
            start = time.perf_counter()
            try:
                response = await asyncio.wait_for(conn.exchange(wire), REQUEST_TIMEOUT_S)
            except (OSError, EOFError, TimeoutError, ValueError) as exc:
                tally.record(start, time.perf_counter(), False, f"{type(exc).__name__}: {exc}")
                await conn.close()
                await asyncio.sleep(0.05)  # a dead server must not turn this into a busy loop
                continue
            ok = response.status == 200
            tally.record(start, time.perf_counter(), ok, "" if ok else _describe(response))
    finally:
        await conn.close()


def _describe(response: HttpResponse) -> str:
    return f"HTTP {response.status}: {response.body[:200].decode('utf-8', 'replace')}"


async def closed_loop(
    host: str,
    port: int,
    request: HttpRequest,
    concurrency: int,
    timing: tuple[float, float],
    meters: Sequence[WindowMeter] = (),
) -> CellResult:
    """`concurrency` workers back to back for warm-up + duration (`timing`); only the window counts."""
    wire = request.wire(host, port)
    return await cell(
        lambda tally: [_worker(host, port, wire, tally) for _ in range(concurrency)], timing, meters
    )


async def cell(
    workers: Callable[[Tally], list[Coroutine[Any, Any, None]]],
    timing: tuple[float, float],
    meters: Sequence[WindowMeter] = (),
) -> CellResult:
    """One cell of a closed loop, whatever the transport (HTTP here, gRPC in grpcload.py):
    the window opens after the warm-up (`timing`: warm-up, duration), the meters run over it,
    and the cell counts the requests that ended inside it. `workers(tally)` are the loops
    that send back to back until the window closes; each request's own cost stays in them."""
    warmup_s, duration_s = timing
    start = time.perf_counter() + warmup_s
    tally = Tally((start, start + duration_s))
    _, measured = await asyncio.gather(asyncio.gather(*workers(tally)), _metered(tally.window, meters))
    result = CellResult.from_latencies(tally.latencies, duration_s, tally.errors, tally.first_error)
    result.window = measured
    return result


async def _metered(window: tuple[float, float], meters: Sequence[WindowMeter]) -> dict[str, float]:
    await asyncio.sleep(max(0.0, window[0] - time.perf_counter()))
    start_all(meters)
    await asyncio.sleep(max(0.0, window[1] - time.perf_counter()))
    return stop_all(meters)


def measure(
    host: str,
    port: int,
    request: HttpRequest,
    concurrency: int,
    timing: tuple[float, float],
    meters: Sequence[WindowMeter] = (),
) -> CellResult:
    """`closed_loop`, run to completion on an event loop of its own."""
    return run(closed_loop(host, port, request, concurrency, timing, meters))


def start_all(meters: Sequence[WindowMeter]) -> None:
    for meter in meters:
        meter.start()


def stop_all(meters: Sequence[WindowMeter]) -> dict[str, float]:
    merged: dict[str, float] = {}
    for meter in meters:
        merged.update(meter.stop() or {})
    return merged


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop (the fastest loop here) when it is installed."""
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
