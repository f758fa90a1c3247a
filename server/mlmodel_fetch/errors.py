"""The one exception type `mlmodel fetch` turns into a one-line message and exit 1."""


class FetchError(Exception):
    """A user-facing failure: bad checksum, unreachable URL, unsafe archive, too big."""
