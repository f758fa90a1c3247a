"""What every `mlmodel` entry point shares: one-line usage errors and how a parsed
subcommand runs.

It imports no plane. The umbrella `mlmodel` command (mlmodel_server.cli) imports every
subcommand's package; `python -m mlmodel_fetch` and `python -m mlmodel_operator` build
their own subcommand's parser from this module instead, so no package imports the
umbrella back and the control plane never imports the server package.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import NoReturn


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr, not usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse `argv` and call the handler the chosen subcommand set as `func`; Ctrl-C is
    exit 130, as a shell reports it, not a traceback."""
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
