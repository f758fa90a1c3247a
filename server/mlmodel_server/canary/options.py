"""`mlmodel serve`'s candidate flags: a second version served under the same name.

Kept apart from the server's own options so the split stays one optional piece; like
them, nothing heavy is imported here (`mlmodel --help` pays nothing for it).
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path


def percent(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be between 0 and 100, got {value}")
    return value


def tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, got {text}")
    return value


@dataclass(frozen=True)
class CandidateOptions:
    candidate_model: Path | None = None
    candidate_package_dir: Path | None = None
    candidate_labels: Path | None = None
    candidate_version: str | None = None  # None: the candidate package's, else "candidate"
    candidate_percent: int = 0
    mirror: bool = False
    agreement_tolerance: float = 1e-3

    @property
    def wanted(self) -> bool:
        return self.candidate_model is not None or self.candidate_package_dir is not None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CandidateOptions:
        """The candidate flags of a parsed command line, refused when they lack a model."""
        options = cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})
        if not options.wanted and options != cls():
            raise ValueError("the candidate flags need --candidate-model or --candidate-package-dir")
        return options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "candidate", "a second version under the same name, answering a share of the requests"
    )
    source = group.add_mutually_exclusive_group()
    source.add_argument("--candidate-model", type=Path, help="the candidate version's .tflite")
    source.add_argument("--candidate-package-dir", type=Path, help="the candidate version's package")
    group.add_argument("--candidate-labels", type=Path, help="the candidate's labels file")
    group.add_argument(
        "--candidate-version",
        help="its version in URLs and answers (default: the package's, else 'candidate')",
    )
    group.add_argument(
        "--candidate-percent", type=percent, default=0, help="share of requests it answers, 0-100 (default 0)"
    )
    group.add_argument(
        "--mirror", action="store_true", help="run every request on both versions and compare the answers"
    )
    group.add_argument(
        "--agreement-tolerance",
        type=tolerance,
        default=1e-3,
        help="largest difference of two agreeing values, for models that are neither classifiers "
        "nor detectors (default 0.001)",
    )
