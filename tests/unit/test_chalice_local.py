"""Waiting for the local API: a start slowed by a busy machine is waited for, not failed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
import responses

from local.chalice_local import ChaliceLocal, ChaliceLocalFailed

HEALTH = "http://127.0.0.1:9/v1/health"


def _running(tmp_path: Path) -> ChaliceLocal:
    api = ChaliceLocal(tmp_path, 9, "local", {})
    api._process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    return api


@responses.activate
def test_a_health_check_that_times_out_is_tried_again_until_the_api_answers(tmp_path):
    responses.get(HEALTH, body=requests.ReadTimeout("busy"))
    responses.get(HEALTH, body=requests.ConnectionError("not yet"))
    responses.get(HEALTH, json={"status": "ok"})
    api = _running(tmp_path)
    try:
        api.wait_until_healthy(timeout_s=10)
    finally:
        api._process.kill()
    assert len(responses.calls) == 3


@responses.activate
def test_an_api_that_never_answers_in_time_is_a_clear_failure(tmp_path):
    responses.get(HEALTH, body=requests.ReadTimeout("busy"))
    api = _running(tmp_path)
    try:
        with pytest.raises(ChaliceLocalFailed, match="did not answer"):
            api.wait_until_healthy(timeout_s=0.5)
    finally:
        api._process.kill()
