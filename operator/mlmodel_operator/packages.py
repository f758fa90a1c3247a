"""Package version resolution and `${packages.<name>}` substitution (pure).

These rules mirror Viam's package manager: `latest` follows the newest version
on every sync, a pinned version never moves, and a placeholder in
`model_path`/`label_path` points at the directory the package lands in (here
`/models/<name>`, see docs/architecture.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from mlmodel_fetch.contents import Contents
from mlmodel_operator.builders.common import stable_hash
from mlmodel_operator.clock import parse_time

MODELS_ROOT = "/models"
SOURCES_ROOT = "/sources"
LATEST = "latest"
_PLACEHOLDER = re.compile(r"\$\{packages\.(?:ml_model\.)?([^}]*)\}")
# What the operator finds wrong in a version's files, alone or against a service's
# model_path/label_path: no server could start on them (mlmodel_operator/preflight.py).
CONTENT_REASONS = frozenset(
    {"NotTFLite", "InvalidArchive", "ModelFileMissing", "LabelsFileMissing", "LabelsMismatch"}
)
DEFAULT_CA_KEY = "ca.crt"
# A version whose bytes are known to be wrong (or absent), or whose pods could not trust
# its server, is never deployed.
BLOCKING_REASONS = frozenset(
    {"ChecksumMismatch", "SourceNotFound", "InsecureSource", "CABundleNotFound", *CONTENT_REASONS}
)


class UnknownPackageError(ValueError):
    """A placeholder names a package that `spec.packages` does not list."""


def latest_version(versions: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The explicit `latest: true` marker, else the newest `created`, else the last listed."""
    if not versions:
        return None
    marked = [v for v in versions if v.get("latest") is True]
    if marked:
        return marked[-1]
    dated = [(parse_time(v.get("created")), i, v) for i, v in enumerate(versions)]
    known = [(t, i, v) for t, i, v in dated if t is not None]
    if known:
        return max(known, key=lambda item: (item[0], item[1]))[2]
    return versions[-1]


def find_version(versions: list[dict[str, Any]], wanted: str) -> dict[str, Any] | None:
    """`latest` or an exact version string."""
    if wanted == LATEST:
        return latest_version(versions)
    return next((v for v in versions if v.get("version") == wanted), None)


def source_type(source: dict[str, Any]) -> str:
    for key in ("url", "configMap", "persistentVolumeClaim"):
        if key in source:
            return key
    return "unknown"


def ca_config_map(source: dict[str, Any]) -> dict[str, str] | None:
    """`source.caConfigMap` with its default key, or None when the system CA store is trusted."""
    ref = source.get("caConfigMap") or {}
    if not ref.get("name"):
        return None
    return {"name": str(ref["name"]), "key": str(ref.get("key") or DEFAULT_CA_KEY)}


def safe_name(name: str) -> str:
    """Package names may hold `_` (Viam style); volume and container names may not."""
    return name.replace("_", "-").lower()


def package_dir(name: str) -> str:
    return f"{MODELS_ROOT}/{name}"


def substitute(path: str, known: set[str], moved: Mapping[str, str] | None = None) -> str:
    """Replace `${packages.<name>}` (or `${packages.ml_model.<name>}`) by `/models/<name>`,
    or by the directory `moved` gives (a candidate version lands elsewhere)."""

    def repl(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in known:
            raise UnknownPackageError(f"{path!r} refers to unknown package {name!r}")
        return (moved or {}).get(name) or package_dir(name)

    return _PLACEHOLDER.sub(repl, path)


def package_file(path: str) -> tuple[str, str] | None:
    """`${packages.<name>}/<file>` as (name, file); None for a path not inside one package.

    What the operator checks against the package's files, and what the package's init
    container is told to look for (`mlmodel fetch --model`).
    """
    match = _PLACEHOLDER.match(path)
    rest = path[match.end() :] if match else ""
    if match is None or not rest.startswith("/") or "${" in rest:
        return None
    relative = PurePosixPath(rest.lstrip("/"))
    if not relative.parts or ".." in relative.parts:
        return None
    return match.group(1), str(relative)


@dataclass(frozen=True)
class ResolvedPackage:
    """One `spec.packages[]` entry pinned to a concrete version and digest."""

    name: str
    package: str
    requested: str
    version: str
    sha256: str
    source: dict[str, Any] = field(default_factory=dict, compare=False)
    contents: Contents | None = field(default=None, compare=False)  # None: files not known

    def to_status(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package": self.package,
            "requested": self.requested,
            "version": self.version,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Resolution:
    """Every package resolved, or the first reason why not."""

    packages: tuple[ResolvedPackage, ...] = ()
    reason: str = "Resolved"
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason == "Resolved"


def fingerprint(version: dict[str, Any]) -> str:
    """Identity of a version's source and digest: a status entry for another one is stale."""
    return stable_hash({"source": version.get("source"), "sha256": version.get("sha256")})


def _version_status(package: dict[str, Any], version: str) -> dict[str, Any]:
    entries = (package.get("status") or {}).get("versions") or []
    return next((e for e in entries if e.get("version") == version), {})


def resolve_one(ref: dict[str, Any], package: dict[str, Any] | None) -> ResolvedPackage | Resolution:
    """Pin one reference, or explain (as a not-ok Resolution) why it cannot be pinned."""
    name, pkg_name = ref["name"], ref["package"]
    wanted = ref.get("version") or LATEST
    if package is None:
        return Resolution(reason="PackageNotFound", message=f"ModelPackage {pkg_name!r} not found")
    entry = find_version(package.get("spec", {}).get("versions") or [], wanted)
    if entry is None:
        return Resolution(
            reason="VersionNotFound", message=f"ModelPackage {pkg_name!r} has no version {wanted!r}"
        )
    version, observed = entry["version"], _version_status(package, entry["version"])
    if observed.get("fingerprint") != fingerprint(entry):
        # Never deploy bytes the operator has not looked at yet: wait for the check.
        return Resolution(
            reason="PackageNotVerified", message=f"{pkg_name} {version}: waiting for verification"
        )
    if observed.get("reason") in BLOCKING_REASONS:
        return Resolution(
            reason=observed["reason"], message=f"{pkg_name} {version}: {observed.get('message', '')}"
        )
    digest = entry.get("sha256") or (observed.get("sha256") if observed.get("verified") == "True" else None)
    if not digest and "persistentVolumeClaim" not in entry.get("source", {}):
        return Resolution(reason="PackageNotVerified", message=f"{pkg_name} {version}: digest not known yet")
    return ResolvedPackage(
        name=name,
        package=pkg_name,
        requested=wanted,
        version=version,
        sha256=(digest or "").lower(),
        source=dict(entry.get("source", {})),
        contents=Contents.from_status(observed),
    )


def resolve(refs: list[dict[str, Any]], packages: dict[str, dict[str, Any] | None]) -> Resolution:
    """Resolve all `spec.packages[]` against the ModelPackages found (by name)."""
    resolved = []
    for ref in refs:
        result = resolve_one(ref, packages.get(ref["package"]))
        if isinstance(result, Resolution):
            return result
        resolved.append(result)
    return Resolution(packages=tuple(resolved))
