"""Process environment changes that can be undone: the stack points boto3 and submsg at itself."""

from __future__ import annotations

import os
from collections.abc import Mapping


class Environment:
    """Applies variables to ``os.environ`` and puts every original value back on ``restore``."""

    def __init__(self) -> None:
        self._originals: dict[str, str | None] = {}

    def apply(self, changes: Mapping[str, str | None]) -> None:
        """Set each variable; a ``None`` value removes it."""
        for name, value in changes.items():
            self._originals.setdefault(name, os.environ.get(name))
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def restore(self) -> None:
        for name, original in self._originals.items():
            if original is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = original
        self._originals.clear()


def aws_environment(endpoint_url: str) -> dict[str, str | None]:
    """Made-up credentials aimed at the embedded AWS endpoint, whatever the user's AWS setup."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "local-made-up-key-id",
        "AWS_SECRET_ACCESS_KEY": "local-made-up-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_PROFILE": None,
    }
