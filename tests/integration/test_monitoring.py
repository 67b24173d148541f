"""The dashboard and the alarms on submsg's metrics (infra/dashboard.py, infra/alarms.py), in the
template."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest

from chalicelib.adapters import metrics
from chalicelib.adapters.metrics import NAMESPACE, Dimension, Metric
from infra import monitoring
from infra.alarms import (
    INTERNAL_ERRORS_ALARM,
    REFUSAL_RATE_ALARM,
    REFUSAL_RATE_LIMIT,
    SWEEP_LAG_ALARM,
)
from infra.provision import RESOURCES_FILE, load_resources

FUNCTIONS = (
    "APIHandler",
    "DueSweep",
    "SweepWorker",
    "ExpirySweep",
    "SendWorker",
    "WebhookSweep",
    "WebhookDeliverer",
)
NOT_YET_EMITTED: set[Metric] = set()


def template() -> dict[str, Any]:
    return json.loads(RESOURCES_FILE.read_text(encoding="utf-8"))


def widgets() -> list[dict[str, Any]]:
    body = load_resources()[monitoring.DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(body)["widgets"]


def metric_lines(widget: dict[str, Any]) -> list[list[Any]]:
    return [line for line in widget["properties"].get("metrics", []) if isinstance(line[0], str)]


def named(namespace: str) -> set[str]:
    """Every metric of ``namespace`` a widget draws, searched for included."""
    found = {line[1] for w in widgets() for line in metric_lines(w) if line[0] == namespace}
    for widget in widgets():
        for line in widget["properties"].get("metrics", []):
            expression = line[0].get("expression", "") if isinstance(line[0], dict) else ""
            if f"{{{namespace}," in expression:
                found.update(re.findall(r'MetricName="(\w+)"', expression))
    return found


def alarms() -> dict[str, dict[str, Any]]:
    resources = load_resources()
    return {n: r for n, r in resources.items() if r.get("Type") == "AWS::CloudWatch::Alarm"}


def test_the_template_holds_the_monitoring_module_resources_as_its_last_block():
    resources = template()["Resources"]
    ours = monitoring.resources()

    assert {name: resources[name] for name in ours} == json.loads(json.dumps(ours))
    assert list(resources)[-len(ours) :] == list(ours)


def test_the_dashboard_draws_only_metrics_the_code_emits_and_every_one_it_emits():
    drawn = named(NAMESPACE)

    assert drawn <= {m.value for m in Metric}
    assert drawn == {m.value for m in Metric} - NOT_YET_EMITTED
    for widget in widgets():
        for line in metric_lines(widget):
            if line[0] == NAMESPACE:
                assert line[2:6] == [
                    Dimension.SERVICE,
                    metrics.SERVICE,
                    Dimension.STAGE,
                    "${Stage}",
                ]


def test_the_dashboard_shows_outcomes_refusals_lateness_sweep_lag_dlq_errors_and_duration():
    by_title = {w["properties"]["title"]: w for w in widgets()}
    drawn = {(line[0], line[1], line[3]) for w in widgets() for line in metric_lines(w)}

    cards = {line[1] for line in metric_lines(by_title["Cards by outcome"])}
    for outcome in ("Sent", "Failed", "Skipped", "Unknown", "Canceled"):
        assert f"Cards{outcome}" in cards
    assert "Refusals" in json.dumps(by_title["Refusals by error code"])
    assert (NAMESPACE, Metric.SEND_LATENESS, metrics.SERVICE) in drawn
    assert (NAMESPACE, Metric.SWEEP_LAG, metrics.SERVICE) in drawn
    dlq = ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "${SendDeadLetterQueue.QueueName}")
    assert dlq in drawn
    for function in FUNCTIONS:
        assert ("AWS/Lambda", "Errors", f"${{{function}}}") in drawn
        assert ("AWS/Lambda", "Duration", f"${{{function}}}") in drawn
    (alarm_widget,) = [w for w in widgets() if w["type"] == "alarm"]
    assert set(alarm_widget["properties"]["alarms"]) == {f"${{{name}.Arn}}" for name in alarms()}


def test_the_dashboard_refers_only_to_resources_and_parameters_of_the_template():
    body = load_resources()[monitoring.DASHBOARD]["Properties"]["DashboardBody"]["Fn::Sub"]
    known = set(template()["Resources"]) | set(template()["Parameters"]) | {"AWS::Region"}

    referred = {name.split(".")[0] for name in re.findall(r"\$\{([^}!]+)\}", body)}

    assert referred
    assert referred <= known


def emitted_dimension_sets(record: Any, metric: str) -> list[list[str]]:
    """The dimension sets ``metric`` has in what ``record`` prints once flushed."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("POWERTOOLS_METRICS_DISABLED", "false")
        env.setattr("sys.stdout", io.StringIO())
        metrics.flush("prod")  # drop anything recorded before
        printed = io.StringIO()
        env.setattr("sys.stdout", printed)
        record()
        metrics.flush("prod")
    lines = printed.getvalue().splitlines()
    (document,) = [d for d in map(json.loads, lines) if metric in d]
    return document["_aws"]["CloudWatchMetrics"][0]["Dimensions"]


@pytest.mark.parametrize(
    ("alarm", "record"),
    [
        (SWEEP_LAG_ALARM, lambda: metrics.sweep_lag(130.0)),
        (
            INTERNAL_ERRORS_ALARM,
            lambda: metrics.answered(500, {"error": {"code": "internal_error"}}),
        ),
    ],
)
def test_an_alarm_watches_a_dimension_set_the_code_emits(alarm, record):
    properties = alarms()[alarm]["Properties"]

    watched = [d["Name"] for d in properties["Dimensions"]]

    assert properties["Namespace"] == NAMESPACE
    assert watched in emitted_dimension_sets(record, properties["MetricName"])


def test_the_refusal_rate_alarm_divides_refusals_by_requests_over_every_code():
    properties = alarms()[REFUSAL_RATE_ALARM]["Properties"]
    stats = {q["Id"]: q["MetricStat"]["Metric"] for q in properties["Metrics"] if "MetricStat" in q}
    (returned,) = [q for q in properties["Metrics"] if q["ReturnData"]]

    assert stats["refusals"]["MetricName"] == Metric.REFUSALS
    assert stats["requests"]["MetricName"] == Metric.REQUESTS
    assert "refusals" in returned["Expression"] and "requests" in returned["Expression"]
    for stat in stats.values():
        assert [d["Name"] for d in stat["Dimensions"]] == [Dimension.SERVICE, Dimension.STAGE]
    assert properties["Threshold"] == REFUSAL_RATE_LIMIT


def test_the_stack_has_alarms_on_sweep_lag_refusals_dlq_depth_and_function_errors():
    watched = json.dumps(alarms())

    assert len(alarms()) >= 4
    for metric in ("SweepLag", "Refusals", "ApproximateNumberOfMessagesVisible", "Errors"):
        assert f'"{metric}"' in watched
    for alarm in alarms().values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_the_operators_guide_names_every_metric():
    guide = (RESOURCES_FILE.parents[1] / "docs" / "observability.md").read_text(encoding="utf-8")

    assert [m for m in Metric if f"`{m}`" not in guide] == []
