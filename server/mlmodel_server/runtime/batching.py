"""Adaptive batching: requests that find every interpreter busy wait, and go as one batch.

Why this shape: MLServer's and Triton's batchers hold each request up to a delay for a
batch to fill, which a lone request pays in full. Here a request that finds an interpreter
free runs at once, alone, exactly as without batching; only while every interpreter is busy
do requests gather, and the next one to free takes all that waited (up to `max_rows` rows)
in one invoke along the batch dimension. `max_delay` (seconds, 0: none) also holds a
gathering batch that long for more. What a batch saves is per-invoke work: the executor
hop, the tensor copies and, for dense layers, reading the weights once per batch instead
of once per row; a convolution's cost per row does not fall (benchmarks/README.md).

Only models whose every tensor has a dynamic first dimension, and only that one, batch
(`batchable`): the rows of each request are then a slice of the batch's outputs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .pool import Arrays, InterpreterPool
from .stats import Phases
from .tensors import TensorSpec

Answer = tuple[list[np.ndarray], Phases]


def batchable(tensors: Sequence[TensorSpec]) -> bool:
    """Every tensor varies along its first dimension, and along no other."""
    return all(t.shape_signature[:1] == (-1,) and -1 not in t.shape_signature[1:] for t in tensors)


@dataclass
class _Waiting:
    inputs: Arrays
    rows: int
    future: asyncio.Future[Answer] = field(repr=False)


class Batcher:
    """Runs inferences on `pool`, batching those that arrive while it is busy."""

    def __init__(
        self, pool: InterpreterPool, outputs: Sequence[int], max_rows: int, max_delay: float
    ) -> None:
        self._pool, self._outputs = pool, list(outputs)  # a batch computes every output
        self._max_rows, self._max_delay = max_rows, max_delay
        self._waiting: list[_Waiting] = []
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # running batches (the loop keeps weak refs)

    async def run(self, inputs: Arrays, outputs: Sequence[int]) -> Answer:
        """One request's `outputs` (tensor indices): alone when the pool has room, else its
        rows of a batch's answer."""
        if self._pool.in_flight < self._pool.size and not self._waiting:
            return await self._invoke(inputs, outputs)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(inputs, int(inputs[0][1].shape[0]), future))
        self._schedule()
        arrays, phases = await future
        return [arrays[self._outputs.index(i)] for i in outputs], phases

    async def _invoke(self, inputs: Arrays, outputs: Sequence[int]) -> Answer:
        try:
            return await self._pool.run(inputs, outputs)
        finally:
            self._schedule()  # the pool has room again: a waiting batch may go

    def _schedule(self) -> None:
        """Start a batch when an interpreter is free: now if it is full or there is no delay,
        else when the delay ends."""
        if not self._waiting or self._pool.in_flight >= self._pool.size:
            return
        full = sum(w.rows for w in self._waiting) >= self._max_rows
        if full or not self._max_delay:
            self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._max_delay, self._flush)

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch: list[_Waiting] = []
        rows = 0
        while self._waiting and (not batch or rows + self._waiting[0].rows <= self._max_rows):
            batch.append(self._waiting.pop(0))
            rows += batch[-1].rows
        if batch:
            task = asyncio.ensure_future(self._run_batch(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run_batch(self, batch: list[_Waiting]) -> None:
        """One invoke for the batch; each request gets its rows, or the batch's error."""
        by_index = [dict(w.inputs) for w in batch]  # requests may name their inputs in any order
        inputs = [(index, np.concatenate([arrays[index] for arrays in by_index])) for index in by_index[0]]
        try:
            arrays, phases = await self._invoke(inputs, self._outputs)
        except Exception as exc:
            for w in batch:
                if not w.future.done():  # done: its request was cancelled meanwhile
                    w.future.set_exception(exc)
            return
        start = 0
        for w in batch:
            if not w.future.done():
                w.future.set_result(([a[start : start + w.rows] for a in arrays], phases))
            start += w.rows
