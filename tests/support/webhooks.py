"""A mini-program backend receiving webhooks (through `responses`), and the webhook routes as
the flows call them."""

from __future__ import annotations

from typing import Any

import responses
from standardwebhooks.webhooks import Webhook

from tests.support.tenants import Api

RECEIVER = "https://receiver.example/hooks/submsg"


class Receiver:
    """A mini-program's backend: answers as scripted (then 204), keeps every request."""

    def __init__(self, mock: responses.RequestsMock, url: str = RECEIVER) -> None:
        self.requests: list[Any] = []
        self.answers: list[int] = []
        mock.add_callback(responses.POST, url, callback=self._receive)

    def _receive(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(request)
        status = self.answers.pop(0) if self.answers else 204
        return status, {}, ""

    def verified(self, secret: str, index: int = -1) -> dict[str, Any]:
        request = self.requests[index]
        return Webhook(secret).verify(request.body, dict(request.headers))

    def ids(self) -> list[str]:
        return [r.headers["webhook-id"] for r in self.requests]


def create_endpoint(api: Api, **body: Any) -> dict[str, Any]:
    created = api.call("POST", "/v1/webhooks", {"url": RECEIVER, **body})
    assert created.status_code == 201, created.json_body
    return created.json_body


def deliveries(api: Api, endpoint_id: str, **query: str) -> list[dict[str, Any]]:
    suffix = "&".join(f"{k}={v}" for k, v in query.items())
    answer = api.call("GET", f"/v1/webhooks/{endpoint_id}/deliveries?{suffix}")
    assert answer.status_code == 200, answer.json_body
    return answer.json_body["items"]
