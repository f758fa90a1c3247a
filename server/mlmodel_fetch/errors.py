"""The one exception type `mlmodel fetch` turns into a one-line message and exit 1."""

# Stable reasons, as the operator's status shows them (docs/operator.md, Troubleshooting).
FETCH_FAILED = "FetchFailed"  # an answer no other reason covers (an HTTP 400, ...)
NOT_FOUND = "FetchNotFound"  # HTTP 404/410, a source file that does not exist
UNAUTHORIZED = "FetchUnauthorized"  # HTTP 401/403
UNREACHABLE = "FetchUnreachable"  # no answer: DNS, refused, timeout, 5xx after retries
UNTRUSTED = "FetchUntrusted"  # the server's certificate is not signed by a trusted CA
INSECURE = "InsecureSource"  # an http:// URL or redirect without the opt-in
CA_BUNDLE = "CABundleNotFound"  # the CA bundle is missing or holds no certificate (the operator's name)
TOO_LARGE = "TooLarge"  # the bytes, or what an archive unpacks to, exceed the limit
CHECKSUM = "ChecksumMismatch"
INVALID_ARCHIVE = "InvalidArchive"  # unreadable, unsafe (traversal, links) or too many members
MODEL_MISSING = "ModelFileMissing"
NOT_TFLITE = "NotTFLite"


class FetchError(Exception):
    """A user-facing failure: bad checksum, unreachable URL, unsafe archive, too big.

    `reason` is one of the stable names above: the init container's termination message
    carries it, so the operator's status names the problem without parsing the sentence.
    """

    def __init__(self, message: str, reason: str = FETCH_FAILED) -> None:
        super().__init__(message)
        self.reason = reason
