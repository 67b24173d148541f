"""`submsg campaigns` against moto: create from a JSON body, list, show (and --watch), pause,
resume, cancel, and the operator's mistakes as one line."""

from __future__ import annotations

import json
import re

import pytest

from tests.integration.test_cli import assert_operator_error, invoke, protect_target_variables
from tests.support.events import drain, run_due_sweep
from tests.support.tenants import APP_ID

PROMO = "TplPromotion000000000000000000000000000001"


@pytest.fixture
def run(aws, monkeypatch):
    protect_target_variables(monkeypatch)
    return invoke


@pytest.fixture
def holders(api):
    api.put_template(PROMO, title="Promotion", category="reminder")
    openids = [f"oCliUser{n:04d}" for n in range(5)]
    for openid in openids:
        api.grant(openid, PROMO)
    return openids


def body_file(tmp_path, **fields) -> str:
    body = {
        "name": "Spring launch",
        "template_id": PROMO,
        "audience": {"holders": {}},
        "data": {"thing1": "New tea", "character_string2": "T-1"},
        **fields,
    }
    path = tmp_path / "campaign.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    return str(path)


def created_id(output: str) -> str:
    found = re.search(r"cmp_[0-9a-f]+", output)
    assert found, output
    return found.group(0)


def test_create_list_and_show_a_campaign_with_its_variants(run, holders, tmp_path, wx, client, aws):
    variants = [{"name": "tea", "weight": 50}, {"name": "cake", "weight": 50}]
    result = run("campaigns", "create", APP_ID, body_file(tmp_path, variants=variants))
    assert result.exit_code == 0, result.output
    campaign_id = created_id(result.stdout)
    assert "running" in result.stdout

    listed = run("campaigns", "list", APP_ID)
    assert listed.exit_code == 0, listed.output
    assert campaign_id in listed.stdout and "Spring launch" in listed.stdout

    for _ in range(5):
        drain(client, aws)
        run_due_sweep()
    shown = run("campaigns", "show", APP_ID, campaign_id)
    assert shown.exit_code == 0, shown.output
    assert re.search(r"sent\s+5\b", shown.stdout), shown.stdout
    assert re.search(r"status\s+completed", shown.stdout), shown.stdout
    assert "tea" in shown.stdout and "cake" in shown.stdout

    watched = run("campaigns", "show", APP_ID, campaign_id, "--watch", "--every", "0.2")
    assert watched.exit_code == 0, watched.output
    assert "5/5" in watched.stdout


def test_pause_resume_and_cancel_say_the_new_state_and_refuse_wrong_moves(run, holders, tmp_path):
    result = run("campaigns", "create", APP_ID, body_file(tmp_path, rate_per_minute=1))
    campaign_id = created_id(result.stdout)

    assert "paused" in run("campaigns", "pause", APP_ID, campaign_id).output
    assert_operator_error(run("campaigns", "pause", APP_ID, campaign_id), "paused campaign")
    assert "running" in run("campaigns", "resume", APP_ID, campaign_id).output
    assert "canceled" in run("campaigns", "cancel", APP_ID, campaign_id).output
    assert_operator_error(run("campaigns", "resume", APP_ID, campaign_id), "canceled campaign")


def test_a_bad_body_is_one_line_naming_the_field(run, holders, tmp_path):
    bad = body_file(tmp_path, variants=[{"name": "a", "weight": 10}, {"name": "b", "weight": 10}])
    assert_operator_error(run("campaigns", "create", APP_ID, bad), "variants")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    assert_operator_error(
        run("campaigns", "create", APP_ID, str(tmp_path / "broken.json")), "not JSON"
    )
    assert_operator_error(run("campaigns", "show", APP_ID, "cmp_missing"), "does not exist")
