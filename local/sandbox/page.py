"""The sandbox's HTML page: each card received, newest first, with its template's title and
keyword names; the subscriptions; the pushes to callbacks and their answers."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import cast
from zoneinfo import ZoneInfo

from local.sandbox.base import Json
from local.sandbox.templates import keyword_names

PAGE_ZONE = "Asia/Shanghai"  # WeChat's users read cards in China time
ABSENT = "—"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:0 auto;padding:16px 24px;max-width:1200px;
color:#1f2328;background:#f6f8fa;overflow-wrap:anywhere;word-break:break-word}
h1{font-size:1.3em;margin:24px 0 8px}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;min-width:0}
.card h2{font-size:1.1em;margin:0 0 8px}
.card .template-id{font-size:.8em;color:#57606a;font-weight:normal}
dl{display:grid;grid-template-columns:fit-content(45%) minmax(0,1fr);gap:2px 12px;
margin:0}
dt{color:#57606a}
dd{margin:0;white-space:pre-wrap}
.keywords{padding-bottom:8px;margin-bottom:8px;border-bottom:1px solid #eaeef2}
.keywords dd{font-weight:600}
.key{color:#8c959f;font-size:.8em}
.meta{font-size:.85em}
table{border-collapse:collapse;width:100%;table-layout:fixed;background:#fff}
td,th{border:1px solid #d0d7de;padding:4px;white-space:pre-wrap;vertical-align:top;
text-align:left;overflow-wrap:anywhere;word-break:break-word}
"""


def _text(value: object) -> str:
    """Escaped text of a value; a missing one is a dash, never ``None``."""
    return ABSENT if value is None or value == "" else html.escape(str(value))


def _cells(values: Sequence[object]) -> str:
    return "<tr>" + "".join(f"<td>{_text(value)}</td>" for value in values) + "</tr>"


def _moment(epoch_s: float) -> str:
    """When a card arrived: UTC (ISO 8601, Z), then the time in PAGE_ZONE."""
    utc = datetime.fromtimestamp(epoch_s, UTC)
    local = utc.astimezone(ZoneInfo(PAGE_ZONE))
    iso = utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    offset = local.strftime("%z")
    return (
        f'<time datetime="{iso}">{iso}</time> (UTC)<br>'
        f"{local:%Y-%m-%d %H:%M:%S} {PAGE_ZONE} (UTC{offset[:3]}:{offset[3:]})"
    )


def _definitions(pairs: Sequence[tuple[str, str]]) -> str:
    """<dt>/<dd> pairs; values are HTML already."""
    return "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in pairs)


def _card(card: Json, template: Json | None) -> str:
    """The template's keywords in order, then any others sent."""
    title = _text(template["title"]) if template else "unknown template"
    names = keyword_names(str(template["content"])) if template else {}
    data = card.get("data") if isinstance(card.get("data"), dict) else {}
    values = cast(dict[str, object], data)
    keys = [*names, *(key for key in values if key not in names)]
    entries = {key: values.get(key) for key in keys}
    keywords = _definitions(
        [
            (
                f'{_text(names.get(key, key))} <span class="key">{_text(key)}</span>',
                _text(entry.get("value") if isinstance(entry, dict) else None),
            )
            for key, entry in entries.items()
        ]
    )
    meta = _definitions(
        [
            ("page", _text(card.get("page"))),
            ("openid", _text(card.get("touser"))),
            ("received", _moment(cast(float, card["received_at"]))),
            ("msgid", _text(card.get("msgid"))),
            ("appid", _text(card.get("appid"))),
            ("state, lang", f"{_text(card.get('miniprogram_state'))}, {_text(card.get('lang'))}"),
        ]
    )
    return f"""<article class="card">
<h2>{title} <span class="template-id">{_text(card.get("template_id"))}</span></h2>
<dl class="keywords">{keywords}</dl>
<dl class="meta">{meta}</dl>
</article>
"""


def _ledger_row(entry: Json, template: Json | None) -> str:
    template_id = entry["template_id"]
    template_text = f"{template['title']}\n{template_id}" if template else template_id
    active = "yes" if entry["long_term_active"] else "no"
    return _cells(
        [entry["appid"], entry["openid"], template_text, entry["one_time_credits"], active]
    )


def _push_row(record: Json) -> str:
    attempts = cast(list[Json], record["attempts"])
    answers = "\n".join(f"{a['status'] or '-'} {a['answer']}" for a in attempts)
    repeat = f" (repeats {record['repeat_of']})" if record["repeat_of"] else ""
    cells = [f"{record['push_id']}{repeat}", record["event"], record["appid"], record["openid"]]
    cells += [f"{record['mode']} {record['format']}", record["state"], answers, record["payload"]]
    return "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in cells) + "</tr>"


def _webhook_row(record: Json) -> str:
    payload = record.get("payload")
    data = payload.get("data") if isinstance(payload, dict) else None
    subject = data.get("id") or data.get("endpoint_id") if isinstance(data, dict) else None
    status = data.get("status") if isinstance(data, dict) else None
    cells = [
        record.get("webhook_id"),
        record.get("type"),
        subject,
        status,
        record.get("verified"),
        record.get("signatures"),
        record.get("answered"),
    ]
    moment = _moment(cast(float, record["received_at"]))
    return "<tr>" + f"<td>{moment}</td>" + "".join(f"<td>{_text(c)}</td>" for c in cells) + "</tr>"


def render(
    cards: Sequence[Json],
    ledger: Sequence[Json],
    pushes: Sequence[Json],
    templates: dict[tuple[str, str], Json],
    webhooks: Sequence[Json] = (),
) -> str:
    """``templates``: gettemplate's entries by (appid, template id), for titles and names."""

    def template_of(item: Json) -> Json | None:
        return templates.get((str(item.get("appid")), str(item.get("template_id"))))

    card_list = "".join(_card(card, template_of(card)) for card in reversed(cards))
    ledger_rows = "".join(_ledger_row(entry, template_of(entry)) for entry in ledger)
    push_rows = "".join(_push_row(record) for record in reversed(pushes))
    webhook_rows = "".join(_webhook_row(record) for record in reversed(webhooks))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="3">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>WeChat sandbox</title>
<style>{_STYLE}</style></head><body>
<h1>Cards received ({len(cards)}), newest first</h1>
<div class="cards">{card_list}</div>
<h1>Subscriptions</h1>
<table><tr><th>appid</th><th>openid</th><th>template</th><th>one-time credits</th>
<th>long-term active</th></tr>{ledger_rows}</table>
<h1>Pushes to callbacks ({len(pushes)}), newest first</h1>
<table><tr><th>push</th><th>event</th><th>appid</th><th>openid</th><th>mode</th><th>state</th>
<th>answers</th><th>payload</th></tr>{push_rows}</table>
<h1>Webhooks received ({len(webhooks)}), newest first</h1>
<table><tr><th>received</th><th>webhook-id</th><th>type</th><th>message or endpoint</th>
<th>status</th><th>signature</th><th>signatures</th><th>answered</th></tr>{webhook_rows}</table>
</body></html>
"""
