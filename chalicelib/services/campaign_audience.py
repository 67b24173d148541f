"""Who a campaign reaches and with what data: the checks of a new campaign's template, data and
list, and recipients added to a draft (docs/campaigns.md#audiences)."""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.domain import campaigns as rules
from chalicelib.domain import keywords
from chalicelib.domain.campaign_records import Campaign, Recipient, Variant
from chalicelib.domain.errors import FieldProblem, InvalidCampaignState, NotFound, ValidationFailed
from chalicelib.domain.records import App, Category, Template
from chalicelib.ports import TransactionFailed, WriteName
from chalicelib.services.commands import NewCampaign
from chalicelib.services.deps import Core
from chalicelib.services.templates import find_template

AUDIENCE = WriteName.AUDIENCE
CHUNK = 98  # recipients per transaction, beside the campaign's audience counter (at most 100)


def check_list(command: NewCampaign) -> None:
    """An empty list is a draft to fill through /recipients: it cannot start."""
    if command.openids == () and command.start:
        raise ValidationFailed(
            "An empty list of openids makes a draft: create it with start false, then add "
            "recipients.",
            [FieldProblem("audience.openids", "empty while start is true")],
        )


def template_for(core: Core, app: App, command: NewCampaign) -> Template:
    try:
        template = find_template(core, app.app_id, command.template_id)
    except NotFound as error:
        raise ValidationFailed(
            "The campaign names a template this app does not have.",
            [FieldProblem("template_id", "unknown template")],
        ) from error
    if command.holders and template.category is Category.TRANSACTIONAL:
        raise ValidationFailed(
            "A holders audience needs a reminder or marketing template.",
            [FieldProblem("template_id", "a transactional template answers one user's action")],
        )
    return template


def _variant_field(campaign: Campaign, key: str, variant: Variant | None) -> str:
    if variant is not None and key in variant.data:
        return f"variants[{campaign.variants.index(variant)}].data.{key}"
    return f"data.{key}"


def _choices(campaign: Campaign) -> Sequence[Variant | None]:
    return campaign.variants or [None]


def check_campaign_data(template: Template, campaign: Campaign) -> None:
    """Every value given breaks no rule; a holders audience has no data of its own, so its
    campaign's data (under each variant's) must also be complete."""
    problems: list[FieldProblem] = []
    for variant in _choices(campaign):
        data = rules.message_data(campaign, variant, {})
        for problem in keywords.validate_data(template.keywords, data):
            if problem.problem == "missing" and campaign.audience == "list":
                continue  # each recipient may bring it
            key = problem.field.removeprefix("data.")
            named = FieldProblem(_variant_field(campaign, key, variant), problem.problem)
            if named not in problems:
                problems.append(named)
    if problems:
        raise ValidationFailed("Some keyword values break WeChat's rules.", problems)


def add(
    core: Core,
    template: Template,
    campaign: Campaign,
    recipients: Sequence[Recipient],
    field: str,
) -> int:
    check_recipients(template, campaign, recipients, field)
    unique: dict[str, Recipient] = {}
    for r in recipients:  # a repeated openid keeps its first data
        unique.setdefault(r.openid, r)
    ordered = list(unique.values())
    added = 0
    for start in range(0, len(ordered), CHUNK):
        added += _add_chunk(core, campaign, ordered[start : start + CHUNK])
    return added


def check_recipients(
    template: Template, campaign: Campaign, recipients: Sequence[Recipient], field: str
) -> None:
    """Each recipient's data, merged over the campaign's and each variant's, is complete and
    breaks no rule (400 naming ``recipients[3].data.thing1``)."""
    problems: list[FieldProblem] = []
    for index, recipient in enumerate(recipients):
        for variant in _choices(campaign):
            data = rules.message_data(campaign, variant, recipient.data)
            for problem in keywords.validate_data(template.keywords, data):
                named = FieldProblem(f"{field}[{index}].{problem.field}", problem.problem)
                if named not in problems:
                    problems.append(named)
    if problems:
        raise ValidationFailed("Some recipients' keyword values break WeChat's rules.", problems)


def _add_chunk(core: Core, campaign: Campaign, chunk: list[Recipient]) -> int:
    """One transaction: the new recipients and the audience count; those already there drop."""
    store = core.store
    names = {WriteName.RECIPIENT.of(r.openid): r for r in chunk}
    while names:
        transaction = store.transaction()
        for name, recipient in names.items():
            transaction.add(name, store.campaigns.new_recipient(campaign, recipient))
        transaction.add(AUDIENCE, store.campaigns.add_audience(campaign, len(names)))
        try:
            transaction.commit()
            return len(names)
        except TransactionFailed as failed:
            if failed.on(AUDIENCE):
                raise InvalidCampaignState("The campaign is no longer a draft.") from failed
            names = {n: r for n, r in names.items() if n not in failed.failed}
    return 0
