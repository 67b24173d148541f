"""The operator CLI against moto: apps, keys, templates, stats, users and dead letters."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import requests
import responses
from click.testing import Result
from moto.server import ThreadedMotoServer
from typer.testing import CliRunner

import cli.dead_letters
from chalicelib import bootstrap
from chalicelib.adapters import wechat
from chalicelib.bootstrap import Services
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.records import CapPeriod, Category, TemplateKind
from chalicelib.domain.statistics import Counter
from chalicelib.domain.users import Preferences
from chalicelib.services.auth import authenticate
from cli.main import app
from cli.target import point_at_local_stack
from infra.provision import Provisioned, provision
from local.config import LocalSettings
from local.demo import DEMO_TEMPLATES, DemoApp, seed_sandbox
from local.sandbox import Sandbox
from tests.support.tenants import APP_ID, OPENID, SECRET, TEMPLATE, Api, Tenant
from tests.support.wechat import WECHAT, WeChatDouble

NEW_APP_ID = "wx0000000000000009"
NEW_SECRET = "made-up-app-secret-0009"
AES_KEY = "a" * 43
# The CLI points boto3 and chalicelib at its target through these; each test gets them back.
TARGET_VARIABLES = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "SUBMSG_STAGE",
    "SUBMSG_TABLE_NAME",
    "SUBMSG_SEND_QUEUE_URL",
    "SUBMSG_AWS_PORT",
    "SUBMSG_SANDBOX_PORT",
    "WECHAT_API_BASE",
)

Run = Callable[..., Result]


def protect_target_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in TARGET_VARIABLES:
        if name in os.environ:
            monkeypatch.setenv(name, os.environ[name])
        else:
            # setenv first: delenv of an absent variable records nothing to undo.
            monkeypatch.setenv(name, "")
            monkeypatch.delenv(name)


def invoke(*args: str, stdin: str | None = None, columns: int = 250) -> Result:
    return CliRunner().invoke(app, list(args), input=stdin, env={"COLUMNS": str(columns)})


@pytest.fixture
def run(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Run:
    protect_target_variables(monkeypatch)
    return invoke


def fresh_services() -> Services:
    bootstrap.reset()
    return bootstrap.services()


def ssm_value(name: str) -> str:
    answer = boto3.client("ssm").get_parameter(Name=name, WithDecryption=True)
    return answer["Parameter"]["Value"]


def last_line(text: str) -> str:
    return text.rstrip("\n").splitlines()[-1]


def table_rows(text: str) -> dict[str, list[str]]:
    """Cells of a rich table's rows, by their first cell."""
    rows = [line.split("│")[1:-1] for line in text.splitlines() if line.startswith("│")]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in rows}


def lines_at(text: str, width: int) -> list[str]:
    """The lines of a command's output, each checked to fit ``width`` columns uncut."""
    lines = text.splitlines()
    too_wide = [line for line in lines if len(line) > width]
    assert not too_wide, "\n".join(too_wide)
    assert "…" not in text, text
    return lines


def line_with(lines: list[str], *values: str) -> str:
    """The first line that shows every one of ``values`` whole."""
    found = [line for line in lines if all(value in line for value in values)]
    assert found, f"no line shows {values!r}:\n" + "\n".join(lines)
    return found[0]


def assert_operator_error(result: Result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert words in result.stderr
    assert "Traceback" not in result.output


def create_new_app(run: Run, *options: str) -> Result:
    return run(
        "apps",
        "create",
        NEW_APP_ID,
        "--name",
        "Shop",
        "--secret-stdin",
        *options,
        stdin=NEW_SECRET + "\n",
    )


# apps ---------------------------------------------------------------------------------------


def test_apps_create_prints_a_working_api_key_alone_on_the_last_line(run: Run) -> None:
    result = create_new_app(run)

    assert result.exit_code == 0, result.output
    key = last_line(result.stdout)
    assert key == key.strip() and " " not in key
    assert authenticate(fresh_services().core, f"Bearer {key}").app_id == NEW_APP_ID


def test_apps_create_keeps_the_secret_in_ssm_and_out_of_every_output(run: Run) -> None:
    result = create_new_app(run)

    assert ssm_value(f"/submsg/dev/apps/{NEW_APP_ID}/app_secret") == NEW_SECRET
    assert NEW_SECRET not in result.output


def test_apps_create_stores_settings_and_puts_callback_secrets_in_ssm_only(run: Run) -> None:
    result = create_new_app(
        run,
        "--timezone",
        "Europe/Berlin",
        "--quiet-hours",
        "21:30-07:00",
        "--cap",
        "marketing=2/day",
        "--cap",
        "reminder=off",
        "--callback-token",
        "tok3n",
        "--encoding-aes-key",
        AES_KEY,
        "--callback-format",
        "json",
        "--lang",
        "en_US",
    )

    assert result.exit_code == 0, result.output
    stored = fresh_services().core.store.catalog.get_app(NEW_APP_ID)
    assert stored is not None
    assert (stored.timezone, stored.lang, stored.callback_format) == (
        "Europe/Berlin",
        "en_US",
        "json",
    )
    assert stored.quiet_hours is not None and stored.quiet_hours.start.hour == 21
    assert stored.caps[Category.MARKETING].period is CapPeriod.DAY
    assert Category.REMINDER not in stored.caps
    assert ssm_value(f"/submsg/dev/apps/{NEW_APP_ID}/callback_token") == "tok3n"
    assert ssm_value(f"/submsg/dev/apps/{NEW_APP_ID}/encoding_aes_key") == AES_KEY
    assert "tok3n" not in json.dumps(stored.model_dump(mode="json"))


def test_apps_create_refuses_an_app_that_exists(run: Run, tenant: Tenant) -> None:
    result = run("apps", "create", APP_ID, "--name", "Again", "--secret-stdin", stdin="x\n")

    assert_operator_error(result, "already exists")


def test_apps_create_reads_the_secret_only_from_standard_input(run: Run) -> None:
    without_flag = run("apps", "create", NEW_APP_ID, "--name", "Shop", stdin=NEW_SECRET)
    empty_input = run("apps", "create", NEW_APP_ID, "--name", "Shop", "--secret-stdin", stdin="")

    assert_operator_error(without_flag, "--secret-stdin")
    assert_operator_error(empty_input, "No AppSecret")
    assert fresh_services().core.store.catalog.get_app(NEW_APP_ID) is None


def test_apps_update_changes_quiet_hours_and_caps_and_keeps_the_rest(run: Run) -> None:
    run(
        "apps",
        "create",
        APP_ID,
        "--name",
        "Shop",
        "--secret-stdin",
        "--timezone",
        "Asia/Tokyo",
        stdin=SECRET,
    )

    result = run(
        "apps",
        "update",
        APP_ID,
        "--quiet-hours",
        "23:00-06:30",
        "--cap",
        "reminder=5/week",
        "--cap",
        "transactional=1/day",
    )

    assert result.exit_code == 0, result.output
    updated = fresh_services().core.store.catalog.get_app(APP_ID)
    assert updated is not None
    assert updated.quiet_hours is not None
    assert (updated.quiet_hours.start.hour, updated.quiet_hours.end.minute) == (23, 30)
    assert updated.caps[Category.REMINDER].limit == 5
    assert updated.caps[Category.TRANSACTIONAL].period is CapPeriod.DAY
    assert updated.caps[Category.MARKETING].limit == 1
    assert updated.timezone == "Asia/Tokyo"


def test_apps_update_turns_quiet_hours_and_a_cap_off(run: Run, tenant: Tenant) -> None:
    result = run("apps", "update", APP_ID, "--quiet-hours", "off", "--cap", "marketing=off")

    assert result.exit_code == 0, result.output
    updated = fresh_services().core.store.catalog.get_app(APP_ID)
    assert updated is not None
    assert Category.MARKETING not in updated.caps
    assert updated.quiet_hours is None


def test_apps_update_sets_the_requests_per_second_of_the_rate_limit(
    run: Run, tenant: Tenant, services: Services
) -> None:
    assert services.core.store.catalog.get_app(APP_ID).requests_per_second == 100
    assert run("apps", "update", APP_ID, "--requests-per-second", "7").exit_code == 0
    assert services.core.store.catalog.get_app(APP_ID).requests_per_second == 7
    refused = run("apps", "update", APP_ID, "--requests-per-second", "0")
    assert refused.exit_code != 0


def test_apps_update_of_an_unknown_app_says_so(run: Run) -> None:
    assert_operator_error(run("apps", "update", NEW_APP_ID, "--lang", "en_US"), "does not exist")


def test_apps_update_without_options_says_there_is_nothing_to_change(
    run: Run, tenant: Tenant
) -> None:
    assert_operator_error(run("apps", "update", APP_ID), "Nothing to change")


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--timezone", "Mars/Olympus"),
        ("--quiet-hours", "25:00-08:00"),
        ("--quiet-hours", "08:00-08:00"),
        ("--cap", "marketing=1/month"),
        ("--cap", "gossip=1/day"),
        ("--encoding-aes-key", "too-short"),
        ("--callback-token", "no spaces allowed"),
        ("--callback-format", "yaml"),
        ("--grant-source", "guess"),
    ],
)
def test_bad_option_values_exit_1_with_a_message_and_change_nothing(
    run: Run, tenant: Tenant, option: str, value: str
) -> None:
    result = run("apps", "update", APP_ID, option, value)

    assert_operator_error(result, option)
    stored = fresh_services().core.store.catalog.get_app(APP_ID)
    assert stored is not None and stored.caps[Category.MARKETING].period is CapPeriod.WEEK


def test_apps_list_shows_every_app_and_no_secret(run: Run) -> None:
    created = create_new_app(run, "--callback-token", "tok3n")
    key = last_line(created.stdout)

    result = run("apps", "list")

    assert result.exit_code == 0, result.output
    assert NEW_APP_ID in result.stdout and "Shop" in result.stdout
    assert "22:00-08:00" in result.stdout
    for secret in (NEW_SECRET, key, "tok3n"):
        assert secret not in result.output


# keys ---------------------------------------------------------------------------------------


def test_keys_create_prints_a_second_key_that_authenticates(run: Run, tenant: Tenant) -> None:
    result = run("keys", "create", APP_ID)

    assert result.exit_code == 0, result.output
    key = last_line(result.stdout)
    assert key != tenant.api_key
    assert authenticate(fresh_services().core, f"Bearer {key}").app_id == APP_ID


def test_keys_revoke_stops_the_key_authenticating_and_removes_it_from_the_list(
    run: Run, tenant: Tenant
) -> None:
    key_id = fresh_services().core.store.catalog.list_api_keys(APP_ID)[0].key_id
    assert key_id in run("keys", "list", APP_ID).stdout

    result = run("keys", "revoke", APP_ID, key_id)

    assert result.exit_code == 0, result.output
    with pytest.raises(Unauthorized):
        authenticate(fresh_services().core, f"Bearer {tenant.api_key}")
    assert key_id not in run("keys", "list", APP_ID).stdout


def test_keys_revoke_of_an_unknown_key_says_so(run: Run, tenant: Tenant) -> None:
    assert_operator_error(run("keys", "revoke", APP_ID, "000000000000"), "has no key")


def test_keys_create_for_an_unknown_app_says_so(run: Run) -> None:
    assert_operator_error(run("keys", "create", NEW_APP_ID), "does not exist")


# templates ----------------------------------------------------------------------------------

SHIPPED = {
    "priTmplId": TEMPLATE,
    "title": "Order shipped",
    "content": "Item:{{thing1.DATA}}\nStatus:{{enum_string2.DATA}}\n",
    "example": "Item:Blue mug\nStatus:shipped\n",
    "type": 2,
    "keywordEnumValueList": [
        {"keywordCode": "enum_string2.DATA", "enumValueList": ["shipped", "delivered"]}
    ],
}
CLASS_REMINDER = {
    "priTmplId": "TplClassReminder000000000000000000000000001",
    "title": "Class reminder",
    "content": "Class:{{thing1.DATA}}\nStarts:{{time2.DATA}}\n",
    "type": 3,
    "keywordEnumValueList": [],
}


def serve_templates(wx: WeChatDouble, *templates: dict[str, Any]) -> None:
    wx.mock.add(
        responses.GET,
        f"{WECHAT}/wxaapi/newtmpl/gettemplate",
        json={"errcode": 0, "errmsg": "ok", "data": list(templates)},
    )


def test_templates_sync_stores_wechat_templates_with_kinds_keywords_and_enum_values(
    run: Run, tenant: Tenant, wx: WeChatDouble
) -> None:
    serve_templates(wx, SHIPPED, CLASS_REMINDER)

    result = run("templates", "sync", APP_ID, "--category", "reminder")

    assert result.exit_code == 0, result.output
    catalog = fresh_services().core.store.catalog
    shipped = catalog.get_template(APP_ID, TEMPLATE)
    reminder = catalog.get_template(APP_ID, str(CLASS_REMINDER["priTmplId"]))
    assert shipped is not None and reminder is not None
    assert (shipped.kind, reminder.kind) == (TemplateKind.ONE_TIME, TemplateKind.LONG_TERM)
    assert shipped.category is Category.REMINDER
    assert [(k.key, k.name, k.enum_values) for k in shipped.keywords] == [
        ("thing1", "Item", []),
        ("enum_string2", "Status", ["shipped", "delivered"]),
    ]
    assert "2 new" in result.stderr


def test_templates_sync_keeps_the_category_page_and_ttl_of_known_templates(
    run: Run, api: Api, wx: WeChatDouble
) -> None:
    api.put_template(category="marketing", default_page="pages/home", grant_ttl_days=30)
    serve_templates(wx, {**SHIPPED, "title": "Order on its way"})

    result = run("templates", "sync", APP_ID)

    assert result.exit_code == 0, result.output
    synced = fresh_services().core.store.catalog.get_template(APP_ID, TEMPLATE)
    assert synced is not None
    assert synced.title == "Order on its way"
    assert (synced.category, synced.default_page, synced.grant_ttl_days) == (
        Category.MARKETING,
        "pages/home",
        30,
    )
    assert "1 updated" in result.stderr


def test_templates_sync_stores_the_good_templates_and_fails_naming_the_bad_ones(
    run: Run, tenant: Tenant, wx: WeChatDouble
) -> None:
    broken = {**CLASS_REMINDER, "content": "no placeholders here"}
    serve_templates(wx, SHIPPED, broken)

    result = run("templates", "sync", APP_ID)

    assert_operator_error(result, str(broken["priTmplId"]))
    assert fresh_services().core.store.catalog.get_template(APP_ID, TEMPLATE) is not None


def test_templates_sync_reports_a_wechat_refusal_without_a_traceback(
    run: Run, tenant: Tenant, wx: WeChatDouble
) -> None:
    wx.mock.add(
        responses.GET,
        f"{WECHAT}/wxaapi/newtmpl/gettemplate",
        json={"errcode": 48001, "errmsg": "api unauthorized"},
    )

    assert_operator_error(run("templates", "sync", APP_ID), "48001")


# stats and users ----------------------------------------------------------------------------


def test_stats_shows_the_counters_of_each_day_and_the_totals(
    run: Run, tenant: Tenant, services: Services
) -> None:
    counters = services.core.store.counters
    services.core.store.table.write(
        counters.increment(APP_ID, "2026-03-02", TEMPLATE, {Counter.SENT: 3})
    )
    services.core.store.table.write(
        counters.increment(APP_ID, "2026-03-03", TEMPLATE, {Counter.SENT: 4})
    )
    services.core.store.table.write(
        counters.increment(APP_ID, "2026-03-03", TEMPLATE, {Counter.FAILED: 1})
    )

    result = run("stats", APP_ID, "--from", "2026-03-01", "--to", "2026-03-03")

    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["2026-03-01"][:3] == ["0", "0", "0"]
    assert rows["2026-03-03"][:3] == ["0", "4", "1"]
    assert rows["Total"][:3] == ["0", "7", "1"]
    assert "87.5%" in result.stdout


def test_stats_refuses_a_range_that_ends_before_it_starts(run: Run, tenant: Tenant) -> None:
    result = run("stats", APP_ID, "--from", "2026-03-05", "--to", "2026-03-01")

    assert_operator_error(result, "before")


def test_users_erase_deletes_the_users_grants_and_preferences(
    run: Run, api: Api, services: Services
) -> None:
    api.put_template()
    api.grant()
    services.core.store.users.put_preferences(APP_ID, OPENID, Preferences(opt_out_all=True))

    result = run("users", "erase", APP_ID, OPENID)

    assert result.exit_code == 0, result.output
    state = services.core.store.users.load(APP_ID, OPENID)
    assert (state.credits, state.grants, state.preferences) == ([], {}, Preferences())
    assert OPENID not in result.output


def test_users_erase_in_an_unknown_app_says_so(run: Run) -> None:
    assert_operator_error(run("users", "erase", NEW_APP_ID, OPENID), "does not exist")


# dead letters -------------------------------------------------------------------------------


@pytest.fixture
def dead_letters(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Three dead letters. The scan's last receive does not long-poll here: the embedded AWS
    answers every receive at once with all that is visible, so waiting would only end it later."""
    monkeypatch.setattr(cli.dead_letters, "WAIT_S", 0)
    sqs = boto3.client("sqs")
    return [
        sqs.send_message(
            QueueUrl=aws.dead_letter_queue_url,
            MessageBody=json.dumps({"id": f"msg-{number}", "app_id": APP_ID}),
        )["MessageId"]
        for number in range(3)
    ]


def queue_bodies(url: str) -> list[dict[str, str]]:
    sqs = boto3.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages"):
        bodies += [json.loads(message["Body"]) for message in messages]
    return bodies


def test_dlq_list_shows_each_dead_letter_and_leaves_it_in_the_queue(
    run: Run, aws: Provisioned, dead_letters: list[str]
) -> None:
    result = run("dlq", "list")

    assert result.exit_code == 0, result.output
    for number, sqs_id in enumerate(dead_letters):
        assert sqs_id in result.stdout and f"msg-{number}" in result.stdout
    assert APP_ID in result.stdout
    assert len(queue_bodies(aws.dead_letter_queue_url)) == 3


def test_dlq_replay_moves_only_the_chosen_messages_back_to_the_send_queue(
    run: Run, aws: Provisioned, dead_letters: list[str]
) -> None:
    result = run("dlq", "replay", "--id", dead_letters[0], "--id", "msg-2")

    assert result.exit_code == 0, result.output
    assert sorted(b["id"] for b in queue_bodies(aws.send_queue_url)) == ["msg-0", "msg-2"]
    assert [b["id"] for b in queue_bodies(aws.dead_letter_queue_url)] == ["msg-1"]


def test_dlq_replay_all_moves_at_most_max_messages(
    run: Run, aws: Provisioned, dead_letters: list[str]
) -> None:
    result = run("dlq", "replay", "--all", "--max", "2")

    assert result.exit_code == 0, result.output
    assert len(queue_bodies(aws.send_queue_url)) == 2
    assert len(queue_bodies(aws.dead_letter_queue_url)) == 1


def test_dlq_replay_names_ids_it_did_not_find_and_keeps_the_rest(
    run: Run, aws: Provisioned, dead_letters: list[str]
) -> None:
    result = run("dlq", "replay", "--id", "msg-404")

    assert_operator_error(result, "msg-404")
    assert queue_bodies(aws.send_queue_url) == []
    assert len(queue_bodies(aws.dead_letter_queue_url)) == 3


def test_dlq_replay_needs_ids_or_all(run: Run, dead_letters: list[str]) -> None:
    assert_operator_error(run("dlq", "replay"), "--all")


# --local ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def local_aws_port() -> Iterator[int]:
    """The embedded AWS's port, served for the module (stopping a server waits out its poll)."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield port
    server.stop()


@pytest.fixture
def local_stack(monkeypatch: pytest.MonkeyPatch, local_aws_port: int) -> Iterator[None]:
    protect_target_variables(monkeypatch)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    port = local_aws_port
    # moto keeps its state per process: start each test from an empty account.
    requests.post(f"http://127.0.0.1:{port}/moto-api/reset", timeout=5).raise_for_status()
    monkeypatch.setenv("SUBMSG_AWS_PORT", str(port))
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1"
    )
    provision(session, stage="local", endpoint_url=f"http://127.0.0.1:{port}")
    bootstrap.reset()
    yield
    bootstrap.reset()


def test_local_flag_manages_the_stack_on_the_local_aws_port(local_stack: None) -> None:
    created = invoke(
        "--local",
        "apps",
        "create",
        NEW_APP_ID,
        "--name",
        "Shop",
        "--secret-stdin",
        stdin=NEW_SECRET,
    )
    listed = invoke("--local", "apps", "list")

    assert created.exit_code == 0, created.output
    assert NEW_APP_ID in listed.stdout
    assert os.environ["SUBMSG_TABLE_NAME"] == "submsg-local"
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")


def test_local_flag_without_a_running_stack_says_how_to_start_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    protect_target_variables(monkeypatch)
    monkeypatch.setenv("SUBMSG_AWS_PORT", str(free_port()))

    result = invoke("--local", "apps", "list")

    assert_operator_error(result, "make run")


# 80 columns ---------------------------------------------------------------------------------


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.split("│")[1:-1]]


def test_apps_list_fits_80_columns_with_every_value_whole(run: Run) -> None:
    create_new_app(run, "--callback-format", "json", "--grant-source", "callback")
    run(
        "apps",
        "create",
        "wx0000000000000010",
        "--name",
        "Bookshop of the Old Town",
        "--secret-stdin",
        "--timezone",
        "America/Argentina/Buenos_Aires",
        stdin=NEW_SECRET,
    )

    result = run("apps", "list", columns=80)

    assert result.exit_code == 0, result.output
    lines = lines_at(result.stdout, 80)
    line_with(lines, NEW_APP_ID)
    line_with(lines, "Timezone", "Asia/Shanghai")
    line_with(lines, "Quiet hours", "22:00-08:00")
    line_with(lines, "marketing=1/week")
    line_with(lines, "reminder=3/day")
    line_with(lines, "Push format", "json")
    line_with(lines, "Grant source", "callback")
    line_with(lines, "Timezone", "America/Argentina/Buenos_Aires")
    line_with(lines, "Bookshop of the Old Town")


def test_stats_fit_80_columns_with_whole_dates_and_counters(
    run: Run, tenant: Tenant, services: Services
) -> None:
    counters = services.core.store.counters
    for day, counts in {
        "2026-11-16": {
            Counter.REQUESTED: 120345,
            Counter.SENT: 120001,
            Counter.FAILED: 344,
            Counter.CLICKED: 9876,
        },
        "2026-11-22": {
            Counter.SKIPPED: 12,
            Counter.CONVERTED: 4321,
            Counter.GRANTS_RECEIVED: 56789,
        },
    }.items():
        services.core.store.table.write(counters.increment(APP_ID, day, TEMPLATE, counts))
    services.core.store.table.write(
        counters.increment(APP_ID, "2026-11-22", TEMPLATE, {Counter.GRANTS_EXPIRED: 7})
    )

    result = run("stats", APP_ID, "--from", "2026-11-16", "--to", "2026-11-22", columns=80)

    assert result.exit_code == 0, result.output
    lines = lines_at(result.stdout, 80)
    for day in range(16, 23):
        line_with(lines, f"2026-11-{day}")
    messages, grants = (cells(line) for line in lines if line.startswith("│ 2026-11-22"))
    assert messages == ["2026-11-22", "0", "0", "0", "12", "0", "0", "4321"]  # unknown: 0
    assert grants == ["2026-11-22", "56789", "7"]
    assert cells(line_with(lines, "2026-11-16"))[1:4] == ["120345", "120001", "344"]
    for header in ("req", "skip", "unkn", "conv", "received", "expired"):
        line_with(lines, header)
    line_with(lines, "req = requested")
    line_with(lines, "delivery 99.7%")


def test_keys_list_fits_80_columns(run: Run, tenant: Tenant) -> None:
    key_id = fresh_services().core.store.catalog.list_api_keys(APP_ID)[0].key_id

    result = run("keys", "list", APP_ID, columns=80)

    assert result.exit_code == 0, result.output
    line = line_with(lines_at(result.stdout, 80), key_id)
    assert re.search(r"\b20\d\d-\d\d-\d\d \d\d:\d\d:\d\dZ", line), line


def test_dlq_list_fits_80_columns_with_whole_ids(run: Run, dead_letters: list[str]) -> None:
    result = run("dlq", "list", columns=80)

    assert result.exit_code == 0, result.output
    lines = lines_at(result.stdout, 80)
    for number, sqs_id in enumerate(dead_letters):
        line_with(lines, "SQS message id", sqs_id)
        line_with(lines, "Message id", f"msg-{number}")
    line_with(lines, "App", APP_ID)


# --local templates sync ---------------------------------------------------------------------


@pytest.fixture
def sandbox(local_stack: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A WeChat sandbox that knows NEW_APP_ID and the demo templates; its URL. No
    WECHAT_API_BASE is set, as in a shell that only ran `make run`."""
    monkeypatch.delenv("WECHAT_API_BASE", raising=False)
    wechat.clear_token_cache()
    running = Sandbox()
    seed_sandbox(running, DemoApp(app_id=NEW_APP_ID, secret=NEW_SECRET, api_key="unused"))
    url = running.start()
    yield url
    running.stop()
    wechat.clear_token_cache()


def create_local_app() -> None:
    created = invoke(
        "--local",
        "apps",
        "create",
        NEW_APP_ID,
        "--name",
        "Shop",
        "--secret-stdin",
        stdin=NEW_SECRET,
    )
    assert created.exit_code == 0, created.output


def assert_demo_templates_stored(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert f"{len(DEMO_TEMPLATES)} new" in result.stderr
    catalog = fresh_services().core.store.catalog
    for demo in DEMO_TEMPLATES:
        stored = catalog.get_template(NEW_APP_ID, demo.template_id)
        assert stored is not None and stored.title == demo.title
        assert [k.key for k in stored.keywords] == list(demo.example)


def test_local_templates_sync_reads_the_sandbox_on_its_port_without_wechat_api_base(
    sandbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBMSG_SANDBOX_PORT", sandbox.rsplit(":", 1)[1])
    create_local_app()

    result = invoke("--local", "templates", "sync", NEW_APP_ID)

    assert_demo_templates_stored(result)


def test_local_templates_sync_uses_wechat_api_base_when_it_is_set(
    sandbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBMSG_SANDBOX_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("WECHAT_API_BASE", sandbox)
    create_local_app()

    result = invoke("--local", "templates", "sync", NEW_APP_ID)

    assert_demo_templates_stored(result)


def test_local_flag_points_wechat_at_the_stacks_default_sandbox_port() -> None:
    environ: dict[str, str] = {}

    point_at_local_stack(environ)

    default_port = LocalSettings.model_fields["sandbox_port"].default
    assert environ["WECHAT_API_BASE"] == f"http://127.0.0.1:{default_port}"


def test_local_templates_sync_without_a_sandbox_says_how_to_start_one(
    local_stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WECHAT_API_BASE", raising=False)
    monkeypatch.setenv("SUBMSG_SANDBOX_PORT", str(free_port()))
    create_local_app()

    assert_operator_error(invoke("--local", "templates", "sync", NEW_APP_ID), "make run")


def test_local_templates_sync_of_an_app_the_sandbox_does_not_know_says_so(
    sandbox: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUBMSG_SANDBOX_PORT", sandbox.rsplit(":", 1)[1])
    created = invoke(
        "--local", "apps", "create", APP_ID, "--name", "Other", "--secret-stdin", stdin=SECRET
    )
    assert created.exit_code == 0, created.output

    assert_operator_error(invoke("--local", "templates", "sync", APP_ID), "demo app")


def test_apps_update_turns_the_adaptive_marketing_budget_off_and_on(
    run: Run, tenant: Tenant
) -> None:
    assert fresh_services().core.store.catalog.get_app(APP_ID).adaptive_marketing is True
    assert run("apps", "update", APP_ID, "--no-adaptive-marketing").exit_code == 0
    assert fresh_services().core.store.catalog.get_app(APP_ID).adaptive_marketing is False
    listed = run("apps", "list")
    assert "adaptive" not in listed.output
    assert run("apps", "update", APP_ID, "--adaptive-marketing").exit_code == 0
    assert fresh_services().core.store.catalog.get_app(APP_ID).adaptive_marketing is True
    assert "marketing adaptive" in run("apps", "list").output
