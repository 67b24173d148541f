"""The stage's CloudWatch dashboard: the state of every alarm, then submsg's own metrics (the
names the code emits, chalicelib/adapters/metrics.py), then the AWS metrics of its functions,
queues, table and API.

The body is JSON for ``Fn::Sub`` (``${Stage}``, ``${SendQueue.QueueName}``...). Widgets carry a
size and no position, so CloudWatch lays them out in this order, three to a row.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.metrics import NAMESPACE, SERVICE, Dimension, Metric
from infra.alarms import (
    ALARMS,
    EXISTING_ALARMS,
    PERIOD_S,
    REFUSAL_RATE,
    REFUSAL_RATE_LIMIT,
    SWEEP_LAG_LIMIT_S,
)

FUNCTIONS = (
    "APIHandler",
    "DueSweep",
    "SweepWorker",
    "ExpirySweep",
    "SendWorker",
    "WebhookSweep",
    "WebhookDeliverer",
)
# API Gateway knows an API's metrics by its name and stage (the RestAPI's Name and StageName).
API_NAME = "submsg-${Stage}"
API_STAGE = "api"
CARDS = (
    Metric.CARDS_REQUESTED,
    Metric.CARDS_SENT,
    Metric.CARDS_FAILED,
    Metric.CARDS_SKIPPED,
    Metric.CARDS_UNKNOWN,
    Metric.CARDS_CANCELED,
    Metric.CARDS_RETRIED,
    Metric.CARDS_DEFERRED,
)
WECHAT_ANSWERS = (
    Metric.WECHAT_TOKEN_ERRORS,
    Metric.WECHAT_BUSY,
    Metric.WECHAT_QUOTA,
    Metric.WECHAT_UNSUBSCRIBED,
    Metric.WECHAT_CONTENT_ERRORS,
    Metric.WECHAT_UNKNOWN,
    Metric.WECHAT_TOKEN_FETCHES,
)
ENGAGEMENT = (Metric.CARDS_CLICKED, Metric.CARDS_CONVERTED, Metric.CAMPAIGN_CARDS)
WEBHOOKS = (
    Metric.WEBHOOKS_DELIVERED,
    Metric.WEBHOOKS_RETRIED,
    Metric.WEBHOOKS_FAILED,
    Metric.WEBHOOK_ENDPOINTS_DISABLED,
)

Json = dict[str, Any]
Line = list[Any]


def _line(namespace: str, metric: str, dimensions: tuple[str, ...], **options: Any) -> Line:
    line: Line = [namespace, metric, *dimensions]
    return [*line, options] if options else line


def _ours(metric: Metric, **options: Any) -> Line:
    """One of submsg's metrics, over every app and code."""
    dimensions = (Dimension.SERVICE.value, SERVICE, Dimension.STAGE.value, "${Stage}")
    return _line(NAMESPACE, metric.value, dimensions, **options)


def _functions(metric: str) -> list[Line]:
    return [_line("AWS/Lambda", metric, ("FunctionName", f"${{{f}}}"), label=f) for f in FUNCTIONS]


def _queue(metric: str, queue: str, **options: Any) -> Line:
    return _line("AWS/SQS", metric, ("QueueName", f"${{{queue}.QueueName}}"), **options)


def _table(metric: str, label: str) -> Line:
    return _line("AWS/DynamoDB", metric, ("TableName", "${Table}"), label=label)


def _api(metric: str, label: str) -> Line:
    return _line("AWS/ApiGateway", metric, ("ApiName", API_NAME, "Stage", API_STAGE), label=label)


def _graph(title: str, lines: list[Line], stat: str = "Sum", **extra: Any) -> Json:
    properties = {
        "title": title,
        "view": "timeSeries",
        "region": "${AWS::Region}",
        "period": PERIOD_S,
        "stat": stat,
        "metrics": lines,
        **extra,
    }
    return {"type": "metric", "width": 8, "height": 6, "properties": properties}


def _threshold(value: float, label: str) -> Json:
    return {"annotations": {"horizontal": [{"value": value, "label": label}]}}


def _alarms() -> Json:
    arns = [f"${{{alarm}.Arn}}" for alarm in (*EXISTING_ALARMS, *ALARMS)]
    return {
        "type": "alarm",
        "width": 24,
        "height": 3,
        "properties": {"title": "Alarms", "alarms": arns},
    }


def _refusals_search() -> Line:
    dims = ",".join((Dimension.CODE, Dimension.SERVICE, Dimension.STAGE))
    query = f'{{{NAMESPACE},{dims}}} MetricName="{Metric.REFUSALS}" stage="${{Stage}}"'
    return [{"expression": f"SEARCH('{query}', 'Sum', {PERIOD_S})", "id": "bycode"}]


def _refusal_rate() -> list[Line]:
    return [
        [{"expression": REFUSAL_RATE, "label": "refused (%)", "id": "rate"}],
        _ours(Metric.REFUSALS, id="refusals", visible=False),
        _ours(Metric.REQUESTS, id="requests", visible=False),
    ]


def ours() -> list[Json]:
    """The widgets of submsg's own metrics: cards, refusals, lateness, sweep lag, WeChat."""
    lateness = [_ours(Metric.SEND_LATENESS, stat=stat, label=stat) for stat in ("p50", "p99")]
    refusals = [
        _refusals_search(),
        _ours(Metric.RATE_LIMITED, label="over an app's requests_per_second"),
        _ours(Metric.SERVER_ERRORS),
    ]
    return [
        _graph("Cards by outcome", [_ours(m) for m in CARDS], stacked=False),
        _graph("Refusals by error code", refusals),
        _graph("Refusal rate (%)", _refusal_rate(), **_threshold(REFUSAL_RATE_LIMIT, "alarm")),
        _graph("Lateness: send_at to WeChat's answer (s)", lateness, stat="p99"),
        _graph(
            "Due sweep lag (s)",
            [_ours(Metric.SWEEP_LAG)],
            stat="Maximum",
            **_threshold(SWEEP_LAG_LIMIT_S, "alarm"),
        ),
        _graph("WeChat answers by errcode class", [_ours(m) for m in WECHAT_ANSWERS]),
        _graph(
            "Store: conflicts retried, throttles",
            [_ours(Metric.STORE_CONFLICTS_RETRIED), _ours(Metric.STORE_THROTTLES)],
        ),
        _graph("Clicks, conversions, campaign cards", [_ours(m) for m in ENGAGEMENT]),
        _graph("Webhook deliveries by outcome", [_ours(m) for m in WEBHOOKS]),
    ]


def aws() -> list[Json]:
    """The widgets of the AWS metrics: functions, queues, table and API."""
    queue = [
        _queue("ApproximateNumberOfMessagesVisible", "SendQueue", label="waiting"),
        _queue("ApproximateAgeOfOldestMessage", "SendQueue", label="oldest (s)", yAxis="right"),
    ]
    dead_letters = _queue(
        "ApproximateNumberOfMessagesVisible", "SendDeadLetterQueue", label="dead letters"
    )
    webhook_dead_letters = _queue(
        "ApproximateNumberOfMessagesVisible", "WebhookDeadLetterQueue", label="webhook dead letters"
    )
    return [
        _graph("Function errors", [*_functions("Errors"), _ours(Metric.SERVER_ERRORS)]),
        _graph("Function duration, p99 (ms)", _functions("Duration"), stat="p99"),
        _graph("Function throttles", _functions("Throttles")),
        _graph("Send queue: waiting, and the oldest's age (s)", queue, stat="Maximum"),
        _graph("Dead-letter queue depth", [dead_letters, webhook_dead_letters], stat="Maximum"),
        _graph(
            "Table throttled requests",
            [_table("ReadThrottleEvents", "reads"), _table("WriteThrottleEvents", "writes")],
        ),
        _graph(
            "API requests and errors",
            [_api("Count", "requests"), _api("4XXError", "4xx"), _api("5XXError", "5xx")],
        ),
        _graph(
            "API latency, p99 (ms)",
            [_api("Latency", "latency"), _api("IntegrationLatency", "integration")],
            stat="p99",
        ),
    ]


def body() -> str:
    """The dashboard's JSON, for ``Fn::Sub``."""
    return json.dumps({"widgets": [_alarms(), *ours(), *aws()]}, separators=(",", ":"))
