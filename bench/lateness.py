"""Reminder lateness through the local stack: when each card reaches the sandbox, after send_at."""

from __future__ import annotations

import os
import random
import socket
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import requests

REMINDERS = 200
SPREAD_S = 200  # one reminder a second: timing precision, not moto's throughput
LEAD_S = 30  # the first is due after all are created; most go through the due sweep
OPENID = "oBenchLateness00000000000001"


@dataclass(frozen=True)
class Lateness:
    count: int
    p50: float
    p99: float


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(reminders: int = REMINDERS) -> Lateness:
    """Reminders 30-230 s ahead; with a 10 s look-ahead they go through the due sweep."""
    from local.config import LocalSettings
    from local.demo import ORDER_SHIPPED
    from local.stack import LocalStack

    os.environ["SUBMSG_SWEEP_INTERVAL_S"] = "10"
    settings = LocalSettings(
        port=_free_port(),
        aws_port=_free_port(),
        sandbox_port=0,
        wechat_api_base=None,
    )
    local = LocalStack(settings)
    with local as stack, requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {stack.api_key}"
        template = ORDER_SHIPPED.template_id
        tap = {"appid": stack.app_id, "openid": OPENID, "results": {template: "accept"}}
        for _ in range(reminders):
            http.post(f"{stack.sandbox}/sandbox/subscribe", json=tap, timeout=5).raise_for_status()
            http.post(
                f"{stack.api}/v1/grants",
                json={"openid": OPENID, "results": tap["results"]},
                timeout=5,
            )
        if local.sandbox is not None:
            local.sandbox.wait_for_pushes(timeout_s=120)  # the taps' popup pushes, before timing
        start = datetime.now(UTC) + timedelta(seconds=LEAD_S)
        due: dict[str, float] = {}
        for _ in range(reminders):
            send_at = start + timedelta(seconds=random.uniform(0, SPREAD_S))
            body = {
                "openid": OPENID,
                "template_id": template,
                "data": ORDER_SHIPPED.example,
                "page": "pages/index/index",
                "send_at": send_at.isoformat(),
            }
            answer = http.post(f"{stack.api}/v1/messages", json=body, timeout=5)
            answer.raise_for_status()
            due[answer.json()["id"]] = datetime.fromisoformat(answer.json()["send_at"]).timestamp()
        cards = _wait_for_cards(http, stack.sandbox, reminders, deadline_s=SPREAD_S + 60)
    late = sorted(card["received_at"] - due[_message_id(card)] for card in cards)
    return Lateness(
        len(late),
        round(statistics.median(late), 3),
        round(late[max(0, int(len(late) * 0.99) - 1)], 3),
    )


def _message_id(card: dict) -> str:
    return card["page"].rsplit("submsg_id=", 1)[1]


def _wait_for_cards(http: requests.Session, sandbox: str, count: int, deadline_s: float) -> list:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        cards = [
            c
            for c in http.get(f"{sandbox}/sandbox/messages", timeout=5).json()
            if c["touser"] == OPENID
        ]
        if len(cards) >= count:
            return cards
        time.sleep(0.5)
    raise RuntimeError(f"only {len(cards)} of {count} reminders arrived")
