"""The integration tier reruns flow modules on the embedded AWS: one module, two backends (a
module's tests and fixtures collected again where every flow runs on the embedded AWS)."""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import pytest

ON_AWS = pytest.mark.embedded_aws
# A flow that hangs on the service's own rules (times, the throttle, the experiments' statistics)
# and not on what AWS answers: ``@MEMORY_ONLY("why")``, and its rerun module leaves it out. The
# writes it makes are the store contract's and the other reruns' on the embedded AWS.
MEMORY_ONLY = pytest.mark.memory_only


def rerun_on_aws(module: ModuleType) -> dict[str, Any]:
    """What a rerun module collects of ``module``: ``globals().update(rerun_on_aws(module))``.

    Its tests that run on the embedded AWS in ``module`` already (they ask for ``aws``, or are
    marked) are left to it, so that none runs twice on the same backend; so are those marked
    ``memory_only`` (their rules are the service's, whatever the backend).
    """
    marks = getattr(module, "pytestmark", [])
    marks = marks if isinstance(marks, list) else [marks]
    if any(mark.name == ON_AWS.name for mark in marks):
        raise ValueError(f"{module.__name__} runs on the embedded AWS already")
    found = {
        name: value
        for name, value in vars(module).items()
        if not name.startswith("_") and name != "pytestmark"
        if not (name.startswith("test_") and (_on_aws_already(value) or _memory_only(value)))
    }
    return {**found, "pytestmark": [*marks, ON_AWS]}


def _on_aws_already(test: Any) -> bool:
    marks = getattr(test, "pytestmark", [])
    if any(mark.name == ON_AWS.name for mark in marks):
        return True
    return callable(test) and "aws" in inspect.signature(test).parameters


def _memory_only(test: Any) -> bool:
    return any(mark.name == MEMORY_ONLY.name for mark in getattr(test, "pytestmark", []))
