"""The campaign tick, inside every due sweep: begins scheduled campaigns, restarts stalled
fan-out chains, moves phases on, decides experiments and closes the books
(docs/campaigns.md#the-tick)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib import deadline
from chalicelib.adapters.observability import logger
from chalicelib.adapters.store.campaigns import Loaded
from chalicelib.domain import campaigns as rules
from chalicelib.domain import clock, experiments
from chalicelib.domain.campaign_phases import CampaignMove
from chalicelib.domain.campaign_records import CampaignPhase, CampaignStatus, Decision
from chalicelib.domain.campaigns import CampaignCounter, Progress
from chalicelib.domain.errors import InvalidCampaignState
from chalicelib.ports import DeadlinePassed
from chalicelib.services import campaign_withdraw
from chalicelib.services.campaign_steps import CampaignSteps, progress
from chalicelib.services.deps import Core

if TYPE_CHECKING:
    from chalicelib.ports import Item

C, P = CampaignStatus, CampaignPhase


# The tick --------------------------------------------------------------------------------


@dataclass
class TickReport:
    watched: int = 0
    begun: int = 0
    phases: int = 0
    restarted: int = 0
    completed: int = 0
    failed: int = 0
    deferred: int = 0  # left for the next tick: the invocation's time ran short
    unfinished: bool = False  # stopped at the invocation's deadline; the next tick goes on


def tick(core: Core, remaining_ms: Callable[[], int] | None = None) -> TickReport:
    """Move every watched campaign on: begin the scheduled, restart stalled chains, decide
    experiments, close campaigns whose every recipient has its answer.

    Before each campaign the tick looks at the time left: the invocation's deadline
    (``chalicelib.deadline``) and, in Lambda, ``remaining_ms`` (the context's
    ``get_remaining_time_in_millis``) less ``campaign_tick_reserve_s``, the time one campaign
    may take. Out of time, it stops there and the next tick goes on (every move is a
    conditional write, so nothing is half done); so does a table busy past the deadline. Each
    tick starts one campaign further along the registry, so a tick that runs short never leaves
    the same campaigns behind."""
    report = TickReport()
    watched = list(core.store.campaigns.watched())
    reserve_ms = core.settings.campaign_tick_reserve_s * 1000
    for index, item in enumerate(_rotated(watched, clock.now(), core)):
        short = remaining_ms is not None and remaining_ms() < reserve_ms
        if short or deadline.remaining_s() <= 0:
            report.unfinished, report.deferred = True, len(watched) - index
            logger.info("campaign tick out of time", extra={"deferred": report.deferred})
            break
        report.watched += 1
        loaded = core.store.campaigns.get(item["app_id"], item["campaign_id"])
        if loaded is None:
            continue
        try:
            _tick_one(core, loaded, clock.now(), report)
        except InvalidCampaignState:
            continue  # moved by an API call meanwhile: the next tick sees the new state
        except DeadlinePassed:
            report.unfinished = True  # the table stayed busy until the deadline
            report.deferred = len(watched) - index
            break
        except Exception:  # one campaign's fault must not hold up the others
            logger.exception("campaign tick failed", extra={"campaign_id": item["campaign_id"]})
            report.failed += 1
    return report


def _rotated(watched: list[Item], now: datetime, core: Core) -> list[Item]:
    """The registry from where this sweep interval's tick starts (the next interval's one
    further)."""
    if not watched:
        return watched
    start = int(now.timestamp()) // core.settings.sweep_interval_s % len(watched)
    return watched[start:] + watched[:start]


def _tick_one(core: Core, loaded: Loaded, now: datetime, report: TickReport) -> None:
    campaign = loaded.campaign
    settings = core.settings
    steps = CampaignSteps(core, campaign, now)
    if campaign.status is C.SCHEDULED:
        lookahead = timedelta(seconds=settings.sweep_interval_s)
        if campaign.send_at is None or campaign.send_at <= now + lookahead:
            report.begun += steps.apply(CampaignMove.BEGIN)
        return
    if campaign.status is C.PAUSED:
        return
    done = progress(core, campaign)
    steps.done = done  # what the events its moves report count
    if campaign.status is C.CANCELED:
        if campaign_withdraw.settled(core, loaded, done, now):
            report.completed += steps.apply(CampaignMove.CLOSE)
        return
    if campaign.stopped_at is not None:
        _close_when_settled(core, steps, done, report)
        return
    if campaign.status is not C.RUNNING:
        return
    if not loaded.chains_done():
        stalled = timedelta(seconds=settings.enqueue_lease_s + settings.lease_s)
        # Steps waiting for the throttle's slots (quiet hours moved them on) are not lost.
        waiting = rules.slots_reopen_at(campaign, settings.campaign_lookahead_s)
        still = max(filter(None, (campaign.chained_at, waiting)), default=None)
        if still is None or now - still > stalled:
            report.restarted += steps.apply(CampaignMove.RESTART)
        return
    _after_chains(steps, done, report)


def _after_chains(steps: CampaignSteps, done: Progress, report: TickReport) -> None:
    """Every chain of the phase finished: on to the next phase, or the end."""
    campaign, now = steps.campaign, steps.now
    settled = done.finished == done.totals[CampaignCounter.CREATED]
    match campaign.phase:
        case P.FREEZE:
            report.phases += steps.apply(CampaignMove.FROZEN)
        case P.TEST if settled:
            report.phases += steps.apply(CampaignMove.TESTED)
        case P.DECIDE:
            assert campaign.experiment is not None and campaign.test_done_at is not None
            wait = timedelta(minutes=campaign.experiment.decide_after_minutes)
            if now >= campaign.test_done_at + wait:
                report.phases += _decide(steps, done)
        case P.SEND:
            report.phases += steps.apply(CampaignMove.SENT)
        case P.FINISH if done.finished >= campaign.audience_size:
            report.completed += steps.apply(CampaignMove.COMPLETE)


def _decide(steps: CampaignSteps, done: Progress) -> bool:
    campaign, now = steps.campaign, steps.now
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
    if found.winner is None:  # fallback "stop": the rest get nothing
        return steps.apply(CampaignMove.STOP, decision=decision)
    return steps.apply(CampaignMove.DECIDE, decision=decision)


def _close_when_settled(
    core: Core, steps: CampaignSteps, done: Progress, report: TickReport
) -> None:
    """Stopped (an experiment's ``stop``, a deleted template): once steps under way had time to
    end and every message written has its answer, the books close (the never-written recipients
    count as canceled)."""
    campaign, now = steps.campaign, steps.now
    stopped = campaign.stopped_at or now
    in_flight = timedelta(seconds=core.settings.lease_s)
    if now - stopped < in_flight or done.finished < done.totals[CampaignCounter.CREATED]:
        return
    report.completed += steps.apply(CampaignMove.COMPLETE)
