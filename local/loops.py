"""Background loops of the local stack (the SQS poller, the sweep scheduler)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("local")
PAUSE_AFTER_ERROR_S = 1.0


class Loop:
    """Runs ``step`` on a daemon thread, starting one every ``every_s`` seconds, until stopped.

    A step that raises is logged with its traceback and the loop goes on: one bad message or a
    moment of unavailability must not stop the stack, nor pass unseen.
    """

    def __init__(self, name: str, step: Callable[[], object], every_s: float) -> None:
        self.name = name
        self._step = step
        self._every_s = every_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stop_soon()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("%s is still busy after %.0f s; leaving it behind", self.name, timeout_s)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop_soon(self) -> None:
        """Asks the loop to stop after the step in flight, without waiting for it."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            pause = self._every_s
            try:
                self._step()
            except Exception:
                log.exception("%s failed; it carries on", self.name)
                pause = max(pause, PAUSE_AFTER_ERROR_S)
            self._stopping.wait(max(0.0, pause - (time.monotonic() - started)))


def stop_all(loops: list[Loop], timeout_s: float = 10.0) -> None:
    """Stops ``loops`` at once: each finishes its step in flight (a long poll: up to its wait)
    while the others finish theirs, so stopping takes one step, not one step per loop."""
    for loop in loops:
        loop.stop_soon()
    for loop in loops:
        loop.stop(timeout_s)
