"""What `make run` prints once the stack is up: endpoints, the demo key and curl lines to try."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from local.demo import CLASS_STARTS, DEMO_OPENID, DEMO_TEMPLATES, ORDER_SHIPPED
from local.stack import Endpoints

JSON_HEADER = "-H 'Content-Type: application/json'"
AUTH_HEADER = '-H "Authorization: Bearer $SUBMSG_KEY"'

# GNU date's -d is not on macOS: the time comes from Python, which the stack needs anyway.
SEND_AT_IN_30_S = (
    "SEND_AT=$(python3 -c 'import datetime as d; "
    'print(f"{d.datetime.now(d.timezone.utc) + d.timedelta(seconds=30):%Y-%m-%dT%H:%M:%SZ}")'
    "')"
)


def _json(payload: object) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def curl_lines(endpoints: Endpoints) -> list[str]:
    """Shell lines (bash) that walk through the demo; comments say what each one does."""
    accept_all = {template.template_id: "accept" for template in DEMO_TEMPLATES}
    tap = {"appid": endpoints.app_id, "openid": DEMO_OPENID, "results": accept_all}
    send_now = {
        "openid": DEMO_OPENID,
        "template_id": ORDER_SHIPPED.template_id,
        "data": ORDER_SHIPPED.example,
        "page": "pages/order/detail?id=1",
    }
    reminder = {
        "openid": DEMO_OPENID,
        "template_id": CLASS_STARTS.template_id,
        "data": CLASS_STARTS.example,
        "send_at": "SEND_AT",
    }
    # The quotes close around $SEND_AT so that the shell fills it in.
    reminder_body = _json(reminder).replace('"SEND_AT"', '"\'"$SEND_AT"\'"')
    lines = [
        f"export API={endpoints.api} SUBMSG_KEY={endpoints.api_key}",
        "curl -s $API/v1/health",
    ]
    if endpoints.sandbox is not None:
        lines += [
            "# the user taps 'allow' for both templates in the mini-program (sandbox)",
            f"curl -s -X POST {endpoints.sandbox}/sandbox/subscribe {JSON_HEADER} "
            f"-d '{_json(tap)}'",
        ]
    lines += [
        "# the mini-program's backend reports that tap to submsg",
        f"curl -s -X POST $API/v1/grants {AUTH_HEADER} {JSON_HEADER} "
        f"-d '{_json({'openid': DEMO_OPENID, 'results': accept_all})}'",
        "# send a card now",
        f"curl -s -X POST $API/v1/messages {AUTH_HEADER} {JSON_HEADER} -d '{_json(send_now)}'",
        "# schedule a reminder 30 s ahead (the same on macOS and Linux)",
        SEND_AT_IN_30_S,
        f"curl -s -X POST $API/v1/messages {AUTH_HEADER} {JSON_HEADER} -d '{reminder_body}'",
        "# read them back (or GET $API/v1/messages/<id> with an id from above)",
        f'curl -s {AUTH_HEADER} "$API/v1/users/{DEMO_OPENID}/messages"',
    ]
    return lines


def print_banner(console: Console, endpoints: Endpoints) -> None:
    table = Table(title="submsg local stack", show_header=False, title_justify="left")
    table.add_row("API", endpoints.api)
    table.add_row("AWS endpoint", endpoints.aws)
    table.add_row("WeChat API", endpoints.wechat)
    if endpoints.sandbox is not None:
        table.add_row("Sandbox page (cards arrive here)", f"{endpoints.sandbox}/")
    table.add_row("Demo app", endpoints.app_id)
    table.add_row("Demo API key", endpoints.api_key)
    console.print(table)
    for line in curl_lines(endpoints):
        style = "dim" if line.startswith("#") else None
        console.print(line, style=style, markup=False, highlight=False, soft_wrap=True)
    console.print("Ctrl-C stops everything.", style="bold")
