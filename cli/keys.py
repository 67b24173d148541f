"""`submsg keys create|list|revoke`: the API keys of an app."""

from __future__ import annotations

from typing import Annotated

import typer

from chalicelib.services import admin
from cli import target
from cli.errors import OperatorError
from cli.output import moment, notes, records, results

commands = typer.Typer(help="Issue, list and revoke API keys.", no_args_is_help=True)

AppId = Annotated[str, typer.Argument(help="The mini-program's appid.")]


@commands.command()
def create(ctx: typer.Context, app_id: AppId) -> None:
    """Issue a new API key; prints it alone on the last line."""
    services = target.services(ctx)
    target.require_app(services, app_id)
    key, record = admin.create_key(services.core, app_id)
    notes().print(f"Created key {record.key_id} for app {app_id}. The key, shown only now:")
    typer.echo(key)


@commands.command("list")
def list_keys(ctx: typer.Context, app_id: AppId) -> None:
    """The key ids of an app (the keys themselves are never stored)."""
    services = target.services(ctx)
    target.require_app(services, app_id)
    found = sorted(services.core.store.catalog.list_api_keys(app_id), key=lambda k: k.created_at)
    console = results()
    console.print(
        records(console, ("Key id", "Created"), [[k.key_id, moment(k.created_at)] for k in found])
    )


@commands.command()
def revoke(
    ctx: typer.Context,
    app_id: AppId,
    key_id: Annotated[str, typer.Argument(help="The key id shown by `keys list`.")],
) -> None:
    """Revoke an API key of an app."""
    services = target.services(ctx)
    target.require_app(services, app_id)
    if not services.core.store.catalog.revoke_api_key(app_id, key_id):
        raise OperatorError(f"App {app_id} has no key {key_id}.")
    notes().print(
        f"Revoked key {key_id}. Running functions may accept it for up to "
        f"{services.core.settings.cache_ttl_s:g} s more."
    )
