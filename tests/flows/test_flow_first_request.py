"""A fresh container: ``import app`` leaves each area's schemas and services unloaded
(docs/bench.md#cold-start), and its first request loads them, validates and answers as ever."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

FRESH_CONTAINER = """
import json
import sys

import app

AREAS = (
    "chalicelib.api.commands",
    "chalicelib.api.mappers",
    "chalicelib.api.schemas.campaigns",
    "chalicelib.api.schemas.webhooks",
    "chalicelib.services.callback",
    "chalicelib.services.campaigns",
    "chalicelib.services.sweeps",
    "chalicelib.services.webhooks",
)


def waiting(name):
    return type(sys.modules[name]).__name__ == "_LazyModule"


found = {"loaded_by_import": [name for name in AREAS if not waiting(name)]}

import pytest
from chalice.test import Client

from chalicelib import bootstrap
from tests.support.memory import memory_stack
from tests.support.tenants import APP_ID, Api, make_tenant

with memory_stack(pytest.MonkeyPatch()):
    tenant = make_tenant(bootstrap.services(), APP_ID, quiet_hours=None)
    found["waiting_at_first_request"] = [name for name in AREAS if waiting(name)]
    with Client(app.app, stage_name="dev") as client:
        api = Api(client, tenant)
        bad = api.call("POST", "/v1/campaigns", {"name": "Sale", "audience": {"openids": []}})
        found["bad"] = [bad.status_code, bad.json_body]
        api.put_template("TplPromotion000000000000000000000000000001", category="reminder")
        good = api.call(
            "POST",
            "/v1/campaigns",
            {
                "name": "Sale",
                "template_id": "TplPromotion000000000000000000000000000001",
                "audience": {"openids": ["oUser0000000000000000000001"]},
                "data": {"thing1": "Winter sale", "character_string2": "SALE-2026"},
                "start": False,
            },
        )
        found["good"] = [good.status_code, good.json_body]
print(json.dumps(found))
"""


def test_the_first_request_of_a_fresh_container_validates_and_answers():
    answer = subprocess.run(
        [sys.executable, "-c", FRESH_CONTAINER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    found = json.loads(answer.stdout.strip().splitlines()[-1])

    assert found["loaded_by_import"] == []
    assert "chalicelib.api.schemas.campaigns" in found["waiting_at_first_request"]
    status, bad = found["bad"]
    assert status == 400
    assert bad["error"]["code"] == "validation_error"
    assert {f["field"] for f in bad["error"]["fields"]} >= {"template_id"}
    status, good = found["good"]
    assert status == 201, good
    assert good["status"] == "draft"
    assert good["audience_size"] == 1
