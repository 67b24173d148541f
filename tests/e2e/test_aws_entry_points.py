"""The embedded AWS alone (`make aws`) and the stack against an AWS endpoint of one's own
(`SUBMSG_AWS_ENDPOINT=URL make run`), as a user starts them (docs/local-stack.md#the-embedded-aws);
bad settings stop either with one line and no traceback. Everything on 127.0.0.1, bounded."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
import requests

from infra.provision import provision
from local.aws.server import AwsServer
from local.config import LocalSettings
from local.stack import LocalStack
from tests.support.clocks import pinned_for_the_module

ROOT = Path(__file__).resolve().parents[2]
pinned_clock = pinned_for_the_module()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


def environment(**overrides: str) -> dict[str, str]:
    """The user's environment without any AWS or submsg setting, then ``overrides``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUBMSG_", "AWS_"))}
    return {**env, **overrides}


def line_starting(process: subprocess.Popen[str], prefix: str, within_s: float) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + within_s
    seen = []
    while time.monotonic() < deadline:
        if select.select([process.stdout], [], [], 0.2)[0]:
            line = process.stdout.readline()
            if line.startswith(prefix):
                return line.strip()
            if not line and process.poll() is not None:
                break
            seen.append(line)
    raise AssertionError(f"no line starting {prefix!r} within {within_s} s: {seen}")


@pytest.fixture
def make_aws() -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    process = subprocess.Popen(
        ["make", "--no-print-directory", "aws"],
        cwd=ROOT,
        env=environment(SUBMSG_AWS_PORT=str(port), SUBMSG_AWS_FAULTS="seed=3"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_make_aws_serves_dynamodb_and_sqs_alone_until_ctrl_c(make_aws):
    process, port = make_aws
    url = f"http://127.0.0.1:{port}"
    assert line_starting(process, "The embedded AWS", 60).endswith(url)
    session = boto3.session.Session(**_made_up_credentials())
    resources = provision(session, stage="alone", endpoint_url=url)
    db = session.client("dynamodb", endpoint_url=url)
    db.put_item(TableName=resources.table_name, Item={"pk": {"S": "A"}, "sk": {"S": "1"}})
    assert db.get_item(TableName=resources.table_name, Key={"pk": {"S": "A"}, "sk": {"S": "1"}})
    os.killpg(process.pid, signal.SIGINT)  # Ctrl-C in its terminal
    assert line_starting(process, "Stopped; faults injected: none", 15)
    process.wait(15)
    assert not listening(port)


def _made_up_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": "local-made-up-key-id",
        "aws_secret_access_key": "local-made-up-secret",
        "region_name": "us-east-1",
    }


@pytest.mark.parametrize(
    ("command", "code"),
    [(["make", "--no-print-directory", "aws"], 2), ([sys.executable, "-m", "local"], 1)],
)
def test_a_bad_faults_variable_stops_make_aws_and_make_run_with_one_line(command, code):
    env = environment(
        SUBMSG_AWS_FAULTS="conflict=0.05,throttle=1.5",
        SUBMSG_PORT=str(free_port()),
        SUBMSG_AWS_PORT=str(free_port()),
        SUBMSG_SANDBOX_PORT="0",
    )
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    said = (done.stdout + done.stderr).strip().splitlines()
    expected = "SUBMSG_AWS_FAULTS: the rate of throttle must be between 0 and 1, not 1.5"
    assert done.returncode != 0
    assert expected in said, said
    assert not any("Traceback" in line for line in said)
    if command[0] != "make":
        assert done.returncode == code and said == [expected]


def test_an_aws_endpoint_that_does_not_answer_stops_make_run_after_its_wait_with_one_line():
    """`python -m local` is what `make run` runs; the wait is shortened to 1 s here (its default,
    15 s, is checked in tests/unit/test_local_stack.py)."""
    closed = free_port()
    env = environment(
        SUBMSG_AWS_ENDPOINT=f"http://127.0.0.1:{closed}",
        SUBMSG_AWS_ENDPOINT_WAIT_S="1",
        SUBMSG_PORT=str(free_port()),
        SUBMSG_SANDBOX_PORT="0",
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "local"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took_s = time.monotonic() - started
    said = (done.stdout + done.stderr).strip().splitlines()
    assert done.returncode == 1
    assert took_s < 30
    assert len(said) == 1, said
    assert said[0].startswith(f"SUBMSG_AWS_ENDPOINT=http://127.0.0.1:{closed} does not answer")
    assert "(tried for 1 s;" in said[0]


def test_the_stack_runs_against_an_aws_endpoint_of_ones_own_and_creates_its_resources(
    monkeypatch,
):
    outside = AwsServer(0)
    url = outside.start()
    try:
        settings = LocalSettings(
            port=free_port(), aws_port=free_port(), sandbox_port=0, aws_endpoint=url
        )
        with LocalStack(settings) as endpoints:
            assert endpoints.aws == url
            assert not listening(settings.aws_port)  # no embedded AWS of its own
            session = boto3.session.Session(**_made_up_credentials())
            tables = session.client("dynamodb", endpoint_url=url).list_tables()["TableNames"]
            queues = session.client("sqs", endpoint_url=url).list_queues()["QueueUrls"]
            assert "submsg-local" in tables
            assert sorted(q.rsplit("/", 1)[1] for q in queues) == [
                "submsg-local-send",
                "submsg-local-send-dlq",
                "submsg-local-sweep",
                "submsg-local-webhooks",
                "submsg-local-webhooks-dlq",
            ]
            key = {"Authorization": f"Bearer {endpoints.api_key}"}
            templates = requests.get(f"{endpoints.api}/v1/templates", headers=key, timeout=10)
            assert templates.status_code == 200 and templates.json()
        assert outside.problem() is None  # the user's endpoint outlives the stack
        with LocalStack(settings) as again:  # its table and queues are reused, not refused
            assert requests.get(f"{again.api}/v1/health", timeout=5).status_code == 200
    finally:
        outside.stop()
