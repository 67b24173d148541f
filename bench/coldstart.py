"""Cold start: the time to `import app`, against a bare Chalice + boto3 app, fresh each time."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

BARE_APP = """
import boto3
from chalice import Chalice

app = Chalice(app_name="bare")


@app.route("/")
def index():
    return {"hello": "world"}
"""
TIMER = "import time; t = time.perf_counter(); import app; print(time.perf_counter() - t)"


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


def measure(rounds: int = 9) -> tuple[float, float]:
    """Median import seconds of (submsg, bare app), interleaved so both see the same machine."""
    project = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as scratch:
        bare = Path(scratch)
        (bare / "app.py").write_text(BARE_APP)
        _import_time(project), _import_time(bare)  # warm the file cache and bytecode
        ours, theirs = [], []
        for _ in range(rounds):
            ours.append(_import_time(project))
            theirs.append(_import_time(bare))
    return statistics.median(ours), statistics.median(theirs)
