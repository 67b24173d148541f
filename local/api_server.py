"""`chalice local`, exactly as developers run it, with two differences from a bare `chalice local`.

- Nagle's algorithm is off on its sockets: chalice local writes an answer's headers and body in
  two sends; with Nagle's algorithm on, the body waits for the client's delayed ACK of the
  headers, 40 ms on Linux, on every request.
- A path no route serves answers 404 in submsg's error format, as the deployed API's gateway
  responses do, instead of chalice local's 403 that quotes the request's Authorization header.
- The listening socket queues 128 connections, not socketserver's 5: a backend calling from
  many threads at once is not reset by peer.

``python -m local.api_server local --host ... --port ...`` takes chalice's own arguments.
"""

from __future__ import annotations

import json
import sys
from typing import Any

LISTEN_BACKLOG = 128
NOT_FOUND = {"error": {"code": "not_found", "message": "No route serves this path."}}


def answer_unknown_routes_with_404() -> None:
    import chalice.local

    class RouteNotFound(chalice.local.LocalGatewayException):
        CODE = 404

    original = chalice.local.LocalGateway.handle_request

    def handle_request(self: Any, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            self._generate_lambda_event(method, path, headers, body)
        except ValueError:
            raise RouteNotFound(
                {"Content-Type": "application/json"}, json.dumps(NOT_FOUND).encode()
            ) from None
        return original(self, method, path, headers, body)

    chalice.local.LocalGateway.handle_request = handle_request


def main() -> int:
    import chalice.local
    from chalice.cli import main as chalice_main

    chalice.local.ChaliceRequestHandler.disable_nagle_algorithm = True
    chalice.local.ThreadedHTTPServer.request_queue_size = LISTEN_BACKLOG
    answer_unknown_routes_with_404()
    sys.argv = ["chalice", *sys.argv[1:]]
    return int(chalice_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
