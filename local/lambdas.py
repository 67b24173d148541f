"""The Lambda runtime's part, in process: real-shaped events handed to the handlers of app.py."""

from __future__ import annotations

import importlib
import logging
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from chalice.local import LambdaContext

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
LAMBDA_TIMEOUT_MS = 20_000  # lambda_timeout of .chalice/config.json

log = logging.getLogger("local")


def load_app() -> ModuleType:
    """``app.py`` of this project (also when ``local`` was found as an installed package)."""
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    return importlib.import_module("app")


def context(function_name: str) -> LambdaContext:
    return LambdaContext(function_name, memory_size=512, max_runtime_ms=LAMBDA_TIMEOUT_MS)


def scheduled_event(rule: str) -> dict[str, Any]:
    """What EventBridge hands a scheduled function."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


class Handlers:
    """Invokes the sender and the sweeps of ``app`` and logs the work they did."""

    def __init__(self, app: ModuleType) -> None:
        self._app = app

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._app.send_worker(event, context("send_worker"))
        retries = len(result.get("batchItemFailures", []))
        log.info("sender: %d record(s), %d left for a retry", len(event["Records"]), retries)
        return result

    def deliver_webhooks(self, event: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._app.webhook_deliverer(event, context("webhook_deliverer"))
        log.info("webhook deliverer: %d record(s)", len(event["Records"]))
        return result

    def webhook_sweep(self) -> None:
        report = self._app.webhook_sweep(
            scheduled_event("submsg-local-webhook-sweep"), context("webhook_sweep")
        )
        if report["enqueued"]:
            log.info("webhook sweep: %(enqueued)d enqueued", report)

    def due_sweep(self) -> None:
        report = self._app.due_sweep(scheduled_event("submsg-local-due-sweep"), context("due"))
        if report["enqueued"] or report["unknown"]:
            log.info("due sweep: %(enqueued)d enqueued, %(unknown)d unknown", report)

    def sweep(self, event: dict[str, Any]) -> dict[str, Any]:
        """The sweep worker, on the shards one step of the due sweep names."""
        report: dict[str, Any] = self._app.sweep_worker(event, context("sweep_worker"))
        if report["enqueued"] or report["unknown"]:
            log.info("sweep worker: %(enqueued)d enqueued, %(unknown)d unknown", report)
        return {}

    def expiry_sweep(self) -> None:
        report = self._app.expiry_sweep(scheduled_event("submsg-local-expiry"), context("expiry"))
        if report["expired"]:
            log.info("expiry sweep: %(expired)d credits expired", report)
