"""Started processes of a test (the local stack's API and AWS endpoint) keep the test's clock.

A test that pins its clock and starts processes puts this folder on their PYTHONPATH with
SUBMSG_TEST_CLOCK_OFFSET_S (pinned minus real, in seconds): every process then reads the same
wall clock, ticking in step (tests/support/clocks.py: ``clock_for_processes``).
"""

import os

_offset = os.environ.get("SUBMSG_TEST_CLOCK_OFFSET_S")
if _offset:
    import time

    import time_machine

    time_machine.travel(time.time() + float(_offset), tick=True).start()
