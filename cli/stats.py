"""`submsg stats`: an app's daily counters and rates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.table import Column, Table
from rich.text import Text

from chalicelib.api.mappers import stats_out
from chalicelib.api.schemas.stats import Counts, StatsOut, StatsQuery
from chalicelib.domain import clock
from chalicelib.domain.statistics import stats_day
from chalicelib.services import stats
from cli import target
from cli.output import fits, results
from cli.sparkline import averages, run_length, sparkline

DEFAULT_DAYS = 7
DAY_FORMATS = ["%Y-%m-%d"]
COLUMNS = list(Counts.model_fields)
# Counter -> header. Together, the grant counters' headers take two short lines each.
GRANT_HEADERS = {name: name.removeprefix("grants_") for name in COLUMNS if "grants_" in name}
MESSAGE_HEADERS = {name: name for name in COLUMNS if name not in GRANT_HEADERS}
ALL_HEADERS = {**MESSAGE_HEADERS, **{n: f"grants\n{h}" for n, h in GRANT_HEADERS.items()}}
# Narrow terminals: short headers for the long words, spelled out in the caption.
SHORT = {"requested": "req", "skipped": "skip", "unknown": "unkn", "converted": "conv"}
SHORT_HEADERS = {name: SHORT.get(name, name) for name in MESSAGE_HEADERS}
LEGEND = ", ".join(f"{short} = {name}" for name, short in SHORT.items())
# Marks of a trend line: with the metric and total columns, a trend table fits 80 columns.
TREND_MARKS = 40


FromOption = Annotated[
    datetime | None,
    typer.Option("--from", formats=DAY_FORMATS, help="First day (default: 6 days before --to)."),
]
ToOption = Annotated[
    datetime | None,
    typer.Option(formats=DAY_FORMATS, help="Last day (default: today in the app's timezone)."),
]


def show(
    ctx: typer.Context,
    app_id: Annotated[str, typer.Argument(help="The mini-program's appid.")],
    from_: FromOption = None,
    to: ToOption = None,
    template: Annotated[str | None, typer.Option(help="Only this template id.")] = None,
) -> None:
    """Daily counters of an app, in the app's timezone."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    last = to.date() if to else date.fromisoformat(stats_day(app, clock.now()))
    first = from_.date() if from_ else last - timedelta(days=DEFAULT_DAYS - 1)
    query = StatsQuery.model_validate({"from": first, "to": last, "template_id": template})
    console = results()
    days = stats.per_day(services.core, app, query.from_, query.to, query.template_id)
    report = stats_out(query.from_, query.to, days)
    console.print(*stats_tables(report, console), trend(report))


def stats_tables(report: StatsOut, console: Console) -> list[Table]:
    """One table of every counter if it fits ``console``; else messages and grants apart."""
    whole = counts_table(report, ALL_HEADERS)
    whole.caption = rates(report)
    if fits(console, whole):
        return [whole]
    messages = counts_table(report, MESSAGE_HEADERS, title="Messages")
    if not fits(console, messages):
        messages = counts_table(report, SHORT_HEADERS, title="Messages")
        messages.caption = f"{LEGEND}\n{rates(report)}"
    else:
        messages.caption = rates(report)
    return [messages, counts_table(report, GRANT_HEADERS, title="Grants")]


def counts_table(report: StatsOut, headers: dict[str, str], title: str | None = None) -> Table:
    table = Table(
        Column("Date", no_wrap=True),
        *(Column(header, justify="right", overflow="fold") for header in headers.values()),
        title=title,
        title_justify="left",
    )
    for day in report.days:
        table.add_row(day.date, *(str(getattr(day, name)) for name in headers))
    table.add_section()
    table.add_row("Total", *(str(getattr(report.totals, name)) for name in headers))
    return table


def trend(report: StatsOut) -> Group:
    """Each counter's sparkline over the days, and its total, under a line saying what a mark
    stands for (a line of its own: a table's title would wrap at the table's width)."""
    size = run_length(len(report.days), TREND_MARKS)
    every = "one mark a day" if size == 1 else f"one mark per {size} days (their average)"
    table = Table(
        Column("Metric", no_wrap=True),
        Column("Trend", no_wrap=True, style="cyan"),
        Column("Total", justify="right", no_wrap=True),
    )
    for name in COLUMNS:
        marks = averages([getattr(day, name) for day in report.days], size)
        table.add_row(name, sparkline(marks), str(getattr(report.totals, name)))
    return Group(Text(f"Trend, {report.from_} to {report.to}, {every}", style="italic"), table)


def rates(report: StatsOut) -> str:
    totals = report.totals
    return (
        f"delivery {_rate(totals.delivery_rate)} · clicks {_rate(totals.click_rate)} · "
        f"conversions {_rate(totals.conversion_rate)}"
    )


def _rate(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"
