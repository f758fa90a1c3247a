"""Which URLs a package may be downloaded from, and an opener that keeps to it.

https only, unless the ModelPackage version explicitly allows plain http
(`source.allowInsecureHttp`, passed as `--allow-insecure-http`). The sha256 protects
the bytes either way; https also hides which model is fetched and stops a network
attacker from making a pod download something else (and fail). The same rule holds for
every redirect: urllib would otherwise follow https → http downgrades and even ftp://.
`file:`, `data:` and `ftp:` URLs, which urllib opens happily, are never accepted.

A server with a private CA (a company's artifact server) is trusted through its PEM bundle
(`source.caConfigMap`, passed as `--ca-file`): then only that bundle is trusted, like curl
--cacert, so no public CA of the system store can vouch for a server that is meant to present
the company's certificate.

The operator's verification (mlmodel_operator.verify) uses this module too, so both
sides refuse the same URLs and trust the same CAs.
"""

from __future__ import annotations

import ssl
import urllib.parse
import urllib.request
from http.client import HTTPMessage
from pathlib import Path
from typing import IO

from mlmodel_fetch import errors
from mlmodel_fetch.errors import FetchError

SYSTEM_CAS = "system CA store; a server with a private CA needs source.caConfigMap"


def allowed_schemes(allow_insecure_http: bool) -> tuple[str, ...]:
    return ("https", "http") if allow_insecure_http else ("https",)


def check_url(url: str, allow_insecure_http: bool = False) -> None:
    """Refuse a URL whose scheme is not allowed, with the flag that would allow it."""
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme == "http" and not allow_insecure_http:
        raise FetchError(
            f"refusing plain http URL {url}: use https, or set source.allowInsecureHttp "
            "(mlmodel fetch --allow-insecure-http)",
            errors.INSECURE,
        )
    if scheme not in allowed_schemes(allow_insecure_http) or not parsed.netloc:
        raise FetchError(f"refusing URL {url}: only https:// URLs are fetched", errors.INSECURE)


class _PolicyRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL the same policy accepts."""

    def __init__(self, allow_insecure_http: bool) -> None:
        super().__init__()
        self.allow_insecure_http = allow_insecure_http

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        try:
            check_url(newurl, self.allow_insecure_http)
        except FetchError as exc:
            raise FetchError(f"redirect from {req.full_url}: {exc}", exc.reason) from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def ca_context(*, cafile: Path | None = None, cadata: str | None = None) -> ssl.SSLContext:
    """A client context trusting only this PEM bundle.

    Built by hand: `ssl.create_default_context` falls back to the system store when the
    bundle is empty. Raises OSError (unreadable file) or ssl.SSLError/ValueError (no PEM
    certificate) for the caller to name its own source.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname checked, certificate required
    context.load_verify_locations(cafile=cafile, cadata=cadata)
    return context


def load_ca_file(path: Path) -> ssl.SSLContext:
    """`--ca-file`: the bundle, or a one-line error naming the file."""
    try:
        return ca_context(cafile=path)
    except ssl.SSLError as exc:
        raise FetchError(f"CA bundle {path} holds no PEM certificate", errors.CA_BUNDLE) from exc
    except OSError as exc:
        raise FetchError(f"CA bundle {path}: {exc.strerror or exc}", errors.CA_BUNDLE) from exc


def certificate_failure(exc: BaseException, cas: str) -> str | None:
    """One line for a server certificate the trusted CAs reject, naming them; None for other errors."""
    reason = getattr(exc, "reason", exc)
    if not isinstance(reason, ssl.SSLCertVerificationError):
        return None
    return f"certificate verify failed: {reason.verify_message} ({cas})"


def opener(
    allow_insecure_http: bool = False, context: ssl.SSLContext | None = None
) -> urllib.request.OpenerDirector:
    """An opener with the redirect policy and the trusted CAs (None: the system store).

    Environment proxies still apply.
    """
    return urllib.request.build_opener(
        _PolicyRedirects(allow_insecure_http), urllib.request.HTTPSHandler(context=context)
    )
