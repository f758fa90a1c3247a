"""`mlmodel operator`: run the kopf operator. Settings come from `Config.from_env`;
flags override them for local runs."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from mlmodel_cli import OneLineParser, run

PROG = "mlmodel operator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        help="watch only this namespace (repeatable); default: all",
    )
    parser.add_argument(
        "--standalone",
        action="store_true",
        help="no peering/leader election (overrides MLMODEL_OPERATOR_PEERING)",
    )
    parser.add_argument("--peering", help="KopfPeering name for leader election")
    parser.add_argument("--liveness-port", type=int, help="0 disables /healthz")
    parser.add_argument("--metrics-port", type=int, help="Prometheus /metrics port; 0 disables it")
    parser.add_argument("--image", help="inference image (MLMODEL_OPERATOR_IMAGE)")
    parser.set_defaults(func=handler)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `operator` subcommand to the top-level `mlmodel` parser."""
    parser = subparsers.add_parser("operator", help="run the Kubernetes operator (kopf)")
    add_arguments(parser)


def handler(args: argparse.Namespace) -> int:
    from mlmodel_operator.config import Config, ConfigError

    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    config = config.with_overrides(
        namespaces=tuple(args.namespaces) if args.namespaces else None,
        peering=args.peering,
        liveness_port=args.liveness_port,
        metrics_port=args.metrics_port,
        image=args.image,
    )
    if args.standalone:
        config = dataclasses.replace(config, peering=None)
    from mlmodel_operator.main import run

    try:
        run(config)
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # kopf startup failures: no kubeconfig, CRDs missing
        print(f"{PROG}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m mlmodel_operator`: the flags, name and errors of `mlmodel operator`, built here:
    the umbrella CLI (mlmodel_server.cli) imports this package, never the other way round."""
    parser = OneLineParser(prog=PROG)
    add_arguments(parser)
    return run(parser, argv)
