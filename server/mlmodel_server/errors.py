"""Domain errors. Each names the problem in the terms of the code that raised it.

Why one hierarchy, and no status codes on it: the model, codecs and vision code raise
what went wrong, and each protocol decides in exactly one place what a kind of error
becomes there (`api/errors.py` for HTTP, `api/grpc_oip.py` for gRPC), so a 5xx or an
INTERNAL only ever means a bug.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class of the errors a client caused or can wait out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServingError):
    """The request does not fit the protocol or the model signature."""


class ModelNotFound(ServingError):
    """No model, version or vision service of that name."""


class ModelNotReady(ServingError):
    """The model exists but cannot infer yet (or any more)."""


class PayloadTooLarge(ServingError):
    """The request is over a size limit (body, inflated body, image pixels)."""


class UnsupportedMediaType(ServingError):
    """The request's content type is not one the endpoint reads."""


class ModelLoadError(Exception):
    """A model, labels file or package cannot be loaded; fatal at start-up.

    `reason` is a stable name for the kind of problem: `mlmodel serve` writes it to the pod's
    termination message, and the operator's status shows it (docs/operator.md, Troubleshooting).
    """

    reason = "ModelLoadFailed"  # LiteRT refused it (an unsupported op, a corrupt file, ...)

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


NOT_TFLITE = "NotTFLite"  # the bytes are no TFLite flatbuffer (or the file is no .tflite)
MODEL_FILE_MISSING = "ModelFileMissing"  # the model file cannot be read
LABELS_FILE_MISSING = "LabelsFileMissing"  # the labels file cannot be read (or is not UTF-8)
LABELS_MISMATCH = "LabelsMismatch"  # the labels do not match the classifier's classes
TENSOR_MISMATCH = "TensorMismatch"  # the tensors do not fit what is asked of them
INVALID_PACKAGE = "InvalidPackage"  # the package's MLmodel manifest is wrong
