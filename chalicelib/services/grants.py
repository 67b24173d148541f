"""Grants: what users answered in wx.requestSubscribeMessage, and whether to ask them again."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.domain import clock, engagement, policy
from chalicelib.domain.errors import FieldProblem, NotFound, ValidationFailed
from chalicelib.domain.records import (
    App,
    Credit,
    GrantResult,
    GrantSource,
    LongTermStatus,
    Template,
    TemplateKind,
)
from chalicelib.domain.statistics import Counter, stats_day
from chalicelib.domain.users import GrantState, UserState
from chalicelib.domain.webhooks import EventType, Subject
from chalicelib.ports import WriteName
from chalicelib.services import activity
from chalicelib.services.deps import Core
from chalicelib.services.templates import find_template
from chalicelib.services.webhook_outbox import Outbox

if TYPE_CHECKING:
    from chalicelib.ports import Write

REFUSALS = (GrantResult.REJECT, GrantResult.BAN)
FIRST_TIME, POPUP, SWITCHED_OFF = WriteName.FIRST_TIME, WriteName.POPUP, WriteName.SWITCHED_OFF


class AlreadyRecorded(Exception):
    """An extra condition of the grant transaction (a callback's dedupe record) failed."""


def record_results(
    core: Core,
    app: App,
    openid: str,
    results: Mapping[str, GrantResult],
    source: GrantSource,
    first_time: Write | None = None,
) -> UserState:
    """Apply one popup's answers; accepts count only when they come from the app's grant source.

    ``first_time``: a condition that this report was not applied before (a push's dedupe
    record), written in the same transaction; AlreadyRecorded when it fails.
    """
    templates = _templates_of(core, app, results)
    now = clock.now()
    store = core.store
    state = store.users.load(app.app_id, openid)
    today = stats_day(app, now)  # a counted accept comes with a tap: the user is active today
    transaction = store.transaction().add(FIRST_TIME, first_time)
    for template_id, result in results.items():
        template = templates[template_id]
        counts_accept = result.allows and source is app.grant_source
        changes = _answer_changes(template, result, counts_accept, now)
        previous = state.grants.get(template_id) or GrantState(template_id=template_id)
        state.grants[template_id] = previous.model_copy(update=changes)
        transaction.add(
            WriteName.GRANT.of(template_id),
            store.users.grant_update(app.app_id, openid, template_id, changes, today),
        )
        if counts_accept and template.kind is TemplateKind.ONE_TIME:
            credit = _new_credit(template, now, today)
            state.credits.append(credit)
            transaction.add(
                WriteName.CREDIT.of(template_id), store.users.add_credit(app.app_id, openid, credit)
            )
        if counts_accept:
            counted = store.counters.increment(
                app.app_id, stats_day(app, now), template_id, {Counter.GRANTS_RECEIVED: 1}
            )
            transaction.add(WriteName.STATS.of(template_id), counted)
    # A tap is activity, counted once: from the source the app trusts for its grants.
    tapped = None
    if source is app.grant_source:
        tapped = engagement.tally([now], policy.user_timezone(state.preferences, app))
        transaction.add(POPUP, store.engagement.active(app.app_id, openid, tapped))
    if transaction.commit_unless_lost(FIRST_TIME):
        raise AlreadyRecorded
    if tapped is not None:
        activity.app_also_active(core, app, tapped, shard_of=openid)
        activity.mark_active(core, app, openid, today)
    return state


def _templates_of(core: Core, app: App, results: Mapping[str, GrantResult]) -> dict[str, Template]:
    templates: dict[str, Template] = {}
    problems: list[FieldProblem] = []
    for template_id in results:
        try:
            templates[template_id] = find_template(core, app.app_id, template_id)
        except NotFound:
            problems.append(FieldProblem(f"results.{template_id}", "unknown template"))
    if problems:
        raise ValidationFailed("The results name templates this app does not have.", problems)
    if len({t.kind for t in templates.values()}) > 1:
        raise ValidationFailed(
            "One-time and long-term templates cannot be requested together.",
            [FieldProblem("results", "mixes one-time and long-term templates")],
        )
    return templates


def _answer_changes(
    template: Template, result: GrantResult, counts_accept: bool, now: datetime
) -> dict[str, Any]:
    """Only what this answer changes: concurrent answers (API, push) must not erase each other."""
    changes: dict[str, Any] = {"last_result": result, "last_result_at": now}
    if result in REFUSALS:
        changes["last_refusal_at"] = now
    if template.kind is TemplateKind.LONG_TERM:
        if counts_accept:
            changes["long_term"] = LongTermStatus.ACTIVE
        elif result in REFUSALS:
            changes["long_term"] = LongTermStatus.REJECTED
    return changes


def _new_credit(template: Template, now: datetime, active_day: str) -> Credit:
    expires_at = now + timedelta(days=template.grant_ttl_days) if template.grant_ttl_days else None
    return Credit(
        credit_id=clock.new_id("cr"),
        template_id=template.template_id,
        granted_at=now,
        expires_at=expires_at,
        active_day=active_day,
    )


@dataclass(frozen=True)
class UserSubscriptions:
    """What a user holds, template by template, and the user's marketing budget."""

    items: list[Subscription]
    marketing_budget: engagement.Budget


@dataclass(frozen=True)
class Subscription:
    """What a user holds for one template, and whether to ask again."""

    template: Template
    usable: list[Credit]
    grant: GrantState | None
    should_prompt: bool
    reason: str


def subscriptions(core: Core, app: App, openid: str) -> UserSubscriptions:
    now = clock.now()
    state = core.store.users.load(app.app_id, openid)
    found = []
    for template in core.store.catalog.list_templates(app.app_id):
        usable = state.usable_credits(template.template_id, now)
        grant = state.grants.get(template.template_id)
        prompt, reason = policy.should_prompt(template, len(usable), grant, now)
        found.append(Subscription(template, usable, grant, prompt, reason))
    budget = engagement.app_marketing_budget(app, state.engagement, now)
    return UserSubscriptions(found, budget)


def switched_off(core: Core, app: App, openid: str, template_ids: Sequence[str]) -> None:
    """The user turned templates off in WeChat's settings: no long-term grant, no credits."""
    now = clock.now()
    store = core.store
    kinds = {t.template_id: t.kind for t in store.catalog.list_templates(app.app_id)}
    transaction = store.transaction()
    for template_id in dict.fromkeys(template_ids):
        changes: dict[str, Any] = {
            "last_result": GrantResult.REJECT,
            "last_result_at": now,
            "last_refusal_at": now,
        }
        if kinds.get(template_id) is TemplateKind.LONG_TERM:
            changes["long_term"] = LongTermStatus.REJECTED
        transaction.add(
            WriteName.GRANT.of(template_id),
            store.users.grant_update(app.app_id, openid, template_id, changes),
        )
    if template_ids:
        transaction.add(SWITCHED_OFF, store.engagement.switched_off(app.app_id, openid, now))
    outbox = Outbox(core, app.app_id, now)
    for template_id in dict.fromkeys(template_ids):
        data = {"openid": openid, "template_id": template_id, "at": clock.zulu(now)}
        outbox.into(transaction, outbox.add(EventType.GRANT_SWITCHED_OFF, Subject.PLAIN, data))
    transaction.commit()
    outbox.committed()
    for template_id in template_ids:
        store.users.drop_credits(app.app_id, openid, template_id)
