"""moto's own functions, kept by name when ``install`` replaces them, for the replacements to
call (a replacement that falls back to moto calls ``original["<moto function's name>"]``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

original: dict[str, Any] = {}


class Patch(NamedTuple):
    """``owner.name`` (a moto function) replaced by ``make(moto's function)``."""

    owner: Any
    name: str
    make: Callable[[Callable[..., Any]], Any]


def replace_with(replacement: Any) -> Callable[[Callable[..., Any]], Any]:
    """A ``Patch.make`` that ignores moto's function (the replacement finds it in ``original``)."""
    return lambda _: replacement
