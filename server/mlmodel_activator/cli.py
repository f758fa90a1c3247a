"""`mlmodel activator`: parse the options, then serve the proxy and its health port."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

DEFAULT_MAX_BODY = 64 << 20


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "activator", help="hold requests for stopped services with wakeOnRequest, wake them, forward"
    )
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--health-port", type=int, default=8090, help="GET /healthz (0: off)")
    p.add_argument("--hold-seconds", type=float, default=30.0, help="longest wait for a pod to be Ready")
    p.add_argument("--max-held", type=int, default=1000, help="requests held at once; more get 503")
    p.add_argument("--poll-seconds", type=float, default=0.25, help="pod listing interval while waking")
    p.add_argument("--forward-timeout", type=float, default=60.0, help="a woken pod's answer time")
    p.add_argument("--max-body-bytes", type=int, default=DEFAULT_MAX_BODY)
    p.add_argument("--kube-api", default=None, help="API server URL, no credentials (default: in-cluster)")
    p.add_argument("--log-level", default="INFO")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.hold_seconds <= 0 or args.max_held < 1 or args.poll_seconds <= 0:
        message = "--hold-seconds, --max-held and --poll-seconds must be above 0"
        print(f"mlmodel activator: error: {message}", file=sys.stderr)
        return 2
    from mlmodel_activator.kube import ApiAccess

    try:
        access = ApiAccess.resolve(args.kube_api)
    except ValueError as exc:
        print(f"mlmodel activator: error: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        asyncio.run(_serve(args, access))
    except OSError as exc:  # a port in use
        print(f"mlmodel activator: error: {exc}", file=sys.stderr)
        return 1
    return 0


async def _serve(args: argparse.Namespace, access: object) -> None:
    import aiohttp
    from aiohttp import web

    from mlmodel_activator.kube import ApiAccess, Kube
    from mlmodel_activator.proxy import Activator, Settings, build_app, health_app

    assert isinstance(access, ApiAccess)
    settings = Settings(args.hold_seconds, args.max_held, args.poll_seconds, args.forward_timeout)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        activator = Activator(Kube(access, session), session, settings, loop.time)
        runners = [web.AppRunner(build_app(activator, args.max_body_bytes), access_log=None)]
        if args.health_port:
            runners.append(web.AppRunner(health_app(), access_log=None))
        for runner, port in zip(runners, (args.port, args.health_port), strict=False):
            await runner.setup()
            await web.TCPSite(runner, args.host, port).start()
        logging.getLogger("mlmodel_activator").info("activator on %s:%d", args.host, args.port)
        await stop.wait()
        for runner in runners:
            await runner.cleanup()
