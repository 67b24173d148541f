"""Campaigns in process (moto, the real handlers): AWS requests per recipient at two audience
sizes, whole fan-out and every card's send included, and the throttle over more than a minute."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.harness import (
    CallCounter,
    Pipeline,
    aws_environment,
    counting_calls,
    wechat_accepting_everything,
)

PROMO = "TplBenchPromotion0000000000000000000000001"
COST_SIZES = (100, 1_000)  # the cost per recipient must not grow with the audience
THROTTLE_RATE = 300  # a minute
THROTTLE_HOLDERS = 375  # 75 s of slots: more than one 60 s window
SCHEDULED_EVENT = {
    "version": "0",
    "id": "bench",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-01-01T00:00:00Z",
    "region": "us-east-1",
    "resources": [],
    "detail": {},
}


@dataclass
class CampaignCost:
    holders: int
    calls_per_recipient: float
    calls_by_operation: dict[str, float]
    seconds: float


@dataclass
class ThrottleFigures:
    rate_per_minute: int
    holders: int
    busiest_minute: int
    seconds: float

    @property
    def ratio(self) -> float:
        return self.busiest_minute / self.rate_per_minute


class CampaignBench(Pipeline):
    def __init__(self, resources: Any) -> None:
        super().__init__(resources)
        self._call(
            "PUT",
            f"/v1/templates/{PROMO}",
            {
                "title": "Promotion",
                "kind": "one_time",
                "category": "reminder",
                "keywords": [{"key": "thing1", "name": "Item"}],
            },
        )

    def grant_holders(self, count: int, prefix: str) -> None:
        for n in range(count):
            openid = f"{prefix}{n:06d}"
            self._call("POST", "/v1/grants", {"openid": openid, "results": {PROMO: "accept"}})

    def run_campaign(self, counter: CallCounter | None = None, **fields: Any) -> dict[str, Any]:
        """Create it, then do what Lambda and EventBridge do until it completes; the bench's
        own look at the campaign after each round is not counted."""
        body = {
            "name": "Bench",
            "template_id": PROMO,
            "audience": {"holders": {}},
            "data": {"thing1": "Sale"},
            **fields,
        }
        campaign_id = self._call("POST", "/v1/campaigns", body)["id"]
        while True:
            self.drain()
            self.sweep()
            counting = counter is not None and counter.active
            if counter is not None:
                counter.active = False
            found = self._call("GET", f"/v1/campaigns/{campaign_id}", None)
            if counter is not None:
                counter.active = counting
            if found["completed_at"] is not None:
                return found
            time.sleep(0.05)

    def sweep(self) -> None:
        """The due sweep, as EventBridge runs it (it also runs the campaigns' tick)."""
        import app as app_module

        app_module.due_sweep(SCHEDULED_EVENT, None)

    def sent_moments(self, prefix: str, count: int) -> list[datetime]:
        moments = []
        for n in range(count):
            listed = self._call("GET", f"/v1/users/{prefix}{n:06d}/messages", None)["items"]
            moments += [datetime.fromisoformat(m["sent_at"]) for m in listed if m["sent_at"]]
        return sorted(moments)


def calls_per_recipient(holders: int) -> CampaignCost:
    with (
        counting_calls() as counter,
        aws_environment(f"bench-campaign-{holders}") as resources,
        wechat_accepting_everything(),
    ):
        bench = CampaignBench(resources)
        bench.grant_holders(holders, "oCost")
        bench.grant(1)
        bench.create()  # warm the caches, as in the pipeline figures
        bench.drain()
        bench.sweep()  # a deployment's first sweep looks for shards in use once: not counted
        counter.start()
        started = time.perf_counter()
        found = bench.run_campaign(counter)
        seconds = time.perf_counter() - started
        counter.active = False
    if found["sent"] != holders:
        raise RuntimeError(f"sent {found['sent']} of {holders}")
    return CampaignCost(
        holders=holders,
        calls_per_recipient=counter.total() / holders,
        calls_by_operation={op: n / holders for op, n in sorted(counter.calls.items())},
        seconds=seconds,
    )


def throttle() -> ThrottleFigures:
    with aws_environment("bench-throttle") as resources, wechat_accepting_everything():
        bench = CampaignBench(resources)
        bench.grant_holders(THROTTLE_HOLDERS, "oPace")
        started = time.perf_counter()
        bench.run_campaign(rate_per_minute=THROTTLE_RATE)
        seconds = time.perf_counter() - started
        moments = bench.sent_moments("oPace", THROTTLE_HOLDERS)
    window = timedelta(seconds=60)
    busiest = max(
        sum(1 for later in moments[index:] if later - start < window)
        for index, start in enumerate(moments)
    )
    return ThrottleFigures(THROTTLE_RATE, THROTTLE_HOLDERS, busiest, seconds)
