"""`submsg report`: an app's statistics, templates and campaigns as one self-contained page."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from chalicelib.api.mappers import campaign_out, stats_out
from chalicelib.api.schemas.stats import StatsOut, Totals
from chalicelib.bootstrap import Services
from chalicelib.domain import clock
from chalicelib.domain.campaign_records import Campaign
from chalicelib.domain.records import App, Template
from chalicelib.domain.statistics import stats_day
from chalicelib.services import campaigns, stats
from cli import target
from cli.errors import OperatorError
from cli.output import notes
from cli.report_campaigns import CampaignLine
from cli.report_page import ReportData, TemplateLine, page
from cli.stats import DEFAULT_DAYS, FromOption, ToOption

MAX_DAYS = 367  # as GET /v1/stats
MAX_CAMPAIGNS = 10  # shown without --campaign, the newest first
LISTING_PAGE = 100


def write(
    ctx: typer.Context,
    app_id: Annotated[str, typer.Argument(help="The mini-program's appid.")],
    from_: FromOption = None,
    to: ToOption = None,
    campaign: Annotated[
        str | None, typer.Option(help="Only this campaign's cards (cmp_…).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the page.")] = Path("report.html"),
) -> None:
    """Write a self-contained HTML report: daily counters, funnel, templates, campaigns."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    first, last = report_days(app, from_, to)
    data = gather(services, app, first, last, campaign)
    try:
        out.write_text(page(data), encoding="utf-8")
    except OSError as error:
        raise OperatorError(f"Cannot write {out}: {error.strerror}.") from error
    notes().print(
        f"Wrote {out}: {first} to {last}, {len(data.templates)} template(s), "
        f"{len(data.campaigns)} campaign(s)."
    )


def report_days(app: App, from_: datetime | None, to: datetime | None) -> tuple[date, date]:
    last = to.date() if to else date.fromisoformat(stats_day(app, clock.now()))
    first = from_.date() if from_ else last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise OperatorError(f"--from {first} is after --to {last}.")
    days = (last - first).days + 1
    if days > MAX_DAYS:
        raise OperatorError(
            f"{first} to {last} is {days} days; a report covers {MAX_DAYS} at most."
        )
    return first, last


def gather(
    services: Services, app: App, first: date, last: date, campaign_id: str | None
) -> ReportData:
    templates = {t.template_id: t for t in services.core.store.catalog.list_templates(app.app_id)}
    if campaign_id is not None:
        campaign = campaigns.get(services.core, app, campaign_id).campaign
        report = _campaign_stats(services, app, campaign, first, last)
        template_lines = [_template_line(campaign.template_id, templates, report.totals)]
        campaign_lines = [_campaign_line(services, campaign, templates, report.totals)]
        more = False
    else:
        items = stats.counted(services.core, app, first, last)  # one read for both
        report = stats_out(first, last, stats.summed_by(items, "day"))
        template_lines = _template_lines(stats.summed_by(items, "template_id"), templates, first)
        campaign_lines, more = _active_campaigns(services, app, first, last, templates)
    return ReportData(
        app_id=app.app_id,
        app_name=app.name,
        timezone=app.timezone,
        generated_at=clock.now().astimezone(ZoneInfo(app.timezone)).strftime("%Y-%m-%d %H:%M"),
        stats=report,
        templates=template_lines,
        campaigns=campaign_lines,
        only_campaign=campaign_id,
        more_campaigns=more,
    )


def totals_of(counts: dict[str, int], day: date) -> Totals:
    """Counters summed over days, with their rates as the API computes them."""
    return stats_out(day, day, {day.isoformat(): counts}).totals


def _template_line(template_id: str, known: dict[str, Template], totals: Totals) -> TemplateLine:
    template = known.get(template_id)
    return TemplateLine(template_id, template.title if template else None, totals)


def _template_lines(
    counted: dict[str, dict[str, int]], known: dict[str, Template], first: date
) -> list[TemplateLine]:
    """Every template of the app, and deleted ones that still counted in the range; the
    busiest first."""
    lines = [
        _template_line(template_id, known, totals_of(counted.get(template_id, {}), first))
        for template_id in sorted(set(known) | set(counted))
    ]
    return sorted(lines, key=lambda line: (-line.totals.requested, -line.totals.sent))


def _campaign_stats(
    services: Services, app: App, campaign: Campaign, first: date, last: date
) -> StatsOut:
    days = stats.per_day_of_campaign(services.core, app, campaign.campaign_id, first, last)
    return stats_out(first, last, days)


def _campaign_line(
    services: Services, campaign: Campaign, known: dict[str, Template], in_range: Totals
) -> CampaignLine:
    template = known.get(campaign.template_id)
    return CampaignLine(
        answer=campaign_out(campaign, campaigns.progress(services.core, campaign)),
        template_title=template.title if template else None,
        confidence=campaign.experiment.confidence if campaign.experiment else None,
        in_range=in_range,
    )


def _active_campaigns(
    services: Services, app: App, first: date, last: date, known: dict[str, Template]
) -> tuple[list[CampaignLine], bool]:
    """The newest campaigns with counters in the range (at most MAX_CAMPAIGNS); whether more
    had some."""
    lines: list[CampaignLine] = []
    cursor: str | None = None
    while True:
        found, cursor = campaigns.list_campaigns(services.core, app, LISTING_PAGE, cursor)
        for campaign in found:
            if date.fromisoformat(stats_day(app, campaign.created_at)) > last:
                continue  # made after the range
            totals = _campaign_stats(services, app, campaign, first, last).totals
            if not _active(totals):
                continue
            if len(lines) == MAX_CAMPAIGNS:
                return lines, True
            lines.append(_campaign_line(services, campaign, known, totals))
        if cursor is None:
            return lines, False


def _active(totals: Totals) -> bool:
    counted = (totals.requested, totals.sent, totals.failed, totals.skipped, totals.unknown)
    return any((*counted, totals.clicked, totals.converted))
