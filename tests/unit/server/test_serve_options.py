"""`mlmodel serve`'s options: one frozen object from the command line, defaults in one place."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlmodel_server.cli import build_parser
from mlmodel_server.options import ServeOptions


def options(*argv: str) -> ServeOptions:
    return ServeOptions.from_args(build_parser().parse_args(["serve", *argv]))


def test_the_flags_defaults_are_the_options_defaults():
    parsed = options("--model", "m.tflite")
    assert parsed == ServeOptions(model=Path("m.tflite"), package_dir=None)
    assert (parsed.port, parsed.grpc_port, parsed.host) == (8080, 8081, "127.0.0.1")


def test_every_flag_lands_in_a_field_and_the_options_cannot_change():
    parsed = options("--package-dir", "pkg", "--grpc-port", "0", "--num-threads", "2", "--drain-seconds", "3")
    assert (parsed.package_dir, parsed.grpc_port, parsed.num_threads, parsed.drain_seconds) == (
        Path("pkg"),
        0,
        2,
        3,
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.port = 1  # type: ignore[misc]
