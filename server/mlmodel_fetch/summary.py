"""A compact JSON description of the model a package contains.

The operator reads it from the init container's termination message, which
Kubernetes caps at 4096 bytes, so the summary shrinks itself to fit. Summaries
are best effort: a package without a `.tflite` (or one the interpreter cannot
load) still fetches successfully, it just reports fewer facts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TERMINATION_MESSAGE_LIMIT = 4096
FAILURE_ERROR_CHARS = 1000


def failure(reason: str, error: str) -> str:
    """The termination message of a failure, `mlmodel fetch`'s and `mlmodel serve`'s alike.

    The reason comes first and the error is cut to 1000 characters, not escaped to ASCII:
    the kubelet keeps at most 4096 bytes of the file, and less per container when a pod's
    messages together exceed 12 KiB, so a cut message still starts with a readable reason
    (the operator's reader falls back to it when the JSON is cut).
    """
    return json.dumps({"reason": reason, "error": error[:FAILURE_ERROR_CHARS]}, ensure_ascii=False)


def find_model(dest: Path) -> Path | None:
    """The shallowest `.tflite` under `dest` (ties broken by name)."""
    models = sorted(dest.rglob("*.tflite"), key=lambda p: (len(p.parts), str(p)))
    return models[0] if models else None


def _load_interpreter(path: Path) -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - depends on the image
        from tflite_runtime.interpreter import Interpreter
    return Interpreter(model_path=str(path))


def _tensor(detail: dict[str, Any]) -> dict[str, Any]:
    shape = detail.get("shape_signature")
    if shape is None or len(shape) == 0:
        shape = detail.get("shape", [])
    dtype = getattr(detail.get("dtype"), "__name__", str(detail.get("dtype")))
    return {"name": detail.get("name", ""), "dtype": dtype, "shape": [int(d) for d in shape]}


def tensor_summary(model: Path) -> dict[str, Any]:
    """Inputs and outputs as {name, dtype, shape}; an error note instead of raising."""
    try:
        interp = _load_interpreter(model)
        return {
            "inputs": [_tensor(d) for d in interp.get_input_details()],
            "outputs": [_tensor(d) for d in interp.get_output_details()],
        }
    except Exception as exc:  # the interpreter raises bare RuntimeError/ValueError
        return {"summaryError": f"cannot load model: {exc}"[:300]}


def build_summary(dest: Path, sha256: str, size: int, model_path: str | None = None) -> dict[str, Any]:
    """Everything the operator shows in status for one fetched package: the model the server
    will load (`model_path`, relative to `dest`) when known, else the shallowest one."""
    summary: dict[str, Any] = {"sha256": sha256, "size": size}
    model = dest / model_path if model_path else find_model(dest)
    if model is not None:
        summary["model"] = str(model.relative_to(dest))
        summary.update(tensor_summary(model))
    return summary


def encode(summary: dict[str, Any], limit: int = TERMINATION_MESSAGE_LIMIT) -> str:
    """One JSON line that fits in `limit` bytes, dropping tensors from the end if needed."""
    data = dict(summary)
    line = json.dumps(data, separators=(",", ":"))
    while len(line.encode()) > limit:
        key = "outputs" if data.get("outputs") else "inputs" if data.get("inputs") else None
        if key is None:
            return json.dumps({k: data[k] for k in ("sha256", "size") if k in data})
        data[key] = data[key][:-1]
        data["truncated"] = True
        line = json.dumps(data, separators=(",", ":"))
    return line
