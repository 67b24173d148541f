"""The hashed locks `make lock` writes, read back.

``requirements.txt`` is what the Lambda zip ships (`chalice package` reads it), resolved from the
top-level pins of ``requirements.in``; ``requirements-dev.txt`` is the local virtualenv's, from
``requirements-dev.in``; ``infra/requirements-checkov.txt`` is checkov's virtualenv's.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT_DIR = Path(__file__).resolve().parents[1]
RUNTIME_LOCK = PROJECT_DIR / "requirements.txt"
DEV_LOCK = PROJECT_DIR / "requirements-dev.txt"
CHECKOV_LOCK = PROJECT_DIR / "infra" / "requirements-checkov.txt"
# Each lock and the file of top-level pins it is resolved from.
LOCKS = {
    RUNTIME_LOCK: PROJECT_DIR / "requirements.in",
    DEV_LOCK: PROJECT_DIR / "requirements-dev.in",
    CHECKOV_LOCK: PROJECT_DIR / "infra" / "requirements-checkov.in",
}

_INCLUDED = re.compile(r"^-r\s+(\S+)")
_DIST_INFO = re.compile(r"^([^/]+)-([^-/]+)\.dist-info/")

Versions = dict[str, str]


def requirements(path: Path) -> list[Requirement]:
    """The requirements a file names, and those of the files it includes with ``-r``."""
    found: list[Requirement] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if included := _INCLUDED.match(line):
            found += requirements(path.parent / included[1])
        elif line and not line[0].isspace() and line[0] not in "#-":
            found.append(Requirement(line.removesuffix("\\").strip()))
    return found


def pinned_versions(path: Path) -> Versions:
    """{distribution: version} of the ``name==version`` requirements of a file."""
    return {
        canonicalize_name(requirement.name): specifier.version
        for requirement in requirements(path)
        for specifier in requirement.specifier
        if specifier.operator == "=="
    }


def hashes(lock: Path) -> dict[str, list[str]]:
    """Each locked distribution's ``--hash`` values."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in lock.read_text(encoding="utf-8").splitlines():
        if line and not line[0].isspace() and line[0] not in "#-":
            current = canonicalize_name(Requirement(line.removesuffix("\\").strip()).name)
            found[current] = []
        elif line.strip().startswith("--hash="):
            found[current].append(line.strip().removeprefix("--hash=").removesuffix("\\").strip())
    return found


def zipped_versions(zip_path: Path) -> Versions:
    """The distributions a Lambda zip holds, by their top-level ``*.dist-info`` folders."""
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    return {
        canonicalize_name(found[1]): found[2]
        for name in names
        if (found := _DIST_INFO.match(name)) is not None
    }


def differences(expected: Versions, found: Versions) -> list[str]:
    """Where ``found`` departs from ``expected``, one phrase a distribution; [] if equal."""
    return [
        f"{name} {expected.get(name, 'not locked')} locked, {found.get(name, 'absent')} found"
        for name in sorted(expected.keys() | found.keys())
        if expected.get(name) != found.get(name)
    ]
