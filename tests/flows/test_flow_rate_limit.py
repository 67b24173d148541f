"""The per-app rate limit: requests a second across containers, 429 with Retry-After."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from chalicelib import bootstrap
from chalicelib.domain import clock
from chalicelib.domain.errors import RateLimited
from chalicelib.services import admin, rate_limit
from chalicelib.services.caches import Entry
from tests.support.tenants import APP_ID, OPENID, TEMPLATE

SECOND = datetime(2026, 11, 23, 2, 0, 0, 250_000, tzinfo=UTC)


@pytest.fixture
def limited(services, api):
    api.put_template()
    admin.update_app(services.core, APP_ID, {"requests_per_second": 2})
    bootstrap.services().core.catalog_cache.forget(Entry.APP, APP_ID)
    return api


def credits(api) -> int:
    items = api.call("GET", f"/v1/users/{OPENID}/subscriptions").json_body["items"]
    return next(i["credits"] for i in items if i["template_id"] == TEMPLATE)


def test_an_app_over_its_requests_per_second_gets_429_with_retry_after(limited):
    with time_machine.travel(SECOND, tick=False) as frozen:
        answers = [limited.call("GET", "/v1/templates") for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        refused = answers[-1]
        assert refused.json_body["error"]["code"] == "rate_limited"
        assert refused.headers["Retry-After"] == "1"
        frozen.shift(1)
        assert limited.call("GET", "/v1/templates").status_code == 200


def test_a_message_refused_by_the_limit_spends_no_credit(limited):
    with time_machine.travel(SECOND, tick=False) as frozen:
        limited.grant()
        limited.grant()
        frozen.shift(1)
        assert limited.send().status_code == 201
        assert limited.send().status_code == 201  # counted in the reservation: no extra write
        refused = limited.send()
        assert refused.status_code == 429
        frozen.shift(1)
        assert credits(limited) == 0  # two sends, two credits; the refused one took none


def test_health_openapi_and_the_callback_are_not_counted(limited, client):
    with time_machine.travel(SECOND, tick=False):
        for _ in range(5):
            assert client.http.get("/v1/health").status_code == 200
            assert client.http.get("/v1/openapi.json").status_code == 200
            client.http.get(f"/v1/wechat/{APP_ID}/callback?signature=x&timestamp=1&nonce=n")
        assert limited.call("GET", "/v1/templates").status_code == 200


def test_the_limit_holds_across_containers(limited, services):
    app = services.core.store.catalog.get_app(APP_ID)
    other_container = bootstrap.build(bootstrap.get_settings())
    with time_machine.travel(SECOND, tick=False):
        rate_limit.charge(services.core, app, clock.now())
        rate_limit.charge(other_container.core, app, clock.now())
        with pytest.raises(RateLimited):
            rate_limit.charge(other_container.core, app, clock.now())


def limit_of(services, api, per_second: int) -> None:
    admin.update_app(services.core, APP_ID, {"requests_per_second": per_second})
    bootstrap.services().core.catalog_cache.forget(Entry.APP, APP_ID)


def test_a_limit_spread_over_shards_admits_exactly_the_limit_a_second(api, services):
    api.put_template()
    limit_of(services, api, 45)  # 32 shards of 1 or 2: random picks meet full shards
    with time_machine.travel(SECOND, tick=False) as frozen:
        answers = [api.call("GET", "/v1/templates").status_code for _ in range(50)]
        assert answers.count(200) == 45
        assert answers[45:] == [429] * 5
        frozen.shift(1)
        assert api.call("GET", "/v1/templates").status_code == 200


def test_sends_counted_in_their_reservations_admit_exactly_the_limit(api, services):
    api.put_template()
    with time_machine.travel(SECOND, tick=False) as frozen:
        for _ in range(8):
            api.grant()
        frozen.shift(1)
        limit_of(services, api, 6)  # six shards of one: most sends find their shard taken
        answers = [api.send().status_code for _ in range(8)]
        assert answers == [201] * 6 + [429] * 2
        frozen.shift(1)
        assert credits(api) == 2  # the refused sends took no credit
        messages = api.call("GET", f"/v1/users/{OPENID}/messages").json_body["items"]
        assert len(messages) == 6
