"""The operator CLI `submsg`: apps, keys, templates, campaigns, webhooks, stats, report, users,
dead letters."""

from __future__ import annotations

from typing import Annotated

import typer

from cli import apps, campaigns, dlq, keys, report, stats, template_sync, users, webhooks
from cli.errors import OperatorGroup
from cli.target import Target

app = typer.Typer(
    cls=OperatorGroup,
    help=(
        "Operate submsg: apps, API keys, templates, campaigns, webhooks, statistics and the "
        "report, users, dead letters."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(apps.commands, name="apps")
app.add_typer(keys.commands, name="keys")
app.add_typer(template_sync.commands, name="templates")
app.add_typer(campaigns.commands, name="campaigns")
app.add_typer(webhooks.commands, name="webhooks")
app.add_typer(users.commands, name="users")
app.add_typer(dlq.commands, name="dlq")
app.command("stats")(stats.show)
app.command("report")(report.write)


@app.callback()
def choose_target(
    ctx: typer.Context,
    local: Annotated[
        bool, typer.Option("--local", help="Manage the running local stack (make run).")
    ] = False,
    stage: Annotated[str, typer.Option(help="Deployed stage to manage.")] = "dev",
) -> None:
    ctx.obj = Target(local=local, stage=stage)


def main() -> None:
    app()
