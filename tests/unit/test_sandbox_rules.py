"""The sandbox's keyword rules against submsg's: one table of values, both rule sets.

The two were written apart (local/sandbox/rules.py from WeChat's rule table alone), so a wrong
rule on either side shows up here as a value the two judge differently. Each row says what
WeChat's table makes of the value; both sides must say the same. Values the two sides still judge
differently are listed in DISAGREEMENTS with the reading each side takes, pinned, so that a change
on either side shows up too.
"""

from __future__ import annotations

import pytest

from chalicelib.domain.keywords import validate_data
from chalicelib.domain.records import Keyword
from local.sandbox import rules

ENUM_VALUES = ["shipped", "delivered"]

# key -> (values WeChat's table accepts, values it refuses)
# fmt: off
TABLE: dict[str, tuple[list[str], list[str]]] = {
    "thing1": (
        ["Blue mug", "键" * 20, "Room 301!", "😀" * 20, "订单#2026-001"],
        ["键" * 21, "a\nb", "a\tb", "a\u2028b", "x\x00"],
    ),
    "number2": (
        ["0", "123", "1.5", "1" * 32, "1" * 30 + ".5"],
        ["1" * 33, "-1", "1e3", "1,000", "1.2.3", "５", "5.", ".5", "12 "],
    ),
    "letter3": (["abc", "ABCxyz", "a" * 32], ["a" * 33, "abc1", "a b", "é", "中"]),
    "symbol4": (["!", "!@#", "%%%%%", "¥", "—"], ["!!!!!!", "a", "1", " "]),
    "character_string5": (
        ["SO20260001", "a-b_c.d", "x" * 32, "#A1"],
        ["x" * 33, "中", "订单1", "a b"],
    ),
    "time6": (
        ["15:01", "15:01:00", "9:05", "00:00", "23:59:59", "2019-10-01 15:01",
         "2019年10月1日 15:01", "2019/10/01 15:01:00", "10月1日 15:01", "15:01~16:00",
         "15:01 ~ 16:00", "2019-10-01 15:01~2019-10-02 09:00"],
        ["24:00", "15:60", "15:01:60", "15", "1501", "2019-10-01", "2019年10月 15:01",
         "15:01~", "15:01~16:00~17:00", "2019-10-01T15:01", "3pm", "15.01"],
    ),
    "date7": (
        ["2019年10月1日", "2019-10-01", "2019/10/01", "2019.10.01", "10月1日", "2019年10月",
         "2019-10-01 15:01", "2019年10月1日 15:01", "2019-10-01~2019-10-07", "2月29日",
         "2020-02-29", "2019-10-01 ~ 2019-10-07"],
        ["2019-02-29", "2019-13-01", "2019-10-32", "2019-10/01", "15:01", "2019",
         "2019-10-01 24:00", "2019年13月", "10-01", "2019-10-01~", "yesterday"],
    ),
    "amount8": (
        ["¥100.50", "100元", "$100", "¥100元", "￥100", "€5", "¥1234567890", "¥0.5"],
        ["100", "¥12345678901", "-¥1", "¥-1", "元100", "¥1,000", "¥", "¥1.2.3", "US$5"],
    ),
    "phone_number9": (
        ["+86-0766-66888866", "13800138000", "1" * 17, "(0766)123", "+1"],
        ["1" * 18, "a123", "+-", "0766 123", "电话1"],
    ),
    "car_number10": (
        ["粤A12345", "粤AD12345", "粤A1234学", "A12345", "粤a12345"],
        ["粤A123456学", "粤-12345", "粤A中345", "粤A 2345"],
    ),
    "name11": (
        ["张三", "张" * 10, "John", "a" * 20, "O'Brien", "张三a", "张a" * 5],
        ["张" * 11, "a" * 21, "张a" * 6, "John1", "张三3"],
    ),
    "phrase12": (["配送中", "中" * 5], ["中" * 6, "abc", "中1", "配送 中"]),
    "enum_string13": (["shipped", "delivered"], ["Shipped", "canceled", " shipped"]),
}
# fmt: on

# Why the two differ -> (key, value, the sandbox's verdict); production's verdict is the other.
# "S:" is the sandbox's reading of WeChat's table, "P:" production's.
DISAGREEMENTS: dict[str, list[tuple[str, str, bool]]] = {
    "S: empty is ''; P: blank is empty too": [("thing1", " ", True)],
    "S: a format character (Cf) is no control character; P: refused": [
        ("thing1", "a\u200bb", True)
    ],
    "S: any symbol; P: ASCII symbols only": [
        ("character_string5", "¥12", True),
        ("character_string5", "A—B", True),
    ],
    "S: 元 may end any amount; P: after ¥ only": [("amount8", "$100元", True)],
    "S: decimals allowed; P: two at most": [("amount8", "¥1.005", True)],
    "S: digits and any symbol; P: + - ( ) only": [
        ("phone_number9", "0766#123", True),
        ("phone_number9", "400.800.1234", True),
    ],
    "S: a time after a date follows a space; P: 日 may touch it": [
        ("time6", "2019年10月1日15:01", False),
        ("date7", "2019年10月1日15:01", False),
    ],
    "S: a space is neither a letter nor a symbol; P: allowed": [("name11", "Li Lei", False)],
    "S: letters are A-Z and a-z; P: any Unicode letter": [("name11", "José", False)],
}


def sandbox_accepts(key: str, value: object) -> bool:
    return rules.value_problem(key, value, ENUM_VALUES) is None


def production_accepts(key: str, value: object) -> bool:
    keyword = Keyword(key=key, name=key, enum_values=ENUM_VALUES if "enum" in key else [])
    return validate_data([keyword], {key: value}) == []


CASES = [
    pytest.param(key, value, verdict, id=f"{key}-{value!r}-{'valid' if verdict else 'invalid'}")
    for key, (valid, invalid) in TABLE.items()
    for verdict, values in ((True, valid), (False, invalid))
    for value in values
]


@pytest.mark.parametrize(("key", "value", "valid"), CASES)
def test_the_sandbox_and_production_judge_each_value_as_wechats_table_does(
    key: str, value: str, valid: bool
) -> None:
    assert (sandbox_accepts(key, value), production_accepts(key, value)) == (valid, valid)


@pytest.mark.parametrize(
    ("key", "value", "sandbox_verdict"),
    [
        pytest.param(*row, id=f"{row[0]}-{row[1]!r}")
        for rows in DISAGREEMENTS.values()
        for row in rows
    ],
)
def test_the_known_disagreements_stay_as_listed(
    key: str, value: str, sandbox_verdict: bool
) -> None:
    """Once a side changes its reading, move the value into TABLE with the verdict both give."""
    assert sandbox_accepts(key, value) is sandbox_verdict
    assert production_accepts(key, value) is not sandbox_verdict


@pytest.mark.parametrize("value", ["", 5, None, ["x"], {"value": "x"}])
@pytest.mark.parametrize("key", list(TABLE))
def test_both_refuse_an_empty_or_non_string_value_of_every_type(key: str, value: object) -> None:
    assert (sandbox_accepts(key, value), production_accepts(key, value)) == (False, False)


def test_both_name_every_failing_field_missing_and_unknown_keys_included() -> None:
    keys = ["thing1", "time2", "number3", "phrase4"]
    data = {"thing1": "键" * 21, "number3": "12", "phrase4": "abc", "thing9": "x"}

    sandbox = rules.data_problems(
        {key: [] for key in keys}, {k: {"value": v} for k, v in data.items()}
    )
    production = validate_data([Keyword(key=key, name=key) for key in keys], data)

    expected = ["data.thing1", "data.time2", "data.phrase4", "data.thing9"]
    assert [field.removesuffix(".value") for field, _ in sandbox] == expected
    assert [problem.field for problem in production] == expected


@pytest.mark.parametrize("key", ["thing", "things1", "enum2", "Thing1", "date_1", "1thing"])
def test_a_key_of_no_keyword_type_is_refused(key: str) -> None:
    assert rules.keyword_type(key) is None
    assert not sandbox_accepts(key, "x")
