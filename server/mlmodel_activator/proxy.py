"""The activator's HTTP side: hold a request for a stopped service, wake it, forward the
request to a Ready pod, or answer 503 with why (waking too long, too many held, unknown).

One poller per waking service reads its pods and records the wake, however many requests
wait for it; once a pod is Ready every held request goes to it directly, and new ones too
until the operator has led the Service back to the pods (a kube-proxy update away).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from mlmodel_activator import routing
from mlmodel_activator.kube import Kube

log = logging.getLogger("mlmodel_activator")
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer"}
    | {"transfer-encoding", "upgrade", "host", "content-length"}
)
REFRESH_SECONDS = 1.0  # at most one Service listing per second, on a Host not seen yet
BACKENDS_FRESH_SECONDS = 2.0  # how long Ready pods found are used without listing again


@dataclass(frozen=True)
class Settings:
    hold_seconds: float
    max_held: int
    poll_seconds: float
    forward_timeout: float


def error(status: int, message: str, retry_after: int | None = None) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.json_response({"error": message}, status=status, headers=headers)


@dataclass
class _Service:
    """A waking service: its Ready pods once found, and the event its waiters await."""

    found: asyncio.Event = field(default_factory=asyncio.Event)
    backends: list[str] = field(default_factory=list)
    found_at: float = 0.0
    poller: asyncio.Task[None] | None = None


class Activator:
    def __init__(
        self, kube: Kube, session: aiohttp.ClientSession, settings: Settings, clock: Callable[[], float]
    ) -> None:
        self.kube, self.session, self.settings, self.clock = kube, session, settings, clock
        self.holds = routing.Holds(settings.max_held, settings.hold_seconds, clock)
        self.wakes = routing.Wakes(clock, {})
        self.routes: list[routing.Route] = []
        self.refreshed = -REFRESH_SECONDS
        self.refreshing: asyncio.Future[None] | None = None
        self.services: dict[str, _Service] = {}

    async def lookup(self, host: str) -> routing.Route | None:
        route = routing.find(host, self.routes)
        if route is None:
            await self.refresh()
            route = routing.find(host, self.routes)
        return route

    async def refresh(self) -> None:
        """List the labelled Services, or wait for the listing already under way.

        Why shared: a burst on a service just stopped arrives all at once; each request has
        to see the listing the first one started, not the empty routes before it (seen on the
        real node: all but the first request of a burst were refused as unknown).
        """
        if self.refreshing is None or self.refreshing.done():
            if self.clock() - self.refreshed < REFRESH_SECONDS:
                return
            self.refreshed = self.clock()
            self.refreshing = asyncio.ensure_future(self._list_routes())
        await asyncio.shield(self.refreshing)

    async def _list_routes(self) -> None:
        self.routes = routing.routes_of(await self.kube.services())

    async def handle(self, request: web.Request) -> web.StreamResponse:
        host = request.headers.get("Host", "")
        try:
            route = await self.lookup(host)
        except routing.Ambiguous as exc:
            return error(503, str(exc))
        except (aiohttp.ClientError, TimeoutError) as exc:
            return error(503, f"the activator cannot list the stopped services: {exc}", retry_after=1)
        if route is None:
            return error(503, f"no stopped service with wakeOnRequest is called {host!r}")
        deadline = self.holds.admit()
        if deadline is None:
            message = f"service {route.key} is waking; too many requests held, retry shortly"
            return error(503, message, retry_after=1)
        try:
            body = await request.read()
            backend = await self.backend(route, deadline)
            if backend is None:
                waited = self.settings.hold_seconds
                message = f"service {route.key} is waking: no pod Ready within {waited:g}s, retry shortly"
                return error(503, message, retry_after=1)
            return await self.forward(request, body, backend)
        finally:
            self.holds.release()

    async def backend(self, route: routing.Route, deadline: float) -> str | None:
        """A Ready pod of the service, waiting for the wake until the deadline."""
        state = self.services.setdefault(route.key, _Service())
        if state.found.is_set() and self.clock() - state.found_at > BACKENDS_FRESH_SECONDS:
            state.found.clear()  # the service may have stopped again since: look again
        if not state.found.is_set() and (state.poller is None or state.poller.done()):
            state.poller = asyncio.create_task(self._poll(route, state))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.found.wait(), self.holds.left(deadline))
        if not state.found.is_set():
            return None
        return state.backends[self.holds.held % len(state.backends)]

    async def _poll(self, route: routing.Route, state: _Service) -> None:
        """List the pods until one is Ready, recording the wake while none is."""
        while not state.found.is_set() and self.holds.held:
            try:
                ready = routing.backends(await self.kube.pods(route))
                if ready:
                    state.backends, state.found_at = ready, self.clock()
                    state.found.set()
                    self.wakes.forget(route.key)
                    return
                if self.wakes.due(route.key):
                    self.wakes.mark(route.key)
                    if await self.kube.wake(route):
                        log.info("wake requested for %s", route.key)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("%s: %s", route.key, exc)
            await asyncio.sleep(self.settings.poll_seconds)

    async def forward(self, request: web.Request, body: bytes, backend: str) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        timeout = aiohttp.ClientTimeout(total=self.settings.forward_timeout)
        url = f"http://{backend}{request.path_qs}"
        try:
            async with self.session.request(
                request.method, url, headers=headers, data=body, timeout=timeout, allow_redirects=False
            ) as answer:
                payload = await answer.read()
                kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
                return web.Response(status=answer.status, body=payload, headers=kept)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return error(502, f"the woken pod {backend} did not answer: {exc}")


def build_app(activator: Activator, max_body_bytes: int) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes)
    app.router.add_route("*", "/{tail:.*}", activator.handle)
    return app


def health_app() -> web.Application:
    app = web.Application()

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/healthz", healthz)
    return app
