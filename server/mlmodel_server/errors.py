"""Domain errors. Each names the problem; `api/errors.py` maps them to HTTP statuses.

Why one hierarchy: the model, codecs and vision code raise what went wrong in
their own terms, and exactly one place decides the status code and the body
shape of each protocol, so a 5xx only ever means a bug.
"""

from __future__ import annotations


class ServingError(Exception):
    """Base class: `status` is the HTTP status the error maps to."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(ServingError):
    """The request does not fit the protocol or the model signature."""

    status = 400


class ModelNotFound(ServingError):
    status = 404


class ModelNotReady(ServingError):
    status = 503


class PayloadTooLarge(ServingError):
    status = 413


class UnsupportedMediaType(ServingError):
    status = 415


class ModelLoadError(Exception):
    """A model, labels file or package cannot be loaded; fatal at start-up."""
