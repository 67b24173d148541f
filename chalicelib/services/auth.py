"""API keys: stored as SHA-256 hashes, each belonging to exactly one app."""

from __future__ import annotations

import hashlib
import secrets

from chalicelib.domain import clock
from chalicelib.domain.errors import Unauthorized
from chalicelib.domain.records import ApiKey, App
from chalicelib.services.deps import Core

KEY_PREFIX = "sk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key(app_id: str, key: str | None = None) -> tuple[str, ApiKey]:
    """A fresh key (returned once, never stored) and the record that stores its hash."""
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(key)
    return key, ApiKey(key_id=digest[:12], key_hash=digest, app_id=app_id, created_at=clock.now())


def authenticate(core: Core, authorization: str | None) -> App:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    digest = hash_key(key.strip())
    record = core.catalog_cache.api_key(digest, lambda: core.store.catalog.find_api_key(digest))
    app = load_app(core, record.app_id) if record else None
    if app is None:
        raise Unauthorized("The API key is not valid.")
    return app


def load_app(core: Core, app_id: str) -> App | None:
    catalog = core.store.catalog
    return core.catalog_cache.app(app_id, lambda: catalog.get_app(app_id))
