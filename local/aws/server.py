"""The embedded AWS endpoint (moto's server, patched by ``local.aws``) in a process of its own.

The local stack starts it with ``python -m local.aws.server PORT`` so that moto's work does not
share one interpreter lock with the sandbox, the SQS pollers and the sweeps. The child prints
one line, ``listening <url>``, once it serves, and stops on SIGTERM or SIGINT. It injects the
faults of ``SUBMSG_AWS_FAULTS`` (its environment). ``python -m local.aws`` (``make aws``) serves
the same endpoint in the foreground.

``CachedDispatch`` replaces, for DynamoDB and SQS, what moto's ``DomainDispatcherApplication``
and its Flask app do per request (work out the service, route the path): once per host and
service, and once per path.
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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from local.aws.faults import Faults, FaultsError
from local.config import HOST

PROJECT_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "listening "
STOP_GRACE_S = 5.0
# The local stack long-polls its queues from 9 threads at once (7 send, 2 sweep pollers), each
# holding a server thread for up to a second: the API and the sweeps need threads beside them.
SERVER_THREADS = 32


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
            [sys.executable, "-m", "local.aws.server", str(self.port)],
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


# Services whose requests are answered by their handler directly (see CachedDispatch).
DIRECT_SERVICES = frozenset({"dynamodb", "sqs"})
# What the endpoint injected so far (``GET``, unsigned): the bench and a harness read it.
FAULTS_PATH = "/_submsg/faults"


def faults_injected(url: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """What the embedded AWS at ``url`` injected so far: ``{"faults": "conflict=0.05,...",
    "injected": {"conflict": n, ...}, "met": {"transaction": n, "single_write": n}}`` (``met``:
    requests refused because they met a real transaction's hold)."""
    import requests

    answer = requests.get(url.rstrip("/") + FAULTS_PATH, timeout=timeout_s)
    answer.raise_for_status()
    return dict(answer.json())


def _faults_answer(start_response: Any) -> list[bytes]:
    import json

    from local.aws import conflicts, faults

    injector = faults.active()
    with conflicts.engine:
        met = dict(conflicts.met)
    body = json.dumps(
        {"faults": str(injector.faults), "injected": injector.counts(), "met": met}
    ).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


class CachedDispatch:
    """moto's WSGI dispatcher, asked once per (host, service) instead of on every request.

    moto works out which service a request is for from its host, path and signature on every
    request; for signed requests the answer only depends on the host and the signed service.
    For DynamoDB and SQS the request then goes straight to the handler moto's Flask app would
    call for its path (found once per path), as that app's view does, without Flask's request
    context and routing around it.
    """

    def __init__(self, dispatcher: Any) -> None:
        self._dispatcher = dispatcher
        self._apps: dict[tuple[str, str], Any] = {}
        self._handlers: dict[tuple[str, str, str, str], Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        key = _signed_service(environ)
        if key is None and environ.get("PATH_INFO") == FAULTS_PATH:
            return _faults_answer(start_response)
        app = self._apps.get(key) if key else None
        if app is None:
            app = self._dispatcher.get_application(environ)
            if key:
                self._apps[key] = app
        handler = self._handler(app, key, environ) if key and key[1] in DIRECT_SERVICES else None
        if handler is None:
            return app(environ, start_response)
        return _answer(handler, environ, start_response)

    def _handler(self, app: Any, key: tuple[str, str], environ: dict[str, Any]) -> Any:
        """The handler moto's Flask view for this path calls, or None for any other view."""
        from moto.core.utils import convert_to_flask_response
        from werkzeug.exceptions import HTTPException

        route = (*key, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if route not in self._handlers:
            try:
                endpoint, _ = app.url_map.bind_to_environ(environ).match()
            except HTTPException:
                endpoint = None
            view = app.view_functions.get(endpoint)
            callback = view.callback if isinstance(view, convert_to_flask_response) else None
            self._handlers[route] = callback
        return self._handlers[route]


def _answer(handler: Any, environ: dict[str, Any], start_response: Any) -> Any:
    """What moto's ``convert_to_flask_response`` answers, outside Flask."""
    from botocore.exceptions import ClientError
    from flask import Response
    from moto.moto_api import recorder
    from moto.moto_server.werkzeug_app import BackendRequest

    request = BackendRequest(environ)
    recorder._record_request(request)
    try:
        result = handler(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    response = Response(response=content, status=status, headers=headers)
    if request.method == "HEAD" and "content-length" in headers:
        response.headers["Content-Length"] = headers["content-length"]
    return response(environ, start_response)


def _signed_service(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(host, service) from a SigV4 Authorization header, or None."""
    scope = environ.get("HTTP_AUTHORIZATION", "").partition("Credential=")[2].split(",")[0]
    parts = scope.split("/")
    return (environ.get("HTTP_HOST", ""), parts[3]) if len(parts) >= 5 else None


def serve(port: int, faults: Faults, ready: Callable[[str], None]) -> Counter[str]:
    """moto's server app on waitress: a pool of threads and kept-alive connections (werkzeug's
    development server closes every connection and starts a thread per request), so requests
    run at once and transactions can meet each other's holds. ``ready(url)`` once it serves;
    returns the faults injected, when SIGTERM or SIGINT stops it."""
    import logging

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from waitress.server import create_server

    from local import aws
    from local.aws import conflicts
    from local.aws import faults as fault_injection

    logging.getLogger("waitress").setLevel(logging.ERROR)
    aws.install()
    injector = fault_injection.configure(faults)
    conflicts.overlap = True  # requests served at once meet each other's holds, as on AWS
    app = CachedDispatch(DomainDispatcherApplication(create_backend_app))
    server = create_server(app, host=HOST, port=port, threads=SERVER_THREADS, ident="submsg-aws")
    stopping = threading.Event()
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: stopping.set())
    serving = threading.Thread(target=server.run, name="aws", daemon=True)
    serving.start()
    ready(f"http://{HOST}:{server.effective_port}")
    while not stopping.wait(0.5):
        pass
    server.close()
    return injector.injected


def _announce(url: str) -> None:
    print(f"{READY_PREFIX}{url}", flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads the pipe after this line


def main() -> int:
    try:
        faults = Faults.from_environment()
    except FaultsError as exc:
        print(exc, file=sys.stderr)
        return 2
    serve(int(sys.argv[1]), faults, _announce)
    return 0


def exit_at_once(code: int) -> None:
    """Ends the process once the server has closed: nothing is left to save, and the
    interpreter's own teardown of moto's modules and the server's threads takes ~0.3 s of every
    stop of the stack."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_at_once(main())
