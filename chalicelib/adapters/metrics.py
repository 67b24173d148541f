"""The service's CloudWatch metrics (EMF through Powertools): every name, unit and dimension.

Code records what happened with the functions below; the handlers' middleware flushes once per
invocation, one EMF document per dimension set (a log line, never an AWS request). Dimensions
are bounded: the service and stage always, and at most one of an app id or an error code, each
also aggregated without it. Never an openid, a message id or a secret.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import defaultdict
from datetime import datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.functions import is_metrics_disabled

from chalicelib.domain.errors import SubmsgError
from chalicelib.domain.lifecycle import Move, Transition
from chalicelib.domain.outcomes import TOKEN_ERRORS, Outcome, SendReport

NAMESPACE = SERVICE = "submsg"


class Metric(StrEnum):
    REQUESTS = "Requests"  # HTTP requests the API answered
    REFUSALS = "Refusals"  # 4xx answers, by error code
    SERVER_ERRORS = "ServerErrors"  # 5xx answers, by error code
    RATE_LIMITED = "RateLimited"  # requests over the app's requests_per_second, by app
    CARDS_REQUESTED = "CardsRequested"  # messages written (a credit reserved), API or campaign
    CARDS_SENT = "CardsSent"
    CARDS_FAILED = "CardsFailed"
    CARDS_SKIPPED = "CardsSkipped"
    CARDS_UNKNOWN = "CardsUnknown"
    CARDS_CANCELED = "CardsCanceled"
    CARDS_RETRIED = "CardsRetried"  # WeChat busy: back to the queue after a backoff
    CARDS_DEFERRED = "CardsDeferred"  # quiet hours or WeChat's daily quota
    CARDS_CLICKED = "CardsClicked"
    CARDS_CONVERTED = "CardsConverted"
    SEND_LATENESS = "SendLateness"  # from send_at to WeChat's acceptance of the card
    WECHAT_TOKEN_ERRORS = (
        "WeChatTokenErrors"  # errcode classes of docs/rules.md#wechats-error-codes, one per answer
    )
    WECHAT_BUSY = "WeChatBusy"
    WECHAT_QUOTA = "WeChatDailyQuota"
    WECHAT_UNSUBSCRIBED = "WeChatUnsubscribed"
    WECHAT_CONTENT_ERRORS = "WeChatContentErrors"
    WECHAT_UNKNOWN = "WeChatUnknown"
    WECHAT_TOKEN_FETCHES = "WeChatTokenFetches"
    STORE_CONFLICTS_RETRIED = "StoreConflictsRetried"  # transactions run again after a conflict
    STORE_THROTTLES = "StoreThrottles"  # DynamoDB throttled a request (botocore retries it)
    SWEEP_LAG = "SweepLag"  # how long the oldest due message the due sweep found had waited
    CAMPAIGN_CARDS = "CampaignCards"  # cards a campaign's fan-out steps wrote
    WEBHOOKS_DELIVERED = "WebhooksDelivered"
    WEBHOOKS_RETRIED = "WebhooksRetried"
    WEBHOOKS_FAILED = "WebhooksFailed"
    WEBHOOK_ENDPOINTS_DISABLED = "WebhookEndpointsDisabled"


class Dimension(StrEnum):
    SERVICE = "service"
    STAGE = "stage"
    APP = "app_id"
    CODE = "code"  # an error code of docs/api.md#errors


class WebhookOutcome(StrEnum):
    DELIVERED = "delivered"
    RETRIED = "retried"
    FAILED = "failed"
    DISABLED = "disabled"


SECONDS = frozenset({Metric.SEND_LATENESS, Metric.SWEEP_LAG})

MOVES: dict[Move, Metric] = {
    Move.SEND: Metric.CARDS_SENT,
    Move.FAIL: Metric.CARDS_FAILED,
    Move.FAIL_UNSUBSCRIBED: Metric.CARDS_FAILED,
    Move.FAIL_LATE: Metric.CARDS_FAILED,
    Move.SKIP: Metric.CARDS_SKIPPED,
    Move.LOSE: Metric.CARDS_UNKNOWN,
    Move.EXPIRE_CLAIM: Metric.CARDS_UNKNOWN,
    Move.CANCEL: Metric.CARDS_CANCELED,
    Move.WITHDRAW: Metric.CARDS_CANCELED,
    Move.RETRY: Metric.CARDS_RETRIED,
    Move.DEFER: Metric.CARDS_DEFERRED,
    Move.POSTPONE: Metric.CARDS_DEFERRED,
}

_OUTCOMES = {
    Outcome.RETRY: Metric.WECHAT_BUSY,
    Outcome.DEFER_DAILY_QUOTA: Metric.WECHAT_QUOTA,
    Outcome.NO_SUBSCRIPTION: Metric.WECHAT_UNSUBSCRIBED,
    Outcome.REJECTED: Metric.WECHAT_CONTENT_ERRORS,
    Outcome.UNKNOWN: Metric.WECHAT_UNKNOWN,
}

TRACKED = {"click": Metric.CARDS_CLICKED, "conversion": Metric.CARDS_CONVERTED}

WEBHOOKS = {
    WebhookOutcome.DELIVERED: Metric.WEBHOOKS_DELIVERED,
    WebhookOutcome.RETRIED: Metric.WEBHOOKS_RETRIED,
    WebhookOutcome.FAILED: Metric.WEBHOOKS_FAILED,
    WebhookOutcome.DISABLED: Metric.WEBHOOK_ENDPOINTS_DISABLED,
}

THROTTLED = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException"})
OTHER_CODE = "other"


def _codes(error: type[SubmsgError]) -> set[str]:
    return {error.code}.union(*(_codes(sub) for sub in error.__subclasses__()))


# Every code an answer can carry (Chalice's own 500 is rewritten as internal_error).
ERROR_CODES = frozenset(_codes(SubmsgError) | {"internal_error"})

_Group = tuple[Dimension, str] | None
_pending: defaultdict[_Group, defaultdict[Metric, list[float]]] = defaultdict(
    lambda: defaultdict(list)
)
_lock = threading.Lock()
_emf = Metrics(namespace=NAMESPACE, service=SERVICE)


def _record(metric: Metric, value: float = 1.0, group: _Group = None) -> None:
    with _lock:
        _pending[group][metric].append(value)


# What happened ------------------------------------------------------------------------------


def card_moved(app_id: str, transition: Transition, send_at: datetime) -> None:
    """A message moved (the lifecycle's one place every outcome passes)."""
    metric = MOVES.get(transition.move)
    if metric is None:
        return
    _record(metric, group=(Dimension.APP, app_id))
    if transition.move is Move.SEND:
        _record(Metric.SEND_LATENESS, max(0.0, (transition.now - send_at).total_seconds()))


def card_requested(app_id: str) -> None:
    _record(Metric.CARDS_REQUESTED, group=(Dimension.APP, app_id))


def card_tracked(app_id: str, event_type: str) -> None:
    """A card's first click or conversion."""
    _record(TRACKED[event_type], group=(Dimension.APP, app_id))


def campaign_cards(app_id: str, count: int) -> None:
    if count:
        _record(Metric.CAMPAIGN_CARDS, count, (Dimension.APP, app_id))


def wechat_answered(report: SendReport) -> None:
    """WeChat's answer to a send, by errcode class; a token error still there after the
    client's one retry with a new token counts as a token error."""
    if report.outcome is Outcome.SENT:
        return
    metric = _OUTCOMES[report.outcome]
    if report.errcode in TOKEN_ERRORS:
        metric = Metric.WECHAT_TOKEN_ERRORS
    _record(metric)


def wechat_token_refused() -> None:
    _record(Metric.WECHAT_TOKEN_ERRORS)


def wechat_token_fetched() -> None:
    _record(Metric.WECHAT_TOKEN_FETCHES)


def answered(status: int, body: Any) -> None:
    """One HTTP answer; an error counted by its code (docs/api.md#errors)."""
    _record(Metric.REQUESTS)
    if status < 400:
        return
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    code = code if code in ERROR_CODES else OTHER_CODE
    _record(
        Metric.SERVER_ERRORS if status >= 500 else Metric.REFUSALS, group=(Dimension.CODE, code)
    )


def rate_limited(app_id: str) -> None:
    _record(Metric.RATE_LIMITED, group=(Dimension.APP, app_id))


def store_conflict_retried() -> None:
    _record(Metric.STORE_CONFLICTS_RETRIED)


def count_store_throttles(client: Any) -> None:
    """Count every throttled answer of this DynamoDB client, whether botocore retries it or not
    (its retry handler decides; this one only looks)."""

    def looked_at(response: Any = None, **_: Any) -> None:
        parsed = response[1] if isinstance(response, tuple) else {}
        if parsed.get("Error", {}).get("Code") in THROTTLED:
            _record(Metric.STORE_THROTTLES)

    client.meta.events.register("needs-retry.dynamodb", looked_at)


def sweep_lag(seconds: float) -> None:
    _record(Metric.SWEEP_LAG, seconds)


def webhook_delivery(app_id: str, outcome: WebhookOutcome) -> None:
    """For the outbound webhooks' deliverer (not built yet)."""
    _record(WEBHOOKS[outcome], group=(Dimension.APP, app_id))


# Flushing -----------------------------------------------------------------------------------


def flush(stage: str) -> None:
    """Print what this invocation recorded as EMF documents, then forget it (also when
    POWERTOOLS_METRICS_DISABLED is set: then nothing is printed)."""
    with _lock:
        pending = dict(_pending)
        _pending.clear()
        if not pending or is_metrics_disabled():
            return
        for group, values in pending.items():
            _emit(stage, group, values)


def _emit(stage: str, group: _Group, values: dict[Metric, list[float]]) -> None:
    _emf.add_dimension(Dimension.SERVICE, SERVICE)
    _emf.add_dimension(Dimension.STAGE, stage)
    if group is not None:
        dimension, value = group
        _emf.add_dimensions(
            **{Dimension.SERVICE: SERVICE, Dimension.STAGE: stage, dimension: value}
        )
    for metric, samples in values.items():
        if metric in SECONDS:
            for sample in samples:
                _emf.add_metric(metric, MetricUnit.Seconds, sample)
        else:
            _emf.add_metric(metric, MetricUnit.Count, sum(samples))
    document = json.dumps(_emf.serialize_metric_set(), separators=(",", ":"))
    _emf.clear_metrics()
    _print_line(document)


def _print_line(line: str) -> None:
    """One write, flushed at once (Powertools' ``print`` writes the newline apart): processes
    that share stdout, as the local stack's do, never splice two documents into one line."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
