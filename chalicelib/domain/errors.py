"""Domain errors. Each carries the HTTP status and code of the error format (docs/api.md#errors)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    field: str
    problem: str


class SubmsgError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, fields: list[FieldProblem] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []


class InvalidJson(SubmsgError):
    code = "invalid_json"


class ValidationFailed(SubmsgError):
    code = "validation_error"


class InvalidCursor(ValidationFailed):
    def __init__(self, problem: str) -> None:
        super().__init__("The cursor is not valid.", [FieldProblem("cursor", problem)])


class Unauthorized(SubmsgError):
    status, code = 401, "unauthorized"


class NotFound(SubmsgError):
    status, code = 404, "not_found"


class MethodNotAllowed(SubmsgError):
    status, code = 405, "method_not_allowed"


class NoGrant(SubmsgError):
    status, code = 409, "no_grant"


class OptedOut(SubmsgError):
    status, code = 409, "opted_out"


class GrantExpiresBeforeSendAt(SubmsgError):
    status, code = 409, "grant_expires_before_send_at"


class NotCancelable(SubmsgError):
    status, code = 409, "not_cancelable"


class InvalidCampaignState(SubmsgError):
    status, code = 409, "invalid_campaign_state"


class PayloadTooLarge(SubmsgError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(SubmsgError):
    status, code = 415, "unsupported_media_type"


class IdempotencyKeyMismatch(SubmsgError):
    status, code = 422, "idempotency_key_mismatch"


class RateLimited(SubmsgError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class Unavailable(SubmsgError):
    status, code = 503, "unavailable"


class CallbackRefused(SubmsgError):
    status, code = 401, "unauthorized"


def error_body(error: SubmsgError) -> dict[str, object]:
    body: dict[str, object] = {"code": error.code, "message": error.message}
    if error.fields:
        body["fields"] = [{"field": f.field, "problem": f.problem} for f in error.fields]
    return {"error": body}
