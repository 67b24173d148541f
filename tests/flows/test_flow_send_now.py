"""Send-now messages end to end through the HTTP API, SQS and the sender (moto + responses)."""

from __future__ import annotations

from tests.support.events import drain
from tests.support.tenants import OPENID, TEMPLATE


def test_an_accepted_grant_buys_exactly_one_card(api, wx, backend, client):
    assert api.put_template().status_code == 201
    assert api.grant().json_body["credits"] == {TEMPLATE: 1}

    created = api.send()
    assert created.status_code == 201, created.json_body
    assert created.json_body["status"] == "queued"

    assert drain(client, backend) == 1
    message = api.call("GET", f"/v1/messages/{created.json_body['id']}").json_body
    assert message["status"] == "sent"
    assert message["result"]["msgid"] == 1001
    assert wx.sent[0]["touser"] == OPENID
    assert wx.sent[0]["data"] == {
        "thing1": {"value": "Blue mug"},
        "character_string2": {"value": "SO-2026-0001"},
    }
    assert wx.sent[0]["page"] == f"pages/order/detail?id=1&submsg_id={created.json_body['id']}"

    second = api.send()
    assert second.status_code == 409
    assert second.json_body["error"]["code"] == "no_grant"
