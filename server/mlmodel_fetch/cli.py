"""`mlmodel fetch` argument parsing; the work happens in `mlmodel_fetch.fetch`."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from mlmodel_cli import OneLineParser, run

PROG = "mlmodel fetch"
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


def _sha256(value: str) -> str:
    if not _HEX64.match(value):
        raise argparse.ArgumentTypeError("must be 64 hexadecimal characters")
    return value.lower()


def _positive(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of docs/architecture.md, shared by `mlmodel fetch` and `python -m`."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--url", help="https URL of a .tflite, .tar.gz or .zip")
    source.add_argument("--file", type=Path, help="a file on a mounted volume")
    parser.add_argument("--sha256", type=_sha256, help="expected digest (required with --url)")
    parser.add_argument(
        "--allow-insecure-http",
        action="store_true",
        help="accept a plain http:// --url (and http redirects); https only otherwise",
    )
    parser.add_argument(
        "--ca-file",
        type=Path,
        help="PEM CA bundle to verify the --url server against, instead of the system store",
    )
    parser.add_argument("--dest", type=Path, required=True, help="directory to fill")
    parser.add_argument(
        "--model",
        help="the file the server loads, relative to --dest: refused unless present and TFLite",
    )
    parser.add_argument("--max-bytes", type=_positive, default=2 << 30)
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request seconds")
    parser.add_argument("--summary-to", type=Path, help="write the JSON summary here")
    parser.set_defaults(func=handler)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `fetch` subcommand to the top-level `mlmodel` parser."""
    parser = subparsers.add_parser("fetch", help="fetch and verify one model package (init container)")
    add_arguments(parser)


def _write(path: Path | None, line: str) -> None:
    if path is None:
        return
    try:
        path.write_text(line)
    except OSError as exc:
        print(f"{PROG}: warning: cannot write summary to {path}: {exc}", file=sys.stderr)


def handler(args: argparse.Namespace) -> int:
    """Run one fetch; a failure becomes one stderr line, exit 1, and an error summary."""
    from mlmodel_fetch import summary
    from mlmodel_fetch.errors import FetchError
    from mlmodel_fetch.fetch import fetch

    if args.url is not None and args.sha256 is None:
        print(f"{PROG}: error: --sha256 is required with --url", file=sys.stderr)
        return 2
    try:
        done = fetch(
            url=args.url,
            file=args.file,
            sha256=args.sha256,
            dest=args.dest,
            max_bytes=args.max_bytes,
            timeout=args.timeout,
            allow_insecure_http=args.allow_insecure_http,
            ca_file=args.ca_file,
            model=args.model,
        )
    except FetchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        _write(args.summary_to, summary.failure(exc.reason, str(exc)))
        return 1
    line = summary.encode(summary.build_summary(args.dest, done.sha256, done.size, args.model))
    _write(args.summary_to, line)
    print(line)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m mlmodel_fetch`: the flags, name and errors of `mlmodel fetch`, built here:
    the umbrella CLI (mlmodel_server.cli) imports this package, never the other way round."""
    parser = OneLineParser(prog=PROG)
    add_arguments(parser)
    return run(parser, argv)
