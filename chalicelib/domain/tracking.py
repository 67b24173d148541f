"""What WeChat receives for a message, with the tracking id in the page's query."""

from __future__ import annotations

from urllib.parse import urlencode

from chalicelib.domain.records import Message

TRACKING_PARAMETER = "submsg_id"


def tracked_page(page: str, message_id: str) -> str:
    separator = "&" if "?" in page else "?"
    return f"{page}{separator}{urlencode({TRACKING_PARAMETER: message_id})}"


def wechat_payload(message: Message) -> dict[str, object]:
    payload: dict[str, object] = {
        "touser": message.openid,
        "template_id": message.template_id,
        "data": {key: {"value": value} for key, value in message.data.items()},
        "miniprogram_state": message.miniprogram_state.value,
        "lang": message.lang.value,
    }
    if message.page:
        payload["page"] = tracked_page(message.page, message.id)
    return payload
