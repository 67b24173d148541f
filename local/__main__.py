"""`python -m local` (`make run`): the whole stack in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys
import time

from pydantic import ValidationError
from rich.console import Console
from rich.logging import RichHandler

from chalicelib.adapters.observability import logger as service_logger
from local.aws.faults import FaultsError
from local.aws.server import AwsServerFailed
from local.banner import print_banner
from local.chalice_local import ChaliceLocalFailed
from local.config import LocalSettings
from local.stack import AwsEndpointUnreachable, LocalStack, PortInUse

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def configure_logging(console: Console) -> None:
    handler = RichHandler(console=console, show_path=False, rich_tracebacks=True)
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=[handler])
    for noisy in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The service's logger prints its own JSON lines, as in Lambda; Rich would print each again.
    logging.getLogger(service_logger.service).propagate = False


def run_until_stopped(stack: LocalStack, console: Console) -> int:
    try:
        endpoints = stack.start()
        print_banner(console, endpoints)
        while (problem := stack.problem()) is None:
            time.sleep(0.5)
        console.print(f"Stopping: {problem}", style="red", markup=False)
        return 1
    except KeyboardInterrupt:
        console.print("Stopping…")
        return 0
    except (
        PortInUse,
        ChaliceLocalFailed,
        AwsServerFailed,
        AwsEndpointUnreachable,
        FaultsError,
    ) as exc:
        console.print(str(exc), style="red", markup=False, soft_wrap=True)
        return 1
    finally:
        for stop_signal in STOP_SIGNALS:  # a second Ctrl-C must not cut the cleanup short
            signal.signal(stop_signal, signal.SIG_IGN)
        stack.stop()


def main() -> int:
    console = Console()
    configure_logging(console)
    # Explicitly: a shell that starts a job in the background has it ignore SIGINT.
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, signal.default_int_handler)
    try:
        settings = LocalSettings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SUBMSG_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        console.print(problems, style="red", markup=False, soft_wrap=True)
        return 2
    return run_until_stopped(LocalStack(settings), console)


if __name__ == "__main__":
    sys.exit(main())
