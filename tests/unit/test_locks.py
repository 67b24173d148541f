"""The hashed locks: they hold every top-level pin, a hash for each file, and what is installed."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from infra.locks import DEV_LOCK, LOCKS, RUNTIME_LOCK, hashes, pinned_versions, requirements


@pytest.mark.parametrize("lock", list(LOCKS), ids=lambda lock: lock.name)
def test_each_lock_holds_every_top_level_pin_at_its_version(lock: Path) -> None:
    pins = pinned_versions(LOCKS[lock])
    locked = pinned_versions(lock)

    assert pins
    assert {name: locked.get(name) for name in pins} == pins


@pytest.mark.parametrize("lock", list(LOCKS), ids=lambda lock: lock.name)
def test_every_locked_distribution_is_pinned_with_its_sha256_hashes(lock: Path) -> None:
    found = requirements(lock)
    by_name = hashes(lock)

    assert len(found) == len(by_name) > len(pinned_versions(LOCKS[lock]))
    for requirement in found:
        assert [spec.operator for spec in requirement.specifier] == ["=="], requirement
        name = canonicalize_name(requirement.name)
        assert by_name[name], name
        assert all(value.startswith("sha256:") for value in by_name[name]), name


def test_the_tests_run_the_versions_the_lambda_zip_ships() -> None:
    runtime = pinned_versions(RUNTIME_LOCK)
    dev = pinned_versions(DEV_LOCK)

    assert {name: dev.get(name) for name in runtime} == runtime


def test_the_virtualenv_holds_every_locked_distribution_at_its_version() -> None:
    departures = {}
    for requirement in requirements(DEV_LOCK):
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue  # not for this platform (Windows only)
        (pin,) = requirement.specifier
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            installed = "absent"
        if installed != pin.version:
            departures[requirement.name] = (pin.version, installed)

    assert departures == {}
