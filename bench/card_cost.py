"""`aws_cost_per_million_cards_usd`: cards created over the API and sent through the SQS handler
in process (moto, WeChat answered by `responses`), their AWS usage metered and priced.

Lambda time is the handlers' own, measured here (the meter's reads taken out): in AWS each
DynamoDB or SQS call takes a few milliseconds more than against moto in process.
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import boto3

from bench import cost
from bench.capacity import Consumed, Meter, metering, table_meter
from bench.harness import TEMPLATE, Pipeline, aws_environment, wechat_accepting_everything
from chalicelib.settings import Settings

EMF_PREFIX = '{"_aws"'


@dataclass(frozen=True)
class Card:
    label: str
    template_id: str
    keywords: dict[str, str]  # key: name
    data: dict[str, str]


BENCH_CARD = Card("the bench's card: one short keyword", TEMPLATE, {"thing1": "Item"}, {})
FULL_CARD = Card(
    "five keywords, in Chinese",
    "TplBenchFull000000000000000000000000000001",
    {"thing1": "商品", "thing2": "收货地址", "character_string3": "订单号", "date4": "发货时间"}
    | {"phrase5": "状态"},
    {
        "thing1": "冬季羊毛围巾与手套礼盒装（灰色）",
        "thing2": "上海市浦东新区世纪大道一百号",
        "character_string3": "SO2026120400012345",
        "date4": "2026年12月4日 18:30",
        "phrase5": "已发货",
    },
)


@dataclass
class Measured:
    card: cost.Usage  # create (POST /v1/messages) to sent
    grant: cost.Usage  # the POST /v1/grants that gave the credit
    card_consumed: Consumed
    memory_mb: int

    def breakdown(self, usage: cost.Usage | None = None) -> dict[str, float]:
        return cost.breakdown(usage or self.card, self.memory_mb)

    @property
    def per_million_cards(self) -> float:
        return sum(self.breakdown().values())

    @property
    def grant_per_million(self) -> float:
        return sum(self.breakdown(self.grant).values())


class _Clock:
    """Wall time of handler invocations, less the meter's own reads made during them."""

    def __init__(self, meter: Meter, usage: cost.Usage) -> None:
        self.meter, self.usage = meter, usage

    def time(self, invoke: Callable[[], Any], api: bool = False) -> Any:
        overhead, started = self.meter.overhead_s, time.perf_counter()
        result = invoke()
        elapsed = time.perf_counter() - started - (self.meter.overhead_s - overhead)
        self.usage.durations_ms.append(elapsed * 1000)
        self.usage.invocations += 1
        self.usage.api_requests += int(api)
        return result


@contextlib.contextmanager
def _emf_bytes(usage: cost.Usage) -> Iterator[None]:
    """Count the EMF lines the handlers print (metrics on, as deployed)."""
    printed = io.StringIO()
    os.environ["POWERTOOLS_METRICS_DISABLED"] = "false"
    try:
        with contextlib.redirect_stdout(printed):
            yield
    finally:
        os.environ["POWERTOOLS_METRICS_DISABLED"] = "true"
    lines = [line for line in printed.getvalue().splitlines() if line.startswith(EMF_PREFIX)]
    usage.log_bytes += sum(len(line.encode()) + 1 for line in lines)


def _drain(pipeline: Pipeline, clock: _Clock) -> int:
    import app as app_module
    from local.poller import poll_once

    sqs = boto3.client("sqs")
    handled = 0

    def handler(event: dict[str, Any]) -> Any:
        return clock.time(lambda: app_module.send_worker(event, None))

    while count := poll_once(sqs, pipeline.resources.send_queue_url, handler):
        handled += count
    return handled


def _charged(meter: Meter, usage: cost.Usage, consumed: Consumed, step: Callable[[], Any]) -> Any:
    """Run ``step`` with its AWS calls charged to ``consumed`` and its EMF lines to ``usage``."""
    meter.consumed = consumed
    with _emf_bytes(usage):
        return step()


def measure(cards: int = 100, card_kind: Card = BENCH_CARD) -> Measured:
    """Each card after the grant that makes it possible, as a user would: one credit held."""
    meter = table_meter()
    retention = Settings().retention_days
    card = cost.Usage(cards=cards, retention_days=retention)
    grant = cost.Usage(cards=cards, retention_days=retention)
    card_used, grant_used = Consumed(), Consumed()
    with (
        aws_environment("bench-cost") as resources,
        wechat_accepting_everything(),
        metering(meter),
    ):
        pipeline = Pipeline(resources)
        template, data = card_kind.template_id, card_kind.data or None
        if template != TEMPLATE:
            pipeline.put_template(template, card_kind.keywords)
        pipeline.grant(1, template)
        pipeline.create(template, data)  # warm the caches: app, key, template, secret, token
        pipeline.drain()
        meter.active = True
        granting, creating = _Clock(meter, grant), _Clock(meter, card)
        for _ in range(cards):
            step = partial(granting.time, lambda: pipeline.grant(1, template), api=True)
            _charged(meter, grant, grant_used, step)
            step = partial(creating.time, lambda: pipeline.create(template, data), api=True)
            _charged(meter, card, card_used, step)
        sent = _charged(meter, card, card_used, lambda: _drain(pipeline, creating))
        meter.active = False
        card.stored_bytes = meter.stored_bytes(card_used, time.time())
    if sent != cards:
        raise RuntimeError(f"sent {sent} of {cards}")
    for usage, consumed in ((card, card_used), (grant, grant_used)):
        usage.write_units = consumed.write_units
        usage.read_units = consumed.read_units
        usage.sqs_requests = consumed.sqs_requests
    return Measured(card, grant, card_used, cost.configured_memory_mb())


def usage_detail(measured: Measured, component: str) -> str:
    """The usage behind one line of the breakdown, a card's worth."""
    card, consumed, cards = measured.card, measured.card_consumed, measured.card.cards
    by_kind = ", ".join(
        f"{kind} {units / cards:g}" for kind, units in consumed.write_units_by_kind.most_common()
    )
    details = {
        "API Gateway REST requests": f"{card.api_requests / cards:g} a card",
        "Lambda requests": f"{card.invocations / cards:.2f} invocations a card",
        "Lambda GB-s": (
            f"{sum(card.durations_ms) / cards:.1f} ms a card in process at {measured.memory_mb} MB"
        ),
        "DynamoDB write units": (
            f"{consumed.write_units / cards:g} a card, {consumed.index_write_units / cards:g} "
            f"of them on indexes; by item: {by_kind}"
        ),
        "DynamoDB read units": f"{consumed.read_units / cards:.2f} a card",
        "DynamoDB storage": (
            f"{card.stored_bytes / cards / 1024:.1f} KB a card with its index entries, "
            f"kept {card.retention_days} days"
        ),
        "SQS requests": f"{consumed.sqs_requests / cards:.2f} a card (64 KB chunks)",
        "CloudWatch Logs (EMF)": f"{card.log_bytes / cards:.0f} bytes a card",
    }
    return details[component]
