"""Keyword value rules of WeChat subscription messages (docs/rules.md#wechats-keyword-rules).

A keyword's type is the prefix of its key (``thing1`` is a thing). Where the platform's wording
is loose, the checks take the stricter reading: a value accepted here should not come back as
errcode 47003, at the price of refusing a few values WeChat might have taken.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date, time
from enum import StrEnum

from chalicelib.domain.errors import FieldProblem
from chalicelib.domain.records import Keyword


class KeywordType(StrEnum):
    THING = "thing"
    NUMBER = "number"
    LETTER = "letter"
    SYMBOL = "symbol"
    CHARACTER_STRING = "character_string"
    TIME = "time"
    DATE = "date"
    AMOUNT = "amount"
    PHONE_NUMBER = "phone_number"
    CAR_NUMBER = "car_number"
    NAME = "name"
    PHRASE = "phrase"
    ENUM = "enum_string"


_Checker = Callable[[str, Keyword], str | None]

_KEY = re.compile(r"([a-z_]+)([0-9]+)")
_PLACEHOLDER = re.compile(r"\{\{(\w+)\.DATA\}\}")
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_CHINESE_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF))

_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_AMOUNT = re.compile(r"(?P<symbol>\D?)[0-9]+(?:\.[0-9]{1,2})?(?P<yuan>元?)", re.ASCII)
_PHONE = re.compile(r"[0-9+()\-]+")
_CLOCK = r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?"
_DAY_FORMS = (
    re.compile(
        rf"(?P<year>[0-9]{{4}})([-/.])(?P<month>[0-9]{{1,2}})\2(?P<day>[0-9]{{1,2}})"
        rf"(?: {_CLOCK})?"
    ),
    re.compile(
        rf"(?:(?P<year>[0-9]{{4}})年)?(?P<month>[0-9]{{1,2}})月(?P<day>[0-9]{{1,2}})日"
        rf"(?: ?{_CLOCK})?"
    ),
    re.compile(r"(?P<year>[0-9]{4})年(?P<month>[0-9]{1,2})月"),
)
_CLOCK_ONLY = re.compile(_CLOCK)
_RANGE_JOIN = re.compile(r" ?~ ?")
# Month and day without a year are checked against a leap year, so 2月29日 stays valid.
_LEAP_YEAR = 2000


def keyword_type(key: str) -> KeywordType:
    match = _KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"not a keyword key: {key!r}")
    return KeywordType(match.group(1))


def _is_chinese(char: str) -> bool:
    return any(low <= ord(char) <= high for low, high in _CHINESE_RANGES)


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in _CONTROL_CATEGORIES


def _is_symbol(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _is_ascii_letter(char: str) -> bool:
    return char.isascii() and char.isalpha()


def _is_ascii_alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def _is_ascii_visible(char: str) -> bool:
    return "!" <= char <= "~"


def _is_name_char(char: str) -> bool:
    return char.isalpha() or _is_symbol(char) or char == " "


def _length_problem(value: str, limit: int) -> str | None:
    return f"longer than {limit} characters" if len(value) > limit else None


def _only(limit: int, allowed: Callable[[str], bool], what: str) -> _Checker:
    def check(value: str, _: Keyword) -> str | None:
        if not all(allowed(char) for char in value):
            return f"must contain only {what}"
        return _length_problem(value, limit)

    return check


def _thing(value: str, _: Keyword) -> str | None:
    return _length_problem(value, 20)


def _number(value: str, _: Keyword) -> str | None:
    if _NUMBER.fullmatch(value) is None:
        return "must be digits with at most one decimal point"
    return _length_problem(value, 32)


def _amount(value: str, _: Keyword) -> str | None:
    match = _AMOUNT.fullmatch(value)
    if match is None or not _is_currency_mark(match["symbol"], match["yuan"]):
        return "must be a currency symbol and digits, or digits ending in 元 (¥100.50, 100元)"
    if sum(char.isdigit() for char in value) > 10:
        return "more than 10 digits"
    return None


def _is_currency_mark(symbol: str, yuan: str) -> bool:
    if not symbol:
        return bool(yuan)
    # 元 may follow a yuan sign (¥100元) but not another currency's symbol ($100元).
    return unicodedata.category(symbol) == "Sc" and (not yuan or symbol in "¥￥")


def _phone_number(value: str, _: Keyword) -> str | None:
    if _PHONE.fullmatch(value) is None or not any(char.isdigit() for char in value):
        return "must be digits and + - ( )"
    return _length_problem(value, 17)


def _car_number(value: str, _: Keyword) -> str | None:
    ends_fit = all(_is_ascii_alnum(c) or _is_chinese(c) for c in (value[0], value[-1]))
    if not ends_fit or not all(_is_ascii_alnum(char) for char in value[1:-1]):
        return "must be letters and digits, with Chinese only first or last"
    return _length_problem(value, 8)


def _name(value: str, _: Keyword) -> str | None:
    if not all(_is_name_char(char) for char in value):
        return "must contain only Chinese characters, letters and symbols"
    return _length_problem(value, 10 if any(_is_chinese(char) for char in value) else 20)


def _enum(value: str, keyword: Keyword) -> str | None:
    return None if value in keyword.enum_values else "not one of the template's enum values"


def _is_real_moment(fields: dict[str, str | None]) -> bool:
    def number(name: str, default: int) -> int:
        return int(fields.get(name) or default)

    try:
        if fields.get("month"):
            date(number("year", _LEAP_YEAR), number("month", 0), number("day", 1))
        if fields.get("hour"):
            time(number("hour", 0), number("minute", 0), number("second", 0))
    except ValueError:
        return False
    return True


def _moment_fields(point: str) -> dict[str, str | None] | None:
    for form in (*_DAY_FORMS, _CLOCK_ONLY):
        match = form.fullmatch(point)
        if match is not None:
            return match.groupdict() if _is_real_moment(match.groupdict()) else None
    return None


def _moments(needed: str, what: str) -> _Checker:
    def check(value: str, _: Keyword) -> str | None:
        points = [_moment_fields(point) for point in _RANGE_JOIN.split(value)]
        if len(points) > 2 or not all(p is not None and p.get(needed) for p in points):
            return f"not a valid {what}"
        return None

    return check


_CHECKERS: dict[KeywordType, _Checker] = {
    KeywordType.THING: _thing,
    KeywordType.NUMBER: _number,
    KeywordType.LETTER: _only(32, _is_ascii_letter, "letters A-Z and a-z"),
    KeywordType.SYMBOL: _only(5, _is_symbol, "symbols"),
    KeywordType.CHARACTER_STRING: _only(32, _is_ascii_visible, "digits, letters and ASCII symbols"),
    KeywordType.TIME: _moments("hour", "24-hour time such as 15:01 or 2019-10-01 15:01:00"),
    KeywordType.DATE: _moments("month", "date such as 2019年10月1日, 2019-10-01 or 10月1日"),
    KeywordType.AMOUNT: _amount,
    KeywordType.PHONE_NUMBER: _phone_number,
    KeywordType.CAR_NUMBER: _car_number,
    KeywordType.NAME: _name,
    KeywordType.PHRASE: _only(5, _is_chinese, "Chinese characters"),
    KeywordType.ENUM: _enum,
}


def _text_problem(value: str) -> str | None:
    if not value.strip():
        return "empty"
    if any(_is_control(char) for char in value):
        return "contains a newline or control character"
    return None


def value_problem(keyword: Keyword, value: object) -> str | None:
    if not isinstance(value, str):
        return "must be a string"
    try:
        kind = keyword_type(keyword.key)
    except ValueError:
        return "unknown keyword type"
    return _text_problem(value) or _CHECKERS[kind](value, keyword)


def validate_data(keywords: Sequence[Keyword], data: Mapping[str, object]) -> list[FieldProblem]:
    """Every problem of ``data``: template keywords in order, then keys the template lacks."""
    problems = []
    for keyword in keywords:
        if keyword.key not in data:
            problems.append(FieldProblem(f"data.{keyword.key}", "missing"))
        elif (problem := value_problem(keyword, data[keyword.key])) is not None:
            problems.append(FieldProblem(f"data.{keyword.key}", problem))
    known = {keyword.key for keyword in keywords}
    unknown = [key for key in data if key not in known]
    problems += [
        FieldProblem(f"data.{key}", "unknown keyword for this template") for key in unknown
    ]
    return problems


def parse_content(content: str) -> list[Keyword]:
    """Keywords of WeChat template content; a keyword's name is the label before it on its line."""
    keywords = []
    label_start = 0
    for match in _PLACEHOLDER.finditer(content):
        line_start = content.rfind("\n", 0, match.start()) + 1
        label = content[max(line_start, label_start) : match.start()]
        name = label.strip().rstrip(":：").strip() or match[1]
        keywords.append(Keyword(key=match[1], name=name))
        label_start = match.end()
    if not keywords:
        raise ValueError("content has no {{key.DATA}} placeholder")
    return keywords


def template_keyword_problems(keywords: Sequence[Keyword]) -> list[FieldProblem]:
    if not keywords:
        return [FieldProblem("keywords", "at least one keyword is required")]
    problems: list[FieldProblem] = []
    earlier_keys: set[str] = set()
    for index, keyword in enumerate(keywords):
        problems += _keyword_problems(f"keywords[{index}]", keyword, earlier_keys)
        earlier_keys.add(keyword.key)
    return problems


def _keyword_problems(field: str, keyword: Keyword, earlier_keys: set[str]) -> list[FieldProblem]:
    problems = []
    try:
        is_enum = keyword_type(keyword.key) is KeywordType.ENUM
    except ValueError:
        is_enum = False
        problems.append(FieldProblem(f"{field}.key", "not a keyword type followed by digits"))
    if keyword.key in earlier_keys:
        problems.append(FieldProblem(f"{field}.key", "duplicate key"))
    if not keyword.name.strip():
        problems.append(FieldProblem(f"{field}.name", "empty"))
    if is_enum and not keyword.enum_values:
        problems.append(FieldProblem(f"{field}.enum_values", "required for an enum keyword"))
    if not is_enum and keyword.enum_values:
        problems.append(FieldProblem(f"{field}.enum_values", "only allowed for enum keywords"))
    for position, enum_value in enumerate(keyword.enum_values):
        if (problem := _text_problem(enum_value)) is not None:
            problems.append(FieldProblem(f"{field}.enum_values[{position}]", problem))
    return problems
