"""Operator mistakes end in one red line and exit code 1, never in a traceback."""

from __future__ import annotations

from typing import Any

import typer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from rich.markup import escape
from typer.core import TyperGroup

from chalicelib.adapters.wechat import WeChatError
from chalicelib.domain.errors import SubmsgError
from chalicelib.ports import MissingSecret
from chalicelib.services.admin import AppExists, UnknownApp
from cli.output import notes

EXIT_FAILURE = 1


class OperatorError(Exception):
    """Something the operator asked for cannot be done; the message says why."""


def describe(error: Exception) -> str:
    if isinstance(error, AppExists):
        return f"App {error} already exists."
    if isinstance(error, UnknownApp):
        return f"App {error} does not exist."
    if isinstance(error, SubmsgError):
        details = "; ".join(f"{f.field}: {f.problem}" for f in error.fields)
        return f"{error.message} {details}".strip()
    if isinstance(error, ValidationError):
        return "; ".join(_validation_problem(problem) for problem in error.errors())
    if isinstance(error, WeChatError):
        return f"WeChat refused: {error}"
    if isinstance(error, BotoCoreError | ClientError):
        return f"AWS: {error}"
    return str(error)


def _validation_problem(problem: Any) -> str:
    where = ".".join(str(part) for part in problem["loc"])
    return f"{where}: {problem['msg']}" if where else str(problem["msg"])


HANDLED = (
    OperatorError,
    AppExists,
    UnknownApp,
    SubmsgError,
    ValidationError,
    MissingSecret,
    WeChatError,
    BotoCoreError,
    ClientError,
)


class OperatorGroup(TyperGroup):
    """The root command group: turns the errors an operator can cause into exit code 1."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except typer.BadParameter as error:
            error.exit_code = EXIT_FAILURE
            raise
        except HANDLED as error:
            notes().print(f"[bold red]Error:[/] {escape(describe(error))}")
            raise typer.Exit(EXIT_FAILURE) from None
