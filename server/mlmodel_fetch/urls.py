"""Which URLs a package may be downloaded from, and an opener that keeps to it.

https only, unless the ModelPackage version explicitly allows plain http
(`source.allowInsecureHttp`, passed as `--allow-insecure-http`). The sha256 protects
the bytes either way; https also hides which model is fetched and stops a network
attacker from making a pod download something else (and fail). The same rule holds for
every redirect: urllib would otherwise follow https → http downgrades and even ftp://.
`file:`, `data:` and `ftp:` URLs, which urllib opens happily, are never accepted.

The operator's verification (mlmodel_operator.verify) uses this module too, so both
sides refuse the same URLs.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from http.client import HTTPMessage
from typing import IO

from mlmodel_fetch.errors import FetchError


def allowed_schemes(allow_insecure_http: bool) -> tuple[str, ...]:
    return ("https", "http") if allow_insecure_http else ("https",)


def check_url(url: str, allow_insecure_http: bool = False) -> None:
    """Refuse a URL whose scheme is not allowed, with the flag that would allow it."""
    parsed = urllib.parse.urlsplit(url)
    scheme = parsed.scheme.lower()
    if scheme == "http" and not allow_insecure_http:
        raise FetchError(
            f"refusing plain http URL {url}: use https, or set source.allowInsecureHttp "
            "(mlmodel fetch --allow-insecure-http)"
        )
    if scheme not in allowed_schemes(allow_insecure_http) or not parsed.netloc:
        raise FetchError(f"refusing URL {url}: only https:// URLs are fetched")


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
            raise FetchError(f"redirect from {req.full_url}: {exc}") from None
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener(allow_insecure_http: bool = False) -> urllib.request.OpenerDirector:
    """An opener with the redirect policy; environment proxies still apply."""
    return urllib.request.build_opener(_PolicyRedirects(allow_insecure_http))
