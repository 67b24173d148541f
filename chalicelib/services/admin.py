"""Operator actions: create and configure apps, issue and revoke API keys, store app secrets."""

from __future__ import annotations

from chalicelib.domain import clock
from chalicelib.domain.records import ApiKey, App
from chalicelib.ports import APP_SECRET, CALLBACK_TOKEN, ENCODING_AES_KEY
from chalicelib.services import callback
from chalicelib.services.auth import new_api_key
from chalicelib.services.caches import Entry
from chalicelib.services.deps import AppSecrets, Core


class AppExists(Exception):
    pass


class UnknownApp(Exception):
    pass


def create_app(vault: AppSecrets, app: App, secret: str) -> str:
    """Store the app and its AppSecret; returns its first API key (shown once, stored hashed)."""
    core = vault.core
    if core.store.catalog.get_app(app.app_id) is not None:
        raise AppExists(app.app_id)
    vault.secrets.put(app.app_id, APP_SECRET, secret)
    core.store.catalog.put_app(app)
    key, _ = create_key(core, app.app_id)
    return key


def update_app(core: Core, app_id: str, changes: dict[str, object]) -> App:
    current = core.store.catalog.get_app(app_id)
    if current is None:
        raise UnknownApp(app_id)
    updated = App.model_validate({**current.model_dump(), **changes})
    core.store.catalog.put_app(updated)
    core.catalog_cache.forget(Entry.APP, app_id)
    return updated


def set_callback_secrets(
    vault: AppSecrets, app_id: str, token: str | None, encoding_aes_key: str | None
) -> None:
    if token is not None:
        vault.secrets.put(app_id, CALLBACK_TOKEN, token)
    if encoding_aes_key is not None:
        vault.secrets.put(app_id, ENCODING_AES_KEY, encoding_aes_key)
        callback.forget_encoding_aes_key(vault.core, app_id)


def create_key(core: Core, app_id: str, key: str | None = None) -> tuple[str, ApiKey]:
    """A new API key for the app (``key`` lets the local stack seed a known one)."""
    plain, record = new_api_key(app_id, key)
    core.store.catalog.put_api_key(record)
    return plain, record


def new_app(app_id: str, name: str, **settings: object) -> App:
    return App.model_validate(
        {"app_id": app_id, "name": name, "created_at": clock.now(), **settings}
    )
