"""Create the table and queues of a stage from infra/resources.json, the template deploy merges.

Local stacks and tests (moto) call ``provision``; AWS gets the same definitions through
``chalice package --merge-template infra/resources.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

RESOURCES_FILE = Path(__file__).with_name("resources.json")
TABLE, SEND_QUEUE, DEAD_LETTER_QUEUE = "Table", "SendQueue", "SendDeadLetterQueue"
WEBHOOK_QUEUE, WEBHOOK_DEAD_LETTER_QUEUE = "WebhookQueue", "WebhookDeadLetterQueue"
SWEEP_QUEUE = "SweepQueue"
SERVICE_POLICY = "ServicePolicy"
# Set apart from create_table/create_queue (names per stage, TTL, backups, SSE and redrive
# need their own calls or translation); any other property is passed through as it is.
_TEMPLATE_ONLY_TABLE_PROPERTIES = {
    "TableName",
    "TimeToLiveSpecification",
    "PointInTimeRecoverySpecification",
    "SSESpecification",
}
_TEMPLATE_ONLY_QUEUE_PROPERTIES = {"QueueName", "RedrivePolicy", "Tags"}

Properties = dict[str, Any]


@dataclass(frozen=True)
class Provisioned:
    table_name: str
    send_queue_url: str
    dead_letter_queue_url: str
    webhook_queue_url: str = ""
    sweep_queue_url: str = ""  # the due sweep's fan-out


def load_resources() -> dict[str, Any]:
    return json.loads(RESOURCES_FILE.read_text(encoding="utf-8"))["Resources"]


def allowed_actions() -> frozenset[str]:
    """Every AWS action the functions' code may call. Writing logs is the Lambda runtime's
    doing, allowed by each role's own log policy."""
    statements = load_resources()[SERVICE_POLICY]["Properties"]["PolicyDocument"]["Statement"]
    return frozenset(action for statement in statements for action in statement["Action"])


def table_name(stage: str) -> str:
    return f"submsg-{stage}"


def send_queue_name(stage: str) -> str:
    return f"submsg-{stage}-send"


def dead_letter_queue_name(stage: str) -> str:
    return f"submsg-{stage}-send-dlq"


def webhook_queue_name(stage: str) -> str:
    return f"submsg-{stage}-webhooks"


def sweep_queue_name(stage: str) -> str:
    return f"submsg-{stage}-sweep"


def provision(
    session: boto3.Session, *, stage: str, endpoint_url: str | None = None
) -> Provisioned:
    """Create what is missing and reuse what exists; safe to run at every start."""
    resources = load_resources()
    dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
    sqs = session.client("sqs", endpoint_url=endpoint_url)
    table = table_name(stage)
    _ensure_table(dynamodb, table, resources[TABLE]["Properties"])
    dead_letter_url = _ensure_queue(
        sqs, dead_letter_queue_name(stage), _queue_attributes(resources[DEAD_LETTER_QUEUE])
    )
    dead_letter_arn = _queue_arn(sqs, dead_letter_url)
    send_url, sweep_url = (
        _ensure_queue(sqs, name, _redriven_attributes(resources[queue], dead_letter_arn))
        for queue, name in (
            (SEND_QUEUE, send_queue_name(stage)),
            (SWEEP_QUEUE, sweep_queue_name(stage)),
        )
    )
    return Provisioned(
        table, send_url, dead_letter_url, _ensure_webhook_queue(sqs, resources, stage), sweep_url
    )


def _ensure_webhook_queue(sqs: SQSClient, resources: dict[str, Any], stage: str) -> str:
    """The webhook deliverer's queue and its own dead-letter queue."""
    dead_letters = _ensure_queue(
        sqs,
        f"{webhook_queue_name(stage)}-dlq",
        _queue_attributes(resources[WEBHOOK_DEAD_LETTER_QUEUE]),
    )
    attributes = _redriven_attributes(resources[WEBHOOK_QUEUE], _queue_arn(sqs, dead_letters))
    return _ensure_queue(sqs, webhook_queue_name(stage), attributes)


def _ensure_table(dynamodb: DynamoDBClient, name: str, properties: Properties) -> None:
    if not _table_exists(dynamodb, name):
        _create_table(dynamodb, name, properties)
    _ensure_time_to_live(dynamodb, name, properties["TimeToLiveSpecification"])


def _create_table(dynamodb: DynamoDBClient, name: str, properties: Properties) -> None:
    dynamodb.create_table(TableName=name, **_create_table_arguments(properties))
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    dynamodb.update_continuous_backups(
        TableName=name,
        PointInTimeRecoverySpecification=properties["PointInTimeRecoverySpecification"],
    )


def _table_exists(dynamodb: DynamoDBClient, name: str) -> bool:
    try:
        dynamodb.describe_table(TableName=name)
    except dynamodb.exceptions.ResourceNotFoundException:
        return False
    return True


def _create_table_arguments(properties: Properties) -> Properties:
    arguments = {
        key: value
        for key, value in properties.items()
        if key not in _TEMPLATE_ONLY_TABLE_PROPERTIES
    }
    sse = properties.get("SSESpecification")
    if sse is not None:
        arguments["SSESpecification"] = {"Enabled": sse["SSEEnabled"]}
    return arguments


def _ensure_time_to_live(dynamodb: DynamoDBClient, name: str, specification: Properties) -> None:
    current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if current.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
        return
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=specification)


def _queue_attributes(resource: Properties) -> dict[str, str]:
    return {
        key: _attribute_value(value)
        for key, value in resource["Properties"].items()
        if key not in _TEMPLATE_ONLY_QUEUE_PROPERTIES
    }


def _redriven_attributes(resource: Properties, dead_letter_arn: str) -> dict[str, str]:
    attributes = _queue_attributes(resource)
    policy = resource["Properties"]["RedrivePolicy"]
    attributes["RedrivePolicy"] = _redrive_policy(policy, dead_letter_arn)
    return attributes


def _attribute_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _redrive_policy(template_policy: Properties, dead_letter_arn: str) -> str:
    return json.dumps(
        {
            "deadLetterTargetArn": dead_letter_arn,
            "maxReceiveCount": template_policy["maxReceiveCount"],
        }
    )


def _ensure_queue(sqs: SQSClient, name: str, attributes: dict[str, str]) -> str:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def _queue_arn(sqs: SQSClient, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]
