"""The report as one self-contained HTML page: data in, text out (no I/O, no clock).

Nothing on the page comes from elsewhere: the style is inline, the charts are inline SVG, the
fonts are the system's, and there is no script. Every text from the data is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from chalicelib.api.schemas.stats import StatsOut, Totals
from chalicelib.domain.statistics import ratio
from cli.report_bars import Tally, funnel_chart, rate_cell
from cli.report_campaigns import CampaignLine, campaigns_section
from cli.report_charts import COLOURS, Series, daily_chart, number, percent
from cli.report_style import STYLE


@dataclass(frozen=True)
class TemplateLine:
    template_id: str
    title: str | None  # None: the template was deleted since
    totals: Totals


@dataclass(frozen=True)
class ReportData:
    app_id: str
    app_name: str
    timezone: str
    generated_at: str
    stats: StatsOut
    templates: Sequence[TemplateLine]
    campaigns: Sequence[CampaignLine]
    only_campaign: str | None = None  # --campaign: every number counts that campaign's cards
    more_campaigns: bool = False  # more campaigns had activity than the page shows


def page(data: ReportData) -> str:
    title = f"submsg report · {data.app_name} · {data.stats.from_} to {data.stats.to}"
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>"
        + _header(data)
        + _tiles(data.stats.totals)
        + _daily(data.stats)
        + _funnel(data.stats.totals)
        + _templates(data.templates)
        + campaigns_section(data.campaigns, data.more_campaigns, data.only_campaign, data.timezone)
        + _footer(data)
        + "</main></body></html>"
    )


def _header(data: ReportData) -> str:
    days = len(data.stats.days)
    scope = (
        f" · only campaign <code>{escape(data.only_campaign)}</code>" if data.only_campaign else ""
    )
    return (
        '<header><div><p class="eyebrow">submsg report</p>'
        f"<h1>{escape(data.app_name)}</h1>"
        f'<p class="sub"><code>{escape(data.app_id)}</code>{scope}</p></div>'
        f'<div class="range"><strong>{escape(data.stats.from_)} to {escape(data.stats.to)}</strong>'
        f"<span>{days} day{'s' if days != 1 else ''} · {escape(data.timezone)}</span>"
        "</div></header>"
    )


def _tiles(totals: Totals) -> str:
    tiles = [
        ("Requested", number(totals.requested), "cards asked for"),
        (
            "Sent",
            number(totals.sent),
            f"{percent(ratio(totals.sent, totals.requested))} of requested"
            if totals.requested
            else "none requested",
        ),
        ("Delivery rate", percent(totals.delivery_rate), f"{number(totals.failed)} failed"),
        ("Click rate", percent(totals.click_rate), f"{number(totals.clicked)} clicks of sent"),
        (
            "Conversion rate",
            percent(totals.conversion_rate),
            f"{number(totals.converted)} conversions of clicks",
        ),
    ]
    return (
        '<section class="tiles">'
        + "".join(
            f'<div class="tile"><div class="label">{label}</div><div class="value">{value}</div>'
            f'<div class="note">{note}</div></div>'
            for label, value, note in tiles
        )
        + "</section>"
    )


def _legend(series: Sequence[Series]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{COLOURS[s.counter]}"></i>{escape(s.label)} '
            f"<b>{number(sum(s.values))}</b></span>"
            for s in series
        )
        + "</div>"
    )


def _daily(stats: StatsOut) -> str:
    dates = [day.date for day in stats.days]

    def series(counter: str, label: str) -> Series:
        return Series(counter, label, [getattr(day, counter) for day in stats.days])

    delivery = [
        series("requested", "Requested"),
        series("sent", "Sent"),
        series("failed", "Failed"),
    ]
    engagement = [series("clicked", "Clicked"), series("converted", "Converted")]
    totals = stats.totals
    return (
        '<section class="pair">'
        + _daily_card(
            "Sends per day",
            delivery,
            dates,
            "No sends in this range.",
            f"Also: {number(totals.skipped)} skipped, {number(totals.unknown)} with no answer "
            "from WeChat.",
        )
        + _daily_card(
            "Clicks and conversions per day",
            engagement,
            dates,
            "No clicks in this range.",
            f"Grants: {number(totals.grants_received)} received, "
            f"{number(totals.grants_expired)} expired.",
        )
        + "</section>"
    )


def _daily_card(
    title: str, series: Sequence[Series], dates: Sequence[str], empty: str, note: str
) -> str:
    drawn = any(any(s.values) for s in series)
    body = (
        _legend(series) + daily_chart(title, dates, series)
        if drawn
        else f'<p class="empty">{escape(empty)}</p>'
    )
    return f'<div class="card"><h2>{escape(title)}</h2>{body}<p class="small">{note}</p></div>'


def _funnel(totals: Totals) -> str:
    stages = [
        Tally("requested", "Requested", totals.requested),
        Tally("sent", "Sent", totals.sent),
        Tally("clicked", "Clicked", totals.clicked),
        Tally("converted", "Converted", totals.converted),
    ]
    body = (
        funnel_chart(stages)
        if any(stage.count for stage in stages)
        else '<p class="empty">No sends in this range.</p>'
    )
    return f'<section class="card"><h2>Funnel</h2>{body}</section>'


def _templates(lines: Sequence[TemplateLine]) -> str:
    if not lines:
        return (
            '<section class="card"><h2>Templates</h2><p class="empty">No templates.</p></section>'
        )
    head = (
        "<tr><th>Template</th><th>Requested</th><th>Sent</th><th>Failed</th>"
        '<th>Delivery<span class="how">sent ÷ (sent + failed)</span></th>'
        '<th>Click rate<span class="how">clicked ÷ sent</span></th>'
        '<th>Conversion<span class="how">converted ÷ clicked</span></th></tr>'
    )
    rows = "".join(_template_row(line) for line in lines)
    return (
        '<section class="card"><h2>Templates</h2>'
        f'<table class="numbers"><thead>{head}</thead><tbody>{rows}</tbody></table></section>'
    )


def _template_row(line: TemplateLine) -> str:
    totals = line.totals
    title = escape(line.title) if line.title is not None else '<span class="gone">deleted</span>'
    return (
        f'<tr><td class="name"><b>{title}</b><code>{escape(line.template_id)}</code></td>'
        f"<td>{number(totals.requested)}</td><td>{number(totals.sent)}</td>"
        f"<td>{number(totals.failed)}</td>"
        + rate_cell(totals.delivery_rate, "sent")
        + rate_cell(totals.click_rate, "clicked")
        + rate_cell(totals.conversion_rate, "converted")
        + "</tr>"
    )


def _footer(data: ReportData) -> str:
    return (
        "<footer>Counters are kept per day of the app's timezone "
        f"({escape(data.timezone)}); times are shown in it too. Generated by "
        f"<code>submsg report</code> at {escape(data.generated_at)}.</footer>"
    )
