"""WeChat's keyword value rules, as the sandbox reads WeChat's rule table.

Written from the table alone and shared with nothing in submsg, so that the sandbox is an oracle: a
value submsg lets through and this table refuses comes back as 47003, as it would from WeChat, and
tests/unit/test_sandbox_rules.py runs both tables over the same values. Where the table is silent,
this module reads it literally: a "letter" is A-Z or a-z, a "symbol" is Unicode punctuation or a
Unicode symbol, "empty" is the empty string, a "control character" is one of category Cc or a line
or paragraph separator.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import date

Check = Callable[[str, Sequence[str]], str | None]  # (value, enum values) -> problem or None

_KEY = re.compile(r"([a-z_]+)([0-9]+)")
_CLOCK = r"(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{2})(?::(?P<second>[0-9]{2}))?"
_DATES = (  # each may be followed by " " and a clock, except the last (year and month only)
    r"(?P<year>[0-9]{4})年(?P<month>[0-9]{1,2})月(?P<day>[0-9]{1,2})日",
    r"(?P<year>[0-9]{4})(?P<sep>[-/.])(?P<month>[0-9]{1,2})(?P=sep)(?P<day>[0-9]{1,2})",
    r"(?P<month>[0-9]{1,2})月(?P<day>[0-9]{1,2})日",
)
_POINTS = [re.compile(f"{day}(?: {_CLOCK})?") for day in _DATES] + [
    re.compile(r"(?P<year>[0-9]{4})年(?P<month>[0-9]{1,2})月"),
    re.compile(_CLOCK),
]
_RANGE = re.compile(r"\s*~\s*")
_AMOUNT = re.compile(r"(?P<mark>[^0-9]?)[0-9]+(?:\.[0-9]+)?(?P<yuan>元?)")
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def is_chinese(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH"))


def is_letter(char: str) -> bool:
    return "a" <= char <= "z" or "A" <= char <= "Z"


def is_digit(char: str) -> bool:
    return "0" <= char <= "9"


def is_symbol(char: str) -> bool:
    return unicodedata.category(char)[0] in "PS"


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _made_of(limit: int, what: str, *kinds: Callable[[str], bool]) -> Check:
    def check(value: str, _: Sequence[str]) -> str | None:
        if not all(any(kind(char) for kind in kinds) for char in value):
            return f"may hold only {what}"
        return f"is over {limit} characters" if len(value) > limit else None

    return check


def _real_moment(parts: Mapping[str, str | None]) -> bool:
    if parts.get("month") and not 1 <= int(parts["month"] or 0) <= 12:
        return False
    if parts.get("day"):
        try:  # a day without a year is read in a leap year: 2月29日 exists
            date(int(parts.get("year") or 2000), int(parts["month"] or 0), int(parts["day"]))
        except ValueError:
            return False
    if parts.get("hour") and int(parts["hour"] or 0) > 23:
        return False
    return all(int(parts.get(unit) or 0) <= 59 for unit in ("minute", "second"))


def _point(text: str) -> Mapping[str, str | None] | None:
    for form in _POINTS:
        if (match := form.fullmatch(text)) is not None:
            return match.groupdict() if _real_moment(match.groupdict()) else None
    return None


def _moments(needs: str, what: str) -> Check:
    """One point, or two joined by ``~``; each point must have ``needs`` (a clock or a day)."""

    def check(value: str, _: Sequence[str]) -> str | None:
        points = [_point(text) for text in _RANGE.split(value)]
        if len(points) <= 2 and all(p is not None and p.get(needs) for p in points):
            return None
        return f"is not a {what}"

    return check


def _number(value: str, _: Sequence[str]) -> str | None:
    if _NUMBER.fullmatch(value) is None:
        return "may hold only digits and one decimal point"
    return "is over 32 characters" if len(value) > 32 else None


def _amount(value: str, _: Sequence[str]) -> str | None:
    match = _AMOUNT.fullmatch(value)
    if match is None or not (match["mark"] or match["yuan"]):
        return "is not a currency symbol and digits, or digits and 元"
    if match["mark"] and unicodedata.category(match["mark"]) != "Sc":
        return "does not start with a currency symbol"
    return "has over 10 digits" if sum(map(is_digit, value)) > 10 else None


def _phone_number(value: str, _: Sequence[str]) -> str | None:
    if not any(map(is_digit, value)):
        return "has no digit"
    return _made_of(17, "digits and symbols", is_digit, is_symbol)(value, ())


def _car_number(value: str, _: Sequence[str]) -> str | None:
    def plate(char: str) -> bool:
        return is_letter(char) or is_digit(char)

    ends_fit = all(plate(end) or is_chinese(end) for end in (value[0], value[-1]))
    if not ends_fit or not all(map(plate, value[1:-1])):
        return "may hold only letters and digits, Chinese first or last"
    return "is over 8 characters" if len(value) > 8 else None


def _name(value: str, _: Sequence[str]) -> str | None:
    limit = 10 if any(map(is_chinese, value)) else 20
    return _made_of(limit, "Chinese, letters and symbols", is_chinese, is_letter, is_symbol)(
        value, ()
    )


def _enum(value: str, enum_values: Sequence[str]) -> str | None:
    return None if value in enum_values else "is not one of the template's values"


RULES: dict[str, Check] = {
    "thing": _made_of(20, "text", lambda _: True),
    "number": _number,
    "letter": _made_of(32, "letters", is_letter),
    "symbol": _made_of(5, "symbols", is_symbol),
    "character_string": _made_of(32, "digits, letters and symbols", is_digit, is_letter, is_symbol),
    "time": _moments("hour", "24-hour time such as 15:01, 15:01:00 or 2019-10-01 15:01"),
    "date": _moments("month", "date such as 2019年10月1日, 2019-10-01 or 10月1日"),
    "amount": _amount,
    "phone_number": _phone_number,
    "car_number": _car_number,
    "name": _name,
    "phrase": _made_of(5, "Chinese", is_chinese),
    "enum_string": _enum,
}


def keyword_type(key: str) -> str | None:
    """``thing1`` -> ``thing``; None for a key of no type in the table."""
    match = _KEY.fullmatch(key)
    return match[1] if match is not None and match[1] in RULES else None


def value_problem(key: str, value: object, enum_values: Sequence[str] = ()) -> str | None:
    kind = keyword_type(key)
    if kind is None:
        return "is of no keyword type"
    if not isinstance(value, str):
        return "must be a string"
    if value == "":
        return "is empty"
    if any(map(_is_control, value)):
        return "holds a newline or a control character"
    return RULES[kind](value, enum_values)


def data_problems(
    keywords: Mapping[str, Sequence[str]], data: Mapping[str, object]
) -> list[tuple[str, str]]:
    """(field, problem) for each bad keyword of ``data``, as ``{"thing1": {"value": ...}}``:
    ``keywords`` maps the template's keys, in order, to their enum values."""
    problems = []
    for key, enum_values in keywords.items():
        entry = data.get(key)
        if key not in data:
            problems.append((key, "is missing"))
        elif not isinstance(entry, dict) or "value" not in entry:
            problems.append((key, "must be an object with a value"))
        elif (problem := value_problem(key, entry["value"], enum_values)) is not None:
            problems.append((key, problem))
    problems += [(key, "is no keyword of this template") for key in data if key not in keywords]
    return [(f"data.{key}.value", problem) for key, problem in problems]
