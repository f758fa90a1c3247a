"""The candidate version in an inference pod (pure): where its package lands, and the
`mlmodel serve` flags that load it beside the stable version under the same name.

Its init container, volumes and mount are those of any package (builders/pod.py), under
a prefix and a root of their own (`CANDIDATE`), so the two versions of one package never
share a name or a directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmodel_operator.packages import SOURCES_ROOT, ResolvedPackage, package_dir, safe_name, substitute


@dataclass(frozen=True)
class Slot:
    """Where one version of a package lands in the pod, and what its pieces are called."""

    prefix: str = ""  # of container and volume names
    root: str = ""  # of paths

    def models(self, name: str) -> str:
        return f"{self.root}{package_dir(name)}"

    def sources(self, name: str) -> str:
        return f"{self.root}{SOURCES_ROOT}/{name}"

    def named(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}-{safe_name(name)}"


STABLE = Slot()
CANDIDATE = Slot("candidate-", "/candidate")


@dataclass(frozen=True)
class CandidatePods:
    """The candidate the pods load, and the split they serve (from status.canary)."""

    package: ResolvedPackage  # the candidate's pin of the entry it stands in for
    stable_version: str
    percent: int
    mirror: bool = False
    tolerance: float = 1e-3


def candidate_args(candidate: CandidatePods, attributes: dict[str, Any], known: set[str]) -> list[str]:
    """The flags that load the candidate: its files are the stable's paths with its own
    package directory, and each version is called by its package version."""
    moved = {candidate.package.name: CANDIDATE.models(candidate.package.name)}
    args = [
        "--model-version",
        candidate.stable_version,
        "--candidate-model",
        substitute(attributes["model_path"], known, moved),
    ]
    if attributes.get("label_path"):
        args += ["--candidate-labels", substitute(attributes["label_path"], known, moved)]
    args += ["--candidate-version", candidate.package.version, "--candidate-percent", str(candidate.percent)]
    if candidate.mirror:
        args += ["--mirror", "--agreement-tolerance", f"{candidate.tolerance:g}"]
    return args
