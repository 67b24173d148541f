"""Secrets, keys and tokens never reach logs or responses; openids are masked in logs
(docs/production.md#what-the-code-adds)."""

from __future__ import annotations

import logging

from tests.support.events import drain, run_due_sweep
from tests.support.tenants import OPENID, SECRET


def test_no_secret_key_or_token_appears_in_any_log_line_or_answer(
    api, wx, client, backend, tenant, capsys, caplog
):
    caplog.set_level(logging.INFO)  # what runs in production; botocore DEBUG dumps bodies
    answers = [
        api.put_template(),
        api.grant(),
        api.send(),
        api.call("GET", "/v1/templates"),
        api.call("GET", f"/v1/users/{OPENID}/subscriptions"),
        api.call("GET", "/v1/messages/msg_unknown"),
    ]
    wx.then({"errcode": -1, "errmsg": "system busy"})
    drain(client, backend)
    run_due_sweep()
    api.call("DELETE", f"/v1/users/{OPENID}")
    captured = capsys.readouterr()
    text = "\n".join([captured.out, captured.err, caplog.text, *(a.body.decode() for a in answers)])
    for secret in (SECRET, tenant.api_key, "made-up-token"):
        assert secret not in text
    logs = "\n".join([captured.out, captured.err, caplog.text])
    assert "user erased" in logs  # the erasure was logged, with the openid masked
    assert OPENID not in logs
