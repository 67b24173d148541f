"""The campaign tick, inside every due sweep: begins scheduled campaigns, restarts stalled
fan-out chains, moves phases on, decides experiments and closes the books
(docs/campaigns.md#the-tick)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib import deadline
from chalicelib.adapters.observability import logger
from chalicelib.adapters.store.campaigns import Loaded
from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock, experiments
from chalicelib.domain.campaigns import CampaignCounter, CampaignMove, Progress
from chalicelib.domain.errors import InvalidCampaignState
from chalicelib.domain.records import Campaign, CampaignPhase, CampaignStatus, Decision
from chalicelib.domain.webhooks import EventType
from chalicelib.ports import DeadlinePassed, Services, WriteName
from chalicelib.services import campaign_withdraw
from chalicelib.services.campaign_fanout import begin, begin_phase, progress, resume_chains
from chalicelib.services.webhook_outbox import Outbox

C, P = CampaignStatus, CampaignPhase
CAMPAIGN = WriteName.CAMPAIGN


# The tick --------------------------------------------------------------------------------


@dataclass
class TickReport:
    watched: int = 0
    begun: int = 0
    phases: int = 0
    restarted: int = 0
    completed: int = 0
    failed: int = 0
    unfinished: bool = False


def tick(services: Services) -> TickReport:
    """Move every watched campaign on: begin the scheduled, restart stalled chains, decide
    experiments, close campaigns whose every recipient has its answer."""
    report = TickReport()
    for item in services.store.campaigns.watched():
        if deadline.remaining_s() <= 0:
            report.unfinished = True  # the invocation's time is up: the next tick goes on
            break
        report.watched += 1
        loaded = services.store.campaigns.get(item["app_id"], item["campaign_id"])
        if loaded is None:
            continue
        try:
            _tick_one(services, loaded, clock.now(), report)
        except InvalidCampaignState:
            continue  # moved by an API call meanwhile: the next tick sees the new state
        except DeadlinePassed:
            report.unfinished = True  # the table stayed busy until the deadline
            break
        except Exception:  # one campaign's fault must not hold up the others
            logger.exception("campaign tick failed", extra={"campaign_id": item["campaign_id"]})
            report.failed += 1
    return report


def _tick_one(services: Services, loaded: Loaded, now: datetime, report: TickReport) -> None:
    campaign = loaded.campaign
    settings = services.settings
    if campaign.status is C.SCHEDULED:
        lookahead = timedelta(seconds=settings.sweep_interval_s)
        if campaign.send_at is None or campaign.send_at <= now + lookahead:
            begin(services, campaign, now, frozenset({C.SCHEDULED}))
            report.begun += 1
        return
    if campaign.status is C.PAUSED:
        return
    done = progress(services, campaign)
    if campaign.status is C.CANCELED:
        if campaign_withdraw.settled(services, loaded, done, now):
            _complete(services, campaign, done, now)
            report.completed += 1
        return
    if campaign.stopped_at is not None:
        _close_when_settled(services, campaign, done, now, report)
        return
    if campaign.status is not C.RUNNING:
        return
    if not loaded.chains_done():
        stalled = timedelta(seconds=settings.enqueue_lease_s + settings.lease_s)
        # Steps waiting for the throttle's slots (quiet hours moved them on) are not lost.
        waiting = rules.slots_reopen_at(campaign, settings.campaign_lookahead_s)
        still = max(filter(None, (campaign.chained_at, waiting)), default=None)
        if still is None or now - still > stalled:
            resume_chains(services, campaign, now)
            report.restarted += 1
        return
    report.phases += _after_chains(services, campaign, done, now, report)


def _after_chains(
    services: Services, campaign: Campaign, done: Progress, now: datetime, report: TickReport
) -> int:
    """Every chain of the phase finished: on to the next phase, or the end."""
    settled = done.finished == done.totals[CampaignCounter.CREATED]
    match campaign.phase:
        case P.FREEZE:
            begin_phase(services, campaign, rules.after_freeze(campaign), now)
            return 1
        case P.TEST if settled:
            begin_phase(services, campaign, P.DECIDE, now, test_done_at=now)
            return 1
        case P.DECIDE:
            assert campaign.experiment is not None and campaign.test_done_at is not None
            wait = timedelta(minutes=campaign.experiment.decide_after_minutes)
            if now >= campaign.test_done_at + wait:
                _decide(services, campaign, done, now)
                return 1
        case P.SEND:
            begin_phase(services, campaign, P.FINISH, now)
            return 1
        case P.FINISH if done.finished >= campaign.audience_size:
            _complete(services, campaign, done, now)
            report.completed += 1
    return 0


def _decide(services: Services, campaign: Campaign, done: Progress, now: datetime) -> None:
    experiment = campaign.experiment
    assert experiment is not None
    rates = rules.variant_rates(done, campaign, experiment.metric)
    found = experiments.decide(rates, experiment.metric, experiment.confidence, experiment.fallback)
    decision = Decision(
        winner=found.winner,
        p_value=found.p_value,
        method=found.method,
        reason=found.reason,
        decided_at=now,
    )
    logger.info(
        "experiment decided",
        extra={"campaign_id": campaign.campaign_id, "winner": found.winner, "reason": found.reason},
    )
    stop = found.winner is None  # fallback "stop": the rest get nothing
    phase = P.FINISH if stop else P.SEND
    changes: dict[str, Any] = {"decision": decision, **({"stopped_at": now} if stop else {})}
    outbox = Outbox(services, campaign.app_id, now)
    after = campaign.model_copy(update={**changes, "phase": phase})
    reported = outbox.campaign(EventType.EXPERIMENT_DECIDED, after, done)
    moving = campaign if stop else campaign.model_copy(update={"decision": decision})
    if begin_phase(services, moving, phase, now, extra=reported, **changes):
        outbox.committed()


def _close_when_settled(
    services: Services, campaign: Campaign, done: Progress, now: datetime, report: TickReport
) -> None:
    """Stopped (an experiment's ``stop``, a deleted template): once steps under way had time to
    end and every message written has its answer, the books close (the never-written recipients
    count as canceled)."""
    stopped = campaign.stopped_at or now
    in_flight = timedelta(seconds=services.settings.lease_s)
    if now - stopped < in_flight or done.finished < done.totals[CampaignCounter.CREATED]:
        return
    _complete(services, campaign, done, now)
    report.completed += 1


def _complete(services: Services, campaign: Campaign, done: Progress, now: datetime) -> None:
    store = services.store
    transaction = store.transaction()
    if campaign.status is C.RUNNING:
        update = store.campaigns.moved(
            campaign,
            rules.sources(CampaignMove.COMPLETE),
            rules.target(CampaignMove.COMPLETE),
            {"completed_at": now},
        )
    else:
        update = store.campaigns.moved(
            campaign, frozenset({campaign.status}), campaign.status, {"completed_at": now}
        )
    transaction.add(CAMPAIGN, update).add(WriteName.WATCH, store.campaigns.unwatch(campaign))
    closed = campaign.model_copy(update={"status": update_status(campaign), "completed_at": now})
    outbox = Outbox(services, campaign.app_id, now)
    kind = (
        EventType.CAMPAIGN_CANCELED
        if campaign.status is C.CANCELED
        else EventType.CAMPAIGN_COMPLETED
    )
    outbox.into(transaction, outbox.campaign(kind, closed, done))
    if transaction.commit_unless_lost(CAMPAIGN):  # lost: another tick closed the books first
        return
    outbox.committed()


def update_status(campaign: Campaign) -> CampaignStatus:
    """The status the books close in: completed, or still canceled (or stopped as it was)."""
    if campaign.status is C.RUNNING:
        return rules.target(CampaignMove.COMPLETE)
    return campaign.status
