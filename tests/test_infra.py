"""The stage's table and queues: provisioned under moto, and packaged for CloudFormation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.store import layout
from infra.provision import Provisioned, allowed_actions, load_resources, provision

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN_DIR = Path(sys.executable).parent
RUNTIME_ENTRIES = {"app.py", "chalicelib"}
NOT_SHIPPED = ("local/", "cli/", "bench/", "tests/", "infra/", ".chalice/")


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


def table_properties() -> dict[str, Any]:
    return load_resources()["Table"]["Properties"]


def by_name(indexes: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {index["IndexName"]: index for index in indexes}


def test_template_keys_the_table_and_indexes_as_the_layout_module_does() -> None:
    properties = table_properties()
    indexes = by_name(properties["GlobalSecondaryIndexes"])

    assert [key["AttributeName"] for key in properties["KeySchema"]] == [layout.PK, layout.SK]
    assert [key["AttributeName"] for key in indexes[layout.WORK_INDEX]["KeySchema"]] == [
        layout.WORK_PK,
        layout.WORK_AT,
    ]
    assert [key["AttributeName"] for key in indexes[layout.EXPIRY_INDEX]["KeySchema"]] == [
        layout.EXP_PK,
        layout.EXP_AT,
    ]
    assert [key["AttributeName"] for key in indexes[layout.USER_INDEX]["KeySchema"]] == [
        layout.USER_PK,
        layout.USER_SK,
    ]
    assert properties["TimeToLiveSpecification"]["AttributeName"] == layout.TTL_ATTRIBUTE


def test_provision_creates_the_table_the_template_describes(session: boto3.Session) -> None:
    provisioned = provision(session, stage="test")
    dynamodb = session.client("dynamodb")
    table = dynamodb.describe_table(TableName=provisioned.table_name)["Table"]
    expected = table_properties()

    assert provisioned.table_name == "submsg-test"
    assert table["KeySchema"] == expected["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=str) == sorted(
        expected["AttributeDefinitions"], key=str
    )
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    created = by_name(table["GlobalSecondaryIndexes"])
    for name, index in by_name(expected["GlobalSecondaryIndexes"]).items():
        assert created[name]["KeySchema"] == index["KeySchema"]
        assert created[name]["Projection"] == index["Projection"]
    assert set(created) == {layout.WORK_INDEX, layout.EXPIRY_INDEX, layout.USER_INDEX}


def test_provision_turns_on_time_to_live_and_point_in_time_recovery(
    session: boto3.Session,
) -> None:
    name = provision(session, stage="test").table_name
    dynamodb = session.client("dynamodb")

    ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    backups = dynamodb.describe_continuous_backups(TableName=name)
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]

    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": layout.TTL_ATTRIBUTE}
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_provision_creates_a_send_queue_that_redrives_to_the_dead_letter_queue(
    session: boto3.Session,
) -> None:
    provisioned = provision(session, stage="test")
    sqs = session.client("sqs")
    send = sqs.get_queue_attributes(QueueUrl=provisioned.send_queue_url, AttributeNames=["All"])
    dead = sqs.get_queue_attributes(
        QueueUrl=provisioned.dead_letter_queue_url, AttributeNames=["All"]
    )
    template = load_resources()

    redrive = json.loads(send["Attributes"]["RedrivePolicy"])
    assert provisioned.send_queue_url.endswith("/submsg-test-send")
    assert provisioned.dead_letter_queue_url.endswith("/submsg-test-send-dlq")
    assert redrive["deadLetterTargetArn"] == dead["Attributes"]["QueueArn"]
    assert (
        int(redrive["maxReceiveCount"])
        == (template["SendQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"])
    )
    assert (
        int(send["Attributes"]["VisibilityTimeout"])
        == (template["SendQueue"]["Properties"]["VisibilityTimeout"])
    )
    assert (
        int(dead["Attributes"]["MessageRetentionPeriod"])
        == (template["SendDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"])
    )


def test_provisioning_twice_reuses_the_table_and_queues_with_their_contents(
    session: boto3.Session,
) -> None:
    first = provision(session, stage="test")
    dynamodb, sqs = session.client("dynamodb"), session.client("sqs")
    dynamodb.put_item(TableName=first.table_name, Item={"pk": {"S": "p"}, "sk": {"S": "s"}})
    sqs.send_message(QueueUrl=first.send_queue_url, MessageBody="{}")

    second = provision(session, stage="test")

    assert second == first
    assert dynamodb.list_tables()["TableNames"] == [first.table_name]
    assert len(sqs.list_queues()["QueueUrls"]) == 2
    kept = dynamodb.get_item(TableName=first.table_name, Key={"pk": {"S": "p"}, "sk": {"S": "s"}})
    assert "Item" in kept
    waiting = sqs.get_queue_attributes(
        QueueUrl=first.send_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert waiting["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_stages_get_separate_tables_and_queues(session: boto3.Session) -> None:
    dev = provision(session, stage="dev")
    prod = provision(session, stage="prod")

    assert isinstance(dev, Provisioned)
    assert {dev.table_name, prod.table_name} == {"submsg-dev", "submsg-prod"}
    assert dev.send_queue_url != prod.send_queue_url
    assert dev.dead_letter_queue_url != prod.dead_letter_queue_url


def test_allowed_actions_name_single_actions_and_leave_out_put_metric_data() -> None:
    actions = allowed_actions()

    assert "dynamodb:TransactWriteItems" not in actions  # authorised per item action
    assert "dynamodb:ConditionCheckItem" in actions
    assert "sqs:SendMessage" in actions
    assert "ssm:GetParameter" in actions
    assert "cloudwatch:PutMetricData" not in actions
    assert all("*" not in action for action in actions)


# --- the packaged CloudFormation template -------------------------------------------------------


def package(stage: str, out_dir: Path) -> dict[str, Any]:
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    command = [
        str(BIN_DIR / "chalice"),
        "--project-dir",
        str(PROJECT_DIR),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(PROJECT_DIR / "infra" / "resources.json"),
        str(out_dir),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((out_dir / "sam.json").read_text(encoding="utf-8"))


def lint(template_path: Path) -> subprocess.CompletedProcess[str]:
    command = [str(BIN_DIR / "cfn-lint"), str(template_path)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r.get("Type") == kind}


def policy_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    documents = [
        policy["PolicyDocument"]
        for role in of_type(template, "AWS::IAM::Role").values()
        for policy in role["Properties"].get("Policies", [])
    ]
    documents += [
        managed["Properties"]["PolicyDocument"]
        for managed in of_type(template, "AWS::IAM::ManagedPolicy").values()
    ]
    return [statement for document in documents for statement in document["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def alarmed_metrics(template: dict[str, Any]) -> set[tuple[str, str]]:
    """(metric name, dimension value as JSON) of every alarm, including metric-math parts."""
    metrics: set[tuple[str, str]] = set()
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        parts = [
            query["MetricStat"]["Metric"]
            for query in properties.get("Metrics", [])
            if "MetricStat" in query
        ]
        if "MetricName" in properties:
            parts.append(properties)
        for metric in parts:
            for dimension in metric["Dimensions"]:
                metrics.add((metric["MetricName"], json.dumps(dimension["Value"])))
    return metrics


def assert_iam_is_scoped(template: dict[str, Any]) -> None:
    for statement in policy_statements(template):
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), statement
        if "*" in as_list(statement["Resource"]):
            assert all(action.startswith("logs:") for action in actions), statement
    roles = of_type(template, "AWS::IAM::Role")
    for function in of_type(template, "AWS::Serverless::Function").values():
        role = roles[function["Properties"]["Role"]["Fn::GetAtt"][0]]
        assert {"Ref": "ServicePolicy"} in role["Properties"]["ManagedPolicyArns"]


def assert_functions_use_the_stack_resources(template: dict[str, Any]) -> None:
    functions = of_type(template, "AWS::Serverless::Function")
    assert {"APIHandler", "DueSweep", "ExpirySweep", "SendWorker"} <= set(functions)
    for function in functions.values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["SUBMSG_TABLE_NAME"] == {"Ref": "Table"}
        assert variables["SUBMSG_SEND_QUEUE_URL"] == {"Ref": "SendQueue"}
        assert variables["SUBMSG_STAGE"] == {"Ref": "Stage"}
    (source,) = functions["SendWorker"]["Properties"]["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::Sub": "${SendQueue.Arn}"}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    alarmed = alarmed_metrics(template)
    for name in functions:
        assert ("Throttles", json.dumps({"Ref": name})) in alarmed


def assert_zip_holds_only_runtime_code(zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level >= RUNTIME_ENTRIES
    assert not [name for name in names if name.startswith(NOT_SHIPPED)]


def test_packaged_prod_template_passes_cfn_lint_and_wires_the_stack(tmp_path: Path) -> None:
    template = package("prod", tmp_path)
    resources = template["Resources"]

    linted = lint(tmp_path / "sam.json")
    assert linted.returncode == 0, linted.stdout + linted.stderr
    table = resources["Table"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }
    assert (
        "ApproximateNumberOfMessagesVisible",
        json.dumps({"Fn::GetAtt": ["SendDeadLetterQueue", "QueueName"]}),
    ) in alarmed_metrics(template)
    assert ("Errors", json.dumps({"Ref": "SendWorker"})) in alarmed_metrics(template)
    assert_functions_use_the_stack_resources(template)
    assert_iam_is_scoped(template)
    assert_zip_holds_only_runtime_code(tmp_path / "deployment.zip")
