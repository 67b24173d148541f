"""The OpenAPI 3.1 document of the HTTP API: Chalice's route table plus the pydantic models."""

from __future__ import annotations

import copy
import functools
from collections import Counter
from typing import Any, Literal

from chalice import Chalice
from chalice.app import RouteEntry
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import PATH_ID
from chalicelib.api.operations import CHECKED_IDS, ERRORS, OPERATIONS, Operation
from chalicelib.api.schemas.base import ErrorOut

JSON = "application/json"
TEXT = "text/plain"
REF = "#/components/schemas/{model}"
SECURITY = "apiKey"
Mode = Literal["validation", "serialization"]


def document(app: Chalice) -> dict[str, Any]:
    """The document of every route of ``app``; built once per container, a fresh copy per call."""
    return copy.deepcopy(_build(app))


@functools.lru_cache(maxsize=4)
def _build(app: Chalice) -> dict[str, Any]:
    entries = [entry for methods in app.routes.values() for entry in methods.values()]
    names = Counter(entry.view_name for entry in entries)
    refs, components = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for entry in entries:
        unique = names[entry.view_name] == 1
        operation = OPERATIONS.get((entry.uri_pattern, entry.method), Operation(entry.view_name))
        spec = _operation(entry, operation, refs, unique)
        paths.setdefault(entry.uri_pattern, {})[entry.method.lower()] = spec
    return {
        "openapi": "3.1.0",
        "info": {"title": "submsg", "version": "1", "description": "Subscription messages."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {SECURITY: {"type": "http", "scheme": "bearer"}},
        },
    }


@functools.cache
def _schemas() -> tuple[dict[tuple[type[BaseModel], Mode], dict[str, Any]], dict[str, Any]]:
    wanted: set[tuple[type[BaseModel], Mode]] = {(ErrorOut, "serialization")}
    for operation in OPERATIONS.values():
        wanted.update((model, "validation") for model in (operation.body, operation.query) if model)
        if operation.answer:
            wanted.add((operation.answer, "serialization"))
    ordered = sorted(wanted, key=lambda pair: (pair[0].__name__, pair[1]))
    refs, top = models_json_schema(ordered, ref_template=REF)
    return dict(refs), top.get("$defs", {})


def _operation(
    entry: RouteEntry, operation: Operation, refs: dict[Any, dict[str, Any]], unique: bool
) -> dict[str, Any]:
    method = entry.method.lower()
    spec: dict[str, Any] = {
        "operationId": entry.view_name if unique else f"{entry.view_name}_{method}",
        "summary": operation.summary,
        "tags": [entry.uri_pattern.split("/")[2]],
        "security": [] if operation.public else [{SECURITY: []}],
        "parameters": _parameters(entry, operation, refs),
        "responses": _responses(entry, operation, refs),
    }
    if operation.raw and method == "post":
        spec["requestBody"] = _raw_body()
    elif operation.body:
        schema = refs[(operation.body, "validation")]
        spec["requestBody"] = {"required": True, "content": {JSON: {"schema": schema}}}
    return spec


def _parameters(
    entry: RouteEntry, operation: Operation, refs: dict[Any, dict[str, Any]]
) -> list[dict[str, Any]]:
    found = [
        {"name": arg, "in": "path", "required": True, "schema": _path_schema(arg)}
        for arg in entry.view_args
    ]
    if operation.query:
        found += _query_parameters(_resolved(refs[(operation.query, "validation")]))
    return found + list(operation.headers)


def _path_schema(name: str) -> dict[str, Any]:
    if name in CHECKED_IDS:
        return {"type": "string", "pattern": PATH_ID.pattern}
    return {"type": "string"}


def _query_parameters(model_schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(model_schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _not_null(prop)}
        for name, prop in model_schema["properties"].items()
    ]


def _resolved(reference: dict[str, Any]) -> dict[str, Any]:
    name = reference["$ref"].rsplit("/", 1)[1]
    return _schemas()[1][name]


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: the ``null`` of ``X | None`` cannot be sent."""
    schema = {k: v for k, v in schema.items() if k not in ("title", "default")}
    branches = [b for b in schema.pop("anyOf", []) if b != {"type": "null"}]
    if len(branches) == 1:
        return {**schema, **branches[0]}
    return {**schema, "anyOf": branches} if branches else schema


def _responses(
    entry: RouteEntry, operation: Operation, refs: dict[Any, dict[str, Any]]
) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for status in operation.success:
        answers[str(status)] = _success(status, operation, refs)
    error = {"content": {JSON: {"schema": refs[(ErrorOut, "serialization")]}}}
    for status in sorted(_error_statuses(entry, operation)):
        answers[str(status)] = {"description": ERRORS[status], **error}
    return answers


def _success(status: int, operation: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    if status == 204:
        return {"description": "Done; no content"}
    if operation.raw:
        return {"description": "Plain text", "content": {TEXT: {"schema": {"type": "string"}}}}
    schema = refs[(operation.answer, "serialization")] if operation.answer else {"type": "object"}
    return {"description": "OK", "content": {JSON: {"schema": schema}}}


def _error_statuses(entry: RouteEntry, operation: Operation) -> set[int]:
    statuses = {*operation.errors, 503}  # any route: a table busy until the deadline
    if not operation.public:
        statuses.update((401, 429))
    if entry.view_args:
        statuses.add(404)
    if operation.query and not operation.raw:
        statuses.add(400)
    if operation.body:
        statuses.update((400, 413, 415))
    return statuses


def _raw_body() -> dict[str, Any]:
    return {
        "required": True,
        "content": {
            "text/xml": {"schema": {"type": "string"}},
            JSON: {"schema": {"type": "object"}},
        },
    }
