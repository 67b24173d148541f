"""`submsg templates sync`: copy an app's subscription templates from WeChat (gettemplate)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import typer
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.adapters.wechat import WeChatError
from chalicelib.api import commands as to_command
from chalicelib.api.schemas.templates import KeywordIn, TemplateIn
from chalicelib.bootstrap import Services
from chalicelib.domain import keywords
from chalicelib.domain.errors import SubmsgError
from chalicelib.domain.records import Category, Template, TemplateKind
from chalicelib.ports import APP_SECRET
from chalicelib.services import templates
from cli import target
from cli.errors import OperatorError, describe
from cli.output import notes, progress

commands = typer.Typer(help="Subscription templates of an app.", no_args_is_help=True)

WECHAT_KINDS = {2: TemplateKind.ONE_TIME, 3: TemplateKind.LONG_TERM}
KEPT_SETTINGS = ("category", "default_page", "grant_ttl_days", "target_credits")
SANDBOX_UNKNOWN_APPID = 40013  # the sandbox knows only the apps the local stack seeded


class WeChatEnumValues(BaseModel):
    keyword_code: str = Field(alias="keywordCode")
    values: list[str] = Field(default_factory=list, alias="enumValueList")


class WeChatTemplate(BaseModel):
    """One entry of gettemplate's ``data``."""

    model_config = ConfigDict(extra="ignore")

    template_id: str = Field(alias="priTmplId", min_length=1)
    title: str
    content: str
    type: int
    enums: list[WeChatEnumValues] = Field(default_factory=list, alias="keywordEnumValueList")

    def enum_values(self) -> dict[str, list[str]]:
        return {item.keyword_code.removesuffix(".DATA"): item.values for item in self.enums}


@dataclass
class SyncReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # template id -> why


def template_in(entry: WeChatTemplate, existing: Template | None, category: Category) -> TemplateIn:
    """Our template from WeChat's; an existing one keeps its category, page and grant settings."""
    kind = WECHAT_KINDS.get(entry.type)
    if kind is None:
        raise ValueError(f"unknown template type {entry.type}")
    enum_values = entry.enum_values()
    kept = existing.model_dump(include=set(KEPT_SETTINGS)) if existing else {"category": category}
    return TemplateIn(
        title=entry.title,
        kind=kind,
        keywords=[
            KeywordIn(
                key=keyword.key, name=keyword.name, enum_values=enum_values.get(keyword.key, [])
            )
            for keyword in keywords.parse_content(entry.content)
        ],
        **kept,
    )


def sync_one(
    services: Services, app_id: str, raw: dict[str, object], category: Category, report: SyncReport
) -> None:
    template_id = str(raw.get("priTmplId") or "?") if isinstance(raw, dict) else "?"
    try:
        entry = WeChatTemplate.model_validate(raw)
        existing = services.core.store.catalog.get_template(app_id, entry.template_id)
        body = template_in(entry, existing, category)
        command = to_command.put_template(body)  # checked as the API checks it
        _, created = templates.put_template(services.core, app_id, entry.template_id, command)
    except (ValueError, SubmsgError) as error:  # pydantic's ValidationError is a ValueError
        report.skipped[template_id] = describe(error)
        return
    (report.created if created else report.updated).append(template_id)


def fetch_templates(ctx: typer.Context, services: Services, app_id: str) -> list[dict[str, object]]:
    """gettemplate's entries; with --local, a failure says what the local stack needs."""
    secret = services.app_secrets.secrets.get(app_id, APP_SECRET)
    try:
        return services.sending.wechat().get_templates(app_id, secret)
    except WeChatError as error:
        local = ctx.find_object(target.Target)
        if local is None or not local.local:
            raise
        base = services.core.settings.wechat_api_base
        if error.errcode is None:
            raise OperatorError(
                f"WeChat at {base} failed ({error.errmsg}): is the local stack running "
                "(make run)? SUBMSG_SANDBOX_PORT or WECHAT_API_BASE point elsewhere."
            ) from None
        if error.errcode == SANDBOX_UNKNOWN_APPID:
            raise OperatorError(
                f"WeChat at {base} does not know app {app_id} (errcode {error.errcode}): the "
                "local stack's sandbox knows only its demo app."
            ) from None
        raise


@commands.command()
def sync(
    ctx: typer.Context,
    app_id: Annotated[str, typer.Argument(help="The mini-program's appid.")],
    category: Annotated[
        Category, typer.Option(help="Category of templates new to submsg.")
    ] = Category.TRANSACTIONAL,
) -> None:
    """Fetch the app's templates from WeChat and store them."""
    services = target.services(ctx)
    target.require_app(services, app_id)
    entries = fetch_templates(ctx, services, app_id)
    report = SyncReport()
    with progress() as bar:
        task = bar.add_task("Storing templates", total=len(entries))
        for entry in entries:
            sync_one(services, app_id, entry, category, report)
            bar.advance(task)
    console = notes()
    console.print(
        f"{len(report.created)} new, {len(report.updated)} updated, {len(report.skipped)} skipped."
    )
    for template_id, why in report.skipped.items():
        console.print(f"  skipped {template_id}: {why}", markup=False)
    if report.skipped:
        raise OperatorError(f"{len(report.skipped)} template(s) could not be stored.")
