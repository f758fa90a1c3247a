"""`mlmodel serve`'s options: one frozen object, built once from the command line.

Why not the argparse namespace: passed down through the server it could be changed by
anything on the way (it was: the token was stored back into it), and nothing said which
attributes a function read. This module imports nothing heavy, so building the options
costs `mlmodel serve --help` nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ServeOptions:
    model: Path | None
    package_dir: Path | None
    package_root: Path | None = None  # the package --model came in; its MLmodel, if about it
    labels: Path | None = None
    num_threads: int | None = None  # None: the package's, else 1
    pool_size: int | None = None  # None: cores / num_threads
    solo_threads: int | None = None  # None: the pool's cores; 0: no solo interpreter
    max_batch_size: int = 0  # adaptive batching's rows per batch; 0: off
    max_batch_delay: float = 0.0  # seconds a gathering batch waits for more
    name: str | None = None  # None: the file's or package's name
    model_version: str | None = None  # None: the package's, else "1"
    host: str = "127.0.0.1"
    port: int = 8080
    grpc_port: int = 8081  # 0: no gRPC
    vision_config: Path | None = None
    vision_name: str | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    auth_token_file: str | None = None
    drain_seconds: int = 0
    shutdown_timeout: int = 10
    recheck_seconds: int = 300  # 0: the self-test runs at start only
    log_level: str = "info"
    termination_log: Path | None = None  # where a start-up failure's reason is written

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeOptions:
        """The options of a parsed `mlmodel serve` command line (its dests are the fields)."""
        return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
