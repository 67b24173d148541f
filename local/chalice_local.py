"""`chalice local` as a child process: the HTTP API exactly as developers run it by hand."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

STOP_GRACE_S = 5.0
HEALTH_POLL_S = 0.05  # how often a starting API is asked: it answers within ~1 s of its start


class ChaliceLocalFailed(RuntimeError):
    pass


class ChaliceLocal:
    """Serves the API on 127.0.0.1:``port`` from ``project_dir`` with the given environment."""

    def __init__(self, project_dir: Path, port: int, stage: str, env: Mapping[str, str]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._arguments = [
            sys.executable, "-m", "local.api_server", "local", "--host", "127.0.0.1",
            "--port", str(port),
            "--stage", stage, "--no-autoreload",
        ]  # fmt: skip
        self._project_dir = project_dir
        self._env = dict(env)
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A session of its own: the stack decides when it stops (after the work in flight).
        self._process = subprocess.Popen(
            self._arguments, cwd=self._project_dir, env=self._env, start_new_session=True
        )

    def wait_until_healthy(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            problem = self.problem()
            if problem is not None:
                raise ChaliceLocalFailed(problem)
            try:
                if requests.get(f"{self.url}/v1/health", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or too busy starting to answer within 1 s
            time.sleep(HEALTH_POLL_S)
        raise ChaliceLocalFailed(f"chalice local did not answer on {self.url} in {timeout_s} s")

    def problem(self) -> str | None:
        """Why the API is gone, or None while it runs."""
        if self._process is None:
            return "chalice local is not started"
        code = self._process.poll()
        return None if code is None else f"chalice local exited with code {code}"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        self._signal_group(process, signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self._signal_group(process, signal.SIGKILL)
            process.wait()

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], signal_number: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
            os.killpg(process.pid, signal_number)
