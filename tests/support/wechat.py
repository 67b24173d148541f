"""WeChat's HTTP API as the tests see it: a made-up base URL and a scripted double."""

from __future__ import annotations

import json
from typing import Any

import responses

WECHAT = "http://wechat.test"


class WeChatDouble:
    """WeChat's HTTP API through `responses`: a token endpoint and scripted send answers."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.mock = mock
        self.answers: list[Any] = []
        self.sent: list[dict[str, Any]] = []  # cards WeChat accepted
        self.token_calls = 0
        mock.add_callback(responses.POST, f"{WECHAT}/cgi-bin/stable_token", callback=self._token)
        mock.add_callback(
            responses.POST, f"{WECHAT}/cgi-bin/message/subscribe/send", callback=self._send
        )

    def _token(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.token_calls += 1
        return 200, {}, json.dumps({"access_token": "made-up-token", "expires_in": 7200})

    def _send(self, request: Any) -> Any:
        answer = self.answers.pop(0) if self.answers else {"errcode": 0, "errmsg": "ok"}
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return answer, {}, "upstream error"
        if answer.get("errcode") == 0:
            self.sent.append(json.loads(request.body))
            answer = {**answer, "msgid": 1000 + len(self.sent)}
        return 200, {}, json.dumps(answer)

    def then(self, *answers: Any) -> WeChatDouble:
        self.answers.extend(answers)
        return self
