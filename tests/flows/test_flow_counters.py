"""Counters: named by enums, spread over partition-key shards, summed over every shard by the
routes that read them (GET /v1/stats, a campaign's progress and report)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from chalicelib import bootstrap
from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import Query
from chalicelib.domain.campaigns import CampaignCounter
from chalicelib.domain.statistics import Counter
from tests.flows.test_flow_campaigns import (
    adds_up,
    create,
    grant_all,
    promo_template,
    until_done,
    users,
)
from tests.support.events import drain
from tests.support.tenants import APP_ID, OPENID, TEMPLATE


def today_of(api, message_id: str) -> date:
    created = api.call("GET", f"/v1/messages/{message_id}").json_body["created_at"]
    return date.fromisoformat(created[:10])


def partitions_holding(services, partition_of) -> set[str]:
    """The counter partition keys, over every shard that may hold items, that hold some."""
    table = services.core.store.table
    found = set()
    for shard in range(layout.COUNTER_SHARDS):
        partition = partition_of(shard)
        if list(table.query_all(Query("pk", partition))):
            found.add(partition)
    return found


def totals(api, day: date, campaign_id: str | None = None) -> dict:
    """The counters around ``day`` (UTC), whatever the app's timezone makes of it."""
    first, last = day - timedelta(days=1), day + timedelta(days=1)
    query = f"/v1/stats?from={first}&to={last}"
    query += f"&campaign_id={campaign_id}" if campaign_id else ""
    answer = api.call("GET", query)
    assert answer.status_code == 200, answer.json_body
    return answer.json_body["totals"]


def send_cards(api, client, backend, count: int) -> str:
    for _ in range(count):
        assert api.grant().status_code == 201
    ids = []
    for _ in range(count):
        answer = api.send()
        assert answer.status_code == 201, answer.json_body
        ids.append(answer.json_body["id"])
    drain(client, backend)
    return ids[0]


def test_stats_sum_every_shard_and_the_writes_spread_over_partition_keys(
    api, client, backend, services, wx
):
    api.put_template()
    first = send_cards(api, client, backend, 12)

    found = totals(api, today_of(api, first))
    assert (found["requested"], found["sent"], found["grants_received"]) == (12, 12, 12)
    spread = partitions_holding(services, lambda n: layout.stats_partition(APP_ID, n))
    assert len(spread) > 1  # 36 writes over 16 keys: never one key for all of them


def test_fewer_shards_written_lose_no_counter_written_before(api, client, backend, services, wx):
    api.put_template()
    first = send_cards(api, client, backend, 6)
    bootstrap.services().core.store.counters.shards = 1  # a deploy that writes one shard only
    send_cards(api, client, backend, 4)

    found = totals(api, today_of(api, first))

    assert (found["requested"], found["sent"], found["grants_received"]) == (10, 10, 10)


def test_a_counter_name_that_is_not_a_member_is_refused(services):
    counters, campaigns = services.core.store.counters, services.core.store.campaigns
    for wrong in ({"sent": 1}, {"snet": 1}, {CampaignCounter.SENT: 1}):
        with pytest.raises(ValueError, match="is not a Counter"):
            counters.increment(APP_ID, "2026-11-23", TEMPLATE, wrong)
    for wrong in ({"created": 1}, {Counter.SENT: 1}):
        with pytest.raises(ValueError, match="is not a CampaignCounter"):
            campaigns.count(APP_ID, "cmp_1", "2026-11-23", "_", wrong)
    write = counters.increment(APP_ID, "2026-11-23", TEMPLATE, {Counter.SENT: 2})
    assert dict(write.add) == {"sent": 2}


def test_a_campaigns_counters_spread_over_shards_and_its_books_add_up(
    api, client, backend, services, wx, monkeypatch
):
    promo_template(api, services, monkeypatch)
    holders = users(20, "oShardUser")
    grant_all(api, holders)
    created = create(api)
    assert created.status_code == 201, created.json_body
    campaign_id = created.json_body["id"]

    found = until_done(client, backend, api, campaign_id, None)

    assert found["sent"] == 20 and found["created"] == 20
    adds_up(found)
    day = today_of(
        api, api.call("GET", f"/v1/users/{holders[0]}/messages").json_body["items"][0]["id"]
    )
    counted = totals(api, day, campaign_id)
    assert (counted["requested"], counted["sent"]) == (20, 20)
    spread = partitions_holding(
        services, lambda n: layout.campaign_stats_partition(APP_ID, campaign_id, n)
    )
    assert len(spread) > 1
    assert OPENID not in holders
