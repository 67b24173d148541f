from __future__ import annotations

from datetime import date, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.errors import FieldProblem
from chalicelib.domain.keywords import (
    KeywordType,
    keyword_type,
    parse_content,
    template_keyword_problems,
    validate_data,
    value_problem,
)
from chalicelib.domain.records import Keyword

ENUM_VALUES = ["已发货", "待付款"]

# One valid value of every type, to show that only the inserted fault makes it invalid.
VALID_SAMPLES = {
    "thing1": "会议室A-301",
    "number1": "3.14",
    "letter1": "abc",
    "symbol1": "!?",
    "character_string1": "ORD-2026/0001",
    "time1": "15:01",
    "date1": "2019-10-01",
    "amount1": "¥100.50",
    "phone_number1": "+86-0766-66888866",
    "car_number1": "粤A12345",
    "name1": "张三",
    "phrase1": "已发货",
    "enum_string1": "已发货",
}

CONTROL_CHARACTERS = ["\n", "\r", "\r\n", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u200b", "\u2028"]


def keyword(key: str) -> Keyword:
    enum_values = ENUM_VALUES if key.startswith("enum_string") else []
    return Keyword(key=key, name="label", enum_values=enum_values)


def problem(key: str, value: object) -> str | None:
    return value_problem(keyword(key), value)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("thing1", KeywordType.THING),
        ("number12", KeywordType.NUMBER),
        ("letter3", KeywordType.LETTER),
        ("symbol4", KeywordType.SYMBOL),
        ("character_string3", KeywordType.CHARACTER_STRING),
        ("time5", KeywordType.TIME),
        ("date2", KeywordType.DATE),
        ("amount6", KeywordType.AMOUNT),
        ("phone_number5", KeywordType.PHONE_NUMBER),
        ("car_number7", KeywordType.CAR_NUMBER),
        ("name8", KeywordType.NAME),
        ("phrase9", KeywordType.PHRASE),
        ("enum_string2", KeywordType.ENUM),
    ],
)
def test_derives_the_keyword_type_from_the_key_prefix(key: str, expected: KeywordType) -> None:
    assert keyword_type(key) is expected


@pytest.mark.parametrize(
    "key", ["thing", "Thing1", "foo1", "enum1", "thing1a", "1thing", "", "thing 1", "thing１"]
)
def test_refuses_keys_that_are_not_a_known_prefix_followed_by_digits(key: str) -> None:
    with pytest.raises(ValueError):
        keyword_type(key)


VALID_VALUES = [
    ("thing1", "会" * 20),
    ("thing1", "Meeting room 3, floor 2!"[:20]),
    ("thing1", "会议：周一 9:00 ✓"),
    ("number1", "0"),
    ("number1", "007"),
    ("number1", "1" * 30 + ".5"),
    ("letter1", "AbC"),
    ("symbol1", "@#$%^"),
    ("symbol1", "，。"),
    ("character_string1", "A1!~"),
    ("time1", "15:01:00"),
    ("time1", "0:00"),
    ("time1", "23:59:59"),
    ("time1", "2019年10月1日 15:01"),
    ("time1", "2019年10月1日15:01"),
    ("time1", "2019-10-01 15:01"),
    ("time1", "2019/10/01 15:01:30"),
    ("time1", "10月1日 08:30"),
    ("time1", "15:01~16:00"),
    ("time1", "15:01 ~ 16:00"),
    ("time1", "2019.10.01 15:01~2019.10.02 09:00"),
    ("date1", "2019年10月1日"),
    ("date1", "2019/10/01"),
    ("date1", "2019.10.01"),
    ("date1", "10月1日"),
    ("date1", "2019年10月"),
    ("date1", "2019.1.5"),
    ("date1", "2019-10-01 15:01"),
    ("date1", "2019年10月1日15:01:30"),
    ("date1", "2019-10-01~2019-10-07"),
    ("date1", "2019年10月~2019年12月"),
    ("date1", "2020-02-29"),
    ("date1", "2月29日"),
    ("amount1", "100元"),
    ("amount1", "100.50元"),
    ("amount1", "¥100元"),
    ("amount1", "$1"),
    ("amount1", "€0.5"),
    ("amount1", "£1234567890"),
    ("amount1", "￥12345678.90"),
    ("phone_number1", "13800138000"),
    ("phone_number1", "(0766)66888866"),
    ("car_number1", "粤AD12345"),
    ("car_number1", "粤B1234学"),
    ("car_number1", "A12345"),
    ("name1", "张" * 10),
    ("name1", "John Smith"),
    ("name1", "O'Brien"),
    ("name1", "阿卜杜·买买提"),
    ("name1", "张三Zhang"),
    ("name1", "José"),
    ("phrase1", "中" * 5),
    ("enum_string1", "待付款"),
]


@pytest.mark.parametrize(("key", "value"), VALID_VALUES + list(VALID_SAMPLES.items()))
def test_accepts_values_that_follow_the_rule_of_their_type(key: str, value: str) -> None:
    assert problem(key, value) is None


INVALID_VALUES = [
    ("number1", "-1"),
    ("number1", "+1"),
    ("number1", "1.2.3"),
    ("number1", ".5"),
    ("number1", "5."),
    ("number1", "1,000"),
    ("number1", "１２"),
    ("number1", "1e5"),
    ("number1", " 1"),
    ("letter1", "abc1"),
    ("letter1", "héllo"),
    ("letter1", "ab c"),
    ("letter1", "中"),
    ("symbol1", "a!"),
    ("symbol1", "1"),
    ("symbol1", "! "),
    ("symbol1", "中"),
    ("character_string1", "订单1"),
    ("character_string1", "ab c"),
    ("character_string1", "é1"),
    ("character_string1", "，1"),
    ("time1", "24:00"),
    ("time1", "15:60"),
    ("time1", "15:01:60"),
    ("time1", "15"),
    ("time1", "15:1"),
    ("time1", "3pm"),
    ("time1", "2019-02-30 15:01"),
    ("time1", "2019-10-01"),
    ("time1", "2019-10-0115:01"),
    ("time1", "2019年10月 15:01"),
    ("time1", "15:01~16:00~17:00"),
    ("time1", "15:01~"),
    ("time1", "~"),
    ("date1", "2019-02-29"),
    ("date1", "2019-13-01"),
    ("date1", "2019-04-31"),
    ("date1", "2019-10-00"),
    ("date1", "0000-01-01"),
    ("date1", "2019-10/01"),
    ("date1", "15:01"),
    ("date1", "2019-10-01T15:01"),
    ("date1", "2019-10-0115:01"),
    ("date1", "10月32日"),
    ("date1", "2月30日"),
    ("date1", "2019年13月"),
    ("date1", "19-10-01"),
    ("date1", "2019-10-01 24:00"),
    ("date1", "2019-10-01~"),
    ("date1", "2019-10-01~2019-10-32"),
    ("amount1", "100"),
    ("amount1", "¥100.505"),
    ("amount1", "$100元"),
    ("amount1", "¥¥100"),
    ("amount1", "¥-100"),
    ("amount1", "元100"),
    ("amount1", "¥ 100"),
    ("amount1", "¥1,000"),
    ("amount1", "100円"),
    ("amount1", "USD100"),
    ("amount1", "¥"),
    ("phone_number1", "abc"),
    ("phone_number1", "+86 0766"),
    ("phone_number1", "+-()"),
    ("phone_number1", "１３８"),
    ("car_number1", "粤A1中34"),
    ("car_number1", "粤a-123"),
    ("car_number1", "粤A 12345"),
    ("name1", "张三" + "a" * 9),
    ("name1", "Agent 007"),
    ("name1", "张三1"),
    ("phrase1", "发货A"),
    ("phrase1", "发 货"),
    ("phrase1", "已发货！"),
    ("enum_string1", "已退款"),
    ("enum_string1", "已发货 "),
]


@pytest.mark.parametrize(("key", "value"), INVALID_VALUES)
def test_rejects_values_that_break_the_rule_of_their_type(key: str, value: str) -> None:
    assert problem(key, value) is not None


@pytest.mark.parametrize(
    ("key", "unit", "limit"),
    [
        ("thing1", "中", 20),
        ("thing1", "a", 20),
        ("thing1", "😀", 20),
        ("number1", "9", 32),
        ("letter1", "a", 32),
        ("symbol1", "!", 5),
        ("character_string1", "x", 32),
        ("phone_number1", "1", 17),
        ("car_number1", "A", 8),
        ("name1", "张", 10),
        ("name1", "a", 20),
        ("phrase1", "中", 5),
    ],
)
def test_accepts_exactly_the_limit_and_rejects_one_code_point_more(
    key: str, unit: str, limit: int
) -> None:
    assert problem(key, unit * limit) is None
    assert problem(key, unit * (limit + 1)) == f"longer than {limit} characters"


def test_rejects_an_amount_with_more_than_10_digits() -> None:
    assert problem("amount1", "¥" + "9" * 10) is None
    assert problem("amount1", "9" * 10 + "元") is None
    assert problem("amount1", "¥" + "9" * 11) == "more than 10 digits"
    assert problem("amount1", "¥" + "9" * 9 + ".99") == "more than 10 digits"


def test_applies_the_10_character_limit_to_names_with_any_chinese() -> None:
    assert problem("name1", "a" * 20) is None
    assert problem("name1", "张" + "a" * 9) is None
    assert problem("name1", "张" + "a" * 10) == "longer than 10 characters"


def test_reports_a_thing_longer_than_20_characters_in_the_spec_wording() -> None:
    assert problem("thing1", "x" * 21) == "longer than 20 characters"


@pytest.mark.parametrize("key", VALID_SAMPLES)
@pytest.mark.parametrize("control", CONTROL_CHARACTERS)
def test_rejects_newlines_and_control_characters_for_every_type(key: str, control: str) -> None:
    sample = VALID_SAMPLES[key]
    assert problem(key, sample[:1] + control + sample[1:]) is not None
    assert problem(key, sample + control) is not None


@pytest.mark.parametrize("key", VALID_SAMPLES)
@pytest.mark.parametrize("blank", ["", " ", "\u3000\u3000"])
def test_rejects_empty_values_for_every_type(key: str, blank: str) -> None:
    assert problem(key, blank) == "empty"


@pytest.mark.parametrize("key", VALID_SAMPLES)
@pytest.mark.parametrize("value", [None, 12, 3.5, ["a"], {"value": "a"}, True])
def test_rejects_values_that_are_not_strings(key: str, value: object) -> None:
    assert problem(key, value) == "must be a string"


def test_rejects_every_value_of_an_enum_keyword_without_enum_values() -> None:
    assert value_problem(Keyword(key="enum_string1", name="状态"), "已发货") is not None


def test_rejects_values_for_a_template_keyword_of_unknown_type() -> None:
    assert value_problem(Keyword(key="short_thing1", name="x"), "ok") == "unknown keyword type"


TEMPLATE = [keyword("thing1"), keyword("number2"), keyword("date3"), keyword("enum_string4")]


def test_finds_no_problem_in_data_that_fits_the_template() -> None:
    data = {"thing1": "会议", "number2": "2", "date3": "2019-10-01", "enum_string4": "待付款"}
    assert validate_data(TEMPLATE, data) == []


def test_reports_every_failing_field_with_unknown_and_missing_keys() -> None:
    data = {"extra9": "x", "thing1": "x" * 21, "number2": "abc", "date3": 20191001, "other1": "y"}
    assert validate_data(TEMPLATE, data) == [
        FieldProblem("data.thing1", "longer than 20 characters"),
        FieldProblem("data.number2", "must be digits with at most one decimal point"),
        FieldProblem("data.date3", "must be a string"),
        FieldProblem("data.enum_string4", "missing"),
        FieldProblem("data.extra9", "unknown keyword for this template"),
        FieldProblem("data.other1", "unknown keyword for this template"),
    ]


def test_reports_every_keyword_as_missing_from_empty_data() -> None:
    fields = [p.field for p in validate_data(TEMPLATE, {})]
    assert fields == ["data.thing1", "data.number2", "data.date3", "data.enum_string4"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "会议时间:{{date2.DATA}}\n地点:{{thing1.DATA}}",
            [Keyword(key="date2", name="会议时间"), Keyword(key="thing1", name="地点")],
        ),
        ("会议时间：{{date2.DATA}}", [Keyword(key="date2", name="会议时间")]),
        ("  地点 ： {{thing1.DATA}}  \n", [Keyword(key="thing1", name="地点")]),
        (
            "金额:{{amount1.DATA}}\r\n状态:{{phrase2.DATA}}\r\n",
            [Keyword(key="amount1", name="金额"), Keyword(key="phrase2", name="状态")],
        ),
        ("{{thing1.DATA}}", [Keyword(key="thing1", name="thing1")]),
        (
            "开始{{time1.DATA}} 结束{{time2.DATA}}",
            [Keyword(key="time1", name="开始"), Keyword(key="time2", name="结束")],
        ),
    ],
)
def test_parses_keywords_and_their_labels_from_template_content(
    content: str, expected: list[Keyword]
) -> None:
    assert parse_content(content) == expected


@pytest.mark.parametrize("content", ["", "会议时间", "{{thing1.VALUE}}", "{thing1.DATA}"])
def test_refuses_content_without_a_placeholder(content: str) -> None:
    with pytest.raises(ValueError):
        parse_content(content)


def test_finds_no_problem_in_well_formed_template_keywords() -> None:
    keywords = [keyword("thing1"), keyword("enum_string2"), keyword("thing3")]
    assert template_keyword_problems(keywords) == []


def test_requires_at_least_one_template_keyword() -> None:
    assert [p.field for p in template_keyword_problems([])] == ["keywords"]


@pytest.mark.parametrize(
    ("keywords", "fields"),
    [
        ([Keyword(key="foo1", name="x")], ["keywords[0].key"]),
        ([Keyword(key="thing", name="x")], ["keywords[0].key"]),
        ([keyword("thing1"), keyword("thing1")], ["keywords[1].key"]),
        ([Keyword(key="enum_string1", name="x")], ["keywords[0].enum_values"]),
        ([Keyword(key="thing1", name="x", enum_values=["a"])], ["keywords[0].enum_values"]),
        ([Keyword(key="thing1", name=" ")], ["keywords[0].name"]),
        (
            [Keyword(key="enum_string1", name="x", enum_values=["a", "b\nc", ""])],
            ["keywords[0].enum_values[1]", "keywords[0].enum_values[2]"],
        ),
        (
            [Keyword(key="bad1", name="x"), keyword("date1"), Keyword(key="date1", name="")],
            ["keywords[0].key", "keywords[2].key", "keywords[2].name"],
        ),
    ],
)
def test_reports_each_problem_of_template_keywords_on_its_field(
    keywords: list[Keyword], fields: list[str]
) -> None:
    assert [p.field for p in template_keyword_problems(keywords)] == fields


CONTROL_CATEGORIES = ["Cc", "Cf", "Cs", "Zl", "Zp"]
printable = st.characters(exclude_categories=CONTROL_CATEGORIES)


@given(st.text(printable, min_size=1, max_size=20).filter(str.strip))
def test_accepts_any_non_blank_printable_text_up_to_20_code_points_as_a_thing(value: str) -> None:
    assert problem("thing1", value) is None


@given(st.text(printable, min_size=21, max_size=60))
def test_rejects_any_text_of_21_or_more_code_points_as_a_thing(value: str) -> None:
    assert problem("thing1", value) is not None


@given(
    st.sampled_from(sorted(VALID_SAMPLES)),
    st.characters(categories=["Cc", "Cf", "Zl", "Zp"]),
    st.integers(min_value=0, max_value=20),
)
def test_rejects_a_control_character_anywhere_for_every_type(
    key: str, control: str, position: int
) -> None:
    sample = VALID_SAMPLES[key]
    assert problem(key, sample[:position] + control + sample[position:]) is not None


@given(st.text("0123456789", min_size=1, max_size=32))
def test_accepts_any_run_of_up_to_32_digits_as_a_number(value: str) -> None:
    assert problem("number1", value) is None


def numeric(day: date, separator: str = "-") -> str:
    return f"{day.year:04d}{separator}{day.month:02d}{separator}{day.day:02d}"


@given(st.dates(), st.sampled_from("-/."))
def test_accepts_every_calendar_date_in_the_numeric_forms(day: date, separator: str) -> None:
    assert problem("date1", numeric(day, separator)) is None


@given(st.dates())
def test_accepts_every_calendar_date_in_the_chinese_forms(day: date) -> None:
    assert problem("date1", f"{day.year:04d}年{day.month}月{day.day}日") is None
    assert problem("date1", f"{day.month}月{day.day}日") is None


@given(st.datetimes(), st.times())
def test_accepts_every_24_hour_time_alone_after_a_date_and_in_a_range(
    moment: datetime, clock: time
) -> None:
    stamp = f"{numeric(moment)} {moment:%H:%M:%S}"
    assert problem("time1", f"{clock:%H:%M}") is None
    assert problem("time1", stamp) is None
    assert problem("date1", stamp) is None
    assert problem("time1", f"{stamp}~{clock:%H:%M}") is None


anything = st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.lists(st.text())


@given(st.dictionaries(st.text(), anything, max_size=6))
def test_reports_problems_for_arbitrary_data_without_raising(data: dict[str, object]) -> None:
    problems = validate_data(TEMPLATE, data)
    named = {f"data.{key}" for key in data} | {f"data.{k.key}" for k in TEMPLATE}
    assert {p.field for p in problems} <= named
    unknown = {f"data.{key}" for key in data if key not in {k.key for k in TEMPLATE}}
    assert unknown <= {p.field for p in problems}
