"""`mlmodel serve`: arguments, start-up checks and the run (HTTP and gRPC)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .canary.options import CandidateOptions, add_arguments
from .options import ServeOptions

DEFAULTS = ServeOptions(model=None, package_dir=None)  # the flags' defaults, in one place


def _int_between(text: str, low: int, high: int | None = None) -> int:
    """An integer flag in [low, high]; the message names the rule the value broke."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if high is not None and not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def positive_int(text: str) -> int:
    return _int_between(text, 1)


def non_negative_int(text: str) -> int:
    return _int_between(text, 0)


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value >= 0:  # NaN too
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


def port_number(text: str) -> int:
    """0..65535; 0 asks the kernel for a free port."""
    return _int_between(text, 0, 65535)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("serve", help="serve a .tflite model over HTTP and gRPC")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", type=Path, help="path to a .tflite model")
    source.add_argument("--package-dir", type=Path, help="a model package directory (MLmodel manifest)")
    parser.add_argument(
        "--package-root",
        type=Path,
        help="the package directory --model came in: its MLmodel, when it describes that file, "
        "adds the signature and the self-test's examples as with --package-dir",
    )
    parser.add_argument("--labels", type=Path, help="labels file, one per line (overrides embedded labels)")
    parser.add_argument(
        "--num-threads", type=positive_int, default=None, help="threads per interpreter (default 1)"
    )
    parser.add_argument(
        "--pool-size",
        type=positive_int,
        default=None,
        help="interpreters serving in parallel (default: cores / num-threads)",
    )
    parser.add_argument(
        "--solo-threads",
        type=non_negative_int,
        default=None,
        help="threads of an extra interpreter that serves requests finding the pool idle "
        "(default: the pool's cores when it has 2+ interpreters; 0: none)",
    )
    parser.add_argument(
        "--max-batch-size",
        type=non_negative_int,
        default=0,
        help="adaptive batching: requests that find every interpreter busy run together, up to "
        "this many rows (models whose tensors all have a dynamic first dimension; default 0: off)",
    )
    parser.add_argument(
        "--max-batch-delay",
        type=non_negative_float,
        default=0.0,
        help="seconds a gathering batch waits for more requests (default 0: none)",
    )
    parser.add_argument("--name", default=None, help="model name in URLs (default: file or package name)")
    parser.add_argument("--model-version", default=None, help="version reported by the OIP (default 1)")
    parser.add_argument("--host", default=DEFAULTS.host)
    parser.add_argument("--port", type=port_number, default=DEFAULTS.port)
    parser.add_argument(
        "--grpc-port",
        type=port_number,
        default=DEFAULTS.grpc_port,
        help="Open Inference Protocol gRPC port (default 8081; 0: no gRPC)",
    )
    parser.add_argument("--vision-config", type=Path, help="JSON file of vision attributes")
    parser.add_argument("--vision-name", default=None, help="name under /v1/vision/ (default: model name)")
    parser.add_argument("--max-body-bytes", type=positive_int, default=DEFAULTS.max_body_bytes)
    parser.add_argument("--max-image-pixels", type=positive_int, default=DEFAULTS.max_image_pixels)
    parser.add_argument(
        "--auth-token-file",
        default=os.environ.get("MLMODEL_AUTH_TOKEN_FILE"),
        help="require 'Authorization: Bearer <token>' on inference endpoints (token: first line of the file)",
    )
    parser.add_argument(
        "--termination-log",
        type=Path,
        default=os.environ.get("MLMODEL_TERMINATION_LOG"),
        help="on a model that cannot serve, write {reason, error} as JSON here "
        "(Kubernetes' /dev/termination-log; the operator sets MLMODEL_TERMINATION_LOG)",
    )
    parser.add_argument(
        "--drain-seconds",
        type=non_negative_int,
        default=DEFAULTS.drain_seconds,
        help="after SIGTERM, report not ready but keep serving this long before closing the port (default 0)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=non_negative_int,
        default=DEFAULTS.shutdown_timeout,
        help="then wait this long for requests in flight to finish (default 10)",
    )
    parser.add_argument(
        "--recheck-seconds",
        type=non_negative_int,
        default=DEFAULTS.recheck_seconds,
        help="repeat the self-test this often when no request was answered meanwhile; "
        "a failure turns readiness off until one passes (default 300; 0: only at start)",
    )
    parser.add_argument(
        "--log-level", default=DEFAULTS.log_level, choices=["debug", "info", "warning", "error"]
    )
    add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load everything, bind the ports, then serve; user errors end in one line."""
    from .api.auth import read_token
    from .errors import ModelLoadError
    from .server import ServeError, bind_socket, build_dataplane, check_port, serve

    options = ServeOptions.from_args(args)
    try:
        vision_attrs = _vision_attributes(options.vision_config)
        token = read_token(options.auth_token_file) if options.auth_token_file else None
        dataplane = build_dataplane(options, vision_attrs, CandidateOptions.from_args(args))
        sock = bind_socket(options.host, options.port)
        if options.grpc_port:
            check_port(options.host, options.grpc_port)
    except (ModelLoadError, ServeError, ValueError) as exc:
        print(f"mlmodel serve: error: {exc}", file=sys.stderr)
        if isinstance(exc, ModelLoadError) and options.termination_log is not None:
            _write_termination(options.termination_log, exc.reason, f"mlmodel serve: error: {exc}")
        return 1
    try:
        serve(dataplane, sock, options, token)
    except ServeError as exc:  # the gRPC port, taken between the check and the bind
        print(f"mlmodel serve: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _write_termination(path: Path, reason: str, line: str) -> None:
    """The failure's stable reason and its line, for the pod's status, in `mlmodel fetch`'s
    format (the operator parses it, else falls back to the log's last line)."""
    from mlmodel_fetch.summary import failure

    try:
        path.write_text(failure(reason, line), encoding="utf-8")
    except OSError as exc:
        print(f"mlmodel serve: warning: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)


def _vision_attributes(path: Path | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        attrs = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read vision config {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"vision config {path} is not valid JSON: {exc}") from exc
    if not isinstance(attrs, dict):
        raise ValueError(f"vision config {path} must be a JSON object")
    return attrs
