"""Retries of API requests: which failures are transient, and how long to wait (pure).

An apiserver or etcd restart, a rolling upgrade of the control plane, or a busy
apiserver shows up as refused connections, timeouts, 429/5xx answers and the odd
409 on a patch. None of these says anything about the objects, so a reconcile
must neither fail on the first one nor turn it into a status (a Deployment read
that failed is not a missing Deployment). `Kube.request` retries them with
capped exponential backoff and jitter; everything else (400, 403, 404, 422, a
409 on create) is an answer and is raised at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

# 429: throttled (priority and fairness); 500: etcd errors surface as these;
# 502/503/504: the apiserver (or a proxy in front of it) is restarting or overloaded.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Only these may be sent again after a timeout or 5xx: repeating them cannot do harm.
# A POST (create) that timed out may have happened; sending it again is not ours to decide.
IDEMPOTENT = frozenset({"GET", "HEAD", "PATCH", "PUT", "DELETE"})
# Answers a POST can safely be retried on: the apiserver refused it before doing anything.
POST_RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts and how long to wait between them.

    The defaults ride out an apiserver restart (a few seconds) and a short etcd outage
    (~20 s of sleeping over 8 attempts) without holding a kopf worker thread for minutes;
    what is left over is retried by the next trigger or the work queue.
    """

    attempts: int = 8  # in total, the first one included
    base: float = 0.25  # seconds before the first retry
    cap: float = 8.0  # longest single wait
    deadline: float = 60.0  # no new attempt starts this long after the first one

    def delay(self, retry: int, jitter: Callable[[], float] = random.random) -> float:
        """Wait before retry number `retry` (1-based): exponential, capped, 50-100 % jittered.

        Jitter keeps the replicas and the many reconciles that failed together from all
        coming back at the same instant to an apiserver that just restarted.
        """
        ceiling = min(self.cap, self.base * 2 ** (retry - 1))
        return ceiling * (0.5 + 0.5 * jitter())


NO_RETRIES = RetryPolicy(attempts=1)


def retry_reason(method: str, exc: BaseException) -> str | None:
    """A short label (`409`, `503`, `timeout`, `connection`) if `exc` is worth retrying.

    `exc` is what `Kube` raises: its `ApiError` with an HTTP status, or an httpx2 transport
    error for refused connections, timeouts and dropped connections.
    """
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        return _status_reason(method, status)
    transport = _transport_reason(exc)
    if transport is None:
        return None
    # A refused connection never reached the apiserver, so even a POST may go again.
    if method in IDEMPOTENT or transport == "connection":
        return transport
    return None


def _status_reason(method: str, status: int) -> str | None:
    if status == 409:
        # A patch lost a race with another writer (optimistic concurrency inside the
        # apiserver); sent again it applies to the new version. A create's 409 is
        # AlreadyExists: an answer.
        return "409" if method == "PATCH" else None
    allowed = RETRY_STATUSES if method in IDEMPOTENT else POST_RETRY_STATUSES
    return str(status) if status in allowed else None


def _transport_reason(exc: BaseException) -> str | None:
    """Classify httpx2/socket failures without importing httpx2 at module load.

    A ConnectError (refused, unreachable, TLS handshake) means nothing was sent. Errors that
    say the request itself was wrong (an unsupported URL scheme, a malformed header) are
    not transient and are not classified.
    """
    import httpx2

    if isinstance(exc, httpx2.ConnectError | ConnectionRefusedError):
        return "connection"
    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, httpx2.NetworkError | httpx2.RemoteProtocolError | ConnectionError):
        return "disconnected"  # reset or closed mid-request, e.g. the apiserver was killed
    return None
