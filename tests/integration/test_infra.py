"""The stage's table and queues: provisioned under moto, and packaged for CloudFormation."""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.store import layout
from infra.locks import RUNTIME_LOCK, differences, pinned_versions, zipped_versions
from infra.package import CHECKOV, Package, build, checkov_report, lint
from infra.provision import Provisioned, allowed_actions, load_resources, provision

PROJECT_DIR = Path(__file__).resolve().parents[2]
FUNCTIONS = (
    "APIHandler",
    "DueSweep",
    "SweepWorker",
    "ExpirySweep",
    "SendWorker",
    "WebhookSweep",
    "WebhookDeliverer",
)
RUNTIME_ENTRIES = {"app.py", "chalicelib"}
# The account-wide API Gateway logging role, and the one condition that may name them.
ACCOUNT_LOGGING_RESOURCES = ("ApiGatewayCloudWatchRole", "ApiGatewayAccount")
IF_THE_STACK_SETS_THE_ROLE = {
    "Fn::If": ["CreatesApiGatewayLoggingRole", {"Ref": "ApiGatewayAccount"}, ""]
}
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
    assert set(created) == set(layout.INDEXES)


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
    for queue, attributes in (("SendQueue", send), ("SendDeadLetterQueue", dead)):
        assert template[queue]["Properties"]["SqsManagedSseEnabled"] is True
        assert attributes["Attributes"]["SqsManagedSseEnabled"] == "true"


def test_provision_creates_the_sweep_queue_that_redrives_to_the_dead_letter_queue(
    session: boto3.Session,
) -> None:
    provisioned = provision(session, stage="test")
    sqs = session.client("sqs")
    sweep = sqs.get_queue_attributes(QueueUrl=provisioned.sweep_queue_url, AttributeNames=["All"])
    dead = sqs.get_queue_attributes(
        QueueUrl=provisioned.dead_letter_queue_url, AttributeNames=["QueueArn"]
    )
    template = load_resources()["SweepQueue"]["Properties"]

    redrive = json.loads(sweep["Attributes"]["RedrivePolicy"])
    assert provisioned.sweep_queue_url.endswith("/submsg-test-sweep")
    assert redrive["deadLetterTargetArn"] == dead["Attributes"]["QueueArn"]
    assert int(redrive["maxReceiveCount"]) == template["RedrivePolicy"]["maxReceiveCount"]
    # A step is handed over again only after the worker's run (20 s) certainly ended.
    assert int(sweep["Attributes"]["VisibilityTimeout"]) == template["VisibilityTimeout"] >= 20
    assert sweep["Attributes"]["SqsManagedSseEnabled"] == "true"


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
    assert len(sqs.list_queues()["QueueUrls"]) == 5  # send, sweep and webhook queues, 2 DLQs
    assert first.webhook_queue_url.endswith("/submsg-test-webhooks")
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
    assert dev.webhook_queue_url != prod.webhook_queue_url


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
    """What `make package` builds (before its checks): chalice package, the zip as locked."""
    return build(stage, out_dir).template


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The prod stage packaged once for the module: (output folder, sam.json)."""
    out_dir = tmp_path_factory.mktemp("package")
    return out_dir, package("prod", out_dir)


@pytest.fixture(scope="module")
def template(packaged: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return packaged[1]


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


def function_role(template: dict[str, Any], function: str) -> dict[str, Any]:
    properties = template["Resources"][function]["Properties"]
    return template["Resources"][properties["Role"]["Fn::GetAtt"][0]]


def assert_iam_is_scoped(template: dict[str, Any]) -> None:
    for statement in policy_statements(template):
        actions = as_list(statement["Action"])
        assert all("*" not in action for action in actions), statement
        assert "*" not in as_list(statement["Resource"]), statement
    for function in of_type(template, "AWS::Serverless::Function"):
        role = function_role(template, function)["Properties"]
        assert {"Ref": "ServicePolicy"} in role["ManagedPolicyArns"]
        # Each function writes only to its own log group, which the template creates.
        group = template["Resources"][function]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        (policy,) = role["Policies"]
        (logs,) = policy["PolicyDocument"]["Statement"]
        assert set(logs["Action"]) == {"logs:CreateLogStream", "logs:PutLogEvents"}
        assert logs["Resource"] == {"Fn::GetAtt": [group, "Arn"]}


def assert_functions_use_the_stack_resources(template: dict[str, Any]) -> None:
    functions = of_type(template, "AWS::Serverless::Function")
    assert set(FUNCTIONS) <= set(functions)
    for function in functions.values():
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["SUBMSG_TABLE_NAME"] == {"Ref": "Table"}
        assert variables["SUBMSG_SEND_QUEUE_URL"] == {"Ref": "SendQueue"}
        assert variables["SUBMSG_STAGE"] == {"Ref": "Stage"}
    (source,) = functions["SendWorker"]["Properties"]["Events"].values()
    assert source["Type"] == "SQS"
    assert source["Properties"]["Queue"] == {"Fn::Sub": "${SendQueue.Arn}"}
    assert source["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    (sweeps,) = functions["SweepWorker"]["Properties"]["Events"].values()
    assert sweeps["Type"] == "SQS"
    assert sweeps["Properties"]["Queue"] == {"Fn::Sub": "${SweepQueue.Arn}"}
    assert sweeps["Properties"]["BatchSize"] == 1
    for fans_out in ("DueSweep", "SweepWorker"):
        variables = functions[fans_out]["Properties"]["Environment"]["Variables"]
        assert variables["SUBMSG_SWEEP_QUEUE_URL"] == {"Ref": "SweepQueue"}
    alarmed = alarmed_metrics(template)
    for name in functions:
        assert ("Throttles", json.dumps({"Ref": name})) in alarmed


def assert_zip_holds_only_runtime_code(zip_path: Path) -> None:
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level >= RUNTIME_ENTRIES
    assert not [name for name in names if name.startswith(NOT_SHIPPED)]
    # exactly the locked distributions, at their locked versions
    assert differences(pinned_versions(RUNTIME_LOCK), zipped_versions(zip_path)) == []


def test_packaged_prod_template_passes_cfn_lint_and_wires_the_stack(
    packaged: tuple[Path, dict[str, Any]],
) -> None:
    out_dir, template = packaged
    resources = template["Resources"]

    lint(Package(out_dir, template))  # PackageError with cfn-lint's findings, if any
    table = resources["Table"]
    assert table["DeletionPolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {
        "PointInTimeRecoveryEnabled": True
    }
    assert (
        "ApproximateNumberOfMessagesVisible",
        json.dumps({"Fn::GetAtt": ["SendDeadLetterQueue", "QueueName"]}),
    ) in alarmed_metrics(template)
    for function in ("SendWorker", "DueSweep", "ExpirySweep"):
        assert ("Errors", json.dumps({"Ref": function})) in alarmed_metrics(template)
    for alarm in of_type(template, "AWS::CloudWatch::Alarm").values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert_functions_use_the_stack_resources(template)
    assert_iam_is_scoped(template)
    assert_zip_holds_only_runtime_code(out_dir / "deployment.zip")


def test_every_function_runs_on_python_3_13(template: dict[str, Any]) -> None:
    functions = of_type(template, "AWS::Serverless::Function")

    assert {name: f["Properties"]["Runtime"] for name, f in functions.items()} == dict.fromkeys(
        FUNCTIONS, "python3.13"
    )


# --- production posture ---------------------------------------------------------------------


def test_data_at_rest_is_encrypted_and_alarms_can_still_publish(template: dict[str, Any]) -> None:
    resources = template["Resources"]

    assert resources["Table"]["Properties"]["SSESpecification"] == {"SSEEnabled": True}
    for queue in ("SendQueue", "SweepQueue", "SendDeadLetterQueue"):
        assert resources[queue]["Properties"]["SqsManagedSseEnabled"] is True
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "AlarmTopicKey"}
    key = resources["AlarmTopicKey"]["Properties"]
    assert key["EnableKeyRotation"] is True
    # alias/aws/sns would not do: its key policy cannot let CloudWatch alarms publish.
    (alarms,) = [
        statement
        for statement in key["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(alarms["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_stage_logs_every_request_as_json_with_its_request_id(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    api = resources["RestAPI"]
    setting = api["Properties"]["AccessLogSetting"]
    fields = json.loads(setting["Format"])

    assert setting["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert fields["requestId"] == "$context.requestId"
    assert {"status", "httpMethod", "resourcePath", "responseLatency"} <= set(fields)
    # The path holds openids and the error message may echo a header: neither is logged.
    assert "$context.path" not in fields.values()
    assert not any("$context.error.message" in value for value in fields.values())
    # API Gateway writes logs through the account's CloudWatch role, set before the stage.
    assert api["DependsOn"] == ["ApiGatewayLoggingRoleReady"]
    account = resources["ApiGatewayAccount"]["Properties"]
    assert account["CloudWatchRoleArn"] == {"Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]}
    assert resources["ApiGatewayCloudWatchRole"]["DeletionPolicy"] == "Retain"
    for group in of_type(template, "AWS::Logs::LogGroup").values():
        assert group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    assert (
        template["Parameters"]["LogRetentionDays"]["Default"]
        in (template["Parameters"]["LogRetentionDays"]["AllowedValues"])
    )


def test_nothing_is_traced_with_x_ray_and_nothing_may_upload_traces(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    statements = policy_statements(template)

    assert "TracingEnabled" not in resources["RestAPI"]["Properties"]
    for function in FUNCTIONS:
        # Lambda's default, which cannot be turned off: traces only what a traced caller sent.
        assert resources[function]["Properties"]["Tracing"] == "PassThrough"
    assert not [s for s in statements if any(a.startswith("xray:") for a in as_list(s["Action"]))]
    assert "xrayTraceId" not in resources["RestAPI"]["Properties"]["AccessLogSetting"]["Format"]
    # The decision, and why, is written down with the check it skips.
    assert "X-Ray" in checkov_skips(template)[("RestAPI", "CKV_AWS_73")]


def dashboard_widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    return json.loads(body["Fn::Sub"])["widgets"]


def metric_lines(widgets: list[dict[str, Any]]) -> list[list[Any]]:
    """Every line of the metric widgets that draws a metric (not a math expression)."""
    return [
        line
        for widget in widgets
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
        if isinstance(line[0], str)
    ]


def charted(widgets: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    """(namespace, metric, first dimension's value) of every metric widget's lines."""
    return {(line[0], line[1], line[3]) for line in metric_lines(widgets)}


def test_the_dashboard_shows_every_alarm_then_dead_letters_errors_and_durations(
    template: dict[str, Any],
) -> None:
    widgets = dashboard_widgets(template)
    lines = charted(widgets)
    dead_letters = "${SendDeadLetterQueue.QueueName}"

    assert widgets[0]["type"] == "alarm"
    assert sorted(widgets[0]["properties"]["alarms"]) == sorted(
        f"${{{alarm}.Arn}}" for alarm in of_type(template, "AWS::CloudWatch::Alarm")
    )
    assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", dead_letters) in lines
    for function in FUNCTIONS:
        for metric in ("Errors", "Duration", "Throttles"):
            assert ("AWS/Lambda", metric, f"${{{function}}}") in lines
    for widget in widgets[1:]:
        assert widget["properties"]["region"] == "${AWS::Region}"
        assert not {"x", "y"} & set(widget)  # laid out in order: new widgets slot in
    assert template["Outputs"]["DashboardName"]["Value"] == {"Ref": "Dashboard"}


def test_the_dashboard_charts_this_stage_s_api_by_the_name_it_gives_it(
    template: dict[str, Any],
) -> None:
    api = template["Resources"]["RestAPI"]["Properties"]
    lines = [
        line for line in metric_lines(dashboard_widgets(template)) if line[0] == "AWS/ApiGateway"
    ]

    # API Gateway's metrics know an API by its name: each stage's must differ.
    assert api["Name"] == {"Fn::Sub": "submsg-${Stage}"}
    assert {line[1] for line in lines} >= {"Count", "5XXError", "Latency"}
    for line in lines:
        assert line[2:6] == ["ApiName", api["Name"]["Fn::Sub"], "Stage", api["StageName"]]


def test_the_account_logging_role_is_set_by_the_stack_only_when_asked_to(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["ApiGatewayLoggingRole"]
    resources = template["Resources"]
    (condition,) = {resources[name]["Condition"] for name in ACCOUNT_LOGGING_RESOURCES}

    assert parameter["AllowedValues"] == ["Create", "Keep"]
    assert parameter["Default"] == "Create"
    assert template["Conditions"][condition] == {
        "Fn::Equals": [{"Ref": "ApiGatewayLoggingRole"}, "Create"]
    }
    # No other resource names them outside that condition (cfn-lint's E3005 and W1001 agree):
    # the stage waits for a handle, which waits for the account setting when there is one.
    others = {n: r for n, r in resources.items() if n not in ACCOUNT_LOGGING_RESOURCES}
    for name, resource in others.items():
        outside = json.dumps(resource).replace(json.dumps(IF_THE_STACK_SETS_THE_ROLE), "")
        assert not any(f'"{kept}"' in outside for kept in ACCOUNT_LOGGING_RESOURCES), name
    ready = resources["ApiGatewayLoggingRoleReady"]
    assert ready["Type"] == "AWS::CloudFormation::WaitConditionHandle"
    assert IF_THE_STACK_SETS_THE_ROLE in ready["Metadata"].values()
    assert resources["RestAPI"]["DependsOn"] == ["ApiGatewayLoggingRoleReady"]


def test_the_endpoint_type_is_a_parameter_with_regional_for_china(
    template: dict[str, Any],
) -> None:
    parameter = template["Parameters"]["EndpointType"]
    api = template["Resources"]["RestAPI"]["Properties"]

    assert parameter["AllowedValues"] == ["EDGE", "REGIONAL"]
    assert parameter["Default"] == "EDGE"
    assert api["EndpointConfiguration"] == {"Ref": "EndpointType"}


def test_the_outputs_give_the_api_url_with_its_stage_and_the_callback_route(
    template: dict[str, Any],
) -> None:
    outputs = template["Outputs"]
    api = template["Resources"]["RestAPI"]["Properties"]
    host = "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"

    api_url = outputs["ApiUrl"]["Value"]["Fn::Sub"]
    callback = outputs["CallbackUrlPattern"]["Value"]["Fn::Sub"]
    assert api_url == f"{host}/{api['StageName']}" == f"{host}/api"
    assert callback.startswith(f"{api_url}/")
    assert callback.removeprefix(api_url) in api["DefinitionBody"]["paths"]
    assert callback.endswith("/v1/wechat/{app_id}/callback")


def test_arns_and_hostnames_name_the_partition_so_the_stack_deploys_in_china(
    template: dict[str, Any],
) -> None:
    text = json.dumps(template)

    assert "arn:${AWS::Partition}:" in text
    assert "arn:aws:" not in text
    assert "${AWS::Region}.amazonaws.com" not in text
    assert "${AWS::Region}.${AWS::URLSuffix}" in text


def test_the_sender_runs_at_most_the_reserved_concurrency_parameter(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    parameter = template["Parameters"]["SenderReservedConcurrency"]
    sender = resources["SendWorker"]["Properties"]
    (source,) = sender["Events"].values()

    assert parameter["Type"] == "Number"
    assert parameter["Default"] == 20
    assert "WeChat" in parameter["Description"]
    assert sender["ReservedConcurrentExecutions"] == {"Ref": "SenderReservedConcurrency"}
    # The event source starts no more copies than are reserved, so it never throttles them
    # (a throttled batch would count towards the dead-letter queue's 8 receives).
    assert source["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "SenderReservedConcurrency"}
    }
    assert parameter["MinValue"] >= 2  # the event source's lowest MaximumConcurrency
    for sweep in ("DueSweep", "ExpirySweep"):
        assert resources[sweep]["Properties"]["ReservedConcurrentExecutions"] == 1


def test_the_due_sweep_fans_out_to_as_many_sweep_workers_as_may_run(
    template: dict[str, Any],
) -> None:
    resources = template["Resources"]
    parameter = template["Parameters"]["SweepWorkerConcurrency"]
    worker = resources["SweepWorker"]["Properties"]
    (source,) = worker["Events"].values()
    scheduled = resources["DueSweep"]["Properties"]["Environment"]["Variables"]

    assert (parameter["Type"], parameter["MinValue"]) == ("Number", 2)
    assert parameter["MaxValue"] <= 64  # the most groups the due sweep makes
    assert worker["ReservedConcurrentExecutions"] == {"Ref": "SweepWorkerConcurrency"}
    assert source["Properties"]["ScalingConfig"] == {
        "MaximumConcurrency": {"Ref": "SweepWorkerConcurrency"}
    }
    # One group of shards a worker: none waits for another's turn.
    assert scheduled["SUBMSG_SWEEP_GROUPS"] == {"Ref": "SweepWorkerConcurrency"}


def test_the_stage_is_throttled_by_parameters_and_is_the_only_stage(
    template: dict[str, Any],
) -> None:
    api = template["Resources"]["RestAPI"]["Properties"]
    parameters = template["Parameters"]

    assert api["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": "ApiThrottlingRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "ApiThrottlingBurstLimit"},
        }
    ]
    rate, burst = parameters["ApiThrottlingRateLimit"], parameters["ApiThrottlingBurstLimit"]
    assert rate["Type"] == burst["Type"] == "Number"
    assert 0 < rate["Default"] <= burst["Default"]
    # Any OpenApiVersion stops SAM from adding a stage named "Stage" without these settings.
    assert api["OpenApiVersion"] == "2.0"
    assert api["StageName"] == "api"


EXPECTED_GATEWAY_RESPONSES = {
    "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),
    "THROTTLED": ("429", "rate_limited"),
    "REQUEST_TOO_LARGE": ("413", "payload_too_large"),
    "DEFAULT_4XX": (None, "bad_request"),
    "DEFAULT_5XX": (None, "internal_error"),
}


def test_gateway_responses_answer_in_the_error_format_with_fixed_messages(
    template: dict[str, Any],
) -> None:
    answers = template["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]

    assert set(answers) == set(EXPECTED_GATEWAY_RESPONSES)
    for kind, (status, code) in EXPECTED_GATEWAY_RESPONSES.items():
        response = answers[kind]
        assert response.get("StatusCode") == status, kind
        assert response["ResponseParameters"]["Headers"]["Content-Type"] == "'application/json'"
        (body,) = response["ResponseTemplates"].values()
        assert set(response["ResponseTemplates"]) == {"application/json"}
        error = json.loads(body)
        assert list(error) == ["error"], kind
        assert set(error["error"]) == {"code", "message"}, kind
        assert error["error"]["code"] == code
        assert error["error"]["message"].strip()
        # No $context or $input at all: $context.error.message can echo the Authorization header.
        assert "$" not in body, kind
    assert answers["THROTTLED"]["ResponseParameters"]["Headers"]["Retry-After"] == "'1'"


def checkov_skips(template: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(resource, check id) → the reason given in the resource's Metadata."""
    return {
        (name, skip["id"]): skip.get("comment", "")
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    }


def documented_skip_table() -> set[str]:
    """The check ids of the table of skipped checks (docs/production.md#the-checkov-checks)."""
    page = (PROJECT_DIR / "docs" / "production.md").read_text(encoding="utf-8")
    checks = page.split("## The checkov checks", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `(CKV_AWS_\d+)`", checks, flags=re.MULTILINE))


def test_every_checkov_skip_carries_its_reason_and_is_listed_in_the_docs(
    template: dict[str, Any],
) -> None:
    skips = checkov_skips(template)

    assert skips
    for (resource, check), reason in skips.items():
        assert re.fullmatch(r"CKV_AWS_\d+", check), (resource, check)
        assert len(reason.split()) >= 8, (resource, check, reason)
    assert documented_skip_table() == {check for _, check in skips}


def test_checkov_finds_no_failed_check_offline(packaged: tuple[Path, dict[str, Any]]) -> None:
    out_dir, template = packaged
    assert CHECKOV.exists(), "checkov is installed into .venv-tools by `make test`"

    report = checkov_report(Package(out_dir, template))
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    skipped = {
        (c["resource"].split(".", 1)[1], c["check_id"]) for c in report["results"]["skipped_checks"]
    }

    assert failed == []
    assert report["summary"]["passed"] > 0
    assert skipped == set(checkov_skips(template))  # every skip is used, and only those
