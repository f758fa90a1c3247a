"""The `mlmodel` command: `serve`, `operator`, `fetch` and `activator` subcommands.

Each subcommand's package registers its own parser and a handler that imports
its heavy modules lazily, so `mlmodel fetch` in an init container never pays
for FastAPI and `mlmodel serve` never imports kopf.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from mlmodel_cli import OneLineParser, run

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="mlmodel", description="TFLite model serving on Kubernetes.")
    parser.add_argument("--version", action="version", version=f"mlmodel {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    _register_all(subparsers)
    return parser


def _register_all(subparsers: argparse._SubParsersAction) -> None:
    from . import serve_cli

    serve_cli.register(subparsers)
    for module in ("mlmodel_fetch.cli", "mlmodel_activator.cli", "mlmodel_operator.cli"):
        try:
            __import__(module, fromlist=["register"]).register(subparsers)
        except ImportError:  # a slimmer install without that plane
            continue


def main(argv: Sequence[str] | None = None) -> int:
    return run(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
