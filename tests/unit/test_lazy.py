"""``chalicelib.lazy``: a module runs at its first use, once, and is the module imports find."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from chalicelib.lazy import lazy

PROBE = """
from pathlib import Path

RUNS = Path(__file__).with_suffix(".runs")
RUNS.write_text(RUNS.read_text() + "x" if RUNS.exists() else "x")
ANSWER = 42
"""


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "lazy_probe.py").write_text(PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_probe", raising=False)
    yield tmp_path / "lazy_probe.runs"
    sys.modules.pop("lazy_probe", None)


def test_the_module_runs_at_its_first_attribute_and_only_once(probe: Path):
    module = lazy("lazy_probe")
    assert not probe.exists()

    assert module.ANSWER == 42
    assert module.ANSWER == 42
    assert probe.read_text() == "x"


def test_an_import_after_it_finds_the_same_module(probe: Path):
    module = lazy("lazy_probe")
    assert importlib.import_module("lazy_probe") is module
    assert lazy("lazy_probe") is module
    assert module.ANSWER == 42
    assert probe.read_text() == "x"


def test_a_module_already_imported_is_returned_as_it_is():
    assert lazy("chalicelib.domain.clock") is sys.modules["chalicelib.domain.clock"]


def test_a_missing_module_is_refused_at_once():
    with pytest.raises(ModuleNotFoundError):
        lazy("chalicelib.no_such_module")
