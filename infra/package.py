"""Build a stage's CloudFormation template and Lambda zip, and check them before any deploy.

``python -m infra.package --stage prod`` (what `make package` runs): `chalice package` with the
merge template, then the zip's distributions against the runtime lock, cfn-lint and checkov
(offline: no platform API key, no download, no update check). One line per check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from infra.locks import RUNTIME_LOCK, differences, pinned_versions, zipped_versions

PROJECT_DIR = Path(__file__).resolve().parents[1]
MERGE_TEMPLATE = PROJECT_DIR / "infra" / "resources.json"
DEFAULT_OUT_DIR = PROJECT_DIR / "build" / "package"
BIN_DIR = Path(sys.executable).parent
# checkov has a virtualenv of its own (see the Makefile): its boto3 pin conflicts with ours.
CHECKOV = PROJECT_DIR / ".venv-tools" / "bin" / "checkov"
FUNCTION_TYPE = "AWS::Serverless::Function"


class PackageError(Exception):
    """The package could not be built, or failed a check; the message says which and why."""


@dataclass(frozen=True)
class Package:
    out_dir: Path
    template: dict[str, Any]

    @property
    def template_path(self) -> Path:
        return self.out_dir / "sam.json"

    @property
    def zip_path(self) -> Path:
        return self.out_dir / "deployment.zip"

    def runtimes(self) -> dict[str, str]:
        """Each function's runtime."""
        return {
            name: resource["Properties"]["Runtime"]
            for name, resource in self.template["Resources"].items()
            if resource.get("Type") == FUNCTION_TYPE
        }


def build(stage: str, out_dir: Path = DEFAULT_OUT_DIR) -> Package:
    """`chalice package` into ``out_dir`` (emptied first); the zip must hold the locked set."""
    shutil.rmtree(out_dir, ignore_errors=True)
    # chalice asks botocore for a region it does not use: the template names none.
    env = {"AWS_DEFAULT_REGION": "us-east-1", **os.environ}
    command = [
        str(BIN_DIR / "chalice"),
        "--project-dir",
        str(PROJECT_DIR),
        "package",
        "--stage",
        stage,
        "--merge-template",
        str(MERGE_TEMPLATE),
        str(out_dir),
    ]
    _run(command, "chalice package", env=env)
    package = Package(out_dir, json.loads((out_dir / "sam.json").read_text(encoding="utf-8")))
    unlocked = differences(pinned_versions(RUNTIME_LOCK), zipped_versions(package.zip_path))
    if unlocked:
        raise PackageError(
            f"deployment.zip does not hold exactly {RUNTIME_LOCK.name}: " + "; ".join(unlocked)
        )
    return package


def lint(package: Package) -> None:
    _run([str(BIN_DIR / "cfn-lint"), str(package.template_path)], "cfn-lint")


def checkov_report(package: Package) -> dict[str, Any]:
    """checkov's JSON report on the template, run offline."""
    if not CHECKOV.exists():
        raise PackageError(f"checkov is missing: {CHECKOV} (make .venv-tools/.installed)")
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true"}
    env.pop("BC_API_KEY", None)
    command = [str(CHECKOV), "--file", str(package.template_path)]
    command += ["--framework", "cloudformation", "--skip-download", "--output", "json"]
    result = subprocess.run(
        command, env=env, cwd=package.out_dir, capture_output=True, text=True, check=False
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise PackageError(f"checkov did not run: {result.stderr.strip()}") from None


def checkov_summary(package: Package) -> dict[str, int]:
    """checkov's counts of passed, failed and skipped checks; PackageError on any failed."""
    report = checkov_report(package)
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    if failed:
        raise PackageError(f"checkov failed: {failed}")
    return report["summary"]


def _run(command: list[str], name: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise PackageError(f"{name} failed:\n{result.stdout}{result.stderr}".strip())


def build_and_check(stage: str, out_dir: Path = DEFAULT_OUT_DIR) -> Package:
    """Build, then every check, printing one line for each."""
    package = build(stage, out_dir)
    locked = pinned_versions(RUNTIME_LOCK)
    megabytes = package.zip_path.stat().st_size / 1_000_000
    typer.echo(f"template: {_shown(package.template_path)}")
    typer.echo(
        f"zip: {_shown(package.zip_path)} ({megabytes:.1f} MB): "
        f"{len(locked)} distributions, exactly those of {RUNTIME_LOCK.name}"
    )
    runtimes = package.runtimes()
    for runtime in sorted(set(runtimes.values())):
        functions = ", ".join(name for name, found in runtimes.items() if found == runtime)
        typer.echo(f"runtime {runtime}: {functions}")
    lint(package)
    typer.echo("cfn-lint: no finding")
    summary = checkov_summary(package)
    typer.echo(
        f"checkov: {summary['passed']} passed, {summary['failed']} failed, "
        f"{summary['skipped']} skipped (each skip with its reason)"
    )
    return package


def _shown(path: Path) -> Path:
    return path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path


def main(
    stage: Annotated[str, typer.Option(help="The Chalice stage to package.")],
    out: Annotated[Path, typer.Option(help="Where sam.json and deployment.zip go.")] = (
        DEFAULT_OUT_DIR
    ),
) -> None:
    try:
        build_and_check(stage, out)
    except PackageError as error:
        typer.secho(str(error), fg="red", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    typer.run(main)
