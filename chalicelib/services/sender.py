"""The sender: claims a due message, applies the send-time policy, calls WeChat, records the result.

Exactly-once rules (docs/exactly-once.md): every step is one move of the lifecycle, a
conditional write, so a duplicate SQS delivery, an overlapping sweep or a crash between two
calls can never send a card twice nor lose a message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from chalicelib.adapters import metrics
from chalicelib.adapters.observability import logger
from chalicelib.domain import clock, dispatch, policy
from chalicelib.domain.lifecycle import Move
from chalicelib.domain.outcomes import Outcome, SendReport
from chalicelib.domain.records import App, Category, Message
from chalicelib.domain.tracking import wechat_payload
from chalicelib.ports import (
    Name,
    TransactionFailed,
    WriteName,
)
from chalicelib.services import send_readiness, sender_gate
from chalicelib.services.auth import load_app
from chalicelib.services.deps import Core, Sending
from chalicelib.services.lifecycle import MessageSteps

if TYPE_CHECKING:
    from chalicelib.ports import Check, Write

DUE_SLACK = timedelta(seconds=1)
PREFERENCES, BUDGET, UNCLICKED = WriteName.PREFERENCES, WriteName.BUDGET, WriteName.UNCLICKED
CAP = WriteName.CAP


class RetryLater(Exception):
    """WeChat was busy: the SQS message comes back after the backoff (a partial batch failure)."""


@dataclass(frozen=True)
class Delivery:
    """One SQS record: the message snapshot and how often SQS has handed it out."""

    message: Message
    receive_count: int
    receipt_handle: str


def deliver(sending: Sending, delivery: Delivery) -> None:
    core, message = sending.core, delivery.message
    early = (message.send_at - clock.now()).total_seconds()
    if 0 < early <= DUE_SLACK.total_seconds():
        time.sleep(early)  # SQS delays by whole seconds: land on send_at, never before it
    now = clock.now()
    app = load_app(core, message.app_id)
    if app is None:
        logger.warning("message of an unknown app dropped", extra={"message_id": message.id})
        return
    steps = MessageSteps(core, app, message, now)
    if sender_gate.held_back(sending, steps):
        return
    if _deferred_for_quiet_hours(sending, steps):
        return
    secret = send_readiness.ready(sending, app)  # the secret and the token, before any claim
    window = steps.cap_window()
    try:
        postpone, landed = partial(_postpone, core, delivery), partial(_landed, core, steps)
        with send_readiness.time_to_claim(core, postpone, landed):
            if not _claim(core, steps, delivery, window):
                return
    except _Again as again:  # outside the claim's budget: the new try has its own
        deliver(sending, again.delivery)
        return
    report = secret if isinstance(secret, SendReport) else _send(sending, app, message, secret)
    # WeChat answered: its answer is recorded, retried until it lands (the claim is ours, so a
    # retry can only land once), never left to become unknown.
    _record(core, steps, delivery, report, window)


def _claim(
    core: Core, steps: MessageSteps, delivery: Delivery, window: policy.CapWindow | None
) -> bool:
    """Claim the card under the policy and the budget; False when there is nothing to send."""
    app, message, now = steps.app, steps.message, steps.now
    claim = steps.transition(
        Move.CLAIM,
        work_at=now + timedelta(seconds=core.settings.lease_s),
        changes={"claim_id": steps.claim_id},
        due_by=now + DUE_SLACK,
    )
    still_wanted = core.store.users.still_wanted(
        app.app_id, message.openid, message.category, message.template_id, message.user_timezone
    )
    tiers = _budget_tiers(core, steps, window)
    for n, tier in enumerate(tiers):
        extra = {PREFERENCES: still_wanted, **({BUDGET: tier.check} if tier.check else {})}
        try:
            # False: claimed by another copy, canceled, moved, or not due: nothing to do
            return steps.apply(claim, window, extra=extra, cap_limit=tier.cap_limit)
        except TransactionFailed as refused:
            if refused.on(PREFERENCES) or not refused.on(BUDGET, CAP):
                _claim_refused(core, steps, delivery, refused)
            elif refused.on(BUDGET) and n == 0:
                _skip(steps, "fatigue")  # fatigued, or switched off lately
            elif n + 1 < len(tiers) and not refused.on(BUDGET):
                continue  # over the base cap: an engaged user may have one more
            else:
                _skip(steps, "frequency_cap")
            return False
    return False


def _landed(core: Core, steps: MessageSteps) -> bool:
    """Whether this sender's claim landed although its answer never came (the message then
    moves on from the claimed state)."""
    claimed = core.store.messages.claimed_by(steps.message.id, steps.claim_id)
    if claimed is not None:
        steps.message = claimed
    return claimed is not None


@dataclass(frozen=True)
class _Tier:
    """One way to claim: the cap's limit (None: the app's) and the engagement it needs."""

    cap_limit: int | None = None
    check: Check | None = None


def _budget_tiers(core: Core, steps: MessageSteps, window: policy.CapWindow | None) -> list[_Tier]:
    """The adaptive marketing budget (docs/engagement.md#the-marketing-budget) as claims to try in
    turn: within the app's cap unless fatigued or switched off, then one more for a user who clicked
    lately."""
    app, message = steps.app, steps.message
    if message.category is not Category.MARKETING or not app.adaptive_marketing:
        return [_Tier()]
    budget = partial(core.store.engagement.within_budget, app.app_id, message.openid, steps.now)
    tiers = [_Tier(check=budget(engaged=False))]
    if window is not None:
        base = app.caps[message.category].limit
        tiers.append(_Tier(cap_limit=base + 1, check=budget(engaged=True)))
    return tiers


def _deferred_for_quiet_hours(sending: Sending, steps: MessageSteps) -> bool:
    message, app = steps.message, steps.app
    if policy.exempt_from_quiet_hours(message.category, message.urgent):
        return False
    timezone = message.user_timezone or app.timezone
    until = policy.quiet_until(steps.now, timezone, app.quiet_hours)
    if until is None:
        return False
    send_at = sender_gate.deferred_send_at(sending, message, until)
    deferred = steps.transition(
        Move.DEFER, work_at=send_at, changes={"send_at": send_at}, due_by=steps.now + DUE_SLACK
    )
    steps.apply(deferred)  # a copy that finds it handled, canceled or moved does nothing
    return True


class _Again(Exception):
    """Decide again with this delivery (the user's timezone changed since it was written)."""

    def __init__(self, delivery: Delivery) -> None:
        super().__init__("decide again")
        self.delivery = delivery


def _claim_refused(
    core: Core, steps: MessageSteps, delivery: Delivery, refused: TransactionFailed
) -> None:
    message = delivery.message
    if refused.on(PREFERENCES):
        preferences = core.store.users.load(message.app_id, message.openid).preferences
        if policy.opted_out(preferences, message.category, message.template_id):
            _skip(steps, "opted_out")
        elif preferences.timezone != message.user_timezone:
            # The user changed timezone since the message was written: decide with the new one.
            updated = message.model_copy(update={"user_timezone": preferences.timezone})
            raise _Again(Delivery(updated, delivery.receive_count, delivery.receipt_handle))
    elif refused.on(CAP):
        _skip(steps, "frequency_cap")


def _skip(steps: MessageSteps, reason: str) -> None:
    steps.apply(steps.transition(Move.SKIP, changes={"result": {"reason": reason}}))


def _postpone(core: Core, delivery: Delivery) -> None:
    if delivery.receipt_handle:
        core.queue.postpone(delivery.receipt_handle, send_readiness.LEFT_FOR_S)


def _send(sending: Sending, app: App, message: Message, secret: str) -> SendReport:
    return sending.wechat().send(app.app_id, secret, wechat_payload(message))


def _record(
    core: Core,
    steps: MessageSteps,
    delivery: Delivery,
    report: SendReport,
    window: policy.CapWindow | None,
) -> None:
    outcome, settings = report.outcome, core.settings
    last_attempt = delivery.receive_count >= settings.max_attempts
    _log_outcome(delivery, report, last_attempt)
    metrics.wechat_answered(report)
    result = {"result": _result(report)}
    if outcome is Outcome.RETRY and not last_attempt:
        delay = policy.retry_delay_s(max(1, delivery.receive_count), settings.retry_base_s)
        work_at = steps.now + timedelta(seconds=delay + settings.lease_s)
        steps.apply(steps.transition(Move.RETRY, work_at=work_at, changes=result), window)
        if delivery.receipt_handle:
            core.queue.postpone(delivery.receipt_handle, delay)
        raise RetryLater(f"WeChat busy ({report.errcode}); retry in {delay} s")
    if outcome is Outcome.SENT:
        _sent(core, steps, report)
    elif outcome is Outcome.DEFER_DAILY_QUOTA:
        until = policy.next_daily_quota_reset(clock.now())
        postponed = steps.transition(
            Move.POSTPONE, work_at=until, changes={**result, "send_at": until}
        )
        steps.apply(postponed, window)
    elif outcome is Outcome.UNKNOWN:
        steps.apply(steps.transition(Move.LOSE, changes=result))
    elif outcome is Outcome.NO_SUBSCRIPTION:
        steps.apply(steps.transition(Move.FAIL_UNSUBSCRIBED, changes=result), window)
        message = delivery.message
        dropped = core.store.users.drop_credits(message.app_id, message.openid, message.template_id)
        logger.info("43101: credits dropped", extra={"message_id": message.id, "dropped": dropped})
    else:  # REJECTED, or RETRY with no attempt left
        steps.apply(steps.transition(Move.FAIL, changes=result), window)


def _sent(core: Core, steps: MessageSteps, report: SendReport) -> None:
    sent = steps.transition(Move.SEND, changes={"result": _result(report), "sent_at": steps.now})
    extra: dict[Name, Write] = {}
    message = steps.message
    if message.category is Category.MARKETING:
        extra[UNCLICKED] = core.store.engagement.marketing_sent(
            message.app_id, message.openid, steps.now
        )
    if report.msgid is not None and sent.purge_at is not None:
        pointer = core.store.messages.msgid_pointer(
            steps.app.app_id, report.msgid, steps.message.id, sent.purge_at
        )
        extra[WriteName.MSGID] = pointer
    steps.apply(sent, extra=extra)


def _result(report: SendReport) -> dict[str, Any]:
    result: dict[str, Any] = {"errmsg": report.errmsg}
    if report.errcode is not None:
        result["errcode"] = report.errcode
    if report.msgid is not None:
        result["msgid"] = report.msgid
    return result


_OUTCOME_LINES = {
    Outcome.SENT: "card sent",
    Outcome.RETRY: "WeChat busy: card released for a retry",
    Outcome.DEFER_DAILY_QUOTA: "WeChat's daily quota reached: card deferred to the next day",
    Outcome.NO_SUBSCRIPTION: "card failed: the user holds no subscription (43101)",
    Outcome.REJECTED: "card failed: WeChat refused it",
    Outcome.UNKNOWN: "card outcome unknown: not resent",
}


def _log_outcome(delivery: Delivery, report: SendReport, last_attempt: bool) -> None:
    line = _OUTCOME_LINES[report.outcome]
    if report.outcome is Outcome.RETRY and last_attempt:
        line = "card failed: WeChat still busy after the last attempt"
    level = logger.info if report.outcome is Outcome.SENT else logger.warning
    level(
        line,
        extra={
            "message_id": delivery.message.id,
            "outcome": report.outcome.value,
            "errcode": report.errcode,
            "attempt": delivery.receive_count,
        },
    )


def parse_record(body: dict[str, Any], receive_count: int, receipt_handle: str) -> Delivery:
    return Delivery(dispatch.from_envelope(body), receive_count, receipt_handle)
