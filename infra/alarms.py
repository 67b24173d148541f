"""The alarms on submsg's own metrics (chalicelib/adapters/metrics.py), with their thresholds.

The template's other alarms (dead letters, function errors and throttles) are written in
infra/resources.json; the dashboard shows the state of all of them.
"""

from __future__ import annotations

from typing import Any

from chalicelib.adapters.metrics import NAMESPACE, SERVICE, Dimension, Metric

SWEEP_LAG_ALARM = "SweepLagAlarm"
REFUSAL_RATE_ALARM = "RefusalRateAlarm"
INTERNAL_ERRORS_ALARM = "ApiInternalErrorsAlarm"
WEBHOOKS_FAILED_ALARM = "WebhooksFailedAlarm"
EXISTING_ALARMS = (
    "DeadLetterQueueDepthAlarm",
    "SendWorkerErrorsAlarm",
    "DueSweepErrorsAlarm",
    "ExpirySweepErrorsAlarm",
    "WebhookDeadLetterQueueDepthAlarm",
    "WebhookDelivererErrorsAlarm",
    "WebhookSweepErrorsAlarm",
    "SweepWorkerErrorsAlarm",
    "FunctionThrottlesAlarm",
)

PERIOD_S = 300
SWEEP_LAG_LIMIT_S = 120  # a due message waited two sweeps: the sweep is behind or failing
SWEEP_LAG_MINUTES = 5
REFUSAL_RATE_LIMIT = 25  # per cent of the API's answers refused (4xx) ...
REFUSAL_RATE_MIN_REQUESTS = 50  # ... in a 5-minute period with at least this many requests
REFUSAL_RATE_PERIODS = 3
# The refusal rate in per cent, 0 while the API is too quiet for a rate to mean anything.
REFUSAL_RATE = f"IF(requests >= {REFUSAL_RATE_MIN_REQUESTS}, 100 * FILL(refusals, 0) / requests, 0)"

Json = dict[str, Any]


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
    WEBHOOKS_FAILED_ALARM: _alarm(
        "Webhook deliveries failed for good (every attempt of about two days failed) or an "
        "endpoint was disabled: see the endpoints' delivery logs (submsg webhooks deliveries).",
        Metrics=[
            {
                "Id": "lost",
                "Label": "failed or disabled",
                "Expression": "FILL(failed, 0) + FILL(disabled, 0)",
                "ReturnData": True,
            },
            _stat("failed", Metric.WEBHOOKS_FAILED),
            _stat("disabled", Metric.WEBHOOK_ENDPOINTS_DISABLED),
        ],
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="notBreaching",
    ),
}
