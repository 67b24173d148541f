"""What every request and answer shares: the ids and pages they carry, the error format."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

OpenId = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$", examples=["oUser0000000000000000001"])
]
TemplateId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,128}$")]
Page = Annotated[str, Field(min_length=1, max_length=1024, pattern=r"^[^\s/][^\s]*$")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Response(BaseModel):
    model_config = ConfigDict(defer_build=True)


class Health(Response):
    status: str


class ErrorField(Response):
    field: str
    problem: str


class ErrorDetail(Response):
    code: str
    message: str
    fields: list[ErrorField] | None = None


class ErrorOut(Response):
    error: ErrorDetail
