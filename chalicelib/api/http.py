"""HTTP plumbing: parse and validate requests, answer in the error format of docs/api.md#errors."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib import deadline
from chalicelib.domain import clock
from chalicelib.domain.errors import (
    FieldProblem,
    InvalidJson,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SubmsgError,
    Unavailable,
    UnsupportedMediaType,
    ValidationFailed,
    error_body,
)
from chalicelib.ports import DeadlinePassed

JSON = "application/json"
# What an id in a path can be: openids, template ids and app ids as the request schemas accept
# them (WeChat's are 28, 43 and 18 characters), message and campaign ids exactly as we make them.
# Each is far below DynamoDB's key limits (2 048 bytes for a partition key, 1 024 for a sort key).
PATH_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
PATH_IDS = {
    "message": clock.id_pattern("msg"),
    "campaign": clock.id_pattern("cmp"),
    "webhook": clock.id_pattern("whk"),
    "delivery": clock.id_pattern("evt"),
}


def idempotency_key(header: str | None) -> str | None:
    """The Idempotency-Key header, if any: 1 to 255 visible ASCII characters."""
    if header is None:
        return None
    if not 1 <= len(header) <= 255 or not header.isascii() or not header.isprintable():
        raise ValidationFailed(
            "The Idempotency-Key header is not valid.",
            [FieldProblem("Idempotency-Key", "must be 1 to 255 visible ASCII characters")],
        )
    return header


def field_name(location: tuple[int | str, ...]) -> str:
    """``recipients[3].data.thing1``: list positions in brackets, names joined by dots."""
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def problems(error: ValidationError, whole: str = "body") -> list[FieldProblem]:
    """One problem per failing field; a rule about the whole input is named ``whole``."""
    found = []
    for detail in error.errors(include_url=False):
        field = field_name(detail["loc"]) or whole
        message = str(detail["msg"]).removeprefix("Value error, ")
        found.append(FieldProblem(field, message))
    return found


def validated[M: BaseModel](
    model: type[M], data: Any, what: str = "The request", whole: str = "body"
) -> M:
    return _checked(lambda: model.model_validate(data), what, whole)


def _checked[M: BaseModel](validate: Callable[[], M], what: str, whole: str = "body") -> M:
    try:
        return validate()
    except ValidationError as error:
        raise ValidationFailed(f"{what} is not valid.", problems(error, whole)) from error


def parse_body[M: BaseModel](request: Request, model: type[M], max_bytes: int) -> M:
    raw = request.raw_body or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"The body is larger than {max_bytes} bytes.")
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != JSON:
        raise UnsupportedMediaType("Send the body as application/json.")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as error:
        raise InvalidJson("The body is not valid JSON.") from error
    if not isinstance(data, dict):
        raise ValidationFailed(
            "The body must be a JSON object.", [FieldProblem("body", "not an object")]
        )
    # Strict JSON: a body has exactly the types the OpenAPI document names (no 0 for false).
    return _checked(lambda: model.model_validate_json(raw, strict=True), "The body")


def parse_query[M: BaseModel](request: Request, model: type[M]) -> M:
    params = request.query_params or {}
    return validated(model, {key: params[key] for key in params}, "The query", "query")


def path_id(value: str, what: str) -> str:
    """Ids in paths: anything that cannot be one of ours is simply not found, before it reaches
    the store."""
    if not PATH_IDS.get(what, PATH_ID).fullmatch(value):
        raise NotFound(f"No {what} {value[:64]!r}.")
    return value


def reply(body: BaseModel | dict[str, Any] | None, status: int = 200) -> Response:
    if body is None:
        return Response(body="", status_code=status)
    payload = body.model_dump(mode="json", by_alias=True) if isinstance(body, BaseModel) else body
    return Response(body=payload, status_code=status, headers={"Content-Type": JSON})


def plain(text: str) -> Response:
    return Response(
        body=text, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8"}
    )


def error_reply(error: SubmsgError) -> Response:
    headers = {"Content-Type": JSON}
    if isinstance(error, RateLimited | Busy):
        headers["Retry-After"] = str(error.retry_after_s)
    return Response(body=error_body(error), status_code=error.status, headers=headers)


class Busy(Unavailable):
    """503 ``unavailable``: the table stayed busy until the request's deadline."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__("The service is busy; try again shortly.")
        self.retry_after_s = retry_after_s


def endpoint(
    view: Callable[..., Response], deadline_s: Callable[[], float] | None = None
) -> Callable[..., Response]:
    """Turn domain errors raised by a view into their HTTP answers; the view runs within
    ``deadline_s()`` seconds, and a table busy past them is 503 with ``Retry-After``."""

    @functools.wraps(view)
    def answer(*args: Any, **kwargs: Any) -> Response:
        seconds = deadline_s() if deadline_s is not None else deadline.UNBOUNDED_WORK_S
        try:
            with deadline.within(seconds):
                return view(*args, **kwargs)
        except SubmsgError as error:
            return error_reply(error)
        except DeadlinePassed as busy:
            return error_reply(Busy(busy.retry_after_s))

    return answer


_CHALICE_ERRORS = {
    "MethodNotAllowedError": (405, "method_not_allowed"),
    "UnsupportedMediaType": (415, "unsupported_media_type"),
    "BadRequestError": (400, "invalid_json"),
    "InternalServerError": (500, "internal_error"),
}


def in_error_format(response: Response) -> Response:
    """Rewrite Chalice's own error answers ({"Code", "Message"}) into docs/api.md#errors."""
    body = response.body
    if response.status_code < 400 or not isinstance(body, dict) or "Code" not in body:
        return response
    status, code = _CHALICE_ERRORS.get(body["Code"], (response.status_code, "error"))
    message = "Something went wrong on our side." if status >= 500 else str(body.get("Message"))
    return Response(
        body={"error": {"code": code, "message": message}},
        status_code=response.status_code,
        headers={**response.headers, "Content-Type": JSON},
    )
