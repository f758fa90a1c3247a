"""Find the TFLite interpreter class: LiteRT first, tflite_runtime as a fallback.

Why both: LiteRT (`ai-edge-litert`) is the maintained successor and the default
dependency, but ARM edge images often only have `tflite_runtime`, whose 2.14
release does not import under NumPy 2. We pick whichever imports.
"""

from __future__ import annotations

import functools
from typing import Any


class RuntimeUnavailable(RuntimeError):
    """Neither LiteRT nor tflite_runtime can be imported."""


@functools.cache
def interpreter_class() -> tuple[str, Any]:
    """Return (runtime name, Interpreter class) of the first runtime that imports."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return "litert", Interpreter
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return "tflite_runtime", Interpreter
    except ImportError as exc:
        raise RuntimeUnavailable("no TFLite runtime: install ai-edge-litert (or tflite-runtime)") from exc


def new_interpreter(model_content: bytes, num_threads: int) -> Any:
    """Build and allocate one interpreter over the model bytes.

    The default op resolver applies XNNPACK, which is what makes float models fast
    on CPU; `num_threads` is handed to it as well.
    """
    _, cls = interpreter_class()
    interpreter = cls(model_content=model_content, num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter
