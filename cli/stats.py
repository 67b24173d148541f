"""`submsg stats`: an app's daily counters and rates."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import typer
from rich.table import Table

from chalicelib import clock, stats
from chalicelib.schemas import Counts, StatsOut, StatsQuery
from cli import target
from cli.output import results

DEFAULT_DAYS = 7
DAY_FORMATS = ["%Y-%m-%d"]
COLUMNS = list(Counts.model_fields)


def show(
    ctx: typer.Context,
    app_id: Annotated[str, typer.Argument(help="The mini-program's appid.")],
    from_: Annotated[
        datetime | None,
        typer.Option(
            "--from", formats=DAY_FORMATS, help="First day (default: 6 days before --to)."
        ),
    ] = None,
    to: Annotated[
        datetime | None,
        typer.Option(formats=DAY_FORMATS, help="Last day (default: today in the app's timezone)."),
    ] = None,
    template: Annotated[str | None, typer.Option(help="Only this template id.")] = None,
) -> None:
    """Daily counters of an app, in the app's timezone."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    last = to.date() if to else date.fromisoformat(stats.stats_day(app, clock.now()))
    first = from_.date() if from_ else last - timedelta(days=DEFAULT_DAYS - 1)
    query = StatsQuery.model_validate({"from": first, "to": last, "template_id": template})
    results().print(stats_table(stats.report(services, app, query)))


def stats_table(report: StatsOut) -> Table:
    table = Table("Date", *(name.replace("_", " ") for name in COLUMNS))
    for day in report.days:
        table.add_row(day.date, *(str(getattr(day, name)) for name in COLUMNS))
    table.add_section()
    table.add_row("Total", *(str(getattr(report.totals, name)) for name in COLUMNS))
    totals = report.totals
    table.caption = (
        f"delivery {_rate(totals.delivery_rate)} · clicks {_rate(totals.click_rate)} · "
        f"conversions {_rate(totals.conversion_rate)}"
    )
    return table


def _rate(value: float | None) -> str:
    return f"{value:.1%}" if value is not None else "-"
