"""Outbound webhooks (Standard Webhooks 1.0): endpoints, events, deliveries, signing, the retry
schedule and the addresses a delivery may never reach. Pure Python: the store, the queue and
the HTTP client are the adapters'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from datetime import datetime, timedelta
from enum import StrEnum
from secrets import token_bytes
from urllib.parse import urlsplit

from pydantic import Field

from chalicelib.domain.lifecycle import Move
from chalicelib.domain.records import Record

MAX_ENDPOINTS = 10
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification allows 24 to 64
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret still signs this long after a rotation
MAX_PAYLOAD_BYTES = 64 * 1024
# After the n-th failed attempt, the next one comes this long after it (then: failed).
RETRY_SCHEDULE_S = (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 24 * 3600)
JITTER = 0.10
DISABLE_AFTER = timedelta(days=5)  # an endpoint whose every delivery failed this long
TIMEOUT_S = 15.0  # a 2xx within this is success
# The endpoint's circuit: after a failed attempt, one attempt at a time (a probe, under a lease
# a little longer than the longest attempt); after CIRCUIT_AFTER failures in a row, none until
# its backoff passes (the retry schedule's, at most CIRCUIT_MAX_S); a success closes it.
CIRCUIT_AFTER = 3
CIRCUIT_MAX_S = 3600
PROBE_LEASE_S = 20


class EventType(StrEnum):
    MESSAGE_SENT = "message.sent"
    MESSAGE_FAILED = "message.failed"
    MESSAGE_SKIPPED = "message.skipped"
    MESSAGE_UNKNOWN = "message.unknown"
    MESSAGE_CANCELED = "message.canceled"
    MESSAGE_CLICKED = "message.clicked"
    MESSAGE_CONVERTED = "message.converted"
    GRANT_SWITCHED_OFF = "grant.switched_off"
    CAMPAIGN_COMPLETED = "campaign.completed"
    CAMPAIGN_CANCELED = "campaign.canceled"
    EXPERIMENT_DECIDED = "experiment.decided"
    WEBHOOK_TEST = "webhook.test"


# The event a message's move reports (moves not listed report none: they are on the way).
MOVE_EVENTS: dict[Move, EventType] = {
    Move.SEND: EventType.MESSAGE_SENT,
    Move.FAIL: EventType.MESSAGE_FAILED,
    Move.FAIL_UNSUBSCRIBED: EventType.MESSAGE_FAILED,
    Move.FAIL_LATE: EventType.MESSAGE_FAILED,
    Move.SKIP: EventType.MESSAGE_SKIPPED,
    Move.LOSE: EventType.MESSAGE_UNKNOWN,
    Move.EXPIRE_CLAIM: EventType.MESSAGE_UNKNOWN,
    Move.CANCEL: EventType.MESSAGE_CANCELED,
}


class Subject(StrEnum):
    """What an event's ``data`` is rendered from."""

    MESSAGE = "message"  # the message record: data is the message as the API answers it
    CAMPAIGN = "campaign"
    PLAIN = "plain"  # data as stored


class EndpointStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Secret(Record):
    value: str  # whsec_<base64>
    until: datetime | None = None  # None: the current secret; else it stops signing then


class Endpoint(Record):
    id: str
    app_id: str
    url: str
    events: list[EventType] | None = None  # None: every type
    description: str | None = None
    status: EndpointStatus = EndpointStatus.ENABLED
    disabled_reason: str | None = None
    secrets: list[Secret] = Field(default_factory=list)  # the current one first
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None = None  # the first failure since the last success
    failures: int = 0  # failed attempts in a row (the circuit)
    open_until_ms: int | None = None  # the circuit is open until then: no attempt before
    probe_until_ms: int | None = None  # an attempt of a failing endpoint is under way until then

    def listens(self, event_type: EventType) -> bool:
        if self.status is not EndpointStatus.ENABLED:
            return False
        return self.events is None or event_type in self.events

    def signing_secrets(self, now: datetime) -> list[str]:
        return [s.value for s in self.secrets if s.until is None or s.until > now]


class Gate(StrEnum):
    """What the circuit lets an attempt do."""

    PASS = "pass"  # healthy: attempt
    PROBE = "probe"  # failing: attempt only under the endpoint's lease (one at a time)
    DEFER = "defer"  # open: no request; come back when its backoff passed


def gate(endpoint: Endpoint, now: datetime) -> tuple[Gate, datetime | None]:
    """The circuit's answer for an attempt now, with when to come back when deferred."""
    now_ms = int(now.timestamp() * 1000)
    waits = [t for t in (endpoint.open_until_ms, endpoint.probe_until_ms) if t and t > now_ms]
    if waits:
        return Gate.DEFER, datetime.fromtimestamp(max(waits) / 1000, tz=now.tzinfo)
    if endpoint.failures > 0:
        return Gate.PROBE, None
    return Gate.PASS, None


def circuit_backoff(failures: int) -> timedelta | None:
    """How long the circuit stays open after ``failures`` failed attempts in a row (None: it
    does not open yet)."""
    if failures < CIRCUIT_AFTER:
        return None
    step = min(failures - CIRCUIT_AFTER, len(RETRY_SCHEDULE_S) - 1)
    return timedelta(seconds=min(RETRY_SCHEDULE_S[step], CIRCUIT_MAX_S))


def deferral(until: datetime, now: datetime, draw: float) -> timedelta:
    """How long a delivery the circuit held back waits: until ``until``, then up to 10 % of the
    wait more (at least a second), so a backlog does not come back all at once."""
    wait = max((until - now).total_seconds(), 1.0)
    return timedelta(seconds=wait * (1 + JITTER * draw) + draw)


class Event(Record):
    """One event: its id is the ``webhook-id`` of every delivery of it, on every retry."""

    id: str
    app_id: str
    type: EventType
    at: datetime
    subject: Subject
    data: dict[str, object]


class Delivery(Record):
    """One event on its way to one endpoint."""

    id: str  # the event's id
    app_id: str
    endpoint_id: str
    type: EventType
    at: datetime
    subject: Subject
    data: dict[str, object]
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    created_at: datetime
    delivered_at: datetime | None = None

    @property
    def openid(self) -> str | None:
        """The user the event is about (a message's, a switched-off grant's), if any: erasing
        that user erases the delivery."""
        found = self.data.get("openid") if self.subject is not Subject.CAMPAIGN else None
        return found if isinstance(found, str) and found else None

    def fresh(self, now: datetime, within_s: float) -> bool:
        """A first attempt made within ``within_s`` of the event's write."""
        return self.attempts == 0 and (now - self.created_at).total_seconds() <= within_s

    @classmethod
    def of(cls, event: Event, endpoint_id: str, now: datetime) -> Delivery:
        return cls(
            id=event.id,
            app_id=event.app_id,
            endpoint_id=endpoint_id,
            type=event.type,
            at=event.at,
            subject=event.subject,
            data=event.data,
            next_attempt_at=now,
            created_at=now,
        )


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` keyed with the secret's bytes."""
    content = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_bytes(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(keys: list[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers: one signature per secret, separated by spaces."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(s, webhook_id, timestamp, body) for s in keys),
        "content-type": "application/json",
    }


def retry_delay(attempts: int, draw: float) -> timedelta | None:
    """How long after the ``attempts``-th failed attempt the next one comes (``draw`` in [0, 1)
    spreads it ±10 %); None: no more attempts, the delivery has failed."""
    if attempts < 1 or attempts > len(RETRY_SCHEDULE_S):
        return None
    base = RETRY_SCHEDULE_S[attempts - 1]
    return timedelta(seconds=base * (1 - JITTER + 2 * JITTER * draw))


def success(status_code: int) -> bool:
    return 200 <= status_code < 300


GONE = 410


# Addresses ---------------------------------------------------------------------------------

LOOPBACK_NAMES = ("localhost", "localhost.")


def address_refused(address: str, allow_loopback: bool) -> str | None:
    """Why a delivery may never connect to ``address`` (an IP), or None when it may."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address (the instance metadata service)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private or ip.is_reserved or not ip.is_global:
        return "a private address"
    return None


def url_refused(url: str, allow_http: bool, allow_loopback: bool) -> str | None:
    """Why ``url`` cannot be an endpoint by its text alone (scheme, host, a literal address)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "not a valid URL"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        return "must be an https URL" if not allow_http else "must be an http(s) URL"
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return "must name a host (and no credentials)"
    if port == 0:
        return "not a valid port"
    if host.lower() in LOOPBACK_NAMES or host.lower().endswith(".localhost"):
        return None if allow_loopback else "points to a loopback address"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None  # a name: its addresses are checked when resolved
    refused = address_refused(host, allow_loopback)
    return f"points to {refused}" if refused else None
