"""WeChat's push callback: URL verification and subscription events (docs/rules.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from chalicelib.adapters import callback_codec
from chalicelib.adapters.callback_codec import CallbackEvent
from chalicelib.adapters.observability import logger, mask
from chalicelib.domain import clock
from chalicelib.domain.errors import (
    CallbackRefused,
    FieldProblem,
    NotFound,
    PayloadTooLarge,
    ValidationFailed,
)
from chalicelib.domain.records import App, GrantResult, GrantSource
from chalicelib.ports import CALLBACK_TOKEN, ENCODING_AES_KEY, MissingSecret
from chalicelib.services import grants, message_moves
from chalicelib.services.auth import load_app
from chalicelib.services.caches import Entry
from chalicelib.services.deps import AppSecrets, Core

POPUP = "subscribe_msg_popup_event"
CHANGE = "subscribe_msg_change_event"
SENT = "subscribe_msg_sent_event"


class CallbackQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    timestamp: str = ""
    nonce: str = ""
    signature: str = ""
    echostr: str = ""
    encrypt_type: str = ""
    msg_signature: str = ""


def verify_url(vault: AppSecrets, app_id: str, query: CallbackQuery) -> str:
    """WeChat's GET check of the callback URL: echo ``echostr`` when the signature is right."""
    _, token = _app_and_token(vault, app_id)
    callback_codec.verify_url(token, query.timestamp, query.nonce, query.signature, clock.now())
    return query.echostr


def receive(vault: AppSecrets, app_id: str, query: CallbackQuery, body: bytes) -> None:
    core = vault.core
    if len(body) > core.settings.max_body_bytes:
        raise PayloadTooLarge("The event is larger than we accept.")
    app, token = _app_and_token(vault, app_id)
    event = _open(vault, app, token, query, body)
    if event.event == POPUP:
        _popup(core, app, event)
    elif event.event == CHANGE:
        _once(core, app, event, lambda: _switched_off(core, app, event))
    elif event.event == SENT and _failures(event):
        # A card delivered changes nothing: only failures are applied (and remembered).
        _once(core, app, event, lambda: _delivery_results(core, app, event))


def _app_and_token(vault: AppSecrets, app_id: str) -> tuple[App, str]:
    app = load_app(vault.core, app_id)
    if app is None:
        raise NotFound("No such app.")
    try:
        return app, vault.secrets.get(app_id, CALLBACK_TOKEN)
    except MissingSecret as error:
        raise CallbackRefused("The app has no callback token configured.") from error


def _open(
    vault: AppSecrets, app: App, token: str, query: CallbackQuery, body: bytes
) -> CallbackEvent:
    """Verify the signature and timestamp before parsing anything. An app with an
    EncodingAESKey takes safe-mode pushes only: a plain one could be forged by whoever learns
    the token, which the key is there to make useless."""
    fmt = app.callback_format.value
    now = clock.now()
    aes_key = _encoding_aes_key(vault, app.app_id)
    if query.encrypt_type == "aes":
        if aes_key is None:
            raise CallbackRefused("The app has no EncodingAESKey configured.")
        return callback_codec.open_envelope(
            body,
            fmt,
            token=token,
            encoding_aes_key=aes_key,
            appid=app.app_id,
            timestamp=query.timestamp,
            nonce=query.nonce,
            msg_signature=query.msg_signature,
            now=now,
        )
    if aes_key is not None:
        raise CallbackRefused("The app takes safe-mode pushes only (encrypt_type=aes).")
    callback_codec.verify_url(token, query.timestamp, query.nonce, query.signature, now)
    return callback_codec.parse_event(body, fmt)


def _encoding_aes_key(vault: AppSecrets, app_id: str) -> str | None:
    """The app's EncodingAESKey, or None; either answer is kept a while (the catalog cache),
    so plain-mode pushes of an app without a key do not each ask SSM for it again."""

    def load() -> tuple[str | None]:
        try:
            return (vault.secrets.get(app_id, ENCODING_AES_KEY),)
        except MissingSecret:
            return (None,)

    found = vault.core.catalog_cache.aes_key(app_id, load)
    return found[0] if found else None


def forget_encoding_aes_key(core: Core, app_id: str) -> None:
    """The key was just set: this container reads it again at the next push."""
    core.catalog_cache.forget(Entry.AES_KEY, app_id)


def _popup(core: Core, app: App, event: CallbackEvent) -> None:
    """Taps reported by WeChat; the dedupe record is written in the same transaction."""
    known = {t.template_id for t in core.store.catalog.list_templates(app.app_id)}
    results = _taps(event, known)
    if not results:
        return
    try:
        grants.record_results(
            core,
            app,
            event.openid,
            results,
            GrantSource.CALLBACK,
            first_time=core.store.events.first_time(app.app_id, event.dedupe_key, clock.now()),
        )
    except grants.AlreadyRecorded:
        logger.info("duplicate popup event ignored", extra={"openid": mask(event.openid)})


def _taps(event: CallbackEvent, known: set[str]) -> dict[str, GrantResult]:
    """Every kind of allow and the rejects on the app's templates (WeChat pushes no other);
    an answer we do not know refuses the whole event rather than losing part of it."""
    taps: dict[str, GrantResult] = {}
    problems = []
    for item in event.items:
        if item.template_id not in known:
            continue
        try:
            result = GrantResult(item.status or "")
        except ValueError:
            problem = f"{item.status!r} is not an answer WeChat documents"
            problems.append(FieldProblem(f"results.{item.template_id}", problem))
            continue
        if result.allows or result is GrantResult.REJECT:
            taps[item.template_id] = result
    if problems:
        raise ValidationFailed("The event was not applied: an answer is not known.", problems)
    return taps


def _once(core: Core, app: App, event: CallbackEvent, apply: Any) -> None:
    """Idempotent events: apply, then remember them so WeChat's retries are skipped."""
    if core.store.events.seen(app.app_id, event.dedupe_key):
        return
    apply()
    core.store.events.remember(app.app_id, event.dedupe_key, clock.now())


def _switched_off(core: Core, app: App, event: CallbackEvent) -> None:
    template_ids = [item.template_id for item in event.items if item.status == "reject"]
    grants.switched_off(core, app, event.openid, template_ids)


def _failures(event: CallbackEvent) -> list[Any]:
    return [i for i in event.items if i.msg_id is not None and i.error_code not in (None, 0)]


def _delivery_results(core: Core, app: App, event: CallbackEvent) -> None:
    for item in _failures(event):
        message_moves.delivery_failed(
            core, app, item.msg_id, item.error_code, item.error_status or ""
        )
