"""The arithmetic of `aws_cost_per_million_cards_usd` (bench/cost.py) on known item sizes, and the
meter that feeds it (bench/capacity.py) on moto."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from bench import cost
from bench.capacity import metering, table_meter

ALL = cost.Index("work", ("work_pk", "work_at"), None)
SOME = cost.Index("expiry", ("exp_pk", "exp_at"), frozenset({"app_id"}))
KEYS = ("pk", "sk")


def s(text: str) -> dict[str, str]:
    return {"S": text}


def n(number: str) -> dict[str, str]:
    return {"N": number}


def sized(size: int, **extra: dict[str, str]) -> dict[str, dict[str, str]]:
    """An item of exactly ``size`` bytes: its keys, ``extra``, and a padding string."""
    item = {"pk": s("MSG#1"), "sk": s("MSG"), **extra}
    item["pad"] = s("x" * (size - cost.item_size(item) - len("pad")))
    assert cost.item_size(item) == size
    return item


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (s("Blue mug"), 8),
        (s("冬季"), 6),  # UTF-8 bytes, not characters
        (n("123"), 3),  # two bytes for three significant digits, plus one
        (n("1000"), 2),  # trailing zeros trimmed
        (n("-0.0012"), 2),  # leading zeros trimmed too
        (n("1796406505022"), 8),
        ({"B": b"\x00\x01\x02"}, 3),
        ({"BOOL": False}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["ab", "c"]}, 3),
        ({"L": [s("ab"), n("7")]}, 3 + (2 + 1) + (2 + 1)),
        ({"M": {"errcode": n("0"), "errmsg": s("ok")}}, 3 + (7 + 1 + 1) + (6 + 2 + 1)),
        ({"M": {}}, 3),
    ],
)
def test_attribute_values_have_dynamodbs_documented_sizes(value, size):
    assert cost.value_size(value) == size


def test_an_item_is_its_attribute_names_and_values():
    assert cost.item_size({"pk": s("MSG#1"), "attempts": n("1")}) == (2 + 5) + (8 + 2)


@pytest.mark.parametrize(
    ("size", "transactional", "units"),
    [(1, False, 1), (1024, False, 1), (1025, False, 2), (1025, True, 4), (0, True, 2)],
)
def test_a_write_costs_a_unit_per_kilobyte_and_double_in_a_transaction(size, transactional, units):
    assert cost.write_units(size, transactional) == units


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(100, True, 1), (4096, True, 1), (4097, True, 2), (100, False, 0.5), (8192, False, 1)],
)
def test_a_read_costs_a_unit_per_four_kilobytes_and_half_when_eventually_consistent(
    size, consistent, units
):
    assert cost.read_units(size, consistent) == units


def test_index_writes_follow_the_entry_in_and_out_of_a_sparse_index():
    off = sized(500)
    on = sized(500, work_pk=s("due#1"), work_at=n("100"))
    moved = {**on, "work_at": n("200")}
    bigger = {**on, "pad": s("x" * 1200)}

    assert cost.index_write_units(None, on, ALL, KEYS) == 1  # put on the index
    assert cost.index_write_units(on, off, ALL, KEYS) == 1  # taken off
    assert cost.index_write_units(off, {**off, "status": s("sent")}, ALL, KEYS) == 0
    assert cost.index_write_units(on, moved, ALL, KEYS) == 2  # key changed: delete and put
    assert cost.index_write_units(on, bigger, ALL, KEYS) == 2  # projected, over 1 KB
    assert cost.index_write_units(None, bigger, ALL, KEYS) == 2


def test_an_index_that_projects_some_attributes_is_written_only_when_they_change():
    credit = sized(900, exp_pk=s("exp#1"), exp_at=n("5"), app_id=s("wx1"))

    assert cost.index_write_units(credit, {**credit, "pad": s("y")}, SOME, KEYS) == 0
    assert cost.index_write_units(credit, {**credit, "app_id": s("wx2")}, SOME, KEYS) == 1
    assert cost.entry(credit, SOME, KEYS) == {
        k: credit[k] for k in ("pk", "sk", "exp_pk", "exp_at", "app_id")
    }


def test_sqs_counts_a_request_per_64_kb_chunk():
    assert [cost.sqs_requests(b) for b in (0, 900, 65_536, 65_537, 256 * 1024)] == [1, 1, 1, 2, 4]


def test_lambda_bills_each_invocation_rounded_up_to_the_millisecond():
    assert cost.lambda_gb_seconds([0.2, 1.0, 1.4], memory_mb=512) == pytest.approx(0.004 * 0.5)


def test_the_breakdown_prices_known_usage_per_million_cards():
    usage = cost.Usage(
        cards=2,
        api_requests=2,
        invocations=3,
        durations_ms=[10.0, 10.0, 20.0],
        write_units=54,
        read_units=8,
        sqs_requests=3,
        log_bytes=1024**3 // 1000,
        stored_bytes=4096,
        retention_days=90,
    )

    found = cost.breakdown(usage, memory_mb=1024)

    half_a_million = 500_000
    assert found == pytest.approx(
        {
            "API Gateway REST requests": 2 * 3.50 / 1e6 * half_a_million,
            "Lambda requests": 3 * 0.20 / 1e6 * half_a_million,
            "Lambda GB-s": 0.040 * 0.0000166667 * half_a_million,
            "DynamoDB write units": 54 * 0.625 / 1e6 * half_a_million,
            "DynamoDB read units": 8 * 0.125 / 1e6 * half_a_million,
            "DynamoDB storage": 4096 / 1024**3 * 90 / 30.4 * 0.25 * half_a_million,
            "SQS requests": 3 * 0.40 / 1e6 * half_a_million,
            "CloudWatch Logs (EMF)": 0.001 * 0.50 * half_a_million,
        }
    )
    assert found["DynamoDB write units"] == pytest.approx(16.875)  # 27 units a card


def test_the_memory_is_the_stages_own_or_the_projects(tmp_path: Path):
    config = tmp_path / "config.json"
    settings = {"lambda_memory_size": 512, "stages": {"prod": {"lambda_memory_size": 1024}}}
    config.write_text(json.dumps(settings))

    assert cost.configured_memory_mb("prod", config) == 1024
    assert cost.configured_memory_mb("dev", config) == 512
    assert cost.configured_memory_mb() == json.loads(cost.CONFIG.read_text())["lambda_memory_size"]


@pytest.fixture
def table(aws) -> str:
    return aws.table_name


def test_the_meter_prices_a_transaction_and_its_index_writes_from_the_items(table):
    client = boto3.client("dynamodb")
    meter = table_meter()
    due = sized(1500, work_pk=s("due#1"), work_at=n("100"))
    with metering(meter):
        meter.active = True
        client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": due}}])
        first = meter.take()
        stored = meter.stored_bytes(first, now_s=0)
        client.update_item(
            TableName=table,
            Key={"pk": due["pk"], "sk": due["sk"]},
            UpdateExpression="SET work_at = :at",
            ExpressionAttributeValues={":at": n("200")},
        )
        second = meter.take()
        client.get_item(TableName=table, Key={"pk": due["pk"], "sk": due["sk"]})
        read = meter.take()

    assert (first.write_units, first.index_write_units) == (2 * 2 + 2, 2)
    assert (second.write_units, second.index_write_units) == (2 + 2 + 2, 4)
    assert first.write_units_by_kind == {"MSG": 6}
    assert read.read_units == 0.5
    assert stored == (1500 + 100) * 2  # the item and its index entry


def test_the_meter_knows_the_indexes_of_the_provisioned_table(aws):
    meter = table_meter()
    described = boto3.client("dynamodb").describe_table(TableName=aws.table_name)["Table"]

    assert {i.name for i in meter.indexes} == {
        i["IndexName"] for i in described["GlobalSecondaryIndexes"]
    }
    assert meter.table_keys == ("pk", "sk")
