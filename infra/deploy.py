"""Deploy a stage to AWS in one command: `make deploy STAGE=prod [REGION=…] [DRY_RUN=1]`.

Checks the credentials, builds and checks the package (infra.package), uploads it to the
account's artifact bucket (created on first use), creates or updates the stack ``submsg-<stage>``
through a change set, and prints the API's URL and WeChat's callback URL. ``--dry-run`` prints
those steps and calls nothing. Runs on the operator's machine; nothing here is in the Lambda zip.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import boto3
import typer
from botocore.exceptions import BotoCoreError, ClientError

from infra.package import DEFAULT_OUT_DIR, MERGE_TEMPLATE, PROJECT_DIR, PackageError
from infra.package import build_and_check as build_package
from infra.stack import (
    CAPABILITIES,
    DeployError,
    artifact_bucket,
    caller,
    deploy_stack,
    ensure_bucket,
    upload,
)

CHALICE_CONFIG = PROJECT_DIR / ".chalice" / "config.json"
LOCAL_STAGE = "local"  # the local stack's (make run), never deployed
CHINA_REGION_PREFIX = "cn-"
SHOWN_OUTPUTS = {"ApiUrl": "API", "CallbackUrlPattern": "WeChat callback"}
EXIT_REFUSED = 2


@dataclass(frozen=True)
class Target:
    stage: str
    region: str
    parameters: dict[str, str]  # the stack parameters given, Stage among them

    @property
    def stack(self) -> str:
        return f"submsg-{self.stage}"


def deployable_stages() -> list[str]:
    stages = json.loads(CHALICE_CONFIG.read_text(encoding="utf-8"))["stages"]
    return sorted(set(stages) - {LOCAL_STAGE})


def declared_parameters() -> dict[str, dict[str, Any]]:
    """The stack's parameters: the merge template's (chalice declares none of its own)."""
    return json.loads(MERGE_TEMPLATE.read_text(encoding="utf-8"))["Parameters"]


def resolve(stage: str, region: str | None, assignments: list[str]) -> Target:
    """The stage, region and parameters checked; DeployError names what is wrong."""
    stages = deployable_stages()
    if stage not in stages:
        raise DeployError(
            f"Unknown stage {stage!r}: the stages are {', '.join(stages)} (.chalice/config.json)."
        )
    region = region or boto3.Session().region_name
    if not region:
        raise DeployError("No AWS region: give REGION=… (or --region), or set AWS_REGION.")
    parameters = {"Stage": stage, **parse_parameters(assignments)}
    china = region.startswith(CHINA_REGION_PREFIX)
    if china and parameters.setdefault("EndpointType", "REGIONAL") != "REGIONAL":
        raise DeployError(f"{region} has no EDGE endpoints: use EndpointType=REGIONAL.")
    return Target(stage=stage, region=region, parameters=parameters)


def parse_parameters(assignments: list[str]) -> dict[str, str]:
    declared = declared_parameters()
    parsed: dict[str, str] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals or name not in declared or name == "Stage":
            settable = ", ".join(sorted(set(declared) - {"Stage"}))
            raise DeployError(
                f"Cannot set {assignment!r}: give Name=value with a name among {settable} "
                "(the stage comes from STAGE)."
            )
        allowed = [str(choice) for choice in declared[name].get("AllowedValues", [])]
        if allowed and value not in allowed:
            raise DeployError(f"{name} cannot be {value!r}: it is one of {', '.join(allowed)}.")
        parsed[name] = value
    return parsed


def plan(target: Target, account: str = "<account>") -> list[str]:
    """What a deploy does, one line a step (the dry run prints them)."""
    bucket = artifact_bucket(account, target.region)
    given = " ".join(f"{name}={value}" for name, value in target.parameters.items())
    return [
        "sts:GetCallerIdentity: the account, and that the credentials work",
        f"python -m infra.package --stage {target.stage}: chalice package into "
        f"{DEFAULT_OUT_DIR.relative_to(PROJECT_DIR)}, then the zip against the lock, cfn-lint "
        "and checkov",
        f"s3:HeadBucket {bucket}; if it is missing, s3:CreateBucket and s3:PutPublicAccessBlock",
        f"s3:PutObject {bucket}/{target.stage}/<sha256>.zip (deployment.zip), then "
        f"{target.stage}/<sha256>.template.json (sam.json, its functions' code at that zip)",
        f"cloudformation:CreateChangeSet {target.stack} in {target.region} (CREATE, or UPDATE "
        f"keeping the values of parameters not given) with {given}, capabilities "
        f"{' '.join(CAPABILITIES)}; ExecuteChangeSet unless it changes nothing; wait until the "
        f"stack is complete; DescribeStacks for its outputs",
    ]


def expected_outputs(target: Target) -> dict[str, str]:
    """The shown outputs as the template builds them, the API's id left unknown."""
    outputs = json.loads(MERGE_TEMPLATE.read_text(encoding="utf-8"))["Outputs"]
    suffix = (
        "amazonaws.com.cn" if target.region.startswith(CHINA_REGION_PREFIX) else "amazonaws.com"
    )
    known = {"${RestAPI}": "<api-id>", "${AWS::Region}": target.region, "${AWS::URLSuffix}": suffix}
    shown = {}
    for key in SHOWN_OUTPUTS:
        value = outputs[key]["Value"]["Fn::Sub"]
        for variable, replacement in known.items():
            value = value.replace(variable, replacement)
        shown[key] = value
    return shown


def deploy(target: Target, say: Callable[[str], None]) -> dict[str, str]:
    """Every step of ``plan``, saying each before doing it; the stack's outputs."""
    session = boto3.Session(region_name=target.region)
    say(f"1. {plan(target)[0]}")
    account = caller(session).account
    steps = plan(target, account)
    say(f"2. {steps[1]}")
    package = build_package(target.stage)
    say(f"3. {steps[2]}")
    s3 = session.client("s3")
    bucket = artifact_bucket(account, target.region)
    ensure_bucket(s3, bucket, account, target.region)
    say(f"4. {steps[3]}")
    template_url = upload(s3, bucket, target.stage, package)
    say(f"5. {steps[4]}")
    cloudformation = session.client("cloudformation")
    return deploy_stack(
        cloudformation, target.stack, template_url, target.parameters, declared_parameters()
    )


def show_outputs(found: dict[str, str], say: Callable[[str], None]) -> None:
    for key, label in SHOWN_OUTPUTS.items():
        say(f"{label}: {found.get(key, '(not among the stack outputs)')}")


def main(
    stage: Annotated[str, typer.Option(help="The stage to deploy (.chalice/config.json).")],
    region: Annotated[
        str | None, typer.Option(help="AWS region; default: the AWS configuration's.")
    ] = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            help="A stack parameter as Name=value (repeatable), e.g. EndpointType=REGIONAL."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Print the steps; call nothing.")] = False,
) -> None:
    try:
        target = resolve(stage, region, parameter or [])
        if dry_run:
            typer.echo(f"Dry run: deploying stage {target.stage} would take these steps.")
            for number, step in enumerate(plan(target), start=1):
                typer.echo(f"{number}. {step}")
            typer.echo("Then it prints:")
            show_outputs(expected_outputs(target), typer.echo)
            return
        show_outputs(deploy(target, typer.echo), typer.echo)
    except (DeployError, PackageError) as error:
        typer.secho(f"deploy: {error}", fg="red", err=True)
        raise typer.Exit(EXIT_REFUSED) from None
    except (BotoCoreError, ClientError) as error:
        typer.secho(f"deploy: AWS: {error}", fg="red", err=True)
        raise typer.Exit(EXIT_REFUSED) from None


if __name__ == "__main__":
    typer.run(main)
