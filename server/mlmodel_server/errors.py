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
    """A model, labels file or package cannot be loaded; fatal at start-up."""
