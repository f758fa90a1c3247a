"""The self-test: a real inference before the server calls itself ready, and now and then after.

Why: a loaded model is not yet an answering one. Servers that report ready on load were
ready with models that fail every request; here readiness means one inference went through
the same pool, checks and interpreters as a request, and, when the package says what the
answer should be (`output_example`), that it gave that answer, so a wrong model with the
right tensors is refused before it takes traffic.

The input is the package's `input_example`, decoded as MLflow's scoring server would
decode it, or else one synthetic batch element built from the signature. A failure at
start ends the server (`mlmodel serve: error: self-test: ...`, the pod's termination
message). Later re-checks only flip readiness: they look for a model that stopped
answering, and skip the inference when requests were answered since the last look.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from .codecs.mlflow import INPUT_KEYS, decode
from .errors import InvalidInput, ModelLoadError
from .package import Package
from .runtime.model import TFLiteModel
from .runtime.tensors import TensorSpec

if TYPE_CHECKING:
    from .dataplane import DataPlane

log = logging.getLogger("mlmodel.selftest")

RECHECK_TIMEOUT = 30.0  # seconds a re-check waits for its answer
RETRY_AFTER_FAILURE = 10.0  # seconds to the next re-check after a failed one (at most the period)


class SelfTestFailed(ModelLoadError):
    """The model did not answer its self-test, or not with the package's output_example."""

    reason = "SelfTestFailed"


@dataclass(frozen=True)
class SelfTest:
    """What a model is asked, and what it must answer (nothing to compare when empty)."""

    inputs: Mapping[str, np.ndarray]
    source: str  # "input_example" or "synthetic"
    expected: Mapping[str, np.ndarray]
    tolerance: float = 0.0

    @property
    def check(self) -> str:
        """What passing proves: `output_example` (the right answer), else that one answered."""
        return "output_example" if self.expected else self.source


@dataclass(frozen=True)
class Result:
    passed: bool
    check: str
    at: float  # wall-clock time the inference was sent (seconds since the epoch)
    seconds: float  # how long it took to answer (or to fail)
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "check": self.check,
            "checkedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.at)),
            "durationSeconds": round(self.seconds, 6),
            "message": self.message,
        }


# -- what to ask ------------------------------------------------------------------------


def plan(model: TFLiteModel, package: Package | None) -> SelfTest:
    """The package's example (and expected answer) when it has one, else a synthetic input."""
    if package is None or package.input_example is None:
        return SelfTest(synthetic_inputs(model.inputs), "synthetic", {})
    inputs = example_inputs(model, package.input_example, package.input_example_field)
    expected = expected_outputs(model, package.output_example) if package.output_example else {}
    return SelfTest(inputs, "input_example", expected, package.output_tolerance)


def synthetic_inputs(specs: list[TensorSpec]) -> dict[str, np.ndarray]:
    """One batch element per input (a dynamic dimension becomes 1) of a neutral value."""
    return {
        spec.name: np.full(tuple(1 if d < 0 else d for d in spec.shape_signature), neutral(spec), spec.dtype)
        for spec in specs
    }


def neutral(spec: TensorSpec) -> int:
    """A value any model takes: what a quantized tensor calls 0, the middle of an unsigned
    type's range (a grey pixel for uint8 images), else 0 (signed and float types)."""
    if spec.quantization is not None:
        return spec.quantization.zero_point
    if spec.dtype.kind == "u":
        return (int(np.iinfo(spec.dtype).max) + 1) // 2
    return 0


def example_inputs(model: TFLiteModel, path: Path, field: str | None) -> dict[str, np.ndarray]:
    """The example as the scoring server decodes it: a scoring body (`{"inputs": ...}`, what
    MLflow saves for tensors) or, for a DataFrame example, the frame itself."""
    doc = _read_json(path, "input_example")
    keys = [k for k in INPUT_KEYS if isinstance(doc, dict) and k in doc]
    if len(keys) == 1:
        field, doc = keys[0], doc[keys[0]]
    elif field is None:
        raise SelfTestFailed(
            f"input_example {path.name} has none of {', '.join(INPUT_KEYS)} and is not a DataFrame example"
        )
    try:
        return decode(model, field, doc)
    except InvalidInput as exc:
        raise SelfTestFailed(f"input_example {path.name} does not fit the model: {exc.message}") from None


def expected_outputs(model: TFLiteModel, path: Path) -> dict[str, np.ndarray]:
    """`{"predictions": ...}`, as /invocations answers: the one output, or outputs by name."""
    doc = _read_json(path, "output_example")
    if not isinstance(doc, dict) or "predictions" not in doc:
        raise SelfTestFailed(f'output_example {path.name} must be {{"predictions": ...}}')
    predictions = doc["predictions"]
    names = [t.name for t in model.outputs]
    if not isinstance(predictions, dict):
        if len(names) != 1:
            raise SelfTestFailed(
                f"output_example {path.name}: the model has {len(names)} outputs; name them "
                f"({', '.join(names)})"
            )
        predictions = {names[0]: predictions}
    unknown = sorted(set(predictions) - set(names))
    if unknown:
        raise SelfTestFailed(
            f"output_example {path.name} names unknown outputs {unknown}; the model has {names}"
        )
    return {name: _tensor(path, name, value) for name, value in predictions.items()}


def _tensor(path: Path, name: str, value: Any) -> np.ndarray:
    try:
        return np.asarray(value, np.float64)
    except (ValueError, TypeError) as exc:
        raise SelfTestFailed(
            f"output_example {path.name}: '{name}' is not a numeric tensor ({exc})"
        ) from None


def _read_json(path: Path, field: str) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except OSError as exc:
        raise SelfTestFailed(f"cannot read {field} {path}: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise SelfTestFailed(f"{field} {path.name} is not valid JSON: {exc}") from None


# -- judging the answer -----------------------------------------------------------------


def judge(test: SelfTest, outputs: Mapping[str, np.ndarray]) -> str:
    """Why the answer is wrong, in one line; empty when it is right."""
    for name, want in test.expected.items():
        got = np.asarray(outputs[name], np.float64)
        if got.shape != want.shape:
            return f"output '{name}' has shape {list(got.shape)}, the output_example {list(want.shape)}"
        off = ~np.isclose(got, want, rtol=0.0, atol=test.tolerance, equal_nan=True)
        if off.any():
            diff = np.where(off, np.nan_to_num(np.abs(got - want), nan=np.inf), -1.0)
            at = np.unravel_index(int(np.argmax(diff)), diff.shape)
            return (
                f"output '{name}' differs from the output_example by {diff[at]:.4g} at {list(map(int, at))} "
                f"(answered {got[at]:.6g}, expected {want[at]:.6g}; tolerance {test.tolerance:g})"
            )
    return ""


# -- running it -------------------------------------------------------------------------


def run_blocking(model: TFLiteModel, test: SelfTest) -> Result:
    """The start-up self-test, before the server's event loop exists."""
    at, start = time.time(), time.perf_counter()
    try:
        outputs = model.predict_blocking(test.inputs)
    except Exception as exc:  # any failure to answer fails the test, whatever raised it
        return Result(False, test.check, at, time.perf_counter() - start, f"inference failed: {_line(exc)}")
    return _verdict(test, outputs, at, time.perf_counter() - start)


async def run(model: TFLiteModel, test: SelfTest, timeout: float = RECHECK_TIMEOUT) -> Result:
    """A re-check, through the same pool as requests; an answer slower than `timeout` fails."""
    at, start = time.time(), time.perf_counter()
    try:
        outputs = await asyncio.wait_for(model.predict(test.inputs), timeout)
    except TimeoutError:
        return Result(False, test.check, at, time.perf_counter() - start, f"no answer within {timeout:g}s")
    except Exception as exc:  # as in run_blocking
        return Result(False, test.check, at, time.perf_counter() - start, f"inference failed: {_line(exc)}")
    return _verdict(test, outputs, at, time.perf_counter() - start)


def _verdict(test: SelfTest, outputs: Mapping[str, np.ndarray], at: float, seconds: float) -> Result:
    wrong = judge(test, outputs)
    return Result(not wrong, test.check, at, seconds, wrong)


def _line(exc: Exception) -> str:
    text = str(getattr(exc, "message", "") or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def verify(model: TFLiteModel, package: Package | None) -> tuple[SelfTest, Result]:
    """Plan and run the start-up self-test; SelfTestFailed (one line) when it fails."""
    test = plan(model, package)
    result = run_blocking(model, test)
    if not result.passed:
        raise SelfTestFailed(f"self-test ({result.check}): {result.message}")
    return test, result


async def recheck(dataplane: DataPlane, period: float, timeout: float = RECHECK_TIMEOUT) -> None:
    """Every `period` seconds, ask each model again unless it answered requests since the last
    look; a failure makes it unready (and is retried sooner), a pass makes it ready again."""
    seen = {name: model.stats.success.count for name, model in dataplane.models.items()}
    while True:
        healthy = all(r.passed for r in dataplane.results.values())
        await asyncio.sleep(period if healthy else min(period, RETRY_AFTER_FAILURE))
        for name, model in dataplane.models.items():
            previous = dataplane.results.get(name)
            if previous is not None and previous.passed and model.stats.success.count != seen.get(name):
                seen[name] = model.stats.success.count  # requests were answered: no need to ask
                continue
            # A canary's split: its stable version, which passed at start (the candidate may
            # rightly answer otherwise than the package's output_example).
            stable = model.at_version(model.versions[0]) or model
            result = await run(stable, dataplane.selftests[name], timeout)
            seen[name] = model.stats.success.count
            _log_change(name, previous, result)
            dataplane.results[name] = result


def _log_change(name: str, previous: Result | None, result: Result) -> None:
    if not result.passed:
        log.warning("model '%s' failed its self-test (%s): %s; not ready", name, result.check, result.message)
    elif previous is not None and not previous.passed:
        log.warning("model '%s' passed its self-test again; ready", name)
