"""`chalice local`, exactly as developers run it, with Nagle's algorithm off on its sockets.

chalice local writes an answer's headers and body in two sends; with Nagle's algorithm on, the
body waits for the client's delayed ACK of the headers, 40 ms on Linux, on every request.
``python -m local.api_server local --host ... --port ...`` takes chalice's own arguments.
"""

from __future__ import annotations

import sys


def main() -> int:
    import chalice.local
    from chalice.cli import main as chalice_main

    chalice.local.ChaliceRequestHandler.disable_nagle_algorithm = True
    sys.argv = ["chalice", *sys.argv[1:]]
    return int(chalice_main() or 0)


if __name__ == "__main__":
    sys.exit(main())
