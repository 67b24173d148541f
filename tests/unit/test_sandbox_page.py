"""The sandbox's page: cards, subscriptions and pushes, rendered from what the routes answer."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from local.sandbox import page, templates
from local.sandbox.templates import SandboxTemplate

APPID = "wx0000000000000001"
SHIPPED = SandboxTemplate(
    "tmpl-shipped", "订单发货通知", "商品名称:{{thing1.DATA}}\n发货时间:{{time2.DATA}}", "one_time"
)
RECEIVED_AT = datetime(2026, 11, 22, 16, 30, 5, 250_000, tzinfo=UTC).timestamp()


def card(**fields: object) -> dict[str, object]:
    return {
        "received_at": RECEIVED_AT,
        "appid": APPID,
        "touser": "o-user-0001",
        "template_id": SHIPPED.template_id,
        "page": "pages/order/index?id=1",
        "data": {"time2": {"value": "15:01"}, "thing1": {"value": "机械键盘"}},
        "miniprogram_state": "trial",
        "lang": "zh_CN",
        "msgid": 3000000000000000001,
        **fields,
    }


def render(cards: list, ledger: list | None = None, pushes: list | None = None) -> str:
    known = {(APPID, SHIPPED.template_id): templates.wechat_shape(SHIPPED)}
    return page.render(cards, ledger or [], pushes or [], known)


def test_each_card_shows_its_title_keywords_in_template_order_and_zoned_times() -> None:
    html = render([card()])

    assert "订单发货通知" in html
    assert re.search("<dt>商品名称 .*?thing1.*?</dt><dd>机械键盘</dd><dt>发货时间 ", html)
    for shown in ("pages/order/index?id=1", "o-user-0001", "3000000000000000001", "trial, zh_CN"):
        assert shown in html
    assert '<time datetime="2026-11-22T16:30:05.250Z">2026-11-22T16:30:05.250Z</time>' in html
    shanghai = datetime.fromtimestamp(RECEIVED_AT, ZoneInfo("Asia/Shanghai"))
    assert f"{shanghai:%Y-%m-%d %H:%M:%S} Asia/Shanghai (UTC+08:00)" in html
    assert "None" not in html


def test_cards_are_newest_first_escaped_wrapped_and_a_missing_value_is_a_dash() -> None:
    first = card(data={"thing1": {"value": "<script>x</script>"}}, page=None)
    second = card(data={"thing1": {"value": "第二个包裹"}, "thing9": {"value": "extra"}})

    html = render([first, second, card(template_id="tmpl-gone")])

    assert "<script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert html.index("unknown template") < html.index("第二个包裹") < html.index("&lt;script&gt;")
    assert "<dt>page</dt><dd>—</dd>" in html
    assert re.search("<dt>发货时间 .*?</dt><dd>—</dd>", html)  # not sent: a dash, never None
    assert re.search("<dt>thing9 .*?</dt><dd>extra</dd>", html)  # sent, not in the template
    assert "Cards received (3)" in html
    assert "None" not in html
    assert re.search(r"body\{[^}]*max-width:\d+px", html)  # long values wrap within the width
    assert "word-break:break-word" in html and "overflow-wrap:anywhere" in html


def test_subscriptions_and_pushes_are_listed_with_their_answers_escaped() -> None:
    ledger = [
        {"appid": APPID, "openid": "o-user-0001", "template_id": SHIPPED.template_id}
        | {"one_time_credits": 2, "long_term_active": False}
    ]
    attempts = [{"at": 1.0, "status": 500, "answer": "<b>busy</b>"}]
    attempts += [{"at": 2.0, "status": None, "answer": "ReadTimeout"}]
    push = {"push_id": 2, "repeat_of": 1, "event": "subscribe_msg_popup_event", "appid": APPID}
    push |= {"openid": "o-user-0001", "mode": "aes", "format": "json", "state": "failed"}
    push |= {"payload": "<xml/>", "attempts": attempts}

    html = render([], ledger, [push])

    assert "<td>订单发货通知\ntmpl-shipped</td><td>2</td><td>no</td>" in html
    assert "<td>2 (repeats 1)</td><td>subscribe_msg_popup_event</td>" in html
    assert "<td>500 &lt;b&gt;busy&lt;/b&gt;\n- ReadTimeout</td>" in html
    assert "<b>busy</b>" not in html and "&lt;xml/&gt;" in html
    assert "<td>aes json</td><td>failed</td>" in html
