"""Made-up apps, users and templates, and the HTTP API called as one of them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalice.test import Client

from chalicelib.bootstrap import Services
from chalicelib.services import admin

APP_ID = "wx0000000000000001"
OTHER_APP_ID = "wx0000000000000002"
SECRET = "made-up-app-secret-0001"
OPENID = "oUser0000000000000000000001"
TEMPLATE = "TplOrderShipped0000000000000000000000000001"


@dataclass
class Tenant:
    app_id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}


def make_tenant(services: Services, app_id: str, **settings: Any) -> Tenant:
    key = admin.create_app(
        services.app_secrets, admin.new_app(app_id, f"Demo {app_id}", **settings), SECRET
    )
    return Tenant(app_id, key)


class Api:
    """Calls the HTTP API as one tenant, JSON in and out."""

    def __init__(self, client: Client, tenant: Tenant) -> None:
        self.client, self.tenant = client, tenant

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None):
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        return self.client.http.request(
            method, path, body=payload, headers={**self.tenant.headers, **(headers or {})}
        )

    def put_template(self, template_id: str = TEMPLATE, **overrides: Any):
        body = {
            "title": "Order shipped",
            "kind": "one_time",
            "category": "transactional",
            "keywords": [
                {"key": "thing1", "name": "Item"},
                {"key": "character_string2", "name": "Order number"},
            ],
            **overrides,
        }
        return self.call("PUT", f"/v1/templates/{template_id}", body)

    def grant(self, openid: str = OPENID, template_id: str = TEMPLATE, result: str = "accept"):
        return self.call("POST", "/v1/grants", {"openid": openid, "results": {template_id: result}})

    def send(
        self,
        openid: str = OPENID,
        template_id: str = TEMPLATE,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        body = {
            "openid": openid,
            "template_id": template_id,
            "data": {"thing1": "Blue mug", "character_string2": "SO-2026-0001"},
            "page": "pages/order/detail?id=1",
            **extra,
        }
        return self.call("POST", "/v1/messages", body, headers)
