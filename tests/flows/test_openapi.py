"""The OpenAPI document: valid 3.1, complete, and true to the app under schemathesis fuzzing."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from chalice import Chalice
from chalice.test import Client
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation

from chalicelib.api.openapi import OPERATIONS, document
from tests.support.tenants import OPENID, TEMPLATE, Api, Tenant

SNAKE_CASE = re.compile(r"^[a-z]+(_[a-z]+)*$")
UNEXPECTED_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH", "TRACE", "QUERY"]
PUBLIC = {("/v1/health", "GET"), ("/v1/openapi.json", "GET")}


@pytest.fixture
def app() -> Any:
    from app import app

    return app


def routes(app: Any) -> set[tuple[str, str]]:
    return {(path, method) for path, methods in app.routes.items() for method in methods}


def test_the_document_is_valid_openapi_3_1(app):
    spec = document(app)

    validate(spec)
    assert spec["openapi"] == "3.1.0"


def test_the_document_has_every_route_of_the_app(app):
    spec = document(app)

    documented = {(p, m.upper()) for p, ops in spec["paths"].items() for m in ops}
    assert documented == routes(app)


def test_every_route_has_its_models_in_the_operation_table(app):
    assert routes(app) <= set(OPERATIONS)


def test_a_route_missing_from_the_table_is_still_documented_and_guarded():
    extra = Chalice(app_name="extra")
    extra.route("/v1/things/{thing_id}", methods=["POST"])(lambda thing_id: {})

    operation = document(extra)["paths"]["/v1/things/{thing_id}"]["post"]

    assert operation["security"] == [{"apiKey": []}]
    assert operation["parameters"][0]["name"] == "thing_id"
    assert set(operation["responses"]) == {"200", "401", "404", "429", "503"}


def test_the_api_key_guards_every_route_but_health_openapi_and_the_wechat_callback(app):
    spec = document(app)

    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            callback = path.startswith("/v1/wechat/")
            public = (path, method.upper()) in PUBLIC or callback
            assert (operation["security"] == []) == public, (method, path)
            assert ("401" in operation["responses"]) == (not public or callback), (method, path)


def test_bodies_and_answers_come_from_the_pydantic_models(app):
    spec = document(app)

    message = spec["paths"]["/v1/messages"]["post"]
    body = message["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/MessageIn"}
    assert set(message["responses"]) >= {"200", "201", "400", "401", "404", "409", "413", "415"}
    message_in = spec["components"]["schemas"]["MessageIn"]
    assert set(message_in["required"]) == {"openid", "template_id", "data"}
    stats = {p["name"]: p for p in spec["paths"]["/v1/stats"]["get"]["parameters"]}
    assert stats["from"]["required"] and stats["from"]["schema"]["format"] == "date"
    assert "StatsOut" in spec["components"]["schemas"]
    assert "from" in spec["components"]["schemas"]["StatsOut"]["properties"]


def test_every_error_answer_uses_the_error_schema(app):
    spec = document(app)

    for operations in spec["paths"].values():
        for operation in operations.values():
            for status, answer in operation["responses"].items():
                if int(status) >= 400:
                    schema = answer["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorOut"}


def test_the_openapi_route_serves_the_document(client, app):
    served = client.http.get("/v1/openapi.json")

    assert served.status_code == 200
    assert served.json_body == document(app)


def test_the_document_is_built_once_and_handed_out_as_a_copy(app):
    first = document(app)
    first["paths"].clear()

    assert document(app)["paths"]


# Fuzzing ------------------------------------------------------------------------------------


class ChaliceAsWsgi:
    """Schemathesis calls apps in process over WSGI; this hands each request to the test client.

    One instance serves the module's schema; the `target` fixture points it at each test's client.
    """

    def __init__(self) -> None:
        self.client: Client | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        assert self.client is not None, "use the target fixture"
        path = environ.get("RAW_URI") or quote(environ["PATH_INFO"])
        if environ.get("QUERY_STRING"):
            path += "?" + environ["QUERY_STRING"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        headers = {
            key[5:].replace("_", "-").lower(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        body = environ["wsgi.input"].read(length) if length else b""
        answer = self.client.http.request(environ["REQUEST_METHOD"], path, headers, body)
        status = f"{answer.status_code} {HTTPStatus(answer.status_code).phrase}"
        start_response(status, [(k, str(v)) for k, v in answer.headers.items()])
        return [answer.body or b""]


GATEWAY = ChaliceAsWsgi()


@dataclass
class Target:
    headers: dict[str, str]
    ids: dict[str, str]

    def aim(self, case: Any) -> None:
        """Point half the cases (chosen by a hash, so runs repeat) at the seeded records.

        Only valid parts are touched: an id swapped for another valid id keeps a case valid.
        """
        if zlib.crc32(repr((case.path_parameters, case.body)).encode()) % 2:
            return
        if not self.negative(case, ParameterLocation.PATH):
            for name in case.path_parameters:
                if name in self.ids:
                    case.path_parameters[name] = self.ids[name]
        if isinstance(case.body, dict) and not self.negative(case, ParameterLocation.BODY):
            for name in ("openid", "template_id"):
                if name in case.body:
                    case.body[name] = self.ids[name]
            if case.body.get("results"):
                case.body["results"] = {TEMPLATE: next(iter(case.body["results"].values()))}

    @staticmethod
    def negative(case: Any, location: ParameterLocation) -> bool:
        return case.meta is not None and case.meta.is_negative_at(location)


@pytest.fixture
def target(client: Client, api: Api, tenant: Tenant) -> Iterator[Target]:
    """A template, a granted user and a scheduled message that fuzzed requests can meet."""
    assert api.put_template().status_code == 201
    assert api.grant().status_code == 201
    message = api.send(send_at=(datetime.now(UTC) + timedelta(days=2)).isoformat())
    assert message.status_code == 201
    ids = {
        "template_id": TEMPLATE,
        "openid": OPENID,
        "message_id": message.json_body["id"],
        "app_id": tenant.app_id,
    }
    GATEWAY.client = client
    yield Target({"Authorization": f"Bearer {tenant.api_key}"}, ids)
    GATEWAY.client = None


def fuzz_schema() -> Any:
    from app import app

    config = SchemathesisConfig.from_dict(
        {
            # The real key goes in as a header (target.headers); test_bad_input covers bad keys.
            "generation": {"with-security-parameters": False},
            # OPTIONS (CORS preflight) is answered by API Gateway and never reaches the app.
            "phases": {"coverage": {"unexpected-methods": UNEXPECTED_METHODS}},
            # Business rules past JSON Schema (keywords xor content, from <= to, the keyword
            # rules of a template) turn schema-valid input away with 400 by design.
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )
    schema = schemathesis.openapi.from_dict(document(app), config=config)
    schema.app = GATEWAY
    return schema


@fuzz_schema().parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_fuzzed_requests_never_fail_on_our_side_and_errors_keep_their_format(case, target):
    target.aim(case)
    response = case.call_and_validate(headers=target.headers)

    assert response.status_code < 500
    if response.status_code >= 400:
        error = response.json()["error"]
        assert SNAKE_CASE.match(error["code"]), error
        assert isinstance(error["message"], str) and error["message"]
        assert set(error) <= {"code", "message", "fields"}
