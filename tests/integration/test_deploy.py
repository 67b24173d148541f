"""`make deploy`: its dry run, its refusals, and its AWS steps against moto."""

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

from infra.package import Package
from infra.stack import artifact_bucket, deploy_stack, ensure_bucket, upload

PROJECT_DIR = Path(__file__).resolve().parents[2]
# No credentials anywhere in the chain: no variables, no files, no instance metadata.
NO_CREDENTIALS = {
    "AWS_CONFIG_FILE": "/nonexistent/config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
CREDENTIAL_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


def without_credentials() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARIABLES}
    return {**env, **NO_CREDENTIALS}


def run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )


def deploy_command(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``python -m infra.deploy``, what `make deploy` runs, with no AWS credentials at all."""
    return run([sys.executable, "-m", "infra.deploy", *arguments], without_credentials())


def make_deploy(*variables: str) -> subprocess.CompletedProcess[str]:
    """`make deploy`, its virtualenvs taken as they are (the suite runs inside them)."""
    make = ["make", "-s", "-o", ".venv/.installed", "-o", ".venv-tools/.installed", "deploy"]
    return run([*make, *variables], without_credentials())


def assert_refused_in_one_line(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    refusal = [line for line in result.stderr.splitlines() if line.startswith("deploy: ")]
    assert len(refusal) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in refusal[0]


# --- the dry run ------------------------------------------------------------------------------


def test_the_dry_run_prints_each_call_and_the_urls_and_needs_no_credentials() -> None:
    result = make_deploy("STAGE=prod", "REGION=eu-west-1", "DRY_RUN=1")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line for line in lines if line[:1].isdigit()]
    assert [step.split(" ")[1] for step in steps] == [
        "sts:GetCallerIdentity:",
        "python",
        "s3:HeadBucket",
        "s3:PutObject",
        "cloudformation:CreateChangeSet",
    ]
    assert "--stage prod" in steps[1]
    assert "submsg-artifacts-<account>-eu-west-1" in steps[2]
    assert "s3:CreateBucket" in steps[2]
    assert "prod/<sha256>.zip" in steps[3]
    change_set = steps[4]
    assert "submsg-prod in eu-west-1" in change_set
    assert "with Stage=prod," in change_set
    assert "CAPABILITY_IAM CAPABILITY_AUTO_EXPAND" in change_set
    assert "ExecuteChangeSet" in change_set
    host = "https://<api-id>.execute-api.eu-west-1.amazonaws.com"
    assert f"API: {host}/api" in lines
    assert f"WeChat callback: {host}/api/v1/wechat/{{app_id}}/callback" in lines


def test_a_china_region_gets_a_regional_endpoint_and_its_url_suffix() -> None:
    result = make_deploy(
        "STAGE=dev", "REGION=cn-north-1", "DRY_RUN=1", "PARAMETERS=ApiGatewayLoggingRole=Keep"
    )

    assert result.returncode == 0, result.stderr
    (change_set,) = [line for line in result.stdout.splitlines() if "CreateChangeSet" in line]
    assert "Stage=dev ApiGatewayLoggingRole=Keep EndpointType=REGIONAL" in change_set
    assert "API: https://<api-id>.execute-api.cn-north-1.amazonaws.com.cn/api" in result.stdout


# --- refusals: one line, exit code 2, before anything is built -------------------------------


def test_deploying_without_credentials_is_refused_before_anything_is_built() -> None:
    result = deploy_command("--stage", "dev", "--region", "us-east-1")

    assert_refused_in_one_line(result, "No AWS credentials", "AWS_PROFILE")
    assert "2. " not in result.stdout  # stopped at the first step


def test_an_unknown_stage_is_refused_with_the_stages_there_are() -> None:
    result = deploy_command("--stage", "staging", "--region", "us-east-1", "--dry-run")

    assert_refused_in_one_line(result, "'staging'", "dev, prod")
    assert result.stdout == ""


def test_the_local_stack_stage_is_not_deployable() -> None:
    result = deploy_command("--stage", "local", "--region", "us-east-1", "--dry-run")

    assert_refused_in_one_line(result, "Unknown stage 'local'")


def test_a_missing_region_is_refused() -> None:
    regions = ("AWS_REGION", "AWS_DEFAULT_REGION")
    env = {k: v for k, v in without_credentials().items() if k not in regions}

    result = run([sys.executable, "-m", "infra.deploy", "--stage", "dev", "--dry-run"], env)

    assert_refused_in_one_line(result, "No AWS region", "REGION=")


@pytest.mark.parametrize(
    ("parameter", "phrase"),
    [
        ("Colour=blue", "Cannot set 'Colour=blue'"),
        ("Stage=prod", "the stage comes from STAGE"),
        ("EndpointType", "Name=value"),
        ("EndpointType=PRIVATE", "EndpointType cannot be 'PRIVATE': it is one of EDGE, REGIONAL"),
        ("ApiGatewayLoggingRole=keep", "one of Create, Keep"),
    ],
)
def test_a_parameter_the_template_does_not_take_is_refused(parameter: str, phrase: str) -> None:
    result = deploy_command(
        "--stage", "dev", "--region", "us-east-1", "--dry-run", "--parameter", parameter
    )

    assert_refused_in_one_line(result, phrase)


def test_an_edge_endpoint_in_china_is_refused() -> None:
    result = make_deploy("STAGE=dev", "REGION=cn-northwest-1", "PARAMETERS=EndpointType=EDGE")

    assert_refused_in_one_line(result, "cn-northwest-1 has no EDGE endpoints")


# --- the AWS steps, against moto --------------------------------------------------------------

REGION = "eu-west-1"
FUNCTION = {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": "./deployment.zip"}}


@pytest.fixture
def session(monkeypatch: pytest.MonkeyPatch) -> Iterator[boto3.Session]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.Session(region_name=REGION)


def account_of(session: boto3.Session) -> str:
    return session.client("sts").get_caller_identity()["Account"]


def test_the_artifact_bucket_is_created_private_then_reused(session: boto3.Session) -> None:
    s3 = session.client("s3")
    account = account_of(session)
    bucket = artifact_bucket(account, REGION)

    created = ensure_bucket(s3, bucket, account, REGION)
    s3.put_object(Bucket=bucket, Key="dev/kept.zip", Body=b"kept")
    again = ensure_bucket(s3, bucket, account, REGION)

    assert (created, again) == (True, False)
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] == REGION
    blocked = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert set(blocked.values()) == {True}
    assert s3.get_object(Bucket=bucket, Key="dev/kept.zip")["Body"].read() == b"kept"


def test_the_uploaded_template_runs_every_function_from_the_uploaded_zip(
    session: boto3.Session, tmp_path: Path
) -> None:
    with zipfile.ZipFile(tmp_path / "deployment.zip", "w") as archive:
        archive.writestr("app.py", "app = None\n")
    template = {"Resources": {"Api": FUNCTION, "Sender": FUNCTION, "Table": {"Type": "T"}}}
    s3 = session.client("s3")
    account = account_of(session)
    bucket = artifact_bucket(account, REGION)
    ensure_bucket(s3, bucket, account, REGION)

    url = upload(s3, bucket, "dev", Package(tmp_path, template))

    prefix = f"{s3.meta.endpoint_url}/{bucket}/"
    assert url.startswith(prefix)
    key = url.removeprefix(prefix)
    uploaded = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    (code,) = {
        json.dumps(uploaded["Resources"][f]["Properties"]["CodeUri"]) for f in ("Api", "Sender")
    }
    location = json.loads(code)
    assert location["Bucket"] == bucket
    assert location["Key"].startswith("dev/") and location["Key"].endswith(".zip")
    body = s3.get_object(Bucket=bucket, Key=location["Key"])["Body"].read()
    assert body == (tmp_path / "deployment.zip").read_bytes()
    assert uploaded["Resources"]["Table"] == {"Type": "T"}
    assert template["Resources"]["Api"]["Properties"]["CodeUri"] == "./deployment.zip"


QUEUE_TEMPLATE: dict[str, Any] = {
    "Parameters": {
        "Stage": {"Type": "String"},
        "RetentionSeconds": {"Type": "Number", "Default": 345600},
    },
    "Resources": {
        "Queue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": {"Fn::Sub": "submsg-${Stage}-send"},
                "MessageRetentionPeriod": {"Ref": "RetentionSeconds"},
            },
        }
    },
}


def test_a_second_deploy_updates_the_stack_keeping_the_parameters_not_given(
    session: boto3.Session,
) -> None:
    s3 = session.client("s3")
    cloudformation = session.client("cloudformation")
    s3.create_bucket(Bucket="artifacts", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="artifacts", Key="t.json", Body=json.dumps(QUEUE_TEMPLATE))
    url = f"{s3.meta.endpoint_url}/artifacts/t.json"
    declared = list(QUEUE_TEMPLATE["Parameters"])

    deploy_stack(
        cloudformation, "submsg-dev", url, {"Stage": "dev", "RetentionSeconds": "600"}, declared
    )
    deploy_stack(cloudformation, "submsg-dev", url, {"Stage": "dev"}, declared)

    (stack,) = cloudformation.describe_stacks(StackName="submsg-dev")["Stacks"]
    values = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert values == {"Stage": "dev", "RetentionSeconds": "600"}
    change_sets = cloudformation.list_change_sets(StackName="submsg-dev")["Summaries"]
    assert [c["StackId"] for c in change_sets] == [stack["StackId"]] * 2
    queue = session.client("sqs").get_queue_url(QueueName="submsg-dev-send")["QueueUrl"]
    attributes = session.client("sqs").get_queue_attributes(
        QueueUrl=queue, AttributeNames=["MessageRetentionPeriod"]
    )
    assert attributes["Attributes"]["MessageRetentionPeriod"] == "600"
