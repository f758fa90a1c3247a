"""A closed-loop gRPC load generator, the twin of loadgen.py for unary OIP calls.

Each of `concurrency` workers owns one channel (one HTTP/2 connection, as loadgen's
workers own one keep-alive connection) and sends the same pre-serialised
ModelInferRequest again as soon as the previous answer is in. No serializer runs on
either side of the client: the request goes out as the bytes built once, and the answer
stays bytes unless a check reads it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
from grpc import aio

from loadgen import REQUEST_TIMEOUT_S, CellResult, Tally, WindowMeter, cell, run

METHOD = "/inference.GRPCInferenceService/ModelInfer"


@dataclass(frozen=True)
class GrpcRequest:
    """One serialised ModelInferRequest."""

    body: bytes


async def call(host: str, port: int, request: GrpcRequest) -> bytes:
    """One call on a fresh channel (set-up checks, not measured)."""
    async with aio.insecure_channel(f"{host}:{port}") as channel:
        infer = channel.unary_unary(METHOD)
        return await infer(request.body, timeout=REQUEST_TIMEOUT_S)


async def _worker(host: str, port: int, body: bytes, tally: Tally) -> None:
    async with aio.insecure_channel(f"{host}:{port}") as channel:
        infer = channel.unary_unary(METHOD)
        while time.perf_counter() < tally.window[1]:
            start = time.perf_counter()
            try:
                await infer(body, timeout=REQUEST_TIMEOUT_S)
            except grpc.RpcError as exc:
                tally.record(start, time.perf_counter(), False, f"{exc.code().name}: {exc.details()}")
                await asyncio.sleep(0.05)  # a dead server must not turn this into a busy loop
                continue
            tally.record(start, time.perf_counter(), True)


async def closed_loop(
    host: str,
    port: int,
    request: GrpcRequest,
    concurrency: int,
    timing: tuple[float, float],
    meters: Sequence[WindowMeter] = (),
) -> CellResult:
    """`concurrency` workers back to back for warm-up + duration (`timing`); only the window counts
    (loadgen.cell, as for HTTP)."""
    return await cell(
        lambda tally: [_worker(host, port, request.body, tally) for _ in range(concurrency)], timing, meters
    )


def measure(
    host: str,
    port: int,
    request: GrpcRequest,
    concurrency: int,
    timing: tuple[float, float],
    meters: Sequence[WindowMeter] = (),
) -> CellResult:
    return run(closed_loop(host, port, request, concurrency, timing, meters))
