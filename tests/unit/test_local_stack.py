"""The local stack's waits: how long it waits for an AWS endpoint of one's own, and stopping its
background loops at once (Ctrl-C of `make run` takes one long poll, not one per poller)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest

from local.config import LocalSettings
from local.loops import Loop, stop_all
from local.stack import AwsEndpointUnreachable, wait_until_answering


def test_the_stack_waits_15_seconds_for_an_aws_endpoint_of_ones_own_unless_told(monkeypatch):
    monkeypatch.delenv("SUBMSG_AWS_ENDPOINT_WAIT_S", raising=False)
    assert LocalSettings().aws_endpoint_wait_s == 15.0  # as docs/local-stack.md says
    monkeypatch.setenv("SUBMSG_AWS_ENDPOINT_WAIT_S", "2.5")
    assert LocalSettings().aws_endpoint_wait_s == 2.5
    monkeypatch.setenv("SUBMSG_AWS_ENDPOINT_WAIT_S", "0")
    with pytest.raises(ValueError, match="aws_endpoint_wait_s"):
        LocalSettings()


def test_an_endpoint_that_refuses_connections_is_given_up_after_the_wait(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "local-made-up-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "local-made-up-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(AwsEndpointUnreachable) as refused:
        wait_until_answering(closed, within_s=1)
    assert str(refused.value).startswith(f"SUBMSG_AWS_ENDPOINT={closed} does not answer")
    assert "(tried for 1 s;" in str(refused.value)


def test_stop_all_asks_every_loop_to_stop_before_waiting_for_any(monkeypatch):
    """Each step ends only once every loop was asked to stop, as a long poll in flight ends
    after its wait: stopping the loops one after the other would wait out each step."""
    loops: list[Loop] = []
    everyone_asked = threading.Event()
    steps_cut_short: list[str] = []

    def step(name: str):
        def run() -> None:
            if not everyone_asked.wait(5):
                steps_cut_short.append(name)

        return run

    loops += [Loop(f"poller-{n}", step(f"poller-{n}"), every_s=0) for n in range(4)]
    original = Loop.stop_soon

    def stop_soon(self: Loop) -> None:
        original(self)
        if all(loop.stopping for loop in loops):
            everyone_asked.set()

    monkeypatch.setattr(Loop, "stop_soon", stop_soon)
    for loop in loops:
        loop.start()
    stop_all(loops, timeout_s=10)
    assert steps_cut_short == []
    assert not any(loop.running for loop in loops)


def test_make_run_prints_each_line_of_the_services_log_once():
    script = (
        "from rich.console import Console\n"
        "from local.__main__ import configure_logging\n"
        "from chalicelib.adapters.observability import logger\n"
        "import logging\n"
        "configure_logging(Console(force_terminal=False, width=200))\n"
        "logger.info('card sent')\n"
        "logging.getLogger('local.stack').info('stack started')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    printed = ran.stdout.splitlines()
    assert sum("card sent" in line for line in printed) == 1
    assert sum("stack started" in line for line in printed) == 1  # the stack's own, through Rich
