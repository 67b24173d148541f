"""Where a listing goes on: the key of the last item read, as text.

A client's cursor is accepted back only for the listing that wrote it: ``opened`` decodes it and
lets the listing's layout check (``layout.*_start``) rebuild it for the caller's own app and path.
A cursor that names anything else (another app, another user, a made-up key) is refused.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib.adapters.store.table import Cursor
from chalicelib.domain.errors import InvalidCursor


def cursor_out(start: Cursor | None) -> str | None:
    if start is None:
        return None
    text = json.dumps(start, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def cursor_in(text: str) -> Cursor:
    """Decode a cursor we wrote; ValueError when it is not one."""
    padded = text + "=" * (-len(text) % 4)
    try:
        start = json.loads(base64.b64decode(padded, altchars=b"-_", validate=True))
    except RecursionError as error:
        raise ValueError("not a cursor") from error
    if not isinstance(start, dict):
        raise ValueError("not a cursor")
    return start


def opened(text: str, check: Callable[[Mapping[str, Any]], Cursor]) -> Cursor:
    """A client's cursor, checked by its listing; InvalidCursor (naming ``cursor``) otherwise."""
    try:
        start = cursor_in(text)
    except ValueError as error:
        raise InvalidCursor("not a cursor submsg wrote") from error
    try:
        return check(start)
    except ValueError as error:
        raise InvalidCursor("not a cursor of this listing") from error
