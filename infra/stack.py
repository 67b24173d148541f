"""The AWS side of a deploy: who is calling, the artifact bucket, the uploads, the change set."""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, NoCredentialsError, WaiterError

from infra.package import FUNCTION_TYPE, Package

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
# What CloudFormation says of a change set that would change nothing.
NO_CHANGE = ("didn't contain changes", "No updates are to be performed")
# A first deploy that failed leaves this: the stack can only be deleted.
FAILED_CREATION = "ROLLBACK_COMPLETE"
MISSING_BUCKET = ("404", "NoSuchBucket")


class DeployError(Exception):
    """The deploy cannot go on; the message says why, in a line."""


@dataclass(frozen=True)
class Caller:
    account: str
    partition: str


def caller(session: boto3.Session) -> Caller:
    """The account the credentials belong to; DeployError if there are none or AWS refuses them."""
    try:
        identity = session.client("sts").get_caller_identity()
    except NoCredentialsError:
        raise DeployError(
            "No AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (the chain the aws command uses), then deploy again."
        ) from None
    except ClientError as error:
        raise DeployError(
            f"AWS refused the credentials ({error.response['Error']['Code']}): "
            "check AWS_PROFILE or the access keys, and that they have not expired."
        ) from None
    return Caller(account=identity["Account"], partition=identity["Arn"].split(":")[1])


def artifact_bucket(account: str, region: str) -> str:
    return f"submsg-artifacts-{account}-{region}"


def ensure_bucket(s3: S3Client, bucket: str, account: str, region: str) -> bool:
    """Reuse the account's artifact bucket, or create it private; True if created."""
    try:
        s3.head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        return False
    except ClientError as error:
        if error.response["Error"]["Code"] not in MISSING_BUCKET:
            raise DeployError(
                f"The bucket {bucket} exists but this account cannot use it "
                f"({error.response['Error']['Code']})."
            ) from None
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    return True


def upload(s3: S3Client, bucket: str, stage: str, package: Package) -> str:
    """Upload the zip and the template that points at it, each under its content's hash (a
    deploy of unchanged code changes nothing); the template's URL for CloudFormation."""
    code = package.zip_path.read_bytes()
    code_key = f"{stage}/{_digest(code)}.zip"
    s3.put_object(Bucket=bucket, Key=code_key, Body=code)
    body = json.dumps(with_code_at(package.template, bucket, code_key), indent=1).encode()
    template_key = f"{stage}/{_digest(body)}.template.json"
    s3.put_object(Bucket=bucket, Key=template_key, Body=body)
    return f"{s3.meta.endpoint_url}/{bucket}/{template_key}"


def with_code_at(template: Mapping[str, Any], bucket: str, key: str) -> dict[str, Any]:
    """The template with every function's code in S3 instead of the local deployment.zip."""
    moved = copy.deepcopy(dict(template))
    for resource in moved["Resources"].values():
        if resource.get("Type") == FUNCTION_TYPE:
            resource["Properties"]["CodeUri"] = {"Bucket": bucket, "Key": key}
    return moved


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def deploy_stack(
    cloudformation: CloudFormationClient,
    stack: str,
    template_url: str,
    parameters: Mapping[str, str],
    declared: Iterable[str],
) -> dict[str, str]:
    """Create or update ``stack`` through a change set and wait for it; the stack's outputs.

    On an update, a declared parameter not in ``parameters`` keeps its value in the stack.
    """
    existing = _described(cloudformation, stack)
    if existing is not None and existing["StackStatus"] == FAILED_CREATION:
        raise DeployError(
            f"The stack {stack} is {FAILED_CREATION} from a first deploy that failed: delete it "
            "(its events say what failed), then deploy again."
        )
    updating = existing is not None and existing["StackStatus"] != "REVIEW_IN_PROGRESS"
    kept = {p["ParameterKey"] for p in existing.get("Parameters", [])} if updating else set()
    name = f"{stack}-{int(time.time())}"
    cloudformation.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType="UPDATE" if updating else "CREATE",
        TemplateURL=template_url,
        Parameters=change_set_parameters(declared, parameters, kept),
        Capabilities=CAPABILITIES,  # type: ignore[arg-type]
    )
    try:
        cloudformation.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 5}
        )
    except WaiterError:
        change_set = cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
        reason = change_set.get("StatusReason", "")
        if not any(phrase in reason for phrase in NO_CHANGE):
            raise DeployError(f"CloudFormation refused the change set: {reason}") from None
        cloudformation.delete_change_set(StackName=stack, ChangeSetName=name)
        return outputs(cloudformation, stack)
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=name)
    done = "stack_update_complete" if updating else "stack_create_complete"
    try:
        cloudformation.get_waiter(done).wait(
            StackName=stack, WaiterConfig={"Delay": 10, "MaxAttempts": 360}
        )
    except WaiterError:
        status = (_described(cloudformation, stack) or {}).get("StackStatus", "gone")
        raise DeployError(
            f"The stack {stack} did not deploy ({status}): its events in CloudFormation say why."
        ) from None
    return outputs(cloudformation, stack)


def change_set_parameters(
    declared: Iterable[str], given: Mapping[str, str], kept: set[str]
) -> list[dict[str, Any]]:
    """The given values; on an update, the stack's own for the others; defaults otherwise."""
    chosen: list[dict[str, Any]] = []
    for name in declared:
        if name in given:
            chosen.append({"ParameterKey": name, "ParameterValue": given[name]})
        elif name in kept:
            chosen.append({"ParameterKey": name, "UsePreviousValue": True})
    return chosen


def outputs(cloudformation: CloudFormationClient, stack: str) -> dict[str, str]:
    described = _described(cloudformation, stack) or {}
    return {out["OutputKey"]: out["OutputValue"] for out in described.get("Outputs", [])}


def _described(cloudformation: CloudFormationClient, stack: str) -> dict[str, Any] | None:
    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as error:
        if "does not exist" in error.response["Error"]["Message"]:
            return None
        raise
    return dict(found)
