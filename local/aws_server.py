"""The embedded AWS endpoint (moto server, DynamoDB patched) in a process of its own.

The local stack starts it with ``python -m local.aws_server PORT`` so that moto's work does not
share one interpreter lock with the sandbox, the SQS pollers and the sweeps. The child prints
one line, ``listening <url>``, once it serves, and stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from local.config import HOST

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READY_PREFIX = "listening "
STOP_GRACE_S = 5.0


class AwsServerFailed(RuntimeError):
    pass


class AwsServer:
    """The child process serving AWS on ``HOST:port`` (0: a port the system chooses)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 60.0) -> str:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "local.aws_server", str(self.port)],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.url = self._ready_line(self._process, timeout_s).removeprefix(READY_PREFIX)
        return self.url

    @staticmethod
    def _ready_line(process: subprocess.Popen[str], timeout_s: float) -> str:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            readable, _, _ = select.select([process.stdout], [], [], 0.2)
            if readable:
                line = process.stdout.readline().strip()
                if line.startswith(READY_PREFIX):
                    return line
                if not line and process.poll() is not None:
                    break
        raise AwsServerFailed(
            f"the embedded AWS endpoint did not start (exit code {process.poll()})"
        )

    def problem(self) -> str | None:
        if self._process is None:
            return "the embedded AWS endpoint is not started"
        code = self._process.poll()
        return None if code is None else f"the embedded AWS endpoint exited with code {code}"

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def serve(port: int) -> None:
    import logging

    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from moto.server import ThreadedMotoServer

    from local import embedded_aws

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per AWS call otherwise
    embedded_aws.install()
    MotoRequestHandler.disable_nagle_algorithm = True  # one answer, one round trip
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    stopping = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    host, bound = server.get_host_and_port()
    print(f"{READY_PREFIX}http://{host}:{bound}", flush=True)
    while not stopping.wait(0.5):
        pass
    server.stop()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
