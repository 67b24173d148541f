"""App settings as options of `apps create` and `apps update`, parsed and checked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import time
from typing import Annotated, Any

import typer

from chalicelib.domain import policy
from chalicelib.domain.records import (
    CallbackFormat,
    CapPeriod,
    Category,
    FrequencyCap,
    GrantSource,
    Lang,
    MiniprogramState,
    QuietHours,
)

OFF = "off"
_CLOCK = re.compile(r"([01]?[0-9]|2[0-3]):([0-5][0-9])")
_CAP = re.compile(r"(?P<category>[a-z]+)=(?:(?P<limit>[0-9]+)/(?P<period>[a-z]+)|off)")
_CALLBACK_TOKEN = re.compile(r"[A-Za-z0-9]{3,32}")
_ENCODING_AES_KEY = re.compile(r"[A-Za-z0-9]{43}")


@dataclass(frozen=True)
class QuietSetting:
    hours: QuietHours | None  # None: no quiet hours


@dataclass(frozen=True)
class CapSetting:
    category: Category
    cap: FrequencyCap | None  # None: uncapped


def parse_timezone(value: str) -> str:
    if not policy.valid_timezone(value):
        raise typer.BadParameter(f"{value!r} is not an IANA timezone name such as Asia/Shanghai")
    return value


def parse_quiet_hours(value: str) -> QuietSetting:
    if value.strip().lower() == OFF:
        return QuietSetting(None)
    start, _, end = value.partition("-")
    hours = QuietHours(start=_clock(start, value), end=_clock(end, value))
    if hours.start == hours.end:
        raise typer.BadParameter("start and end are equal; use 'off' for no quiet hours")
    return QuietSetting(hours)


def _clock(text: str, whole: str) -> time:
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(f"{whole!r} is not HH:MM-HH:MM (such as 22:00-08:00) or 'off'")
    return time(int(match[1]), int(match[2]))


def parse_cap(value: str) -> CapSetting:
    match = _CAP.fullmatch(value.strip().lower())
    categories = ", ".join(Category)
    if match is None or match["category"] not in set(Category):
        raise typer.BadParameter(
            f"{value!r} is not CATEGORY=N/day, CATEGORY=N/week or CATEGORY=off ({categories})"
        )
    category = Category(match["category"])
    if match["limit"] is None:
        return CapSetting(category, None)
    if match["period"] not in set(CapPeriod):
        raise typer.BadParameter(f"{value!r}: the period is 'day' or 'week'")
    return CapSetting(
        category, FrequencyCap(limit=int(match["limit"]), period=CapPeriod(match["period"]))
    )


def parse_callback_token(value: str) -> str:
    if _CALLBACK_TOKEN.fullmatch(value) is None:
        raise typer.BadParameter("the callback token is 3 to 32 letters or digits")
    return value


def parse_encoding_aes_key(value: str) -> str:
    if _ENCODING_AES_KEY.fullmatch(value) is None:
        raise typer.BadParameter("the EncodingAESKey is exactly 43 letters or digits")
    return value


TimezoneOption = Annotated[
    str | None, typer.Option(parser=parse_timezone, help="IANA timezone of the app's users.")
]
QuietHoursOption = Annotated[
    QuietSetting | None,
    typer.Option(parser=parse_quiet_hours, metavar="HH:MM-HH:MM|off", help="Quiet hours."),
]
StateOption = Annotated[MiniprogramState | None, typer.Option(help="miniprogram_state of sends.")]
LangOption = Annotated[Lang | None, typer.Option(help="Language of the cards.")]
CallbackTokenOption = Annotated[
    str | None, typer.Option(parser=parse_callback_token, help="Push callback token (kept in SSM).")
]
EncodingAesKeyOption = Annotated[
    str | None,
    typer.Option(
        parser=parse_encoding_aes_key, help="Push EncodingAESKey, 43 chars (kept in SSM)."
    ),
]
CallbackFormatOption = Annotated[CallbackFormat | None, typer.Option(help="Push message format.")]
GrantSourceOption = Annotated[
    GrantSource | None, typer.Option(help="Whether grants come from the API or the push callback.")
]
RequestsPerSecondOption = Annotated[
    int | None,
    typer.Option(min=1, max=100_000, help="API requests a second the app may make (all keys)."),
]
AdaptiveMarketingOption = Annotated[
    bool | None,
    typer.Option(
        "--adaptive-marketing/--no-adaptive-marketing",
        help="Marketing budget follows engagement: +1 engaged, 0 fatigued (default on).",
    ),
]
CapOption = Annotated[
    list[CapSetting] | None,
    typer.Option(
        "--cap",
        parser=parse_cap,
        metavar="CATEGORY=N/day|N/week|off",
        help="Frequency cap of a category; repeatable.",
    ),
]


@dataclass(frozen=True)
class AppOptions:
    timezone: str | None = None
    quiet_hours: QuietSetting | None = None
    miniprogram_state: MiniprogramState | None = None
    lang: Lang | None = None
    callback_token: str | None = None
    encoding_aes_key: str | None = None
    callback_format: CallbackFormat | None = None
    grant_source: GrantSource | None = None
    requests_per_second: int | None = None
    adaptive_marketing: bool | None = None
    caps: list[CapSetting] = field(default_factory=list)

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> AppOptions:
        """The app options among a command's parsed parameters (typer's ``ctx.params``)."""
        names = {f.name for f in fields(cls)} - {"caps"}
        return cls(**{n: params[n] for n in names if n in params}, caps=params.get("cap") or [])

    def changes(self, current_caps: dict[Category, FrequencyCap]) -> dict[str, object]:
        """The App fields these options set; caps are merged into ``current_caps``."""
        plain = {
            "timezone": self.timezone,
            "miniprogram_state": self.miniprogram_state,
            "lang": self.lang,
            "callback_format": self.callback_format,
            "grant_source": self.grant_source,
            "requests_per_second": self.requests_per_second,
            "adaptive_marketing": self.adaptive_marketing,
        }
        changes: dict[str, object] = {
            name: value for name, value in plain.items() if value is not None
        }
        if self.quiet_hours is not None:
            changes["quiet_hours"] = self.quiet_hours.hours
        if self.caps:
            changes["caps"] = merged_caps(current_caps, self.caps)
        return changes

    @property
    def is_empty(self) -> bool:
        return all(getattr(self, option.name) in (None, []) for option in fields(self))


def merged_caps(
    current: dict[Category, FrequencyCap], settings: list[CapSetting]
) -> dict[Category, FrequencyCap]:
    caps = dict(current)
    for setting in settings:
        if setting.cap is None:
            caps.pop(setting.category, None)
        else:
            caps[setting.category] = setting.cap
    return caps
