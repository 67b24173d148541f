"""`submsg users erase`: delete everything kept about one user of an app."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from chalicelib.adapters.observability import mask
from chalicelib.services import preferences
from cli import target
from cli.errors import OperatorError
from cli.output import notes

commands = typer.Typer(help="Users of an app.", no_args_is_help=True)

_OPENID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@commands.command()
def erase(
    ctx: typer.Context,
    app_id: Annotated[str, typer.Argument(help="The mini-program's appid.")],
    openid: Annotated[str, typer.Argument(help="The user's openid.")],
) -> None:
    """Delete the user's grants, preferences and messages (right to erasure)."""
    if _OPENID.fullmatch(openid) is None:
        raise OperatorError("That is not an openid.")
    services = target.services(ctx)
    app = target.require_app(services, app_id)
    preferences.erase_user(services.core, app, openid)
    notes().print(f"Erased user {mask(openid)} of app {app_id}.")
