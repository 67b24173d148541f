"""moto's mock started without rebuilding what it registers.

- ``moto.core.models.MockAWS._enable_patching`` (moto's): every start of a mock (``mock_aws()``,
  one a stack) builds again one ``CallbackResponse`` for each of moto's URL patterns and each HTTP
  method, about 1 400 of them, to register with ``responses`` (``requests`` sent to AWS's URLs).
  Here they are built once, the same way, and the same ones registered at every start; the rest
  of the start (the stubber on, the reset of moto's data) is moto's.
"""

from __future__ import annotations

import re
from typing import Any

import moto.backend_index as backend_index
from moto.core import models as moto_models
from moto.core.custom_responses_mock import CallbackResponse, not_implemented_callback

from local.aws.originals import Patch, original, replace_with

_callbacks: list[CallbackResponse] = []


def _moto_callbacks() -> list[CallbackResponse]:
    """What moto's ``_enable_patching`` registers, in its order (built on first use)."""
    if not _callbacks:
        for method in moto_models.RESPONSES_METHODS:
            for _, pattern in backend_index.backend_url_patterns:
                _callbacks.append(
                    CallbackResponse(
                        method=method,
                        url=pattern,
                        callback=moto_models.botocore_stubber.process_prepared_request,
                    )
                )
            _callbacks.append(
                CallbackResponse(
                    method=method,
                    url=re.compile(r"https?://.+\.amazonaws.com/.*"),
                    callback=not_implemented_callback,
                )
            )
    return _callbacks


def enable_patching(self: Any, reset: bool = True) -> None:
    """moto's start of its mock, registering the callbacks built once."""
    if not reset:  # what was registered before stays: moto's own way
        original["_enable_patching"](self, reset)
        return
    moto_models.botocore_stubber.enabled = True
    self.reset()
    moto_models.responses_mock.start()
    for callback in _moto_callbacks():
        moto_models.responses_mock.add(callback)


PATCHES = (Patch(moto_models.MockAWS, "_enable_patching", replace_with(enable_patching)),)


def forget() -> None:
    _callbacks.clear()
