"""What each user of each app has allowed, as WeChat keeps it: one-time credits, one per
"allow", and long-term templates the user keeps on. Not thread-safe: the state's lock guards it."""

from __future__ import annotations

from local.sandbox.base import ALLOWS, Json, Refusal

Key = tuple[str, str, str]  # appid, openid, template_id


class Ledger:
    def __init__(self) -> None:
        self._one_time: dict[Key, int] = {}
        self._long_term: set[Key] = set()

    def tap(self, key: Key, kind: str, result: str) -> None:
        """One answer of wx.requestSubscribeMessage: ban and filter change nothing."""
        if kind == "one_time" and result in ALLOWS:
            self._one_time[key] = self._one_time.get(key, 0) + 1
        elif kind == "long_term" and result in ALLOWS:
            self._long_term.add(key)
        elif kind == "long_term" and result == "reject":
            self._long_term.discard(key)

    def spend(self, key: Key, kind: str) -> None:
        """One card: a one-time credit is used up, a long-term template stays on."""
        held = key in self._long_term if kind == "long_term" else self._one_time.get(key, 0) > 0
        if not held:
            raise Refusal(43101, "user refuse to accept the msg")
        if kind != "long_term":
            self._one_time[key] -= 1

    def switch_off(self, key: Key) -> None:
        """The user turned the template off in WeChat's settings: what they held is gone."""
        self._one_time.pop(key, None)
        self._long_term.discard(key)

    def rows(self) -> list[Json]:
        return [
            {
                "appid": appid,
                "openid": openid,
                "template_id": template_id,
                "one_time_credits": self._one_time.get((appid, openid, template_id), 0),
                "long_term_active": (appid, openid, template_id) in self._long_term,
            }
            for appid, openid, template_id in sorted(self._one_time.keys() | self._long_term)
        ]
