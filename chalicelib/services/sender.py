"""The sender: claims a due message, applies the send-time policy, calls WeChat, records the result.

Exactly-once rules (SPEC §4): every step is a conditional write, so a duplicate SQS delivery, an
overlapping sweep or a crash between two calls can never send a card twice nor lose a message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from chalicelib.adapters.observability import logger
from chalicelib.adapters.secrets import APP_SECRET, MissingSecret
from chalicelib.adapters.store import TransactionCanceled
from chalicelib.adapters.wechat import Outcome, SendReport
from chalicelib.bootstrap import Services
from chalicelib.domain import clock, policy
from chalicelib.domain.records import App, Message, MessageStatus
from chalicelib.domain.tracking import wechat_payload
from chalicelib.services import dispatch
from chalicelib.services.auth import load_app
from chalicelib.services.transitions import Transitions

S = MessageStatus
DUE_SLACK = timedelta(seconds=1)


class RetryLater(Exception):
    """WeChat was busy: the SQS message comes back after the backoff (a partial batch failure)."""


@dataclass(frozen=True)
class Delivery:
    """One SQS record: the message snapshot and how often SQS has handed it out."""

    message: Message
    receive_count: int
    receipt_handle: str


def deliver(services: Services, delivery: Delivery) -> None:
    message = delivery.message
    early = (message.send_at - clock.now()).total_seconds()
    if 0 < early <= DUE_SLACK.total_seconds():
        time.sleep(early)  # SQS delays by whole seconds: land on send_at, never before it
    now = clock.now()
    app = load_app(services, message.app_id)
    if app is None:
        logger.warning("message of an unknown app dropped", extra={"message_id": message.id})
        return
    steps = Transitions(services, app, message, now)
    if _deferred_for_quiet_hours(steps, app, message, now):
        return
    window = steps.cap_window()
    try:
        services.store.db.transact(steps.claim_ops(window, due_by=now + DUE_SLACK))
    except TransactionCanceled as canceled:
        _claim_refused(services, steps, delivery, canceled, window is not None)
        return
    report = _send(services, app, message)
    _record(services, steps, delivery, report, window)


def _deferred_for_quiet_hours(
    steps: Transitions, app: App, message: Message, now: datetime
) -> bool:
    if policy.exempt_from_quiet_hours(message.category, message.urgent):
        return False
    timezone = message.user_timezone or app.timezone
    until = policy.quiet_until(now, timezone, app.quiet_hours)
    if until is None:
        return False
    steps.defer_unclaimed(until, due_by=now + DUE_SLACK)
    return True


def _claim_refused(
    services: Services,
    steps: Transitions,
    delivery: Delivery,
    canceled: TransactionCanceled,
    capped: bool,
) -> None:
    message = delivery.message
    if Transitions.CLAIM_MESSAGE in canceled.failed or not canceled.failed:
        return  # claimed by another copy, canceled, moved, or not due: nothing to do
    if Transitions.CLAIM_PREFERENCES in canceled.failed:
        preferences = services.store.users.load(message.app_id, message.openid).preferences
        if policy.opted_out(preferences, message.category, message.template_id):
            steps.skip_unclaimed("opted_out")
            return
        if preferences.timezone != message.user_timezone:
            # The user changed timezone since the message was written: decide with the new one.
            updated = message.model_copy(update={"user_timezone": preferences.timezone})
            deliver(services, Delivery(updated, delivery.receive_count, delivery.receipt_handle))
        return
    if capped:
        steps.skip_unclaimed("frequency_cap")


def _send(services: Services, app: App, message: Message) -> SendReport:
    try:
        secret = services.secrets.get(app.app_id, APP_SECRET)
    except MissingSecret:
        return SendReport(Outcome.RETRY, None, "the app secret is not configured")
    return services.wechat.send(app.app_id, secret, wechat_payload(message))


def _record(
    services: Services,
    steps: Transitions,
    delivery: Delivery,
    report: SendReport,
    window: policy.CapWindow | None,
) -> None:
    outcome = report.outcome
    last_attempt = delivery.receive_count >= services.settings.max_attempts
    _log_outcome(delivery, report, last_attempt)
    if outcome is Outcome.RETRY and not last_attempt:
        delay = policy.retry_delay_s(max(1, delivery.receive_count), services.settings.retry_base_s)
        steps.release_for_retry(report, delay, window)
        if delivery.receipt_handle:
            services.queue.postpone(delivery.receipt_handle, delay)
        raise RetryLater(f"WeChat busy ({report.errcode}); retry in {delay} s")
    if outcome is Outcome.SENT:
        steps.finish_sent(report)
    elif outcome is Outcome.DEFER_DAILY_QUOTA:
        steps.defer_claimed(policy.next_daily_quota_reset(clock.now()), report, window)
    elif outcome is Outcome.UNKNOWN:
        steps.finish_unknown(report)
    elif outcome is Outcome.NO_SUBSCRIPTION:
        steps.finish_failed(report, window, refund=False)
        dropped = services.store.users.drop_credits(
            delivery.message.app_id, delivery.message.openid, delivery.message.template_id
        )
        logger.info(
            "43101: credits dropped", extra={"message_id": delivery.message.id, "dropped": dropped}
        )
    else:  # REJECTED, or RETRY with no attempt left
        steps.finish_failed(report, window, refund=True)


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
