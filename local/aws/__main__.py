"""``python -m local.aws`` (``make aws``): the embedded AWS alone, in the foreground until Ctrl-C.

Listens on 127.0.0.1:``SUBMSG_AWS_PORT`` (4566 unless set), injects the faults of
``SUBMSG_AWS_FAULTS``, and prints the faults it injected when it stops
(docs/local-stack.md#the-embedded-aws-alone-make-aws).
"""

from __future__ import annotations

import os
import socket
import sys

from local.aws.faults import Faults, FaultsError
from local.aws.server import exit_at_once, serve
from local.config import HOST

DEFAULT_PORT = 4566


def port_from_environment() -> int:
    raw = os.environ.get("SUBMSG_AWS_PORT", "").strip() or str(DEFAULT_PORT)
    if not raw.isdigit() or not 0 <= int(raw) <= 65535:
        raise ValueError(f"SUBMSG_AWS_PORT must be a port number (0-65535), not {raw!r}")
    return int(raw)


def main() -> int:
    try:
        port = port_from_environment()
        faults = Faults.from_environment()
    except (ValueError, FaultsError) as exc:
        print(exc, file=sys.stderr)
        return 2
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            print(f"SUBMSG_AWS_PORT: {HOST}:{port} is in use ({exc.strerror})", file=sys.stderr)
            return 1

    def ready(url: str) -> None:
        print(f"The embedded AWS (DynamoDB, SQS) listens on {url}", flush=True)
        print(f"Faults injected: {faults}", flush=True)
        print(f"Point a client at it: AWS_ENDPOINT_URL={url}; Ctrl-C stops it.", flush=True)

    injected = serve(port, faults, ready)
    counts = ", ".join(f"{name}={count}" for name, count in sorted(injected.items()))
    print(f"Stopped; faults injected: {counts or 'none'}", flush=True)
    return 0


if __name__ == "__main__":
    exit_at_once(main())
