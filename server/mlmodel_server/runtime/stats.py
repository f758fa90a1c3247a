"""Per-model inference statistics, as the Open Inference Protocol's statistics extension
(Triton's) reports them: success and failure counts and cumulative times, and the time
spent queued for an interpreter, setting the inputs, invoking and reading the outputs.

Why in the runtime: every front door (REST, the fast path, gRPC, MLflow, vision) ends in
`TFLiteModel.predict`, so the figures cover a model's whole traffic. Every update happens
on the event loop (the worker threads only measure), so no lock is needed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Duration:
    """How many, and their cumulative nanoseconds."""

    count: int = 0
    ns: int = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns

    def as_dict(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass(frozen=True)
class Phases:
    """One invoke's phases in nanoseconds, measured by the worker thread that ran it."""

    queue: int  # submitted until a worker picked it up
    compute_input: int  # building the inputs (an image decoded), resizing and setting the tensors
    compute_infer: int  # the invoke
    compute_output: int  # copying the outputs out


@dataclass
class ModelStats:
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    last_inference_ms: int = 0  # wall clock, milliseconds since the epoch

    def succeeded(self, ns: int, phases: Phases) -> None:
        self.success.add(ns)
        self.queue.add(phases.queue)
        self.compute_input.add(phases.compute_input)
        self.compute_infer.add(phases.compute_infer)
        self.compute_output.add(phases.compute_output)
        self.last_inference_ms = time.time_ns() // 1_000_000

    def failed(self, ns: int) -> None:
        self.fail.add(ns)

    def as_dict(self, name: str, version: str) -> dict[str, object]:
        """Triton's `model_stats` entry (one inference per execution: no batching here)."""
        phases = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")
        return {
            "name": name,
            "version": version,
            "last_inference": self.last_inference_ms,
            "inference_count": self.success.count,
            "execution_count": self.success.count,
            "inference_stats": {phase: getattr(self, phase).as_dict() for phase in phases},
            "batch_stats": [],
        }
