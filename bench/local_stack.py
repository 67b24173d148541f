"""The local stack under load, driven over HTTP exactly as `make run` serves it.

`python -m local` runs as a process of its own (its API and AWS endpoint are processes of their
own too); this process is only the client. Measured in one run, in this order:
1. ``POST /v1/messages`` latency on an empty table and with 50 000 unrelated items stored: two
   stacks side by side, one empty and one loaded, called in turn, so that whatever else this
   machine does at that moment weighs on both medians alike;
2. 2 000 cards sent now by 16 clients (to the loaded stack): cards a second, creation to the
   sandbox;
3. 200 reminders due in the same second: when the last one reaches the sandbox;
4. 200 reminders due over 100 s: lateness after ``send_at``, p50 and p99.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LATENCY_SAMPLES = 200
WARM_UP = 10  # the first calls of a new stack fill its caches (app, key, template, token)
UNRELATED_ITEMS = 50_000
CARDS = 2_000
CLIENTS = 16  # a mini-program backend calls from many threads or instances at once
BURST = 200
REMINDERS = 200
SPREAD_S = 100
DEMO_KEY = "sk_local_demo_key"
BENCH_REQUESTS_PER_SECOND = 10_000
BENCH_OPENID = "oBench{:022d}"
TAPS_PER_REQUEST = 500  # the sandbox's taps of the holders a phase seeds, in few requests
WRITERS = 4  # the holders' credits are written by this many clients at once (3 times quicker)


@dataclass(frozen=True)
class LocalFigures:
    latency_empty_ms: float
    latency_50k_ms: float
    cards: int
    cards_per_s: float
    burst: int
    burst_last_s: float
    lateness_p50_s: float
    lateness_p99_s: float

    @property
    def latency_ratio(self) -> float:
        return self.latency_50k_ms / self.latency_empty_ms


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Stack:
    api: str
    aws: str
    sandbox: str
    app_id: str
    template: str
    data: dict[str, str]


@contextlib.contextmanager
def running_stack(
    sweep_interval_s: int = 10, environment: dict[str, str] | None = None
) -> Iterator[Stack]:
    """`python -m local` on free ports, until the block ends (SIGINT, as Ctrl-C would);
    ``environment``: variables of its own (``SUBMSG_AWS_FAULTS``)."""
    from local.demo import ORDER_SHIPPED

    ports = {name: _free_port() for name in ("SUBMSG_PORT", "SUBMSG_AWS_PORT")}
    sandbox_port = _free_port()
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        "SUBMSG_SANDBOX_PORT": str(sandbox_port),
        "SUBMSG_SWEEP_INTERVAL_S": str(sweep_interval_s),
        "SUBMSG_LOCAL_SWEEP_EVERY_S": "1",
        **(environment or {}),
    }
    env.pop("WECHAT_API_BASE", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "local"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{ports['SUBMSG_PORT']}"
    try:
        _wait_healthy(api, process)
        yield Stack(
            api=api,
            aws=f"http://127.0.0.1:{ports['SUBMSG_AWS_PORT']}",
            sandbox=f"http://127.0.0.1:{sandbox_port}",
            app_id="wx0000000000000001",
            template=ORDER_SHIPPED.template_id,
            data=ORDER_SHIPPED.example,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _wait_healthy(api: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with code {process.returncode}")
        with contextlib.suppress(requests.ConnectionError):
            if requests.get(f"{api}/v1/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the local stack did not become healthy")


class Client:
    """One mini-program backend: taps in the sandbox, grants and messages through the API."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {DEMO_KEY}"
        self._cards: list[dict[str, Any]] = []

    def grant(self, openid: str, times: int = 1) -> None:
        results = {self.stack.template: "accept"}
        tap = {"appid": self.stack.app_id, "openid": openid, "results": results}
        for _ in range(times):
            self.http.post(
                f"{self.stack.sandbox}/sandbox/subscribe", json=tap, timeout=10
            ).raise_for_status()
            self.http.post(
                f"{self.stack.api}/v1/grants",
                json={"openid": openid, "results": results},
                timeout=10,
            ).raise_for_status()

    def send(self, openid: str, send_at: datetime | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "openid": openid,
            "template_id": self.stack.template,
            "data": self.stack.data,
            "page": "pages/index/index",
        }
        if send_at is not None:
            body["send_at"] = send_at.isoformat()
        answer = self.http.post(f"{self.stack.api}/v1/messages", json=body, timeout=10)
        answer.raise_for_status()
        return dict(answer.json())

    def settle(self, timeout_s: float = 300) -> None:
        """Until the sandbox has pushed every event (taps, sent cards) to submsg's callback."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pushes = self.http.get(f"{self.stack.sandbox}/sandbox/pushes", timeout=30).json()
            if all(push["state"] != "pending" for push in pushes):
                return
            time.sleep(0.5)
        raise RuntimeError("the sandbox's pushes did not settle")

    def cards(self) -> list[dict[str, Any]]:
        """Every card the sandbox has received; each call fetches only the ones not seen yet, so
        that polling costs the stack what is new, not everything sent so far."""
        since = {"since": len(self._cards)}
        url = f"{self.stack.sandbox}/sandbox/messages"
        self._cards.extend(self.http.get(url, params=since, timeout=30).json())
        return self._cards


def _send_ms(client: Client, openid: str) -> float:
    started = time.perf_counter()
    client.send(openid)
    return (time.perf_counter() - started) * 1000


def _alternating_medians(empty: Client, loaded: Client, openids: list[str]) -> tuple[float, float]:
    """Median send latency of each stack, the two called in turn with the same openids."""
    empty_ms, loaded_ms = [], []
    for openid in openids:
        empty_ms.append(_send_ms(empty, openid))
        loaded_ms.append(_send_ms(loaded, openid))
    return statistics.median(empty_ms), statistics.median(loaded_ms)


def _latencies(stack: Stack, users: list[str]) -> tuple[float, float]:
    """(empty, loaded) medians, ms; ``stack`` is loaded with the unrelated items first and
    keeps them. Each stack first serves ``WARM_UP`` calls that are not measured."""
    _store_unrelated_items(stack, UNRELATED_ITEMS)
    loaded = Client(stack)
    loaded.settle()
    with running_stack() as empty_stack:
        _update_demo_app(empty_stack, requests_per_second=BENCH_REQUESTS_PER_SECOND)
        _seed_holders(empty_stack, empty_stack.template, users)
        empty = Client(empty_stack)
        for openid in users[:WARM_UP]:
            empty.send(openid)
            loaded.send(openid)
        return _alternating_medians(empty, loaded, users[WARM_UP:])


def _stack_store(stack: Stack) -> tuple[Any, str, Any]:
    """The local stack's table, straight through boto3: (client, table name, Store)."""
    import boto3

    from chalicelib.adapters.store import Store
    from chalicelib.adapters.store.dynamo import DynamoTable
    from chalicelib.settings import Settings
    from infra.provision import table_name
    from local.config import STAGE
    from local.environment import aws_environment

    settings = aws_environment(stack.aws)
    db = boto3.client(
        "dynamodb",
        endpoint_url=stack.aws,
        region_name=settings["AWS_DEFAULT_REGION"],
        aws_access_key_id=settings["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=settings["AWS_SECRET_ACCESS_KEY"],
    )
    table = table_name(STAGE)
    return db, table, Store.create(DynamoTable(db, table), Settings())


def _write_all(db: Any, table: str, items: Iterator[dict[str, Any]]) -> None:
    from chalicelib.adapters.store.dynamo_requests import to_item

    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append({"PutRequest": {"Item": to_item(item)}})
        if len(batch) == 25:
            db.batch_write_item(RequestItems={table: batch})
            batch = []
    if batch:
        db.batch_write_item(RequestItems={table: batch})


def _store_unrelated_items(stack: Stack, count: int) -> None:
    """Other users' preferences, credits and messages (sent, or due in a month)."""
    db, table, store = _stack_store(stack)
    _write_all(db, table, (_unrelated_item(store, stack.app_id, n) for n in range(count)))


def _unrelated_item(store: Any, app_id: str, n: int) -> dict[str, Any]:
    from chalicelib.adapters.store import layout
    from chalicelib.domain import clock
    from chalicelib.domain.records import Category, Credit, Message, MessageStatus, TemplateKind

    openid, now = f"oOther{n // 5:020d}", clock.now()
    later = now + timedelta(days=30, seconds=n)
    kind = n % 5
    if kind == 0:
        return {**layout.preferences_key(app_id, openid), "timezone": "Asia/Shanghai"}
    if kind in (1, 2):
        credit = Credit(
            credit_id=f"cr{n}", template_id="TplOther", granted_at=now, expires_at=later
        )
        return dict(store.users.credit_item(app_id, openid, credit))
    message = Message(
        id=f"msg_other{n:012d}",
        app_id=app_id,
        openid=openid,
        template_id="TplOther",
        kind=TemplateKind.ONE_TIME,
        category=Category.REMINDER,
        data={"thing1": "Class"},
        send_at=later if kind == 4 else now,
        status=MessageStatus.SCHEDULED if kind == 4 else MessageStatus.SENT,
        created_at=now,
    )
    return dict(store.messages.item(message, later if kind == 4 else None))


def _cards_per_second(stack: Stack, openids: list[str], already: int) -> float:
    """Every user gets one card now, from ``CLIENTS`` threads; until the last reaches WeChat."""
    clients = [Client(stack) for _ in range(CLIENTS)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(lambda i: clients[i % CLIENTS].send(openids[i]), range(len(openids))))
    _wait_for_cards(clients[0], already + len(openids), timeout_s=600)
    return len(openids) / (time.perf_counter() - started)


def _wait_for_cards(client: Client, count: int, timeout_s: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        cards = client.cards()
        if len(cards) >= count:
            return cards
        time.sleep(0.5)
    raise RuntimeError(f"only {len(client.cards())} of {count} cards arrived")


def _lateness(client: Client, due: dict[str, float], already: int) -> list[float]:
    cards = _wait_for_cards(client, already + len(due), timeout_s=SPREAD_S + 120)
    arrived = {_message_id(c): c["received_at"] for c in cards if _message_id(c) in due}
    return sorted(arrived[m] - due[m] for m in due)


def _message_id(card: dict[str, Any]) -> str:
    return str(card.get("page", "")).rsplit("submsg_id=", 1)[-1]


def _schedule(client: Client, openid: str, moments: list[datetime]) -> dict[str, float]:
    due = {}
    for moment in moments:
        answer = client.send(openid, send_at=moment)
        due[answer["id"]] = datetime.fromisoformat(answer["send_at"]).timestamp()
    return due


def measure() -> LocalFigures:
    with running_stack() as stack:
        _update_demo_app(stack, requests_per_second=BENCH_REQUESTS_PER_SECOND)
        client = Client(stack)
        measured = WARM_UP + LATENCY_SAMPLES
        users = [BENCH_OPENID.format(n) for n in range(measured + CARDS + 2)]
        _seed_holders(stack, stack.template, users[:measured])
        empty, loaded = _latencies(stack, users[:measured])
        sent = len(_wait_for_cards(client, measured, timeout_s=120))

        senders = users[measured : measured + CARDS]
        burst_user, spread_user = users[-2], users[-1]
        _seed_holders(
            stack, stack.template, [*senders, *[burst_user] * BURST, *[spread_user] * REMINDERS]
        )
        rate = _cards_per_second(stack, senders, already=sent)
        sent += CARDS

        second = (datetime.now(UTC) + timedelta(seconds=25)).replace(microsecond=0)
        burst = _lateness(client, _schedule(client, burst_user, [second] * BURST), sent)
        sent += BURST

        start = datetime.now(UTC) + timedelta(seconds=20)
        moments = [start + timedelta(seconds=random.uniform(0, SPREAD_S)) for _ in range(REMINDERS)]
        late = _lateness(client, _schedule(client, spread_user, moments), sent)
    return LocalFigures(
        latency_empty_ms=round(empty, 1),
        latency_50k_ms=round(loaded, 1),
        cards=CARDS,
        cards_per_s=round(rate, 1),
        burst=BURST,
        burst_last_s=round(burst[-1], 3),
        lateness_p50_s=round(statistics.median(late), 3),
        lateness_p99_s=round(late[max(0, int(len(late) * 0.99) - 1)], 3),
    )


# A campaign to 10 000 holders --------------------------------------------------------------

# docs/bench.md's figure is for 10 000 holders; BENCH_CAMPAIGN_HOLDERS=2000 make bench is a quicker
# look (it leaves campaign_10k_s null).
CAMPAIGN_HOLDERS = 10_000


@dataclass(frozen=True)
class CampaignRun:
    holders: int
    sent: int
    seconds: float

    @property
    def cards_per_s(self) -> float:
        return self.sent / self.seconds


def campaign_run(holders: int = CAMPAIGN_HOLDERS) -> CampaignRun:
    """The holders tap in the sandbox (its ledger), their credits go straight into the table,
    then one campaign to all of them, timed from its creation until it completes."""
    from local.demo import CLASS_STARTS

    with running_stack() as stack:
        _update_demo_app(stack, quiet_hours=None, caps={})
        openids = [f"oFan{n:024d}" for n in range(holders)]
        _seed_holders(stack, CLASS_STARTS.template_id, openids)
        client = Client(stack)
        body = {
            "name": "Bench open day",
            "template_id": CLASS_STARTS.template_id,
            "audience": {"holders": {}},
            "data": CLASS_STARTS.example,
        }
        started = time.monotonic()
        answer = client.http.post(f"{stack.api}/v1/campaigns", json=body, timeout=30)
        answer.raise_for_status()
        url = f"{stack.api}/v1/campaigns/{answer.json()['id']}"
        deadline = started + 900
        while time.monotonic() < deadline:
            found = client.http.get(url, timeout=30).json()
            if found["completed_at"] is not None:
                return CampaignRun(holders, found["sent"], time.monotonic() - started)
            time.sleep(1)
    raise RuntimeError(f"the campaign did not complete within 900 s: {found}")


def _update_demo_app(stack: Stack, **changes: Any) -> None:
    """Change the demo app before the API first reads it (it then caches it). The campaign
    takes off quiet hours and caps, so that the bench does not depend on the hour in Shanghai;
    the throughput phase lifts the limit of 100 requests a second, which 16 clients reach in
    a burst: it measures the pipeline, not the limiter."""
    _, _, store = _stack_store(stack)
    app = store.catalog.get_app(stack.app_id)
    assert app is not None
    store.catalog.put_app(app.model_copy(update=changes))


def _seed_holders(stack: Stack, template_id: str, openids: list[str]) -> None:
    """A tap in the sandbox (its ledger, without the push) and a credit in the table for each
    openid (repeated openids: one each). How grants get in is not what the bench measures;
    through the API and the sandbox's pushes, 2 400 of them took minutes (and one request a tap,
    a minute on a busy machine)."""
    from chalicelib.domain import clock
    from chalicelib.domain.records import Credit

    _, table, store = _stack_store(stack)
    now = clock.now()
    expires = now + timedelta(days=7)

    def tap(first: int) -> None:
        body = {
            "appid": stack.app_id,
            "openids": openids[first : first + TAPS_PER_REQUEST],
            "results": {template_id: "accept"},
            "push": False,
        }
        answer = requests.post(f"{stack.sandbox}/sandbox/subscribe_many", json=body, timeout=60)
        answer.raise_for_status()
        assert answer.json().get("taps") == len(body["openids"]), answer.text

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(tap, range(0, len(openids), TAPS_PER_REQUEST)))
    credits = [
        store.users.credit_item(
            stack.app_id,
            openid,
            Credit(
                credit_id=f"cr{template_id[-8:]}{n}",
                template_id=template_id,
                granted_at=now,
                expires_at=expires,
            ),
        )
        for n, openid in enumerate(openids)
    ]

    def write(part: int) -> None:  # a client each: the endpoint serves them at once
        _write_all(_stack_store(stack)[0], table, iter(credits[part::WRITERS]))

    with concurrent.futures.ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))
