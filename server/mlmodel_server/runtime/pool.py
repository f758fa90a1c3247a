"""A pool of interpreters, one per worker thread, so requests run in parallel.

Why: a TFLite interpreter is not thread-safe, and one interpreter behind a lock
(what Viam's tflite_cpu does) serialises every request. Each worker thread of
our executor owns its own interpreter, so no lock is needed, and the invoke
runs off the event loop (LiteRT releases the GIL while it computes).

A request that finds the pool idle runs instead on a "solo" interpreter with
the pool's cores as its threads: a lone request's invoke takes half the time
on 2 cores. It takes only those: one multi-threaded interpreter for all
requests (`--pool-size 1 --num-threads 2`) collapsed under load, its threads
stalling whenever the event loop or a client preempted one of them.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .interpreter import new_interpreter
from .stats import Phases

Arrays = Sequence[tuple[int, np.ndarray]]
# The inputs, or a function that builds them on the worker thread that invokes (an image's
# decode and resize then stay off the event loop); its time counts as the input phase.
Inputs = Arrays | Callable[[], Arrays]


class InterpreterPool:
    """`size` worker threads, each lazily building its own interpreter, and the solo
    interpreter's thread when `solo_threads` exceeds `num_threads` (0: none)."""

    def __init__(self, model_content: bytes, num_threads: int, size: int, solo_threads: int = 0) -> None:
        self.size = size
        self._content = model_content
        self._num_threads = num_threads
        self._local = threading.local()
        self._executor = ThreadPoolExecutor(max_workers=size, thread_name_prefix="tflite")
        self.solo_threads = solo_threads if solo_threads > num_threads else 0
        self._solo = ThreadPoolExecutor(1, "tflite-solo") if self.solo_threads else None
        self._in_flight = 0  # inferences submitted and not finished; event-loop side only
        # Called with each invoke's duration in seconds (the metrics hook).
        self.on_invoke: Callable[[float], None] | None = None

    def _interpreter(self, threads: int) -> Any:
        interp = getattr(self._local, "interpreter", None)
        if interp is None:
            interp = new_interpreter(self._content, threads)
            self._local.interpreter = interp
            self._local.shapes = {d["index"]: tuple(d["shape"]) for d in interp.get_input_details()}
        return interp

    def invoke(
        self, inputs: Inputs, outputs: Sequence[int], threads: int = 0, submitted: int | None = None
    ) -> tuple[list[np.ndarray], Phases]:
        """Run one inference on this thread's interpreter (call from a worker thread);
        `threads` builds it on first use (0: the pool's num_threads). Also returns the
        phases' durations, queued since `submitted` (perf_counter_ns) when given."""
        started = time.perf_counter_ns()
        arrays_in = inputs() if callable(inputs) else inputs
        interp = self._interpreter(threads or self._num_threads)
        self._fit_shapes(interp, arrays_in)
        for index, array in arrays_in:
            interp.set_tensor(index, array)
        invoking = time.perf_counter_ns()
        interp.invoke()
        invoked = time.perf_counter_ns()
        if self.on_invoke is not None:
            self.on_invoke((invoked - invoking) / 1e9)
        arrays = [interp.get_tensor(index) for index in outputs]
        queued = started - submitted if submitted is not None else 0
        return arrays, Phases(
            queued, invoking - started, invoked - invoking, time.perf_counter_ns() - invoked
        )

    def _fit_shapes(self, interp: Any, inputs: Arrays) -> None:
        """Resize dynamic inputs when a request's shape differs from the last one."""
        shapes: dict[int, tuple[int, ...]] = self._local.shapes
        changed = [(i, a.shape) for i, a in inputs if shapes.get(i) != a.shape]
        for index, shape in changed:
            interp.resize_tensor_input(index, list(shape), strict=True)
            shapes[index] = shape
        if changed:
            interp.allocate_tensors()

    async def run(self, inputs: Inputs, outputs: Sequence[int]) -> tuple[list[np.ndarray], Phases]:
        """Run one inference off the event loop."""
        loop = asyncio.get_running_loop()
        executor, threads = self._pick()
        self._in_flight += 1
        try:
            submitted = time.perf_counter_ns()
            return await loop.run_in_executor(executor, self.invoke, inputs, outputs, threads, submitted)
        finally:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        """Inferences submitted by `run` and not finished (read on the event loop)."""
        return self._in_flight

    def run_blocking(self, inputs: Arrays, outputs: Sequence[int]) -> list[np.ndarray]:
        """One inference on a pool worker, for callers without an event loop (the start-up
        self-test runs before the server's loop exists)."""
        return self._executor.submit(self.invoke, inputs, outputs).result()[0]

    def _pick(self) -> tuple[ThreadPoolExecutor, int]:
        """The solo interpreter when nothing else is in flight, else the pool."""
        if self._solo is not None and self._in_flight == 0:
            return self._solo, self.solo_threads
        return self._executor, self._num_threads

    def warm_up(self, inputs: Arrays, outputs: Sequence[int]) -> None:
        """Build every worker's interpreter now, so the first requests are not slow.

        A barrier holds each warm-up task until all have started, which forces
        the executor to spread them over `size` distinct threads.
        """
        barrier = threading.Barrier(self.size)

        def task() -> None:
            barrier.wait(timeout=60)
            self.invoke(inputs, outputs)

        for future in [self._executor.submit(task) for _ in range(self.size)]:
            future.result()
        if self._solo is not None:
            self._solo.submit(self.invoke, inputs, outputs, self.solo_threads).result()

    def close(self) -> None:
        for executor in (self._executor, self._solo):
            if executor is not None:
                executor.shutdown(wait=False, cancel_futures=True)
