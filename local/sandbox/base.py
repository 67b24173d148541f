"""What the sandbox's parts share: the JSON type, WeChat-style refusals, checks of fields.

Where WeChat's behaviour is not documented, the sandbox answers 47003 for a ``miniprogram_state``
or ``lang`` outside the documented values, and 41030 for a ``page`` that is not a relative path.
"""

from __future__ import annotations

from typing import TypeGuard

Json = dict[str, object]
MINIPROGRAM_STATES = frozenset({"developer", "trial", "formal"})
LANGS = frozenset({"zh_CN", "en_US", "zh_HK", "zh_TW"})
# Every kind of "allow": with the voice reminder on, or a strong reminder.
ALLOWS = frozenset({"accept", "acceptWithAudio", "acceptWithAlert", "acceptWithForcePush"})


class Refusal(Exception):
    """Any answer but success; ``body`` is what the caller receives."""

    def __init__(self, errcode: int, errmsg: str, http_status: int = 200) -> None:
        super().__init__(errmsg)
        self.body: Json = {"errcode": errcode, "errmsg": errmsg}
        self.http_status = http_status


class PromptFailed(Refusal):
    """A failed wx.requestSubscribeMessage, shaped as the mini-program receives it."""

    def __init__(self, err_code: int, reason: str) -> None:
        super().__init__(err_code, reason)
        self.body = {"errMsg": f"requestSubscribeMessage:fail {reason}", "errCode": err_code}


def bad_input(reason: str) -> Refusal:
    return Refusal(47001, f"data format error: {reason}")


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_openid(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= 128 and value.isprintable()


def checked_page(body: Json) -> str | None:
    """A relative path or nothing."""
    value = body.get("page")
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.startswith("/") or "://" in value:
        raise Refusal(41030, "invalid page")
    if not value.isprintable() or " " in value:
        raise Refusal(41030, "invalid page")
    return value


def checked_choice(body: Json, name: str, allowed: frozenset[str], default: str) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or value not in allowed:
        raise Refusal(47003, f"argument invalid! {name} invalid")
    return value
