"""Which two versions an experiment compares, and whether the candidate may be deployed (pure).

The candidate gets every check a version of `spec.packages` gets (packages.resolve_one,
then preflight against the service's attributes), because it serves real requests. What
only the operator can know (the version does not exist, is not verified yet, fails a
check, or is the very version that serves) keeps the candidate out of the pods: the
stable version keeps all the traffic, and status says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlmodel_operator import preflight
from mlmodel_operator.builders.common import stable_hash
from mlmodel_operator.canary.spec import CanarySpec
from mlmodel_operator.packages import Resolution, ResolvedPackage, resolve_one

NOT_YET = "PackageNotVerified"  # the candidate may become deployable on its own


@dataclass(frozen=True)
class Experiment:
    key: str
    stable: ResolvedPackage
    candidate: ResolvedPackage | None
    refusal: tuple[str, str] | None = None  # (reason, message) when the candidate cannot run

    @property
    def waiting(self) -> bool:
        return self.refusal is not None and self.refusal[0] == NOT_YET


def experiment(
    canary: CanarySpec,
    deployed: Resolution,
    package: dict[str, Any] | None,
    attributes: dict[str, Any],
) -> Experiment | None:
    """The experiment on the deployed pins; None when the entry is not deployed (yet)."""
    stable = next((p for p in deployed.packages if p.name == canary.entry), None)
    if stable is None:
        return None
    ref = {"name": stable.name, "package": stable.package, "version": canary.version}
    found = resolve_one(ref, package)
    refusal = _refusal(found, stable, deployed, attributes)
    candidate = found if isinstance(found, ResolvedPackage) and refusal is None else None
    key = stable_hash(
        {
            "stable": [stable.version, stable.sha256],
            "candidate": [candidate.version, candidate.sha256] if candidate else refusal,
            "canary": canary.written,
        }
    )
    return Experiment(key, stable, candidate, refusal)


def _refusal(
    found: ResolvedPackage | Resolution,
    stable: ResolvedPackage,
    deployed: Resolution,
    attributes: dict[str, Any],
) -> tuple[str, str] | None:
    if isinstance(found, Resolution):
        return found.reason, found.message
    if found.version == stable.version:
        return "CandidateIsStable", f"{stable.package} {found.version} is the version that serves already"
    swapped = tuple(found if p.name == stable.name else p for p in deployed.packages)
    checked = preflight.check(Resolution(packages=swapped), attributes)
    return None if checked.ok else (checked.reason, checked.message)
