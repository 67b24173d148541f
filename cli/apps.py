"""`submsg apps create|update|list`: the tenants and their settings."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from chalicelib.domain.records import App, default_caps
from chalicelib.services import admin
from cli import target
from cli.app_options import (
    AdaptiveMarketingOption,
    AppOptions,
    CallbackFormatOption,
    CallbackTokenOption,
    CapOption,
    EncodingAesKeyOption,
    GrantSourceOption,
    LangOption,
    QuietHoursOption,
    RequestsPerSecondOption,
    StateOption,
    TimezoneOption,
)
from cli.errors import OperatorError
from cli.output import notes, records, results

commands = typer.Typer(help="Create, configure and list apps.", no_args_is_help=True)

APP_HEADERS = (
    "App",
    "Name",
    "Timezone",
    "Quiet hours",
    "Caps",
    "State",
    "Lang",
    "Push format",
    "Grant source",
)


def read_secret() -> str:
    secret = sys.stdin.readline().strip()
    if not secret:
        raise OperatorError("No AppSecret on standard input.")
    return secret


@commands.command()
def create(
    ctx: typer.Context,
    app_id: Annotated[str, typer.Argument(help="The mini-program's appid.")],
    name: Annotated[str, typer.Option(help="A name for operators.")],
    secret_stdin: Annotated[
        bool, typer.Option("--secret-stdin", help="Read the AppSecret from standard input.")
    ] = False,
    timezone: TimezoneOption = None,
    quiet_hours: QuietHoursOption = None,
    miniprogram_state: StateOption = None,
    lang: LangOption = None,
    callback_token: CallbackTokenOption = None,
    encoding_aes_key: EncodingAesKeyOption = None,
    callback_format: CallbackFormatOption = None,
    grant_source: GrantSourceOption = None,
    requests_per_second: RequestsPerSecondOption = None,
    adaptive_marketing: AdaptiveMarketingOption = None,
    cap: CapOption = None,
) -> None:
    """Create an app; prints its first API key alone on the last line."""
    if not secret_stdin:
        raise OperatorError("Pass --secret-stdin and give the AppSecret on standard input.")
    options = AppOptions.from_params(ctx.params)
    secret = read_secret()
    services = target.services(ctx)
    app = admin.new_app(app_id, name, **options.changes(default_caps()))
    key = admin.create_app(services.app_secrets, app, secret)
    admin.set_callback_secrets(services.app_secrets, app_id, callback_token, encoding_aes_key)
    notes().print(f"Created app {app_id}. Its API key, shown only now:")
    typer.echo(key)


@commands.command()
def update(
    ctx: typer.Context,
    app_id: Annotated[str, typer.Argument(help="The mini-program's appid.")],
    name: Annotated[str | None, typer.Option(help="A name for operators.")] = None,
    timezone: TimezoneOption = None,
    quiet_hours: QuietHoursOption = None,
    miniprogram_state: StateOption = None,
    lang: LangOption = None,
    callback_token: CallbackTokenOption = None,
    encoding_aes_key: EncodingAesKeyOption = None,
    callback_format: CallbackFormatOption = None,
    grant_source: GrantSourceOption = None,
    requests_per_second: RequestsPerSecondOption = None,
    adaptive_marketing: AdaptiveMarketingOption = None,
    cap: CapOption = None,
) -> None:
    """Change settings of an app; options not given keep their value."""
    options = AppOptions.from_params(ctx.params)
    if name is None and options.is_empty:
        raise OperatorError("Nothing to change: give at least one option.")
    services = target.services(ctx)
    current = target.require_app(services, app_id)
    changes = options.changes(current.caps)
    if name is not None:
        changes["name"] = name
    admin.update_app(services.core, app_id, changes)
    admin.set_callback_secrets(services.app_secrets, app_id, callback_token, encoding_aes_key)
    notes().print(f"Updated app {app_id}.")


@commands.command("list")
def list_apps(ctx: typer.Context) -> None:
    """The apps and their settings (never their secrets)."""
    apps = target.services(ctx).core.store.catalog.list_apps()
    rows = [
        [
            app.app_id,
            app.name,
            app.timezone,
            quiet_hours_text(app),
            caps_text(app),
            app.miniprogram_state,
            app.lang,
            app.callback_format,
            app.grant_source,
        ]
        for app in sorted(apps, key=lambda found: found.app_id)
    ]
    console = results()
    console.print(records(console, APP_HEADERS, rows))


def quiet_hours_text(app: App) -> str:
    hours = app.quiet_hours
    return f"{hours.start:%H:%M}-{hours.end:%H:%M}" if hours else "off"


def caps_text(app: App) -> str:
    caps = [f"{category}={cap.limit}/{cap.period}" for category, cap in sorted(app.caps.items())]
    if app.adaptive_marketing:
        caps.append("marketing adaptive")
    return "\n".join(caps) or "none"
