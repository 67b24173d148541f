"""The report's campaigns: each one's progress, its variants' rates and its experiment."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from chalicelib.api.schemas.campaigns import CampaignOut, ExperimentOut, VariantOut
from chalicelib.api.schemas.stats import Totals
from cli.report_bars import Tally, progress_bar, rate_cell
from cli.report_charts import COLOURS, number

METHODS = {"two_proportion_z": "two-proportion z-test", "chi_squared": "Pearson's chi-squared"}
METRICS = {"click_rate": "click rate", "conversion_rate": "conversion rate"}
REASONS = {
    "significant": "The difference is significant: the best {metric} won.",
    "not_significant_best": "Not significant; the best {metric} was kept (fallback: best).",
    "not_significant_first": "Not significant; the first variant was kept (fallback: first).",
    "not_significant_stopped": "Not significant; the rest of the audience got nothing "
    "(fallback: stop).",
    "no_data": "No card of the test had an answer to compare.",
}


@dataclass(frozen=True)
class CampaignLine:
    answer: CampaignOut
    template_title: str | None  # None: the template was deleted since
    confidence: float | None  # the experiment's, if any
    in_range: Totals  # the campaign's own counters over the report's days


def campaigns_section(
    lines: Sequence[CampaignLine], more: bool, only_campaign: str | None, zone: str
) -> str:
    """Each campaign's card; moments shown in ``zone`` (the app's timezone)."""
    if not lines:
        body = (
            '<div class="card"><p class="empty">No campaign had activity in this range.</p></div>'
        )
    else:
        body = "".join(_campaign(line, ZoneInfo(zone)) for line in lines)
    heading = "Campaign" if only_campaign else "Campaigns with activity in this range"
    note = (
        f'<p class="small">Only the {len(lines)} newest are shown; '
        "<code>--campaign ID</code> reports on another.</p>"
        if more
        else ""
    )
    return f'<section class="campaigns"><h2>{heading}</h2>{note}{body}</section>'


def _campaign(line: CampaignLine, zone: ZoneInfo) -> str:
    answer = line.answer
    template = (
        escape(line.template_title) if line.template_title is not None else "deleted template"
    )
    in_range = line.in_range
    return (
        f'<article class="card campaign"><div class="head"><h3>{escape(answer.name)}</h3>'
        f'<span class="badge {escape(answer.status.value)}">{escape(answer.status.value)}</span>'
        f'</div><p class="sub"><code>{escape(answer.id)}</code> · template <b>{template}</b> '
        f"<code>{escape(answer.template_id)}</code></p>"
        f'<p class="sub">started {_moment(answer.started_at, zone)} · completed '
        f"{_moment(answer.completed_at, zone)}</p>"
        + _progress(answer)
        + f'<p class="small">In this range: {number(in_range.requested)} requested, '
        f"{number(in_range.sent)} sent, {number(in_range.clicked)} clicked, "
        f"{number(in_range.converted)} converted. Below: the whole campaign.</p>"
        + _variants(answer)
        + _experiment(answer.experiment, line.confidence, zone)
        + "</article>"
    )


def _moment(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return "–"
    return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _progress(answer: CampaignOut) -> str:
    skipped = sum(answer.skipped.model_dump().values())
    finished = answer.sent + answer.failed + skipped + answer.canceled
    parts = [
        Tally("sent", "Sent", answer.sent),
        Tally("failed", "Failed", answer.failed),
        Tally("skipped", "Skipped", skipped),
        Tally("canceled", "Canceled", answer.canceled),
        Tally("in_flight", "Sending", max(0, answer.audience_size - answer.pending - finished)),
        Tally("pending", "Pending", answer.pending),
    ]
    legend = "".join(
        f'<span><i style="background:{COLOURS[p.counter]}"></i>{p.label} <b>{number(p.count)}</b>'
        "</span>"
        for p in parts
        if p.count or p.counter == "sent"
    )
    bar = progress_bar(f"Audience of {number(answer.audience_size)} by outcome", parts)
    return (
        f'<div class="audience"><span class="big">{number(answer.audience_size)}</span> '
        f"in the audience · {number(answer.clicked)} clicked · "
        f"{number(answer.converted)} converted</div>{bar}"
        f'<div class="legend">{legend}</div>'
    )


def _variants(answer: CampaignOut) -> str:
    if not answer.variants:
        return ""
    winner = answer.experiment.winner if answer.experiment else None
    rows = "".join(_variant_row(variant, variant.name == winner) for variant in answer.variants)
    head = (
        "<tr><th>Variant</th><th>Weight</th><th>Assigned</th><th>Sent</th><th>Clicked</th>"
        '<th>Click rate<span class="how">clicked ÷ sent</span></th><th>Converted</th>'
        '<th>Conversion<span class="how">converted ÷ clicked</span></th></tr>'
    )
    return f'<table class="numbers variants"><thead>{head}</thead><tbody>{rows}</tbody></table>'


def _variant_row(variant: VariantOut, won: bool) -> str:
    badge = ' <span class="badge won">winner</span>' if won else ""
    return (
        f'<tr class="{"winner" if won else ""}"><td class="name"><b>{escape(variant.name)}</b>'
        f"{badge}</td><td>{variant.weight}%</td><td>{number(variant.assigned)}</td>"
        f"<td>{number(variant.sent)}</td><td>{number(variant.clicked)}</td>"
        + rate_cell(variant.click_rate, "clicked")
        + f"<td>{number(variant.converted)}</td>"
        + rate_cell(variant.conversion_rate, "converted")
        + "</tr>"
    )


def p_value_text(p_value: float | None) -> str:
    """Decimals an operator compares with the threshold at a glance (0.00037, not 3.7e-04)."""
    if p_value is None:
        return "–"
    if p_value < 0.000001:
        return "< 0.000001"
    if p_value < 0.001:
        return f"{p_value:.{1 - math.floor(math.log10(p_value))}f}"  # two significant digits
    return f"{p_value:.4f}"


def _experiment(experiment: ExperimentOut | None, confidence: float | None, zone: ZoneInfo) -> str:
    if experiment is None:
        return ""
    metric = METRICS.get(experiment.metric, experiment.metric)
    tested = f"Experiment on the {metric}, {experiment.test_percent}% of the audience tested"
    if experiment.phase != "decided":
        waiting = f"{tested}: {experiment.phase}, no decision yet."
        return f'<div class="experiment"><p>{escape(waiting)}</p></div>'
    reason = REASONS.get(experiment.reason or "", experiment.reason or "").format(metric=metric)
    threshold = (
        f" <small>significant below {1 - confidence:.2g}</small>" if confidence is not None else ""
    )
    facts = [
        ("Winner", escape(experiment.winner or "none")),
        ("p-value", f"{p_value_text(experiment.p_value)}{threshold}"),
        ("Test", escape(METHODS.get(experiment.method or "", experiment.method or "–"))),
        ("Decided", _moment(experiment.decided_at, zone)),
    ]
    cells = "".join(f"<div><span>{name}</span><b>{value}</b></div>" for name, value in facts)
    return (
        f'<div class="experiment"><p>{escape(tested)}. The test compared the test group\'s '
        "cards; the rates above count every card of the campaign.</p>"
        f'<div class="facts">{cells}</div>'
        f"<p>{escape(reason)} <code>{escape(experiment.reason or '')}</code></p></div>"
    )
