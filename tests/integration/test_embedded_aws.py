"""The embedded DynamoDB (moto, patched): a transaction costs what it touches, queries read what
they ask for, transactions never interleave, and every answer is moto's own.

Each comparison runs the same calls against unpatched moto and against the patched one.
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import moto
import pytest
import time_machine
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.table import Table

from infra.provision import provision
from local import aws as embedded_aws
from local.aws import UnsupportedMoto, conflicts, plain_moto, queries
from local.aws.originals import original
from tests.support.aws import shared_session, use_fake_aws_credentials

Client = Any
Observation = Any


@pytest.fixture(autouse=True)
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws_credentials(monkeypatch)


@pytest.fixture
def dynamodb(fake_credentials: None) -> Iterator[tuple[Client, str]]:
    with mock_aws():
        table = provision(shared_session(), stage="shim").table_name
        yield shared_session().client("dynamodb"), table


def fresh_table() -> tuple[Client, str]:
    return shared_session().client("dynamodb"), provision(shared_session(), stage="shim").table_name


def both_ways(scenario: Callable[[Client, str], Observation]) -> tuple[Observation, Observation]:
    """What ``scenario`` observes against plain moto, then against the patched one."""
    with plain_moto(), mock_aws():
        plain = scenario(*fresh_table())
    assert embedded_aws.installed()
    with mock_aws():
        patched = scenario(*fresh_table())
    return plain, patched


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def key(pk: str, sk: str = "X") -> dict[str, Any]:
    return {"pk": s(pk), "sk": s(sk)}


def message(pk: str, shard: int, at: int, **extra: Any) -> dict[str, Any]:
    return {**key(pk), "work_pk": s(f"due#{shard}"), "work_at": n(at), **extra}


def error_of(call: Callable[[], Any]) -> dict[str, Any] | None:
    try:
        call()
    except ClientError as error:
        return {
            "code": error.response["Error"]["Code"],
            "message": error.response["Error"]["Message"],
            "reasons": error.response.get("CancellationReasons"),
        }
    return None


def everything(client: Client, table: str) -> list[dict[str, Any]]:
    items = client.scan(TableName=table)["Items"]
    return sorted(items, key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def due(client: Client, table: str, shard: int, before: int, **extra: Any) -> list[Any]:
    answer = client.query(
        TableName=table,
        IndexName="work",
        KeyConditionExpression="work_pk = :shard AND work_at <= :before",
        ExpressionAttributeValues={":shard": s(f"due#{shard}"), ":before": n(before)},
        **extra,
    )
    return [(item["pk"]["S"], item["work_at"]["N"]) for item in answer["Items"]]


def test_install_refuses_a_moto_it_was_not_written_for():
    with plain_moto(), pytest.MonkeyPatch.context() as patch:
        patch.setattr(moto, "__version__", "5.3.0")
        with pytest.raises(UnsupportedMoto, match=r"5\.2\.5"):
            embedded_aws.install()
        assert not embedded_aws.installed()


def test_the_pinned_moto_is_the_one_installed():
    assert moto.__version__ == embedded_aws.SUPPORTED_MOTO
    assert embedded_aws.installed()  # the suite runs on the embedded DynamoDB


def test_a_canceled_transaction_leaves_every_item_as_it_was(dynamodb):
    client, table = dynamodb
    client.put_item(TableName=table, Item=message("M1", 0, 100, status=s("scheduled")))
    client.put_item(TableName=table, Item={**key("B"), "n": n(1)})
    client.put_item(TableName=table, Item={**key("C"), "m": {"M": {"k": n(1)}}})
    before = everything(client, table)
    assert due(client, table, 0, 1_000) == [("M1", "100")]

    refused = error_of(
        lambda: client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": message("NEW", 0, 50)}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": key("M1"),
                        "UpdateExpression": "SET #s = :q, work_at = :at",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": {":q": s("queued"), ":at": n(900)},
                    }
                },
                {"Delete": {"TableName": table, "Key": key("B")}},
                {  # a path: moto changes the stored map itself
                    "Update": {
                        "TableName": table,
                        "Key": key("C"),
                        "UpdateExpression": "SET m.k = :two, m.added = :two",
                        "ExpressionAttributeValues": {":two": n(2)},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": table,
                        "Key": key("MISSING"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )
    )

    assert refused is not None and refused["code"] == "TransactionCanceledException"
    assert [r["Code"] for r in refused["reasons"]] == [
        "None",
        "None",
        "None",
        "None",
        "ConditionalCheckFailed",
    ]
    assert everything(client, table) == before
    assert due(client, table, 0, 1_000) == [("M1", "100")]


def test_a_transaction_refused_as_invalid_midway_is_rolled_back(dynamodb):
    client, table = dynamodb
    refused = error_of(
        lambda: client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": message("FIRST", 1, 10)}},
                {"Put": {"TableName": table, "Item": {**key("SAME"), "a": n(1)}}},
                {"Delete": {"TableName": table, "Key": key("SAME")}},
            ]
        )
    )
    assert refused is not None and refused["code"] == "ValidationException"
    assert everything(client, table) == []
    assert due(client, table, 1, 1_000) == []


def test_a_transaction_never_copies_a_table(monkeypatch):
    copied: list[type] = []
    real_deepcopy = copy.deepcopy

    def spy(value: Any, *args: Any) -> Any:
        copied.append(type(value))
        return real_deepcopy(value, *args)

    def transact(client: Client, table: str) -> None:
        for i in range(20):
            client.put_item(TableName=table, Item={**key(f"U{i}"), "n": n(i)})
        monkeypatch.setattr(copy, "deepcopy", spy)
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {**key("A"), "n": n(1)}}},
                {"Delete": {"TableName": table, "Key": key("U3")}},
            ]
        )
        monkeypatch.setattr(copy, "deepcopy", real_deepcopy)

    with plain_moto(), mock_aws():
        transact(*fresh_table())
    assert Table in copied  # moto's own way, for contrast
    copied.clear()
    with mock_aws():
        transact(*fresh_table())
    assert Table not in copied


def random_transactions(seed: int, count: int) -> list[list[dict[str, Any]]]:
    """Transactions over a few keys with conditions that sometimes hold and sometimes not."""
    rng = random.Random(seed)
    keys = [f"K{i}" for i in range(6)]
    transactions = []
    for _ in range(count):
        chosen = rng.sample(keys, rng.randint(1, 4))
        operations = []
        for pk in chosen:
            kind = rng.choice(["put", "update", "delete", "check"])
            condition = rng.choice([None, "attribute_exists(pk)", "attribute_not_exists(pk)"])
            if kind == "put":
                op: dict[str, Any] = {
                    "Item": message(pk, rng.randint(0, 1), rng.randint(0, 100), v=n(1))
                }
            elif kind == "update" and rng.random() < 0.5:
                op = {
                    "Key": key(pk),
                    "UpdateExpression": "ADD v :one SET work_pk = :shard, work_at = :at",
                    "ExpressionAttributeValues": {
                        ":one": n(1),
                        ":shard": s(f"due#{rng.randint(0, 1)}"),
                        ":at": n(rng.randint(0, 100)),
                    },
                }
            elif kind == "update":  # as submsg writes them: placeholders only
                op = {
                    "Key": key(pk),
                    "UpdateExpression": "SET #s = :s, #w = :w, #r = :r ADD #v :one REMOVE #x",
                    "ExpressionAttributeNames": {
                        "#s": "status",
                        "#w": "work_at",
                        "#r": "result",
                        "#v": "v",
                        "#x": rng.choice(["work_pk", "gone"]),
                    },
                    "ExpressionAttributeValues": {
                        ":s": s(rng.choice(["queued", "sent"])),
                        ":w": n(rng.randint(0, 100)),
                        ":r": {"M": {"errcode": n(0), "tags": {"L": [s("a"), n(1)]}}},
                        ":one": n(rng.choice([1, -1])),
                    },
                }
            elif kind == "delete":
                op = {"Key": key(pk)}
            else:
                op = {"Key": key(pk)}
                condition = condition or "attribute_exists(pk)"
            if condition:
                op["ConditionExpression"] = condition
                if rng.random() < 0.3:
                    op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            name = {"put": "Put", "update": "Update", "delete": "Delete", "check": "ConditionCheck"}
            operations.append({name[kind]: op})
        transactions.append(operations)
    return transactions


def test_a_sequence_of_transactions_ends_as_it_does_in_moto():
    transactions = random_transactions(seed=7, count=120)

    def run(client: Client, table: str) -> Observation:
        outcomes = []
        for operations in transactions:
            for operation in operations:
                next(iter(operation.values()))["TableName"] = table
            outcomes.append(
                error_of(lambda ops=operations: client.transact_write_items(TransactItems=ops))
            )
        shards = [due(client, table, shard, 1_000) for shard in (0, 1)]
        return outcomes, everything(client, table), shards

    plain, patched = both_ways(run)
    assert any(outcome is None for outcome in plain[0])
    assert any(outcome is not None for outcome in plain[0])
    assert patched == plain


def malformed(table: str) -> dict[str, list[dict[str, Any]]]:
    put = {"Put": {"TableName": table, "Item": {**key("A"), "n": n(1)}}}
    return {
        "too many items": [
            {"Put": {"TableName": table, "Item": {**key(f"T{i}"), "n": n(i)}}} for i in range(101)
        ],
        "two operations on one item": [put, {"Delete": {"TableName": table, "Key": key("A")}}],
        "a put without its sort key": [{"Put": {"TableName": table, "Item": {"pk": s("A")}}}],
        "an unknown table": [{"Put": {"TableName": "nowhere", "Item": key("A")}}, put],
        "an update expression that does not parse": [
            {"Update": {"TableName": table, "Key": key("A"), "UpdateExpression": "SET = 1"}}
        ],
        "an update of a key attribute": [
            {
                "Update": {
                    "TableName": table,
                    "Key": key("A"),
                    "UpdateExpression": "SET sk = :other",
                    "ExpressionAttributeValues": {":other": s("Y")},
                }
            }
        ],
        "an item that fails with its old image": [
            {
                "Put": {
                    "TableName": table,
                    "Item": {**key("OLD"), "n": n(2)},
                    "ConditionExpression": "attribute_not_exists(pk)",
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            put,
        ],
    }


def single_updates(table: str) -> list[dict[str, Any]]:
    names = {"#a": "a", "#n": "n", "#pk": "pk", "#at": "work_at", "#m": "m"}
    updates = [
        ("SET #a = :s, #m = :m", {":s": s("x"), ":m": {"M": {"k": {"L": [n(1), s("b")]}}}}),
        ("ADD #n :one", {":one": n(2)}),
        ("ADD #n :half SET #a = :s", {":half": n("0.5"), ":s": s("y")}),
        ("REMOVE #a, #m", {}),
        ("SET #pk = :s", {":s": s("other")}),  # a key attribute: refused
        ("SET #at = :s", {":s": s("not a number")}),  # an index key of another type: refused
        ("ADD #a :one", {":one": n(1)}),  # ADD to a string: refused
        ("SET #a = :s", {":s": s("z"), ":unused": s("u")}),  # an unused value: refused
        ("SET #a = #a", {}),  # not plain: moto does it
    ]
    requests = []
    for expression, values in updates:
        used = {k: v for k, v in names.items() if k in expression}
        request = {
            "TableName": table,
            "Key": key("U"),
            "UpdateExpression": expression,
            "ExpressionAttributeNames": used,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        requests.append(request)
    conditional = dict(requests[1], ConditionExpression="#n < :limit")
    conditional["ExpressionAttributeNames"] = {**conditional["ExpressionAttributeNames"]}
    conditional["ExpressionAttributeValues"] = {":one": n(2), ":limit": n(3)}
    conditional["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return [*requests, conditional, conditional]


def test_updates_are_answered_as_moto_answers_them():
    def run(client: Client, table: str) -> Observation:
        answers = []
        for request in single_updates(table):
            try:
                answers.append(client.update_item(**request).get("Attributes"))
            except ClientError as error:
                answers.append((error.response["Error"], error.response.get("Item")))
        return answers, everything(client, table)

    plain, patched = both_ways(run)
    assert any(isinstance(a, tuple) for a in plain[0]) and plain[1]
    assert patched == plain


def test_malformed_transactions_are_answered_as_moto_answers_them():
    def run(client: Client, table: str) -> Observation:
        client.put_item(TableName=table, Item={**key("OLD"), "n": n(1)})
        answers = {
            name: error_of(lambda ops=ops: client.transact_write_items(TransactItems=ops))
            for name, ops in malformed(table).items()
        }
        return answers, everything(client, table)

    plain, patched = both_ways(run)
    assert all(answer is not None for answer in plain[0].values())
    assert patched == plain


def test_queries_answer_as_moto_answers_them():
    def run(client: Client, table: str) -> Observation:
        for i in range(40):
            client.put_item(TableName=table, Item=message(f"M{i:02}", i % 3, i * 10))
            client.put_item(TableName=table, Item={**key("USER", f"C{i:02}"), "n": n(i)})
        before = [due(client, table, shard, 1_000) for shard in range(3)]
        client.delete_item(TableName=table, Key=key("M04"))
        client.update_item(
            TableName=table,
            Key=key("M05"),
            UpdateExpression="SET work_pk = :other",
            ExpressionAttributeValues={":other": s("due#1")},
        )
        client.update_item(TableName=table, Key=key("M08"), UpdateExpression="REMOVE work_pk")
        answers = [before, *(due(client, table, shard, 250) for shard in range(3))]
        answers.append(due(client, table, 1, 400, Limit=3, ScanIndexForward=False))
        page = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :c)",
            ExpressionAttributeValues={":pk": s("USER"), ":c": s("C1"), ":low": n(13)},
            FilterExpression="n >= :low",
            Limit=4,
        )
        answers.append([page["Items"], page.get("LastEvaluatedKey")])
        rest = client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s("USER")},
            ExclusiveStartKey=page["LastEvaluatedKey"],
        )
        answers.append(rest["Items"])
        answers.append(client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s("NOBODY")},
        )["Items"])  # fmt: skip
        return answers

    plain, patched = both_ways(run)
    assert plain[0] and plain[1] and plain[4] and plain[5][0]
    assert patched == plain


def holder(pk: str, shard: int, sort: str) -> dict[str, Any]:
    return {**key(pk), "hold_pk": s(f"HOLD#{shard}"), "hold_sk": s(sort)}


def on_index(client: Client, table: str, index: str, condition: str, **values: Any) -> Any:
    """Every page of a Query on ``index``, two items a page, backwards when asked."""
    backwards = values.pop("backwards", False)
    request: dict[str, Any] = {
        "TableName": table,
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": {f":{name}": value for name, value in values.items()},
        "Limit": 2,
        "ScanIndexForward": not backwards,
    }
    pages = []
    while True:
        page = client.query(**request)
        pages.append([item["pk"]["S"] for item in page["Items"]])
        if "LastEvaluatedKey" not in page:
            return pages
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_every_condition_on_an_index_sort_key_answers_as_moto_does():
    work = "work_pk = :shard AND "
    hold = "hold_pk = :shard AND "
    numbers = [
        ("work_at = :at", {"at": n(-3)}),
        ("work_at < :at", {"at": n(-3)}),
        ("work_at <= :at", {"at": n(-3)}),
        ("work_at > :at", {"at": n(-3)}),
        ("work_at >= :at", {"at": n(-3)}),
        ("work_at BETWEEN :low AND :high", {"low": n(-5), "high": {"N": "2.5"}}),
        ("work_at <= :at", {"at": n(-1000)}),
    ]
    strings = [
        ("begins_with(hold_sk, :p)", {"p": s("o1")}),
        ("begins_with(hold_sk, :p)", {"p": s("文")}),
        ("hold_sk BETWEEN :low AND :high", {"low": s("o0"), "high": s("o2")}),
        ("hold_sk > :after", {"after": s("o15")}),
        ("hold_sk < :before", {"before": s("o")}),
    ]

    def answers(client: Client, table: str) -> list[Any]:
        found = []
        for condition, values in numbers:
            for backwards in (False, True):
                found.append(on_index(
                    client, table, "work", work + condition, shard=s("due#1"),
                    backwards=backwards, **values,
                ))  # fmt: skip
        for condition, values in strings:
            found.append(
                on_index(client, table, "holders", hold + condition, shard=s("HOLD#0"), **values)
            )
        found.append(on_index(client, table, "work", "work_pk = :shard", shard=s("due#1")))
        return found

    def run(client: Client, table: str) -> Observation:
        for i in range(20):
            at = (i * 7) % 15 - 10  # negative, repeated and out-of-order sort values
            client.put_item(TableName=table, Item=message(f"M{i:02}", 1, at))
            client.put_item(
                TableName=table,
                Item={**key(f"M{i:02}", "D"), "work_pk": s("due#1"), "work_at": {"N": f"{at}.25"}},
            )
            client.put_item(TableName=table, Item=holder(f"H{i:02}", i % 2, f"o{i}"))
        client.put_item(TableName=table, Item=holder("HZ", 0, "文字"))
        client.put_item(TableName=table, Item={**key("NOSORT"), "work_pk": s("due#1")})
        before = answers(client, table)
        client.delete_item(TableName=table, Key=key("M03"))
        for moved, at in (("M04", "-2"), ("M05", "-7"), ("M06", "-3.0")):
            client.update_item(
                TableName=table,
                Key=key(moved),
                UpdateExpression="SET work_at = :at",
                ExpressionAttributeValues={":at": {"N": at}},
            )
        client.update_item(
            TableName=table,
            Key=key("M07"),
            UpdateExpression="SET work_pk = :other",
            ExpressionAttributeValues={":other": s("due#2")},
        )
        client.put_item(TableName=table, Item=message("M08", 1, 12))
        client.put_item(TableName=table, Item={**key("M09"), "n": n(1)})  # off the index
        refused = error_of(lambda: client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": message("M10", 1, 99)}},
            {"ConditionCheck": {
                "TableName": table, "Key": key("NOBODY"),
                "ConditionExpression": "attribute_exists(pk)",
            }},
        ]))  # fmt: skip
        return before, answers(client, table), refused

    plain, patched = both_ways(run)
    assert all(plain[0]) and plain[0] != plain[1] and plain[2] is not None
    assert patched == plain


def test_a_query_on_an_index_reads_what_its_sort_key_condition_allows(dynamodb, monkeypatch):
    client, table = dynamodb
    for i in range(200):
        client.put_item(TableName=table, Item=message(f"LATER{i:03}", 3, 10_000 + i))
    client.put_item(TableName=table, Item=message("NOW", 3, 5))
    assert due(client, table, 3, 10) == [("NOW", "5")]  # builds the index once
    reads = []
    real_read = queries.stored
    monkeypatch.setattr(queries, "stored", lambda *key: reads.append(key) or real_read(*key))
    client.put_item(TableName=table, Item=message("SOON", 3, 7))
    assert due(client, table, 3, 10) == [("NOW", "5"), ("SOON", "7")]
    assert len(reads) <= 5  # the put, the two due, and the nearest item on either side
    assert len(due(client, table, 3, 10_100)) == 103


def every_kind_of_value() -> dict[str, Any]:
    return {
        "s": s("文字 and text"),
        "empty": s(""),
        "n": n(-12),
        "decimal": {"N": "3.1400"},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "null": {"NULL": True},
        "ss": {"SS": ["b", "a"]},
        "ns": {"NS": ["2", "1.5"]},
        "b": {"B": b"\x00\xffbinary"},
        "bs": {"BS": [b"one", b"\x02"]},
        "list": {"L": [s("x"), n(1), {"L": []}, {"M": {"deep": {"B": b"\x01"}}}]},
        "map": {
            "M": {"inner": {"M": {"k": {"SS": ["z"]}}}, "empty": {"M": {}}, "t": {"BOOL": True}}
        },
    }


def test_every_kind_of_value_is_read_and_written_as_moto_does_it():
    def run(client: Client, table: str) -> Observation:
        item = {**key("ALL"), **every_kind_of_value()}
        client.put_item(TableName=table, Item=item)
        answers = [client.get_item(TableName=table, Key=key("ALL"))["Item"]]
        answers.append(client.query(
            TableName=table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s("ALL")},
        )["Items"])  # fmt: skip
        answers.append(client.scan(TableName=table)["Items"])
        batch = client.batch_get_item(RequestItems={table: {"Keys": [key("ALL"), key("NONE")]}})
        answers.append(batch["Responses"][table])
        updated = client.update_item(
            TableName=table,
            Key=key("ALL"),
            UpdateExpression="SET #b = :b, #m = :m",
            ExpressionAttributeNames={"#b": "b", "#m": "map"},
            ExpressionAttributeValues={":b": {"B": b"new"}, ":m": {"M": {"l": {"L": [n(7)]}}}},
            ReturnValues="ALL_NEW",
        )
        answers.append(updated["Attributes"])
        refused = error_of(lambda: client.transact_write_items(TransactItems=[{
            "Put": {
                "TableName": table,
                "Item": {**key("ALL"), "n": n(1)},
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }]))  # fmt: skip
        answers.append(refused)
        return answers

    plain, patched = both_ways(run)
    assert plain[0]["b"] == {"B": b"\x00\xffbinary"} and plain[5]["reasons"][0]["Item"]
    assert patched == plain


def test_a_query_reads_its_partition_not_the_whole_table(dynamodb, monkeypatch):
    client, table = dynamodb
    for i in range(30):
        client.put_item(TableName=table, Item={**key(f"OTHER{i}"), "n": n(i)})
    client.put_item(TableName=table, Item=message("MINE", 2, 5))
    assert due(client, table, 2, 10) == [("MINE", "5")]  # builds the index once
    walks = []
    real_walk = original["all_items"]
    monkeypatch.setitem(original, "all_items", lambda t: walks.append(t) or real_walk(t))
    client.put_item(TableName=table, Item=message("LATER", 2, 7))
    assert due(client, table, 2, 10) == [("MINE", "5"), ("LATER", "7")]
    mine = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": s("MINE")},
    )
    assert len(mine["Items"]) == 1
    assert walks == []


@pytest.mark.parametrize("overlap", [False, True], ids=["holds-in-one-step", "holds-overlap"])
def test_concurrent_transactions_on_the_same_items_never_interleave(dynamodb, monkeypatch, overlap):
    """Whether or not transactions let others meet their holds (then some are canceled with a
    conflict), none is seen half applied."""
    monkeypatch.setattr(conflicts, "overlap", overlap)
    client, table = dynamodb
    accounts = [key(f"ACCOUNT{i}") for i in range(3)]
    for account in accounts:
        client.put_item(TableName=table, Item={**account, "balance": n(100)})
    broken: list[int] = []
    stop = threading.Event()

    def move(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(40):
            source, target = rng.sample(accounts, 2)
            error_of(
                lambda source=source, target=target: client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": table,
                                "Key": source,
                                "UpdateExpression": "ADD balance :minus",
                                "ConditionExpression": "balance >= :one",
                                "ExpressionAttributeValues": {":minus": n(-1), ":one": n(1)},
                            }
                        },
                        {
                            "Update": {
                                "TableName": table,
                                "Key": target,
                                "UpdateExpression": "ADD balance :one",
                                "ExpressionAttributeValues": {":one": n(1)},
                            }
                        },
                    ]
                )
            )

    def audit() -> None:
        while not stop.is_set():
            answer = client.transact_get_items(
                TransactItems=[{"Get": {"TableName": table, "Key": a}} for a in accounts]
            )
            total = sum(int(r["Item"]["balance"]["N"]) for r in answer["Responses"])
            if total != 300:
                broken.append(total)

    movers = [threading.Thread(target=move, args=(seed,)) for seed in range(6)]
    auditor = threading.Thread(target=audit)
    auditor.start()
    for mover in movers:
        mover.start()
    for mover in movers:
        mover.join(60)
    stop.set()
    auditor.join(60)
    assert broken == []
    balances = [
        int(client.get_item(TableName=table, Key=a)["Item"]["balance"]["N"]) for a in accounts
    ]
    assert sum(balances) == 300


# SQS -----------------------------------------------------------------------------------------


def sqs_scenario(clock: Any) -> Observation:
    sqs = shared_session().client("sqs")
    url = sqs.create_queue(QueueName="shim", Attributes={"MessageRetentionPeriod": "120"})[
        "QueueUrl"
    ]
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"]
    seen: list[Any] = []

    def receive() -> list[str]:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=5)
        return sorted(m["Body"] for m in answer.get("Messages", []))

    def depth() -> dict[str, str]:
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=counts)["Attributes"]

    sqs.send_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "MessageBody": f"m{i}", "DelaySeconds": i % 3} for i in range(9)],
    )
    seen += [depth(), receive(), depth()]
    clock.shift(2.5)
    seen += [receive(), depth()]
    clock.shift(6)  # the first ones are visible again
    seen += [receive()]
    clock.shift(200)  # past the retention period
    seen += [receive(), depth()]
    return seen + delete_scenario(sqs, clock) + fifo_scenario(sqs)


def delete_scenario(sqs: Any, clock: Any) -> Observation:
    """Batch deletes: by a current handle, by an old one, by one no message had, twice."""
    url = sqs.create_queue(QueueName="deletes")["QueueUrl"]
    entries = [{"Id": str(i), "MessageBody": f"d{i}"} for i in range(6)]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)

    def handles(visible_for: int) -> dict[str, str]:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=visible_for
        )
        return {m["Body"]: m["ReceiptHandle"] for m in answer.get("Messages", [])}

    first = handles(5)
    clock.shift(6)
    again = handles(30)

    def delete(*chosen: str) -> Any:
        batch = [{"Id": str(n), "ReceiptHandle": h} for n, h in enumerate(chosen)]
        answer = sqs.delete_message_batch(QueueUrl=url, Entries=batch)
        return sorted(e["Id"] for e in answer["Successful"]), answer["Failed"]

    outcomes = [
        delete(first["d0"], again["d1"], "no-message-had-this-handle"),
        delete(again["d1"], again["d2"]),
    ]
    clock.shift(31)
    return [*outcomes, sorted(handles(5)), sorted(first) == sorted(again)]


def fifo_scenario(sqs: Any) -> Observation:
    """Content-based deduplication, which a send reads from its queue's attributes."""
    url = sqs.create_queue(
        QueueName="shim.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for body in ("same", "same", "other"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    stamps = ("CreatedTimestamp", "LastModifiedTimestamp")
    return [
        sorted(m["Body"] for m in answer["Messages"]),
        {name: value for name, value in attributes.items() if name not in stamps},
    ]


def test_sqs_answers_as_moto_answers():
    def run() -> Observation:
        instant = datetime(2026, 11, 22, 16, 30, tzinfo=UTC)
        with mock_aws(), time_machine.travel(instant, tick=False) as clock:
            return sqs_scenario(clock)

    with plain_moto():
        plain = run()
    patched = run()
    assert plain[1] and plain[3]
    assert patched == plain


def test_neither_a_send_nor_a_receive_counts_the_queue(monkeypatch):
    from moto.sqs.models import Queue

    counted = []
    real = Queue.approximate_number_of_messages
    monkeypatch.setattr(
        Queue,
        "approximate_number_of_messages",
        property(lambda q: counted.append(1) or real.fget(q)),
    )
    with mock_aws():
        sqs = shared_session().client("sqs")
        url = sqs.create_queue(QueueName="count")["QueueUrl"]
        entries = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
        sqs.send_message(QueueUrl=url, MessageBody="one more")
        assert len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 10
        assert counted == []
        depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert depth["ApproximateNumberOfMessages"] == "1" and len(counted) == 1
