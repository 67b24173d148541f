"""One contract, two tables: the in-memory table answers every request as DynamoDB (moto) does.

Each test runs against both, each table made from infra/resources.json; the repositories and
services are written once, for either.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.counters import Counters
from chalicelib.adapters.store.dynamo import DynamoTable
from chalicelib.adapters.store.rate_limits import SHARDS, RateLimits
from chalicelib.adapters.store.table import (
    EXISTING,
    NEW,
    AnyOf,
    AtMost,
    BeginsWith,
    Below,
    Between,
    Check,
    Delete,
    Equals,
    Holds,
    Missing,
    Not,
    OneOf,
    Put,
    Query,
    Update,
)
from chalicelib.domain.statistics import Counter
from chalicelib.ports import ConditionFailed, Table, Transaction, TransactionFailed
from chalicelib.ports import WriteName as W
from infra.provision import provision
from tests.support.aws import shared_session, use_fake_aws_credentials
from tests.support.memory import memory_table

REFUSED = (
    ValueError,
    TypeError,
    ClientError,
)  # what each table raises for a request DynamoDB refuses


@pytest.fixture(params=["memory", "moto"])
def table(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Table]:
    if request.param == "memory":
        yield memory_table()
        return
    use_fake_aws_credentials(monkeypatch)
    with mock_aws():
        name = provision(shared_session(), stage="contract").table_name
        yield DynamoTable(shared_session().client("dynamodb"), name)


def key(pk: str, sk: str = "X") -> dict[str, str]:
    return {"pk": pk, "sk": sk}


def test_a_put_answers_what_it_replaced_and_a_get_reads_it_back(table):
    assert table.write(Put({**key("A"), "n": 1, "tags": ["x"], "note": None})) is None
    assert table.get(key("A")) == {**key("A"), "n": 1, "tags": ["x"]}
    assert table.write(Put({**key("A"), "n": 2}))["n"] == 1
    assert table.get(key("missing")) is None


def test_get_many_answers_the_items_that_exist_past_a_batch_of_100(table):
    for n in range(150):
        table.write(Put({**key(f"U{n}"), "n": n}))
    keys = [key(f"U{n}") for n in range(150)] + [key("missing")]
    found = table.get_many(keys)
    assert sorted(item["n"] for item in found) == list(range(150))
    assert table.get_many([]) == []


def test_adds_of_decimals_sum_exactly(table):
    table.write(Update(key("A"), add={"w": Decimal("0.1")}))
    table.write(Update(key("A"), add={"w": Decimal("0.2")}))
    assert Decimal(str(table.get(key("A"))["w"])) == Decimal("0.3")


def test_none_is_stored_as_null_only_when_asked(table):
    table.write(Put({**key("A"), "quiet": None}, keep_none=True))
    assert table.get(key("A")) == {**key("A"), "quiet": None}


def test_conditions_hold_or_refuse_the_write(table):
    table.write(Put({**key("A"), "n": 3, "status": "queued", "tags": ["a", "b"]}))
    with pytest.raises(ConditionFailed):
        table.write(Put(key("A"), NEW))
    holding = [
        EXISTING,
        Equals("n", 3),
        OneOf("status", ("scheduled", "queued")),
        Below("n", 4),
        Below("n", 3, or_equal=True),
        Holds("tags", "b"),
        Not(Holds("tags", "c")),
        Missing("other"),
        AnyOf((Missing("pk"), Equals("status", "queued"))),
    ]
    for condition in holding:
        table.write(Update(key("A"), set={"seen": True}, condition=condition))
    for condition in [Missing("pk"), Equals("n", 4), Below("n", 3), Holds("tags", "c")]:
        with pytest.raises(ConditionFailed):
            table.write(Update(key("A"), set={"seen": False}, condition=condition))
    assert table.get(key("A"))["seen"] is True


def test_an_update_sets_adds_removes_and_creates(table):
    new = table.write(Update(key("C"), set={"a": "x"}, add={"n": 2}), return_new=True)
    assert new == {**key("C"), "a": "x", "n": 2}
    after = table.write(
        Update(key("C"), set={"a": None, "b": {"deep": [1, 2]}}, add={"n": -1}, remove=("zz",)),
        return_new=True,
    )
    assert after == {**key("C"), "b": {"deep": [1, 2]}, "n": 1}


def test_a_transaction_writes_everything_or_names_what_failed(table):
    table.write(Put({**key("A"), "n": 1}))
    failing = Transaction(table)
    failing.add(W.MESSAGE, Put({**key("B"), "n": 1}))
    failing.add(W.CREDIT, Update(key("A"), add={"n": 1}, condition=Equals("n", 5)))
    failing.add(W.RECIPIENT.of("nothing"), Delete(key("nothing"), EXISTING))
    with pytest.raises(TransactionFailed) as refused:
        failing.commit()
    assert refused.value.failed == frozenset({W.CREDIT, W.RECIPIENT.of("nothing")})
    assert refused.value.on(W.RECIPIENT) and not refused.value.on(W.MESSAGE)
    assert table.get(key("B")) is None and table.get(key("A"))["n"] == 1

    passing = Transaction(table).add(W.MESSAGE, Put(key("B")))
    passing.add(W.CREDIT, Check(key("A"), Equals("n", 1))).add(
        W.STATS, Update(key("C"), add={"n": 1})
    )
    passing.commit()
    assert table.get(key("B")) == key("B") and table.get(key("C"))["n"] == 1


def test_a_write_that_lost_the_race_is_answered_any_other_failure_raised(table):
    table.write(Put({**key("A"), "n": 1}))

    def racing() -> Transaction:
        transaction = Transaction(table).add(W.MESSAGE, Put(key("M"), condition=NEW))
        return transaction.add(W.CREDIT, Update(key("A"), add={"n": -1}, condition=Equals("n", 1)))

    assert racing().commit_unless_lost(W.CREDIT) is None
    assert racing().commit_unless_lost(W.MESSAGE, W.CREDIT) is W.MESSAGE  # the first named
    table.delete_many([key("M")])
    with pytest.raises(TransactionFailed):
        racing().commit_unless_lost(W.MESSAGE)  # the credit's condition failed: not named
    assert table.get(key("A"))["n"] == 0


def test_a_write_name_that_is_not_one_is_an_error_not_a_silent_miss(table):
    with pytest.raises(TypeError):
        Transaction(table).add("mesage", Put(key("A")))  # type: ignore[arg-type]
    failed = TransactionFailed(frozenset({W.MESSAGE}))
    assert failed.on(W.MESSAGE)
    with pytest.raises(TypeError):
        failed.on("message")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Transaction(table).commit_unless_lost("credit")  # type: ignore[arg-type]


def test_a_transaction_touches_each_item_once(table):
    twice = Transaction(table).add(W.MESSAGE, Check(key("A"), EXISTING))
    twice.add(W.STATS, Update(key("A"), add={"n": 1}))
    with pytest.raises(Exception, match=r"one item|each item once"):
        twice.commit()


def test_a_transaction_names_each_write_once_and_an_empty_one_does_nothing(table):
    with pytest.raises(ValueError):
        Transaction(table).add(W.MESSAGE, Put(key("A"))).add(W.MESSAGE, Put(key("B")))
    Transaction(table).add(W.MESSAGE, None).commit()


def test_queries_read_a_partition_in_order_with_conditions_limits_and_filters(table):
    for n in range(12):
        table.write(Put({**key("P", f"CREDIT#{n:02}"), "n": n}))
    table.write(Put({**key("P", "PREFS"), "n": 99}))
    table.write(Put({**key("OTHER", "CREDIT#00"), "n": 0}))
    everything = list(table.query_all(Query("pk", "P")))
    assert [i["sk"] for i in everything][-1] == "PREFS" and len(everything) == 13
    credits = list(table.query_all(Query("pk", "P", sort=BeginsWith("CREDIT#"), forward=False)))
    assert [i["n"] for i in credits] == list(range(11, -1, -1))
    between = table.query_all(Query("pk", "P", sort=Between("CREDIT#03", "CREDIT#05")))
    assert [i["n"] for i in between] == [3, 4, 5]
    pages, start = [], None
    while True:
        items, start = table.query(Query("pk", "P", limit=5, filter=Below("n", 10)), start)
        pages.append([i["n"] for i in items])
        if start is None:
            break
    assert [n for page in pages for n in page] == list(range(10))
    assert len(pages) >= 3  # the filter drops items after the limit was read


def test_an_index_holds_only_items_that_carry_its_keys(table):
    for n, shard in enumerate(["due#0", "due#1", "due#0", None]):
        item = {**key(f"M{n}"), "status": "scheduled"}
        if shard:
            item |= {layout.WORK_PK: shard, layout.WORK_AT: 100 - n}
        table.write(Put(item))
    due = Query(layout.WORK_PK, "due#0", sort_key=layout.WORK_AT, index=layout.WORK_INDEX)
    assert [i["pk"] for i in table.query_all(due)] == ["M2", "M0"]
    soon = Query(
        layout.WORK_PK,
        "due#0",
        sort_key=layout.WORK_AT,
        sort=AtMost(99),
        index=layout.WORK_INDEX,
    )
    assert [i["pk"] for i in table.query_all(soon)] == ["M2"]
    table.write(Update(key("M2"), remove=(layout.WORK_PK, layout.WORK_AT)))
    assert [i["pk"] for i in table.query_all(due)] == ["M0"]


def test_delete_many_removes_every_key_and_ignores_missing_ones(table):
    keys = [key(f"K{n}") for n in range(30)]
    for k in keys:
        table.write(Put(k))
    table.delete_many([*keys, key("never")])
    assert all(table.get(k) is None for k in keys)
    assert table.answers()


def test_an_index_answers_the_keys_and_only_the_attributes_it_projects(table):
    holder = {layout.HOLD_PK: "hold#1", layout.HOLD_SK: "TplA#2026", "openid": "oA"}
    table.write(Put({**key("U1"), **holder, "expires_at": "2027", "note": "not projected"}))
    holders = Query(layout.HOLD_PK, "hold#1", sort_key=layout.HOLD_SK, index=layout.HOLDERS_INDEX)
    assert list(table.query_all(holders)) == [{**key("U1"), **holder, "expires_at": "2027"}]
    noted = Query(
        layout.HOLD_PK,
        "hold#1",
        sort_key=layout.HOLD_SK,
        index=layout.HOLDERS_INDEX,
        filter=Equals("note", "not projected"),
    )
    assert list(table.query_all(noted)) == []  # a filter sees what the index holds
    work = {layout.WORK_PK: "due#0", layout.WORK_AT: 5, "note": "all of it"}
    table.write(Put({**key("M1"), **work}))
    due = Query(layout.WORK_PK, "due#0", sort_key=layout.WORK_AT, index=layout.WORK_INDEX)
    assert list(table.query_all(due)) == [{**key("M1"), **work}]


def test_a_batch_naming_one_item_twice_is_refused(table):
    table.write(Put(key("A")))
    with pytest.raises(REFUSED):
        table.get_many([key("A"), key("B"), key("A")])
    with pytest.raises(REFUSED):
        table.delete_many([key("A"), key("A")])
    assert table.get(key("A")) == key("A")


def test_an_update_that_changes_nothing_and_a_lone_check_are_refused(table):
    table.write(Put({**key("A"), "n": 1}))
    with pytest.raises(REFUSED):
        table.write(Update(key("A")))
    with pytest.raises(REFUSED):
        table.write(Check(key("A"), EXISTING))
    assert table.get(key("A")) == {**key("A"), "n": 1}


# Repositories whose layout spreads items over partition keys --------------------------------


@pytest.mark.parametrize("limit", [1, 5, 45, 100])
def test_a_rate_window_admits_exactly_its_limit_a_second_over_its_shards(table, limit):
    limits = RateLimits(table)
    shards = min(SHARDS, limit)
    assert sum(limits.share(limit, n) for n in range(shards)) == limit
    admitted = [limits.count("wxapp", limit, 1_700_000_000.25) for _ in range(limit + 3)]
    assert admitted == [True] * limit + [False] * 3
    assert limits.count("wxapp", limit, 1_700_000_001.0)  # the next second is a new window
    assert limits.count("wxother", limit, 1_700_000_000.5)  # another app is not counted


def test_counters_are_summed_over_every_shard_whatever_the_writers_use(table):
    wide, narrow = Counters(table, layout.COUNTER_SHARDS), Counters(table, 1)
    for writer in [wide] * 40 + [narrow] * 5:
        table.write(writer.increment("wxapp", "2026-11-23", "T1", {Counter.SENT: 1}))
    table.write(wide.increment("wxapp", "2026-11-24", "T1", {Counter.SENT: 7}))  # out of range
    table.write(wide.increment("wxapp2", "2026-11-23", "T1", {Counter.SENT: 9}))  # another app

    found = narrow.days("wxapp", "2026-11-22", "2026-11-23")

    assert sum(row.counts[Counter.SENT] for row in found) == 45
    assert {row.day for row in found} == {"2026-11-23"}
    assert len(found) > 2  # the 40 wide writes went to several partition keys
