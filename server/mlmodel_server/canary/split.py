"""VersionSplit: a stable and a candidate version of one model, served under one name.

Why inside the server rather than two Deployments split by replicas: a replica ratio of
1:9 needs ten pods for a 10 % canary, which an edge cluster does not have, and Service
load balancing is per connection, not per request. Here every pod loads both versions
and picks the answering one per request (`weights.WeightedChoice`, exact in every 100
requests), so the share holds on one pod as on many. With mirroring, each request also
runs on the other version, whose answer is only compared (`agreement.agree`).

It is a TFLiteModel to every front door (REST, the fast path, gRPC, MLflow, vision), so
none of them knows about the split. A request naming a version is answered by that
version alone (`at_version`), outside the split and its metrics.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
from prometheus_client.metrics_core import Metric

from ..errors import TENSOR_MISMATCH, ModelLoadError
from ..package import Package, read_package
from ..runtime.model import ModelConfig, TFLiteModel
from ..runtime.tensors import TensorSpec
from .agreement import agree, rule_for
from .metrics import ANSWER, SHADOW, SplitMetrics
from .options import CandidateOptions
from .weights import WeightedChoice

Outputs = dict[str, np.ndarray]
# The version that answered the current request. Every front door encodes `model.version`
# right after `predict` in the same asyncio task, and each request is a task of its own,
# so a task-local value tells each answer its version without any front door knowing.
_ANSWERED: ContextVar[str | None] = ContextVar("mlmodel_answered_version", default=None)


@dataclass(frozen=True)
class SplitPlan:
    """The candidate `mlmodel serve` was asked to serve beside the stable version."""

    config: ModelConfig  # the candidate's model, labels and version; the rest as the stable's
    percent: int  # share of requests the candidate answers
    mirror: bool = False  # run every request on both versions and compare
    tolerance: float = 1e-3  # agreement of models that are neither classifiers nor detectors
    package: Package | None = None  # the candidate's package, checked like the stable's
    seed: int | None = None  # the weighted choice's; None: a different sequence per process


def split_plan(options: CandidateOptions, stable: ModelConfig) -> SplitPlan | None:
    """The candidate's model, labels and version from its flags (or its package); its
    threads, pool and name are the stable's, so both versions serve alike."""
    if not options.wanted:
        return None
    package = read_package(options.candidate_package_dir) if options.candidate_package_dir else None
    path = package.model_path if package else options.candidate_model
    assert path is not None, "argparse requires --candidate-model or --candidate-package-dir"
    labels = options.candidate_labels or (package.label_path if package else None)
    version = options.candidate_version or (package.version if package and package.version else "candidate")
    config = dataclasses.replace(stable, model_path=path, label_path=labels, version=version)
    return SplitPlan(config, options.candidate_percent, options.mirror, options.agreement_tolerance, package)


class VersionSplit(TFLiteModel):
    """Two loaded versions with the same signature; `predict` picks one per request."""

    def __init__(self, stable: TFLiteModel, candidate: TFLiteModel, plan: SplitPlan) -> None:
        check_compatible(stable, candidate)
        super().__init__(stable.config)
        self.stable, self.candidate, self.plan = stable, candidate, plan
        self.inputs, self.outputs, self.metadata = stable.inputs, stable.outputs, stable.metadata
        self.labels, self.kind, self.stats = stable.labels, stable.kind, stable.stats
        self.ready = stable.ready and candidate.ready
        self.choice = WeightedChoice(plan.percent, plan.seed)
        self.rule = rule_for(stable.kind, stable.outputs, plan.tolerance)
        self.split_metrics = SplitMetrics()
        # Mirrored runs in flight at most: a slower candidate sheds them rather than piling up.
        self.max_shadows = max(8, 4 * max(stable.pool_size, candidate.pool_size))
        self._shadows: set[asyncio.Task[Outputs]] = set()
        self.split_metrics.share.labels(self.name, stable.version).set(100 - plan.percent)
        self.split_metrics.share.labels(self.name, candidate.version).set(plan.percent)

    @property
    def version(self) -> str:
        """The version that answered this request, else the stable's (metadata, readiness)."""
        return _ANSWERED.get() or self._stable_version

    @version.setter
    def version(self, value: str) -> None:
        self._stable_version = value

    @property
    def versions(self) -> tuple[str, ...]:
        return (self.stable.version, self.candidate.version)

    def at_version(self, version: str) -> TFLiteModel | None:
        return {m.version: m for m in (self.stable, self.candidate)}.get(version)

    async def predict(
        self,
        inputs: Mapping[str, np.ndarray] | Callable[[], Mapping[str, np.ndarray]],
        output_names: Sequence[str] | None = None,
    ) -> Outputs:
        """Refuse a bad request before any version runs, then answer with the picked one.

        With mirroring both versions run with every output (the comparison needs them), and
        the client gets the outputs it asked for. Inputs given as a function (an image to
        decode) are built once, on a thread, since both versions may need them.
        """
        if callable(inputs):
            inputs = await asyncio.to_thread(inputs)
        self.stable.validate(inputs)
        wanted = [self.output_spec(name).name for name in output_names or ()]
        answer, other = self._pick()
        _ANSWERED.set(answer.version)
        shadow = self._start_shadow(other, inputs) if self.plan.mirror else None
        outputs = await self._run(answer, ANSWER, inputs, None if shadow else output_names)
        if shadow is None:
            return outputs
        shadow.add_done_callback(lambda done: self._compare(answer is self.stable, outputs, done))
        return {name: outputs[name] for name in wanted} if wanted else outputs

    def _pick(self) -> tuple[TFLiteModel, TFLiteModel]:
        """(the version that answers, the other one)."""
        if self.choice.candidate():
            return self.candidate, self.stable
        return self.stable, self.candidate

    async def _run(
        self, model: TFLiteModel, role: str, inputs: Mapping[str, np.ndarray], names: Sequence[str] | None
    ) -> Outputs:
        """One version's inference, counted as ok or error with its duration."""
        start = time.perf_counter()
        try:
            outputs = await model.predict(inputs, names)
        except asyncio.CancelledError:
            raise
        except Exception:
            self._count(model, role, "error", start)
            raise
        self._count(model, role, "ok", start)
        return outputs

    def _count(self, model: TFLiteModel, role: str, result: str, start: float) -> None:
        metrics = self.split_metrics
        metrics.requests.labels(self.name, model.version, role, result).inc()
        metrics.duration.labels(self.name, model.version, role).observe(time.perf_counter() - start)

    def _start_shadow(
        self, model: TFLiteModel, inputs: Mapping[str, np.ndarray]
    ) -> asyncio.Task[Outputs] | None:
        """The mirrored run, in the background so the answer never waits for it; skipped
        (and counted) when the candidate falls so far behind that runs would pile up."""
        if len(self._shadows) >= self.max_shadows:
            self.split_metrics.skipped.labels(self.name, model.version).inc()
            return None
        task = asyncio.get_running_loop().create_task(self._run(model, SHADOW, inputs, None))
        self._shadows.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Outputs]) -> None:
        self._shadows.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: a failed shadow is counted, never logged as lost

    def _compare(self, stable_answered: bool, answered: Outputs, shadow: asyncio.Task[Outputs]) -> None:
        if shadow.cancelled() or shadow.exception() is not None:
            return
        mirrored = shadow.result()
        stable, candidate = (answered, mirrored) if stable_answered else (mirrored, answered)
        result = "agree" if agree(self.rule, stable, candidate) else "disagree"
        self.split_metrics.comparisons.labels(
            self.name, self.stable.version, self.candidate.version, result
        ).inc()

    @property
    def pool_size(self) -> int:
        return self.stable.pool_size

    @property
    def solo_threads(self) -> int:
        return self.stable.solo_threads

    def observe_inference(self, callback: Callable[[float], None]) -> None:
        self.stable.observe_inference(callback)
        self.candidate.observe_inference(callback)

    def close(self) -> None:
        for task in list(self._shadows):
            task.cancel()
        self.stable.close()
        self.candidate.close()
        self.ready = False


def check_compatible(stable: TFLiteModel, candidate: TFLiteModel) -> None:
    """The candidate must stand in for the stable version: a client must not notice which
    one answered, except by the values."""
    problem = _difference(stable, candidate)
    if problem:
        raise ModelLoadError(
            f"candidate version {candidate.version} cannot stand in for version {stable.version}: {problem}",
            TENSOR_MISMATCH,
        )


def _difference(stable: TFLiteModel, candidate: TFLiteModel) -> str | None:
    if candidate.version == stable.version:
        return "both are called the same; give them distinct versions"
    for side in ("inputs", "outputs"):
        ours, theirs = _signature(getattr(stable, side)), _signature(getattr(candidate, side))
        if ours != theirs:
            return f"its {side} are {', '.join(theirs)}, not {', '.join(ours)}"
    if stable.labels and candidate.labels and stable.labels != candidate.labels:
        return "its labels differ (a class would be named by whichever version answered)"
    return None


def _signature(specs: list[TensorSpec]) -> list[str]:
    return [f"{s.name} {s.dtype} {list(s.shape_signature)}" for s in specs]


class SplitCollector:
    """The per-version families of every split the server serves, for its registry."""

    def __init__(self, models: Mapping[str, TFLiteModel]) -> None:
        self.models = models

    def collect(self) -> Iterator[Metric]:
        for model in self.models.values():
            if isinstance(model, VersionSplit):
                yield from model.split_metrics.families()
