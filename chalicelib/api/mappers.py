"""From records to answers: what each route shows of templates, grants, messages, campaigns,
statistics."""

from __future__ import annotations

from datetime import date, timedelta

from chalicelib.api.schemas.campaigns import (
    CampaignList,
    CampaignOut,
    ExperimentOut,
    SkippedOut,
    VariantOut,
)
from chalicelib.api.schemas.messages import BestTimeOut, MessageList, MessageOut, ResultOut
from chalicelib.api.schemas.stats import DayCounts, StatsOut, Totals
from chalicelib.api.schemas.templates import KeywordOut, TemplateOut
from chalicelib.api.schemas.users import (
    GrantsOut,
    MarketingBudgetOut,
    PreferencesOut,
    SubscriptionItem,
    SubscriptionsOut,
)
from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock, keywords
from chalicelib.domain.campaign_records import Campaign, CampaignPhase
from chalicelib.domain.campaigns import CampaignCounter as C
from chalicelib.domain.campaigns import Progress
from chalicelib.domain.records import LongTermStatus, Message, Template, TemplateKind
from chalicelib.domain.statistics import Counter, ratio
from chalicelib.domain.users import Preferences, UserState
from chalicelib.services.grants import UserSubscriptions


def template_out(template: Template) -> TemplateOut:
    return TemplateOut(
        template_id=template.template_id,
        title=template.title,
        kind=template.kind,
        category=template.category,
        keywords=[
            KeywordOut(
                key=k.key,
                name=k.name,
                type=keywords.keyword_type(k.key).name.lower(),
                enum_values=k.enum_values,
            )
            for k in template.keywords
        ],
        default_page=template.default_page,
        grant_ttl_days=template.grant_ttl_days,
        target_credits=template.target_credits,
        updated_at=clock.zulu(template.updated_at) or "",
    )


def grants_out(openid: str, state: UserState, templates: list[Template]) -> GrantsOut:
    now = clock.now()
    credits: dict[str, int] = {}
    long_term: dict[str, LongTermStatus] = {}
    for template in templates:
        if template.kind is TemplateKind.ONE_TIME:
            credits[template.template_id] = state.credit_count(template.template_id, now)
        else:
            grant = state.grants.get(template.template_id)
            if grant and grant.long_term:
                long_term[template.template_id] = grant.long_term
    return GrantsOut(openid=openid, credits=credits, long_term=long_term)


def subscriptions_out(openid: str, found: UserSubscriptions) -> SubscriptionsOut:
    items = [
        SubscriptionItem(
            template_id=s.template.template_id,
            kind=s.template.kind,
            credits=len(s.usable),
            next_expiry=clock.zulu(s.usable[0].expires_at) if s.usable else None,
            long_term=s.grant.long_term if s.grant else None,
            last_result=s.grant.last_result if s.grant else None,
            last_result_at=clock.zulu(s.grant.last_result_at) if s.grant else None,
            should_prompt=s.should_prompt,
            reason=s.reason,
        )
        for s in found.items
    ]
    budget = found.marketing_budget
    return SubscriptionsOut(
        openid=openid,
        items=items,
        marketing_budget=MarketingBudgetOut(
            per_week=budget.per_week, reason=budget.reason.value, until=clock.zulu(budget.until)
        ),
    )


def preferences_out(openid: str, preferences: Preferences) -> PreferencesOut:
    return PreferencesOut(openid=openid, **preferences.model_dump())


def message_out(message: Message) -> MessageOut:
    return MessageOut(
        id=message.id,
        openid=message.openid,
        template_id=message.template_id,
        status=message.status,
        send_at=clock.zulu(message.send_at) or "",
        urgent=message.urgent,
        attempts=message.attempts,
        result=ResultOut(
            **message.result.model_dump(include={"errcode", "errmsg", "msgid", "reason"})
        ),
        created_at=clock.zulu(message.created_at) or "",
        sent_at=clock.zulu(message.sent_at),
        clicked_at=clock.zulu(message.clicked_at),
        converted_at=clock.zulu(message.converted_at),
        campaign_id=message.campaign_id,
        variant=message.variant,
        send_time_reason=message.send_time_reason,
    )


def messages_out(found: list[Message], next_cursor: str | None) -> MessageList:
    return MessageList(items=[message_out(m) for m in found], next_cursor=next_cursor)


def stats_out(first: date, last: date, per_day: dict[str, dict[str, int]]) -> StatsOut:
    dates = [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
    days = [DayCounts(date=d, **per_day.get(d, {})) for d in dates]
    sums = {c: sum(getattr(d, c.value) for d in days) for c in Counter}
    totals = Totals(
        **{counter.value: n for counter, n in sums.items()},
        delivery_rate=ratio(sums[Counter.SENT], sums[Counter.SENT] + sums[Counter.FAILED]),
        click_rate=ratio(sums[Counter.CLICKED], sums[Counter.SENT]),
        conversion_rate=ratio(sums[Counter.CONVERTED], sums[Counter.CLICKED]),
    )
    return StatsOut(from_=first.isoformat(), to=last.isoformat(), days=days, totals=totals)


def campaign_out(campaign: Campaign, done: Progress) -> CampaignOut:
    totals = done.totals
    empty = dict.fromkeys(rules.PROGRESS, 0)
    variants = []
    for variant in campaign.variants:
        counts = done.by_variant.get(variant.name, empty)
        variants.append(
            VariantOut(
                name=variant.name,
                weight=variant.weight,
                assigned=counts[C.CREATED],
                sent=counts[C.SENT],
                clicked=counts[C.CLICKED],
                converted=counts[C.CONVERTED],
                click_rate=ratio(counts[C.CLICKED], counts[C.SENT]),
                conversion_rate=ratio(counts[C.CONVERTED], counts[C.CLICKED]),
            )
        )
    return CampaignOut(
        id=campaign.campaign_id,
        name=campaign.name,
        template_id=campaign.template_id,
        status=campaign.status,
        audience_size=campaign.audience_size,
        created=totals[C.CREATED],
        sent=totals[C.SENT],
        failed=totals[C.FAILED],
        unknown=totals[C.UNKNOWN],
        skipped=SkippedOut(**{r: totals[rules.skipped(r)] for r in rules.SKIP_REASONS}),
        canceled=rules.canceled_of(campaign, done),
        pending=rules.pending_of(campaign, done),
        clicked=totals[C.CLICKED],
        converted=totals[C.CONVERTED],
        rate_per_minute=campaign.rate_per_minute,
        applied_rate_per_minute=rules.applied_rate_per_minute(campaign.rate_per_minute)
        if campaign.rate_per_minute
        else None,
        best_time=BestTimeOut(within_hours=campaign.best_time_within_hours)
        if campaign.best_time_within_hours
        else None,
        send_at=clock.zulu(campaign.send_at),
        started_at=clock.zulu(campaign.started_at),
        completed_at=clock.zulu(campaign.completed_at),
        variants=variants,
        experiment=_experiment_out(campaign),
    )


_EXPERIMENT_PHASES = {CampaignPhase.TEST: "testing", CampaignPhase.DECIDE: "deciding"}


def _experiment_out(campaign: Campaign) -> ExperimentOut | None:
    experiment = campaign.experiment
    if experiment is None:
        return None
    decision = campaign.decision
    phase = "decided" if decision.decided_at else _EXPERIMENT_PHASES.get(campaign.phase, "testing")
    return ExperimentOut(
        phase=phase,
        metric=experiment.metric,
        test_percent=experiment.test_percent,
        winner=decision.winner,
        p_value=decision.p_value,
        method=decision.method,
        decided_at=clock.zulu(decision.decided_at),
        reason=decision.reason,
    )


def campaigns_out(found: list[tuple[Campaign, Progress]], next_cursor: str | None) -> CampaignList:
    return CampaignList(items=[campaign_out(c, p) for c, p in found], next_cursor=next_cursor)
