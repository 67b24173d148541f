"""`submsg campaigns`: create, list, show (with a live progress bar), pause, resume, cancel."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from chalicelib.api.commands import new_campaign
from chalicelib.api.mappers import campaign_out
from chalicelib.api.schemas.campaigns import CampaignIn, CampaignOut
from chalicelib.bootstrap import Services
from chalicelib.domain.campaign_records import Campaign
from chalicelib.domain.records import App
from chalicelib.services import campaigns
from cli import target
from cli.errors import OperatorError
from cli.output import notes, records, results

commands = typer.Typer(help="Campaigns: one template to an audience.", no_args_is_help=True)
AppId = Annotated[str, typer.Argument(help="The mini-program's appid.")]
CampaignId = Annotated[str, typer.Argument(help="The campaign's id (cmp_…).")]


def _answer(services: Services, campaign: Campaign) -> CampaignOut:
    return campaign_out(campaign, campaigns.progress(services.core, campaign))


def _read_body(source: str) -> CampaignIn:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise OperatorError(f"Cannot read {source}: {error.strerror}.") from error
    try:
        return CampaignIn.model_validate(json.loads(text))
    except json.JSONDecodeError as error:
        raise OperatorError(f"{source} is not JSON: {error.msg} (line {error.lineno}).") from error


@commands.command()
def create(
    ctx: typer.Context,
    app_id: AppId,
    body: Annotated[
        str, typer.Argument(help="A JSON file with the body of POST /v1/campaigns; - reads stdin.")
    ],
) -> None:
    """Create a campaign (started at once, unless the body says "start": false)."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    campaign, _ = campaigns.create(services.core, app, new_campaign(_read_body(body)), None)
    show_campaign(results(), _answer(services, campaign))


@commands.command("list")
def list_(
    ctx: typer.Context,
    app_id: AppId,
    limit: Annotated[int, typer.Option(min=1, max=100, help="How many, newest first.")] = 20,
) -> None:
    """The app's campaigns, newest first."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    found, _ = campaigns.list_campaigns(services.core, app, limit, None)
    rows = []
    for campaign in found:
        answer = _answer(services, campaign)
        done = f"{answer.sent}/{answer.audience_size}"
        rows.append([answer.id, answer.name, answer.status.value, done])
    console = results()
    if not rows:
        notes().print(f"App {app_id} has no campaign.")
        return
    console.print(records(console, ["Campaign", "Name", "Status", "Sent"], rows))


@commands.command()
def show(
    ctx: typer.Context,
    app_id: AppId,
    campaign_id: CampaignId,
    watch: Annotated[
        bool, typer.Option("--watch", help="Follow the progress until the campaign ends.")
    ] = False,
    every: Annotated[float, typer.Option(min=0.2, help="Seconds between two looks.")] = 2.0,
    timeout: Annotated[
        float, typer.Option(min=1, help="With --watch: stop watching after this many seconds.")
    ] = 3600.0,
) -> None:
    """A campaign's counters and variants; --watch shows a live progress bar."""
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    if not watch:
        show_campaign(results(), _look(services, app, campaign_id))
        return
    _watch(services, app, campaign_id, every, timeout)


def _look(services: Services, app: App, campaign_id: str) -> CampaignOut:
    return _answer(services, campaigns.get(services.core, app, campaign_id).campaign)


def _watch(services: Services, app: App, campaign_id: str, every: float, timeout: float) -> None:
    answer = _look(services, app, campaign_id)
    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=results()
    )
    task = bar.add_task("handled", total=max(1, answer.audience_size))
    deadline = time.monotonic() + timeout
    with Live(Group(bar, summary(answer)), console=results(), auto_refresh=False) as live:
        while True:
            finished = answer.audience_size - answer.pending - _in_flight(answer)
            bar.update(task, completed=finished, total=max(1, answer.audience_size))
            live.update(Group(bar, summary(answer)), refresh=True)
            if answer.completed_at is not None or time.monotonic() >= deadline:
                break
            time.sleep(every)
            answer = _look(services, app, campaign_id)
    if answer.completed_at is None:
        notes().print("Stopped watching; the campaign goes on.")


def _in_flight(answer: CampaignOut) -> int:
    """Messages written whose outcome is not known yet."""
    skipped = sum(answer.skipped.model_dump().values())
    done = answer.sent + answer.failed + skipped + answer.canceled
    return max(0, answer.audience_size - answer.pending - done)


def summary(answer: CampaignOut) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    skipped = ", ".join(f"{k} {v}" for k, v in answer.skipped.model_dump().items() if v) or "0"
    rate = f"{answer.rate_per_minute}/min" if answer.rate_per_minute else "as fast as it goes"
    for name, value in (
        ("campaign", f"{answer.id}  {answer.name}"),
        ("status", answer.status.value),
        ("audience", str(answer.audience_size)),
        ("sent", str(answer.sent)),
        ("failed", f"{answer.failed} (unknown {answer.unknown})"),
        ("skipped", skipped),
        ("canceled", str(answer.canceled)),
        ("pending", str(answer.pending)),
        ("clicked", str(answer.clicked)),
        ("rate", rate),
    ):
        table.add_row(name, value)
    return table


def show_campaign(console: Console, answer: CampaignOut) -> None:
    console.print(summary(answer))
    if answer.variants:
        rows = [
            [
                v.name,
                f"{v.weight}%",
                str(v.assigned),
                str(v.sent),
                str(v.clicked),
                _percent(v.click_rate),
                _percent(v.conversion_rate),
            ]
            for v in answer.variants
        ]
        headers = ["Variant", "Weight", "Assigned", "Sent", "Clicked", "Click", "Conv"]
        console.print(records(console, headers, rows))
    experiment = answer.experiment
    if experiment is not None:
        p_value = "-" if experiment.p_value is None else f"{experiment.p_value:.4g}"
        console.print(
            f"experiment: {experiment.phase}, {experiment.metric}, winner "
            f"{experiment.winner or '-'} (p = {p_value}, {experiment.method or '-'}, "
            f"{experiment.reason or 'not decided yet'})"
        )


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.1%}"


def _move(ctx: typer.Context, app_id: str, campaign_id: str, move: str) -> None:
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    moving = {"pause": campaigns.pause, "resume": campaigns.resume, "cancel": campaigns.cancel}
    campaign = moving[move](services.core, app, campaign_id)
    notes().print(f"Campaign {campaign_id}: {campaign.status.value}.")


@commands.command()
def pause(ctx: typer.Context, app_id: AppId, campaign_id: CampaignId) -> None:
    """Stop new cards within seconds; resume continues with the pending recipients."""
    _move(ctx, app_id, campaign_id, "pause")


@commands.command()
def resume(ctx: typer.Context, app_id: AppId, campaign_id: CampaignId) -> None:
    """Continue a paused campaign."""
    _move(ctx, app_id, campaign_id, "resume")


@commands.command()
def cancel(ctx: typer.Context, app_id: AppId, campaign_id: CampaignId) -> None:
    """End it: pending recipients get nothing, unsent cards are canceled and refunded."""
    _move(ctx, app_id, campaign_id, "cancel")
