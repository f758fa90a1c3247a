"""TFLiteModel: one loaded .tflite model with its signature, labels and interpreter pool.

The model is the lowest layer of the server (KServe's Model): it knows how to
`load` and `predict`, validates inputs against its own signature before any
interpreter sees them, and knows nothing of HTTP.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mlmodel_tflite.fbmodel import NOT_TFLITE, is_tflite
from mlmodel_tflite.metadata import ModelMetadata, parse_labels, read_metadata

from .. import errors
from ..columns import Column
from ..errors import InvalidInput, ModelLoadError
from .batching import Batcher, batchable
from .interpreter import interpreter_class, new_interpreter
from .pool import InterpreterPool
from .roles import model_kind
from .stats import ModelStats
from .tensors import TensorSpec, spec_from_detail


@dataclass(frozen=True)
class ModelConfig:
    """What `mlmodel serve` was asked to serve (the seeds' tflite_cpu attributes)."""

    model_path: Path
    label_path: Path | None = None
    num_threads: int = 1
    name: str = "model"
    version: str = "1"
    pool_size: int = 0  # 0: one interpreter per core / num_threads
    description: str = ""
    solo_threads: int | None = None  # lone requests' interpreter; None: the pool's cores; 0: none
    # The package's column-based input signature, which MLflow scoring maps onto the input.
    input_columns: tuple[Column, ...] = ()
    max_batch_size: int = 0  # rows per adaptive batch (runtime/batching.py); 0 or 1: none
    max_batch_delay: float = 0.0  # seconds a gathering batch waits for more


def solo_threads(config: ModelConfig, pool_size: int) -> int:
    """Threads of the interpreter for requests that find the pool idle: by default all the
    pool's cores when it has several interpreters (never more cores than the pool uses)."""
    if config.solo_threads is not None:
        return config.solo_threads
    return pool_size * config.num_threads if pool_size > 1 else 0


def default_pool_size(num_threads: int) -> int:
    """Enough single interpreters to fill the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, num_threads))


class TFLiteModel:
    """A served model. Build it with `load()`; then `predict()` is safe to call concurrently."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.name = config.name
        self.version = config.version
        self.inputs: list[TensorSpec] = []
        self.outputs: list[TensorSpec] = []
        self.metadata: ModelMetadata | None = None
        self.labels: list[str] = []
        self.kind = "other"
        self.ready = False
        self.stats = ModelStats()
        self._pool: InterpreterPool | None = None
        self._batcher: Batcher | None = None

    # -- loading -----------------------------------------------------------------

    def load(self) -> None:
        """Read, check and warm up the model; raise ModelLoadError naming the problem."""
        content = _read_model_bytes(self.config.model_path)
        probe = _probe_interpreter(content, self.config)
        self.metadata = read_metadata(content)
        self.labels = _load_labels(self.config.label_path, self.metadata)
        self.inputs = self._describe(probe.get_input_details(), "inputs")
        self.outputs = self._describe(probe.get_output_details(), "outputs")
        size = self.config.pool_size or default_pool_size(self.config.num_threads)
        solo = solo_threads(self.config, size)
        self._pool = InterpreterPool(content, self.config.num_threads, size, solo)
        self._pool.warm_up(self._zero_inputs(), [t.index for t in self.outputs])
        self.outputs = self._with_output_shapes(probe)
        self.kind = model_kind(self.inputs, self.outputs)
        self._batcher = self._new_batcher(self._pool)
        self.ready = True

    def _new_batcher(self, pool: InterpreterPool) -> Batcher | None:
        """Adaptive batching when asked for and the model's tensors allow it."""
        config = self.config
        if config.max_batch_size <= 1 or not batchable([*self.inputs, *self.outputs]):
            return None
        outputs = [t.index for t in self.outputs]
        return Batcher(pool, outputs, config.max_batch_size, config.max_batch_delay)

    @property
    def batching(self) -> int:
        """Rows per adaptive batch (0: requests run one by one)."""
        return self.config.max_batch_size if self._batcher else 0

    def _describe(self, details: list[dict[str, Any]], side: str) -> list[TensorSpec]:
        """Tensor specs enriched with metadata descriptions and labels."""
        metas = getattr(self.metadata, side, []) if self.metadata else []
        specs = []
        for position, detail in enumerate(details):
            spec = spec_from_detail(detail)
            meta = metas[position] if position < len(metas) else None
            if meta is not None:
                spec = dataclasses.replace(
                    spec,
                    description=meta.description,
                    labels=tuple(meta.labels),
                    associated_files=tuple(meta.associated_files),
                    extra=_normalization_extra(meta.mean, meta.std, meta.box_order),
                )
            specs.append(spec)
        return specs

    def _with_output_shapes(self, probe: Any) -> list[TensorSpec]:
        """Output shapes known only after one run (as Viam's configure-time inference)."""
        probe.allocate_tensors()
        for index, array in self._zero_inputs():
            probe.set_tensor(index, array)
        probe.invoke()
        shapes = {d["index"]: tuple(int(x) for x in d["shape"]) for d in probe.get_output_details()}
        return [dataclasses.replace(s, shape=shapes.get(s.index, s.shape)) for s in self.outputs]

    def _zero_inputs(self) -> list[tuple[int, np.ndarray]]:
        return [(t.index, np.zeros(t.shape, dtype=t.dtype)) for t in self.inputs]

    # -- serving -----------------------------------------------------------------

    @property
    def versions(self) -> tuple[str, ...]:
        """Every version served under this name, the stable one first (a canary's split
        serves two)."""
        return (self.version,)

    def at_version(self, version: str) -> TFLiteModel | None:
        """The model that answers requests naming `version`, if it is served here."""
        return self if version == self.version else None

    def input_spec(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        known = ", ".join(t.name for t in self.inputs)
        raise InvalidInput(f"unknown input tensor '{name}'; model '{self.name}' has: {known}")

    def output_spec(self, name: str) -> TensorSpec:
        for spec in self.outputs:
            if spec.name == name:
                return spec
        known = ", ".join(t.name for t in self.outputs)
        raise InvalidInput(f"unknown output tensor '{name}'; model '{self.name}' has: {known}")

    def validate(self, inputs: Mapping[str, np.ndarray]) -> list[tuple[int, np.ndarray]]:
        """Check names, dtypes and shapes against the signature; return (index, array)."""
        missing = [t.name for t in self.inputs if t.name not in inputs]
        if missing:
            raise InvalidInput(f"missing input tensor(s): {', '.join(missing)}")
        checked = []
        for name, array in inputs.items():
            spec = self.input_spec(name)
            if array.dtype != spec.dtype:
                raise InvalidInput(
                    f"input '{name}': datatype {array.dtype} does not match the model's {spec.dtype}"
                )
            if not spec.accepts_shape(tuple(array.shape)):
                raise InvalidInput(
                    f"input '{name}': shape {list(array.shape)} does not match the model's "
                    f"{list(spec.shape_signature)}"
                )
            checked.append((spec.index, np.ascontiguousarray(array)))
        return checked

    async def predict(
        self,
        inputs: Mapping[str, np.ndarray] | Callable[[], Mapping[str, np.ndarray]],
        output_names: Sequence[str] | None = None,
    ) -> dict[str, np.ndarray]:
        """Validate, run on a pooled interpreter, return the requested outputs by name;
        counted in `stats` as a success or a failure either way.

        `inputs` may be a function that builds them: it runs, with the validation, on the
        worker thread that invokes, so an image's decode and resize stay off the event loop.
        Such requests are never batched (the batcher joins arrays it already has).
        """
        assert self._pool is not None, "predict() before load()"
        start = time.perf_counter_ns()
        try:
            specs = [self.output_spec(n) for n in output_names] if output_names else self.outputs
            indices = [s.index for s in specs]
            if callable(inputs):
                build = inputs
                arrays, phases = await self._pool.run(lambda: self.validate(build()), indices)
            else:
                runner = self._batcher or self._pool
                arrays, phases = await runner.run(self.validate(inputs), indices)
        except Exception:
            self.stats.failed(time.perf_counter_ns() - start)
            raise
        self.stats.succeeded(time.perf_counter_ns() - start, phases)
        return {spec.name: array for spec, array in zip(specs, arrays, strict=True)}

    def predict_blocking(self, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """predict() of every output, from a thread without an event loop (the start-up
        self-test: not counted in `stats`, which are the requests')."""
        assert self._pool is not None, "predict_blocking() before load()"
        arrays = self._pool.run_blocking(self.validate(inputs), [s.index for s in self.outputs])
        return {spec.name: array for spec, array in zip(self.outputs, arrays, strict=True)}

    @property
    def pool_size(self) -> int:
        return self._pool.size if self._pool else 0

    @property
    def solo_threads(self) -> int:
        """Threads of the interpreter serving lone requests (0: none)."""
        return self._pool.solo_threads if self._pool else 0

    def observe_inference(self, callback: Callable[[float], None]) -> None:
        """Report each invoke's duration (seconds) to `callback`, e.g. a histogram."""
        assert self._pool is not None, "observe_inference() before load()"
        self._pool.on_invoke = callback

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        self.ready = False

    @property
    def runtime(self) -> str:
        return interpreter_class()[0]


def _read_model_bytes(path: Path) -> bytes:
    if path.suffix.lower() != ".tflite":
        raise ModelLoadError(f"model file {path} is not a .tflite file", errors.NOT_TFLITE)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read model file {path}: {exc.strerror or exc}", errors.MODEL_FILE_MISSING
        ) from exc
    if not is_tflite(content):
        raise ModelLoadError(f"model file {path} {NOT_TFLITE}", errors.NOT_TFLITE)
    return content


def _probe_interpreter(content: bytes, config: ModelConfig) -> Any:
    """One interpreter used only for introspection; errors say the model is corrupt."""
    try:
        return new_interpreter(content, config.num_threads)
    except (ValueError, RuntimeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"model file {config.model_path} cannot be loaded: {first_line}") from exc


def _load_labels(path: Path | None, metadata: ModelMetadata | None) -> list[str]:
    """A labels file wins over labels embedded in the model's metadata."""
    if path is not None:
        try:
            return parse_labels(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelLoadError(
                f"cannot read labels file {path}: {exc}", errors.LABELS_FILE_MISSING
            ) from exc
    for tensor in metadata.outputs if metadata else []:
        if tensor.labels:
            return list(tensor.labels)
    return []


def _normalization_extra(mean: list[float], std: list[float], box: list[int]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if mean and std:
        extra["normalization"] = {"mean": mean, "std": std}
    if box:
        extra["box_order"] = box
    return extra
