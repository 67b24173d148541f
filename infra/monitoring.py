"""The stage's dashboard and the alarms on submsg's own metrics, built from the names the code
emits (chalicelib/adapters/metrics.py).

They live in infra/resources.json like every other resource; edit them here and run
``python -m infra.monitoring`` to write them there (a test checks that the two agree).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.adapters.metrics import NAMESPACE, SERVICE, Dimension, Metric
from infra.provision import RESOURCES_FILE

DASHBOARD = "Dashboard"
SWEEP_LAG_ALARM = "SweepLagAlarm"
REFUSAL_RATE_ALARM = "RefusalRateAlarm"
INTERNAL_ERRORS_ALARM = "ApiInternalErrorsAlarm"
EXISTING_ALARMS = (
    "DeadLetterQueueDepthAlarm",
    "SendWorkerErrorsAlarm",
    "DueSweepErrorsAlarm",
    "ExpirySweepErrorsAlarm",
    "FunctionThrottlesAlarm",
)
FUNCTIONS = ("APIHandler", "DueSweep", "ExpirySweep", "SendWorker")

SWEEP_LAG_LIMIT_S = 120  # a due message waited two sweeps: the sweep is behind or failing
SWEEP_LAG_MINUTES = 5
REFUSAL_RATE_LIMIT = 25  # per cent of the API's answers refused (4xx) ...
REFUSAL_RATE_MIN_REQUESTS = 50  # ... in a 5-minute period with at least this many requests
REFUSAL_RATE_PERIODS = 3
PERIOD_S = 300
# The refusal rate in per cent, 0 while the API is too quiet for a rate to mean anything.
REFUSAL_RATE = f"IF(requests >= {REFUSAL_RATE_MIN_REQUESTS}, 100 * FILL(refusals, 0) / requests, 0)"

Json = dict[str, Any]


def _ours(metric: Metric, **options: Any) -> list[Any]:
    """A dashboard line of one of submsg's metrics, over every app and code."""
    line: list[Any] = [NAMESPACE, metric.value, Dimension.SERVICE.value, SERVICE]
    line += [Dimension.STAGE.value, "${Stage}"]
    return [*line, options] if options else line


def _lambda(metric: str, function: str) -> list[Any]:
    return ["AWS/Lambda", metric, "FunctionName", f"${{{function}}}", {"label": function}]


def _queue(metric: str, queue: str, label: str) -> list[Any]:
    return ["AWS/SQS", metric, "QueueName", f"${{{queue}.QueueName}}", {"label": label}]


def _graph(title: str, lines: list[list[Any]], stat: str = "Sum", **extra: Any) -> Json:
    properties = {
        "title": title,
        "view": "timeSeries",
        "region": "${AWS::Region}",
        "period": PERIOD_S,
        "stat": stat,
        "metrics": lines,
        **extra,
    }
    return {"type": "metric", "properties": properties}


def _threshold(value: float, label: str) -> Json:
    return {"annotations": {"horizontal": [{"value": value, "label": label}]}}


def _refusals_search() -> list[Json]:
    dims = ",".join((Dimension.CODE, Dimension.SERVICE, Dimension.STAGE))
    query = f'{{{NAMESPACE},{dims}}} MetricName="{Metric.REFUSALS}" stage="${{Stage}}"'
    return [{"expression": f"SEARCH('{query}', 'Sum', {PERIOD_S})", "id": "bycode"}]


def _refusal_rate_lines() -> list[list[Any]]:
    return [
        [{"expression": REFUSAL_RATE, "label": "refused (%)", "id": "rate"}],
        _ours(Metric.REFUSALS, id="refusals", visible=False),
        _ours(Metric.REQUESTS, id="requests", visible=False),
    ]


def widgets() -> list[Json]:
    cards = (
        Metric.CARDS_REQUESTED,
        Metric.CARDS_SENT,
        Metric.CARDS_FAILED,
        Metric.CARDS_SKIPPED,
        Metric.CARDS_UNKNOWN,
        Metric.CARDS_CANCELED,
        Metric.CARDS_RETRIED,
        Metric.CARDS_DEFERRED,
    )
    wechat = (
        Metric.WECHAT_TOKEN_ERRORS,
        Metric.WECHAT_BUSY,
        Metric.WECHAT_QUOTA,
        Metric.WECHAT_UNSUBSCRIBED,
        Metric.WECHAT_CONTENT_ERRORS,
        Metric.WECHAT_UNKNOWN,
        Metric.WECHAT_TOKEN_FETCHES,
    )
    engagement = (Metric.CARDS_CLICKED, Metric.CARDS_CONVERTED, Metric.CAMPAIGN_CARDS)
    lateness = [_ours(Metric.SEND_LATENESS, stat=stat, label=stat) for stat in ("p50", "p99")]
    refusals = [
        _refusals_search(),
        _ours(Metric.RATE_LIMITED, label="over an app's requests_per_second"),
        _ours(Metric.SERVER_ERRORS),
    ]
    return [
        _graph("Cards by outcome", [_ours(m) for m in cards], stacked=False),
        _graph("Refusals by error code", refusals),
        _graph(
            "Refusal rate (%)",
            _refusal_rate_lines(),
            **_threshold(REFUSAL_RATE_LIMIT, "alarm"),
        ),
        _graph("Lateness: send_at to WeChat's answer (s)", lateness, stat="p99"),
        _graph(
            "Due sweep lag (s)",
            [_ours(Metric.SWEEP_LAG)],
            stat="Maximum",
            **_threshold(SWEEP_LAG_LIMIT_S, "alarm"),
        ),
        _graph("WeChat answers by errcode class", [_ours(m) for m in wechat]),
        _graph(
            "Send queue and dead-letter queue",
            [
                _queue("ApproximateNumberOfMessagesVisible", "SendDeadLetterQueue", "DLQ depth"),
                _queue("ApproximateNumberOfMessagesVisible", "SendQueue", "send queue depth"),
                _queue("ApproximateAgeOfOldestMessage", "SendQueue", "oldest in queue (s)"),
            ],
            stat="Maximum",
        ),
        _graph(
            "Function errors",
            [*(_lambda("Errors", f) for f in FUNCTIONS), _ours(Metric.SERVER_ERRORS)],
        ),
        _graph("Function duration p99 (ms)", [_lambda("Duration", f) for f in FUNCTIONS], "p99"),
        _graph(
            "Store: conflicts retried, throttles",
            [_ours(Metric.STORE_CONFLICTS_RETRIED), _ours(Metric.STORE_THROTTLES)],
        ),
        _graph("Clicks, conversions, campaign cards", [_ours(m) for m in engagement]),
        {
            "type": "alarm",
            "properties": {
                "title": "Alarms",
                "alarms": [f"${{{alarm}.Arn}}" for alarm in (*ALARMS, *EXISTING_ALARMS)],
            },
        },
    ]


def dashboard_body() -> str:
    """The dashboard's JSON, for ``Fn::Sub`` (``${Stage}``, ``${SendQueue.QueueName}``...)."""
    laid_out = []
    for n, widget in enumerate(widgets()):
        place = {"x": (n % 2) * 12, "y": (n // 2) * 6, "width": 12, "height": 6}
        laid_out.append({**widget, **place})
    return json.dumps({"widgets": laid_out}, separators=(",", ":"))


def _dimensions(**values: Any) -> list[Json]:
    return [{"Name": name, "Value": value} for name, value in values.items()]


def _stage_dimensions() -> list[Json]:
    return _dimensions(**{Dimension.SERVICE: SERVICE, Dimension.STAGE: {"Ref": "Stage"}})


def _alarm(description: str, **properties: Any) -> Json:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": description,
            **properties,
            "AlarmActions": [{"Ref": "AlarmTopic"}],
        },
    }


def _stat(query_id: str, metric: Metric) -> Json:
    target = {"Namespace": NAMESPACE, "MetricName": metric.value, "Dimensions": _stage_dimensions()}
    stat = {"Metric": target, "Period": PERIOD_S, "Stat": "Sum"}
    return {"Id": query_id, "ReturnData": False, "MetricStat": stat}


ALARMS: dict[str, Json] = {
    SWEEP_LAG_ALARM: _alarm(
        f"The due sweep found messages due for more than {SWEEP_LAG_LIMIT_S} s, or did not run "
        f"(it reports its lag every minute), for {SWEEP_LAG_MINUTES} minutes: reminders are late.",
        Namespace=NAMESPACE,
        MetricName=Metric.SWEEP_LAG.value,
        Dimensions=_stage_dimensions(),
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=SWEEP_LAG_MINUTES,
        DatapointsToAlarm=SWEEP_LAG_MINUTES,
        Threshold=SWEEP_LAG_LIMIT_S,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="breaching",
    ),
    REFUSAL_RATE_ALARM: _alarm(
        f"More than {REFUSAL_RATE_LIMIT} % of the API's answers were refusals (4xx: no_grant, "
        "rate_limited, unauthorized...) for 15 minutes: see the dashboard's refusals by code.",
        Metrics=[
            {"Id": "rate", "Label": "refused (%)", "Expression": REFUSAL_RATE, "ReturnData": True},
            _stat("refusals", Metric.REFUSALS),
            _stat("requests", Metric.REQUESTS),
        ],
        EvaluationPeriods=REFUSAL_RATE_PERIODS,
        DatapointsToAlarm=REFUSAL_RATE_PERIODS,
        Threshold=REFUSAL_RATE_LIMIT,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    ),
    INTERNAL_ERRORS_ALARM: _alarm(
        "The API answered 500 internal_error (an unexpected exception, which Lambda does not "
        "count as a function error): see the API function's log.",
        Namespace=NAMESPACE,
        MetricName=Metric.SERVER_ERRORS.value,
        Dimensions=[*_stage_dimensions(), *_dimensions(**{Dimension.CODE: "internal_error"})],
        Statistic="Sum",
        Period=PERIOD_S,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    ),
}


def resources() -> dict[str, Json]:
    dashboard = {
        "Type": "AWS::CloudWatch::Dashboard",
        "Properties": {
            "DashboardName": {"Fn::Sub": "submsg-${Stage}"},
            "DashboardBody": {"Fn::Sub": dashboard_body()},
        },
    }
    return {**ALARMS, DASHBOARD: dashboard}


def main() -> None:
    template = json.loads(RESOURCES_FILE.read_text(encoding="utf-8"))
    others = {k: v for k, v in template["Resources"].items() if k not in resources()}
    template["Resources"] = {**others, **resources()}
    RESOURCES_FILE.write_text(json.dumps(template, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
