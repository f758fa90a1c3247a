#!/usr/bin/env python3
"""Audit the runtime dependencies for known vulnerabilities (pip-audit); hack/test.sh runs it.

    python3 hack/audit.py              # exit 1 on a known vulnerability not in the ignore list
    MLMODEL_AUDIT_REQUIRE=1 python3 hack/audit.py   # also exit 1 if nothing could be checked

What is audited: requirements/image.lock, the hashed pins the image installs, i.e. exactly
the runtime dependencies that ship (test tools are not). pip-audit reads the pins without
resolving or installing anything (`--disable-pip`).

Where advisories come from: PyPI's JSON API (`--vulnerability-service pypi`); OSV's API is
not reachable from the project's machines. On those machines PyPI's per-version JSON
endpoint (/pypi/<name>/<version>/json) is not served either, so pip-audit reports every pin
as "could not be audited". For those, this script falls back to the project endpoint
(/pypi/<name>/json), which is served and lists the advisories of the *latest* release: a pin
that is the latest release is audited from it; an older pin is reported as unaudited, with
both versions, rather than passed in silence. Set MLMODEL_AUDIT_REQUIRE=1 to make an
unaudited dependency fatal.

Ignoring a vulnerability: add its id (PYSEC-…, GHSA-…, CVE-…) to hack/audit-ignore.txt with
the reason, the affected package and when to revisit (see docs/security.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements" / "image.lock"
IGNORE = ROOT / "hack" / "audit-ignore.txt"


def ignored_ids(path: Path = IGNORE) -> list[str]:
    """One id per line; `#` starts a comment (the reason, which the file must give)."""
    if not path.exists():
        return []
    ids = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [i for i in ids if i]


def run_pip_audit(lock: Path, ignore: list[str]) -> dict[str, Any]:
    args = [sys.executable, "-m", "pip_audit", "--vulnerability-service", "pypi", "--disable-pip"]
    args += ["-r", str(lock), "-f", "json", "--progress-spinner", "off"]
    for vuln in ignore:
        args += ["--ignore-vuln", vuln]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600)
    try:
        return dict(json.loads(proc.stdout))
    except json.JSONDecodeError:
        # Not a report: pip-audit itself failed (bad lock file, PyPI down). Never a silent pass.
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"audit: pip-audit failed (exit {proc.returncode}) without a report") from None


def summarise(report: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """(vulnerability lines, skipped package names, packages audited)."""
    found, skipped, audited = [], [], 0
    for dep in report.get("dependencies", []):
        if "skip_reason" in dep:
            skipped.append(dep["name"])
            continue
        audited += 1
        for vuln in dep.get("vulns", []):
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix released"
            found.append(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    return found, skipped, audited


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned_versions(lock: Path = LOCK) -> dict[str, str]:
    """name -> version for every `name==version` line of a hashed lock file."""
    pins = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", lock.read_text(), re.MULTILINE)
    return {_norm(name): version for name, version in pins}


def project_json(name: str) -> dict[str, Any] | None:
    """PyPI's project JSON (latest release and its advisories), or None if unreachable."""
    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=20) as resp:
            return dict(json.load(resp))
    except Exception:
        return None


def audit_latest(
    skipped: list[str],
    pins: dict[str, str],
    ignore: list[str],
    fetch: Callable[[str], dict[str, Any] | None] | None = None,
) -> tuple[list[str], list[str], int]:
    """The fallback for pins pip-audit skipped: (vulnerability lines, still unaudited, audited)."""
    fetch = fetch or project_json
    found, unaudited, audited = [], [], 0
    for name in skipped:
        pin, data = pins.get(_norm(name), "?"), fetch(name)
        latest = ((data or {}).get("info") or {}).get("version")
        if data is None or latest != pin:
            unaudited.append(f"{name} {pin}" + (f" (latest {latest})" if latest else ""))
            continue
        audited += 1
        for vuln in data.get("vulnerabilities") or []:
            ids = {vuln.get("id"), *(vuln.get("aliases") or [])}
            if vuln.get("withdrawn") or ids & set(ignore):
                continue
            fixes = ", ".join(vuln.get("fixed_in") or []) or "no fix released"
            found.append(f"{name} {pin}: {vuln.get('id')} (fixed in: {fixes})")
    return found, unaudited, audited


def main() -> int:
    ignore = ignored_ids()
    found, skipped, audited = summarise(run_pip_audit(LOCK, ignore))
    if skipped:  # PyPI's per-version endpoint did not answer: try the latest-release one
        more, skipped, extra = audit_latest(skipped, pinned_versions(), ignore)
        found, audited = found + more, audited + extra
    total = audited + len(skipped)
    print(f"audit: {audited} of {total} pinned runtime dependencies checked; {len(ignore)} ids ignored")
    for line in found:
        print(f"audit: VULNERABLE {line}")
    if skipped:
        print(
            f"audit: WARNING: {len(skipped)} dependencies could not be audited (no per-version "
            f"advisories, and the pin is not the latest release): {', '.join(sorted(skipped)[:8])}"
            + (" ..." if len(skipped) > 8 else "")
        )
    if found:
        print("audit: upgrade them (hack/build-image.sh --relock), or add the id to hack/audit-ignore.txt")
        return 1
    if skipped and os.environ.get("MLMODEL_AUDIT_REQUIRE") == "1":
        print("audit: MLMODEL_AUDIT_REQUIRE=1 and some dependencies were not audited: failing")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
