"""What one container keeps a while of what it reads on every call, each entry under a named key.

The catalog (apps, API keys, templates, and per app its activity tally and EncodingAESKey) is
read through ``CatalogCache``; a service asks for an entry by what it is, never by a key it
spells itself, so two modules cannot disagree about a key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.adapters.cache import TtlCache
    from chalicelib.domain.engagement import Tally
    from chalicelib.domain.records import ApiKey, App, Template


class Entry(StrEnum):
    """What a catalog cache entry holds."""

    APP = "app"
    API_KEY = "key"
    TEMPLATE = "template"
    APP_TALLY = "app_activity"
    AES_KEY = "encoding_aes_key"


@dataclass(frozen=True)
class CatalogKey:
    entry: Entry
    app_id: str  # the API key's digest for API_KEY
    template_id: str = ""


class CatalogCache:
    """The catalog as this container knows it (only what was found is kept: a key, app or template
    works in every container the moment it exists)."""

    def __init__(self, cache: TtlCache[Any]) -> None:
        self._cache = cache

    def app(self, app_id: str, load: Callable[[], App | None]) -> App | None:
        return self._cache.get(CatalogKey(Entry.APP, app_id), load)

    def api_key(self, digest: str, load: Callable[[], ApiKey | None]) -> ApiKey | None:
        return self._cache.get(CatalogKey(Entry.API_KEY, digest), load)

    def template(
        self, app_id: str, template_id: str, load: Callable[[], Template | None]
    ) -> Template | None:
        return self._cache.get(CatalogKey(Entry.TEMPLATE, app_id, template_id), load)

    def app_tally(self, app_id: str, load: Callable[[], Tally | None]) -> Tally | None:
        return self._cache.get(CatalogKey(Entry.APP_TALLY, app_id), load)

    def aes_key(
        self, app_id: str, load: Callable[[], tuple[str | None]]
    ) -> tuple[str | None] | None:
        """The app's EncodingAESKey or (None,): a missing key is an answer kept too."""
        return self._cache.get(CatalogKey(Entry.AES_KEY, app_id), load)

    def forget(self, entry: Entry, app_id: str, template_id: str = "") -> None:
        """This container reads the entry again at its next use (it was just changed here)."""
        self._cache.forget(CatalogKey(entry, app_id, template_id))
