"""Cold start: the time to `import app`, against bare apps, each in a fresh interpreter.

Two baselines, measured in the same run: a bare Chalice app that imports boto3 (``bare``), and
one that also imports pydantic and defines one model (``required``): what the stack needs anyway.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BARE_APP = """
import boto3
from chalice import Chalice

app = Chalice(app_name="bare")


@app.route("/")
def index():
    return {"hello": "world"}
"""
REQUIRED_APP = (
    BARE_APP
    + """

from pydantic import BaseModel


class Greeting(BaseModel):
    hello: str
"""
)
TIMER = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"


@dataclass(frozen=True)
class ColdStart:
    ours_s: float
    required_s: float
    bare_s: float

    @property
    def ratio(self) -> float:
        return self.ours_s / self.required_s

    @property
    def ratio_bare(self) -> float:
        return self.ours_s / self.bare_s


def _import_time(folder: Path) -> float:
    answer = subprocess.run(
        [sys.executable, "-c", TIMER],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    return float(answer.stdout.strip().splitlines()[-1])


def measure(rounds: int = 9) -> ColdStart:
    """Median import seconds, interleaved so that all three see the same machine."""
    project = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as scratch:
        folders = [project, Path(scratch) / "required", Path(scratch) / "bare"]
        for folder, source in zip(folders[1:], (REQUIRED_APP, BARE_APP), strict=True):
            folder.mkdir()
            (folder / "app.py").write_text(source)
        for folder in folders:
            _import_time(folder)  # warm the file cache and bytecode
        timings: list[list[float]] = [[], [], []]
        for _ in range(rounds):
            for folder, found in zip(folders, timings, strict=True):
                found.append(_import_time(folder))
    ours, required, bare = (statistics.median(found) for found in timings)
    return ColdStart(ours, required, bare)
