"""The physical limit: a raw in-process LiteRT invoke loop, no HTTP, no serialisation.

Two ways to spend the machine's cores on one model are measured: one
interpreter whose XNNPACK uses `cores` threads, and one single-threaded
interpreter per core, each looping in its own Python thread (LiteRT releases
the GIL while it computes). Each loop does what a server must do per request:
set the input tensors, invoke, read the outputs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from loadgen import CellResult, WindowMeter, start_all, stop_all


@dataclass(frozen=True)
class RawConfig:
    interpreters: int
    threads: int

    @property
    def label(self) -> str:
        return f"{self.interpreters} interpreter(s) x {self.threads} thread(s)"


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def configs() -> list[RawConfig]:
    """One single-threaded invoke (the latency reference), then the two ways to fill the cores."""
    n = cores()
    return [RawConfig(1, 1), RawConfig(1, n), RawConfig(n, 1)]


def _interpreter(model: bytes, threads: int, inputs: Mapping[str, np.ndarray]) -> tuple[Any, list, list]:
    interp = Interpreter(model_content=model, num_threads=threads)
    interp.allocate_tensors()
    by_name = {d["name"]: d["index"] for d in interp.get_input_details()}
    feeds = [(by_name[name], np.ascontiguousarray(array)) for name, array in inputs.items()]
    outputs = [d["index"] for d in interp.get_output_details()]
    return interp, feeds, outputs


def _loop(
    interp: Any, feeds: list, outputs: list, window: tuple[float, float], latencies: list[float]
) -> None:
    while (start := time.perf_counter()) < window[1]:
        for index, array in feeds:
            interp.set_tensor(index, array)
        interp.invoke()
        for index in outputs:
            interp.get_tensor(index)
        end = time.perf_counter()
        if window[0] <= end <= window[1]:
            latencies.append(end - start)


def measure(
    model: bytes,
    inputs: Mapping[str, np.ndarray],
    config: RawConfig,
    timing: tuple[float, float],
    meters: Sequence[WindowMeter] = (),
) -> CellResult:
    """Loop `config.interpreters` interpreters in parallel for warm-up + duration (`timing`)."""
    built = [_interpreter(model, config.threads, inputs) for _ in range(config.interpreters)]
    start = time.perf_counter() + timing[0]
    window = (start, start + timing[1])
    per_thread: list[list[float]] = [[] for _ in built]
    threads = [
        threading.Thread(target=_loop, args=(*b, window, lat), daemon=True)
        for b, lat in zip(built, per_thread, strict=True)
    ]
    for thread in threads:
        thread.start()
    measured = _metered(window, meters)
    for thread in threads:
        thread.join()
    result = CellResult.from_latencies([x for lat in per_thread for x in lat], timing[1])
    result.window = measured
    return result


def _metered(window: tuple[float, float], meters: Sequence[WindowMeter]) -> dict[str, float]:
    time.sleep(max(0.0, window[0] - time.perf_counter()))
    start_all(meters)
    time.sleep(max(0.0, window[1] - time.perf_counter()))
    return stop_all(meters)


def reference_outputs(model: bytes, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """What every server must answer for `inputs` (checked before each server is measured)."""
    interp, feeds, _ = _interpreter(model, 1, inputs)
    for index, array in feeds:
        interp.set_tensor(index, array)
    interp.invoke()
    return {d["name"]: interp.get_tensor(d["index"]) for d in interp.get_output_details()}
