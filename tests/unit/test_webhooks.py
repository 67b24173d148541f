"""Webhook signing, the retry schedule, the addresses a delivery may never reach, and the
deliverer's HTTP client against a real receiver on 127.0.0.1 (the sandbox's)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from chalicelib.adapters.addresses import AddressRefused, checked_address
from chalicelib.adapters.webhook_http import WebhookClient
from chalicelib.domain.webhooks import (
    CIRCUIT_AFTER,
    CIRCUIT_MAX_S,
    RETRY_SCHEDULE_S,
    SECRET_PREFIX,
    Delivery,
    Endpoint,
    Event,
    EventType,
    Gate,
    Subject,
    address_refused,
    circuit_backoff,
    deferral,
    gate,
    headers,
    new_secret,
    retry_delay,
    secret_bytes,
    sign,
    url_refused,
)
from local.sandbox import Sandbox

BODY = b'{"type":"webhook.test","timestamp":"2026-11-22T16:30:00.000Z","data":{}}'


def test_a_secret_is_whsec_and_base64_of_24_to_64_random_bytes():
    secrets = {new_secret() for _ in range(20)}
    assert len(secrets) == 20
    for secret in secrets:
        assert secret.startswith(SECRET_PREFIX)
        assert 24 <= len(secret_bytes(secret)) <= 64


def test_the_signature_is_hmac_sha256_of_id_timestamp_and_body_keyed_with_the_secrets_bytes():
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    expected = hmac.new(b"k" * 32, b"evt_1.1700000000." + BODY, hashlib.sha256).digest()
    assert sign(secret, "evt_1", 1700000000, BODY) == "v1," + base64.b64encode(expected).decode()


def test_the_standard_webhooks_library_verifies_each_secret_of_a_rotation():
    old, new = new_secret(), new_secret()
    now = int(time.time())  # the pinned clock, which the library's tolerance reads too
    sent = headers([new, old], "evt_01", now, BODY)
    assert sent["webhook-timestamp"] == str(now)
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        assert Webhook(secret).verify(BODY, sent)["type"] == "webhook.test"
    with pytest.raises(Exception, match="signature"):
        Webhook(new_secret()).verify(BODY, sent)


def test_the_retry_schedule_with_its_jitter():
    assert RETRY_SCHEDULE_S == (5, 30, 120, 600, 1800, 3600, 10800, 21600, 43200, 86400)
    for attempt, base in enumerate(RETRY_SCHEDULE_S, start=1):
        low, middle = retry_delay(attempt, 0.0), retry_delay(attempt, 0.5)
        high = retry_delay(attempt, 0.999999)
        assert low == timedelta(seconds=base * 0.9)
        assert middle == timedelta(seconds=base)
        assert timedelta(seconds=base * 1.09) < high <= timedelta(seconds=base * 1.1)
    assert retry_delay(len(RETRY_SCHEDULE_S) + 1, 0.5) is None  # 11 attempts, then failed


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("10.0.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.0.10", "private"),
        ("fd12::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("100.64.0.1", "private"),  # carrier-grade NAT: not on the internet
    ],
)
def test_addresses_a_delivery_may_never_reach(address, why):
    assert why in (address_refused(address, allow_loopback=False) or "")


def test_loopback_only_in_the_local_stage_and_public_addresses_always():
    assert address_refused("127.0.0.1", allow_loopback=True) is None
    assert address_refused("10.0.0.1", allow_loopback=True) is not None
    assert address_refused("93.184.215.14", allow_loopback=False) is None
    assert address_refused("2606:4700::1111", allow_loopback=False) is None


@pytest.mark.parametrize(
    ("url", "local", "refused"),
    [
        ("https://hooks.example.com/a", False, False),
        ("http://hooks.example.com/a", False, True),
        ("http://hooks.example.com/a", True, False),
        ("http://127.0.0.1:8000/a", True, False),
        ("https://127.0.0.1/a", False, True),
        ("ftp://hooks.example.com/a", True, True),
        ("https://hooks.example.com:0/a", False, True),
        ("https://hooks.example.com:99999/a", False, True),
        ("https:///a", False, True),
    ],
)
def test_url_rules(url, local, refused):
    assert (url_refused(url, allow_http=local, allow_loopback=local) is not None) is refused


def test_a_name_is_checked_on_every_address_it_resolves_to():
    with pytest.raises(AddressRefused, match="loopback"):
        checked_address("localhost", 443, allow_loopback=False)
    assert checked_address("localhost", 443, allow_loopback=True) in ("127.0.0.1", "::1")


@pytest.fixture
def receiver() -> Iterator[str]:
    sandbox = Sandbox()
    url = sandbox.start()
    try:
        yield f"{url}/sandbox/webhooks/receive"
    finally:
        sandbox.stop()


def test_the_client_reaches_loopback_only_when_allowed_and_keeps_the_host(receiver):
    url = receiver
    secret = new_secret()
    requests.post(
        url.replace("/receive", "/secrets"), json={"secret": secret}, timeout=5
    ).raise_for_status()
    now = int(time.time())
    named = url.replace("127.0.0.1", "localhost")
    refused = WebhookClient(3.05, 10.0, allow_loopback=False).post(
        named, BODY, headers([secret], "evt_1", now, BODY)
    )
    assert refused.status_code is None and "loopback" in (refused.error or "")
    client = WebhookClient(3.05, 10.0, allow_loopback=True)
    answered = client.post(named, BODY, headers([secret], "evt_2", now, BODY))
    assert answered.status_code == 204, answered
    records = requests.get(url.replace("/receive", ""), timeout=5).json()
    assert [(r["webhook_id"], r["verified"]) for r in records] == [("evt_2", "secret #1")]
    requests.post(url.replace("/receive", "/faults"), json={"status": 302}, timeout=5)
    redirected = client.post(url, BODY, headers([secret], "evt_3", now, BODY))
    assert (redirected.status_code, redirected.error) == (302, "answered 302")
    tampered = client.post(url, BODY + b" ", headers([secret], "evt_4", now, BODY))
    assert tampered.status_code == 204
    records = requests.get(url.replace("/receive", ""), timeout=5).json()
    assert [r["verified"] for r in records] == ["secret #1", "secret #1", "invalid"]
    page = requests.get(url.split("/sandbox")[0] + "/", timeout=5).text
    assert "Webhooks received (3)" in page and "evt_4" in page


def test_a_receiver_that_never_answers_costs_at_most_the_timeouts():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    port = listener.getsockname()[1]
    try:
        client = WebhookClient(0.5, 0.5, allow_loopback=True)
        started = time.monotonic()
        answer = client.post(f"http://127.0.0.1:{port}/", BODY, {})
        assert answer == type(answer)(None, "timed out")
        assert time.monotonic() - started < 5
    finally:
        listener.close()


def test_a_receiver_that_trickles_its_answer_meets_the_deadline():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100:
                if stop.wait(0.2):
                    return
                connection.sendall(bytes([byte]))

    server = threading.Thread(target=trickle, daemon=True)
    server.start()
    try:
        client = WebhookClient(0.5, 0.5, allow_loopback=True, deadline_s=1.5)
        started = time.monotonic()
        answer = client.post(f"http://127.0.0.1:{port}/", BODY, {})
        assert answer.status_code is None and "no answer within 1.5 s" in (answer.error or "")
        assert time.monotonic() - started < 3
    finally:
        stop.set()
        listener.close()


NOW = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)


def endpoint(**circuit: object) -> Endpoint:
    return Endpoint.model_validate(
        {"id": "whk_1", "app_id": "wx1", "url": "https://r.example/", "created_at": NOW}
        | {"updated_at": NOW, **circuit}
    )


def test_the_circuit_passes_a_healthy_endpoint_probes_a_failing_one_and_holds_an_open_one():
    ms = int(NOW.timestamp() * 1000)
    assert gate(endpoint(), NOW) == (Gate.PASS, None)
    assert gate(endpoint(failures=1), NOW) == (Gate.PROBE, None)
    assert gate(endpoint(failures=1, probe_until_ms=ms - 1), NOW) == (Gate.PROBE, None)
    held = gate(endpoint(failures=1, probe_until_ms=ms + 20_000), NOW)
    assert held == (Gate.DEFER, NOW + timedelta(seconds=20))
    opened = endpoint(failures=4, open_until_ms=ms + 30_000, probe_until_ms=ms + 5_000)
    assert gate(opened, NOW) == (Gate.DEFER, NOW + timedelta(seconds=30))
    assert gate(endpoint(failures=4, open_until_ms=ms), NOW) == (Gate.PROBE, None)


def test_the_circuit_opens_after_failures_in_a_row_for_the_schedules_backoff_capped():
    assert [circuit_backoff(n) for n in range(CIRCUIT_AFTER)] == [None] * CIRCUIT_AFTER
    opened = [circuit_backoff(CIRCUIT_AFTER + n).total_seconds() for n in range(12)]
    assert opened[:5] == [5, 30, 120, 600, 1800]
    assert max(opened) == CIRCUIT_MAX_S and opened == sorted(opened)


def test_a_held_back_delivery_waits_until_the_circuit_lets_it_then_a_spread():
    until = NOW + timedelta(seconds=30)
    assert deferral(until, NOW, 0.0) == timedelta(seconds=30)
    assert deferral(until, NOW, 0.99).total_seconds() == pytest.approx(30 * 1.099 + 0.99)
    assert deferral(NOW - timedelta(seconds=5), NOW, 0.0) == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("subject", "data", "openid"),
    [
        (Subject.MESSAGE, {"id": "msg_1", "openid": "oUser1"}, "oUser1"),
        (Subject.PLAIN, {"openid": "oUser1", "template_id": "T"}, "oUser1"),
        (Subject.PLAIN, {"endpoint_id": "whk_1"}, None),
        (Subject.CAMPAIGN, {"campaign": {"openid": "x"}, "openid": "x"}, None),
    ],
)
def test_a_delivery_knows_the_user_it_is_about(subject, data, openid):
    event = Event(
        id="evt_1", app_id="wx1", type=EventType.MESSAGE_SENT, at=NOW, subject=subject, data=data
    )
    assert Delivery.of(event, "whk_1", NOW).openid == openid


def test_only_a_first_attempt_soon_after_its_event_is_fresh():
    kind = EventType.WEBHOOK_TEST
    event = Event(id="evt_1", app_id="wx1", type=kind, at=NOW, subject=Subject.PLAIN, data={})
    first = Delivery.of(event, "whk_1", NOW)
    assert first.fresh(NOW + timedelta(seconds=5), 5.0)
    assert not first.fresh(NOW + timedelta(seconds=5.001), 5.0)
    assert not first.model_copy(update={"attempts": 1}).fresh(NOW, 5.0)
