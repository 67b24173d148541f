"""Requests parsed, answered and dispatched without moto's repeated work.

- ``BaseJSONParser._parse_structure`` (moto's): a value of one member (as every attribute value
  of DynamoDB is) is parsed as that member alone, which gives the same result faster.
- ``BaseJSONSerializer._serialize_type_structure`` (moto's): plain DynamoDB attribute values are
  written as they are.
- ``moto.core.responses.method_names_from_class``: moto lists the methods of a handler's class for
  every request it answers; here once per class.
- ``moto.backends.list_of_moto_modules``: moto's server lists moto's own folder on disk for every
  request it dispatches; here once.
- ``BotocoreStubber.process_request`` (moto's): every request botocore sends tries moto's URL
  patterns of all services one after another, looks its service's backends up by import, and
  builds and compiles the backend's URL table again to find the handler; here the service and the
  handler of each URL are found once (the lookup of the backend, which creates it, is moto's).
- ``moto.utilities.aws_headers.gen_amzn_requestid_long`` (as ``moto.core.responses`` imports it):
  the request id of every answer, 52 characters drawn one ``random.choice`` at a time; here 52
  hexadecimal characters from one read of the system's random source.
"""

from __future__ import annotations

import os
import re
from typing import Any

from moto import backend_index
from moto import backends as moto_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core import responses as moto_core_responses
from moto.core.base_backend import BackendDict
from moto.core.botocore_stubber import BotocoreStubber
from moto.core.config import passthrough_service, passthrough_url, service_whitelisted
from moto.core.exceptions import HTTPException, ServiceNotWhitelisted
from moto.core.parse import BaseJSONParser
from moto.core.request import normalize_request
from moto.core.serialize import BaseJSONSerializer
from moto.core.utils import get_equivalent_url_in_aws_domain
from moto.moto_api import recorder
from moto.settings import enable_iso_regions

from local.aws.originals import Patch, original, replace_with


def parse_structure(self: BaseJSONParser, shape: Any, value: Any) -> Any:
    """moto's JSON structure parser; a value of one member (as every attribute value of
    DynamoDB is) is parsed as that member alone, which gives the same result."""
    if type(value) is dict and len(value) == 1 and not shape.is_document_type:
        ((name, inner),) = value.items()
        if name in _wire_names(shape):
            parsed = self.MAP_TYPE()
            if inner is not None:
                parsed[name] = self._parse_shape(shape.members[name], inner)
            return parsed
    return original["_parse_structure"](self, shape, value)


_wire_names_of: dict[int, tuple[Any, frozenset[str]]] = {}


def _wire_names(shape: Any) -> frozenset[str]:
    """The members of ``shape`` sent under their own name, and no other member under it."""
    found = _wire_names_of.get(id(shape))
    if found is None or found[0] is not shape:
        wire = {
            name: member.serialization.get("name", name) for name, member in shape.members.items()
        }
        names = list(wire.values())
        own = frozenset(n for n, w in wire.items() if w == n and names.count(n) == 1)
        found = _wire_names_of[id(shape)] = (shape, own)
    return found[1]


def serialize_type_structure(
    self: BaseJSONSerializer, serialized: Any, value: Any, shape: Any, key: str
) -> None:
    if key and shape.name == "AttributeValue" and _is_dynamodb(self):
        plain = _plain_attribute_value(value)
        if plain is not None:
            self._default_serialize(serialized, plain, shape, key)
            return
    original["_serialize_type_structure"](self, serialized, value, shape, key)


def _is_dynamodb(serializer: BaseJSONSerializer) -> bool:
    return bool(serializer.operation_model.service_model.service_name == "dynamodb")


_PLAIN_SCALARS = {"S": str, "N": str, "BOOL": bool}


def _plain_attribute_value(value: Any) -> dict[str, Any] | None:
    """``value`` as moto's serializer would write it, when it is plain; else None."""
    if type(value) is not dict or len(value) != 1:
        return None
    ((kind, inner),) = value.items()
    if kind in _PLAIN_SCALARS:
        return {kind: inner} if type(inner) is _PLAIN_SCALARS[kind] else None
    if kind == "NULL":
        return {kind: True} if inner is True else None
    if kind in ("SS", "NS"):
        plain = type(inner) is list and all(type(member) is str for member in inner)
        return {kind: list(inner)} if plain else None
    if kind == "L" and type(inner) is list:
        members = [_plain_attribute_value(member) for member in inner]
        return {kind: members} if all(m is not None for m in members) else None
    if kind == "M" and type(inner) is dict:
        entries = {name: _plain_attribute_value(member) for name, member in inner.items()}
        return {kind: entries} if all(e is not None for e in entries.values()) else None
    return None


_method_names: dict[type, list[str]] = {}


def method_names_from_class(owner: type) -> list[str]:
    found = _method_names.get(owner)
    if found is None:
        found = _method_names[owner] = original["method_names_from_class"](owner)
    return found


_MOTO_MODULES: tuple[str, ...] = ()


def list_of_moto_modules() -> tuple[str, ...]:
    """moto's service folders, listed once (moto's server lists its folder for every request)."""
    global _MOTO_MODULES
    if not _MOTO_MODULES:
        _MOTO_MODULES = tuple(original["list_of_moto_modules"]())
    return _MOTO_MODULES


_MISSING = object()
_service_of_url: dict[str, str | None] = {}  # clean URL -> the first service whose pattern fits
_handler_of: dict[tuple[type, str, bool], Any] = {}  # (backend class, URL, ISO regions) -> handler
_CACHED_URLS = 4096  # more distinct URLs than this: the caches start over


def process_request(self: BotocoreStubber, request: Any) -> Any:
    """moto's handling of a request botocore sends: the same steps, the same answer; the
    service of a URL and the handler of its backend remembered. Whatever moto would go on to
    look for (no handler of that service fits, no service does) is moto's own search."""
    parsed_url, _ = get_equivalent_url_in_aws_domain(request.url)
    clean_url = f"{parsed_url.scheme}://{parsed_url.netloc}{parsed_url.path}"
    if passthrough_url(clean_url):
        return None
    service = _service_of(clean_url)
    if service is None:
        return original["process_request"](self, request)
    if passthrough_service(service):
        return None
    if not service_whitelisted(service):
        raise ServiceNotWhitelisted(service)
    backend = _backend_of(service)
    handler = _handler(backend, clean_url)
    if handler is None:
        return original["process_request"](self, request)
    normalized_request = normalize_request(request)
    try:
        recorder._record_request(normalized_request)
        status, headers, body = handler(
            normalized_request, normalized_request.raw_url, normalized_request.headers
        )
    except HTTPException as e:
        status, headers, body = e.code, e.get_headers(), e.get_body()
    return status, headers, body


def _service_of(clean_url: str) -> str | None:
    found = _service_of_url.get(clean_url, _MISSING)
    if found is _MISSING:
        if len(_service_of_url) > _CACHED_URLS:
            _service_of_url.clear()
        found = next(
            (s for s, pattern in backend_index.backend_url_patterns if pattern.match(clean_url)),
            None,
        )
        _service_of_url[clean_url] = found
    return found  # type: ignore[return-value]


def _backend_of(service: str) -> Any:
    backend_dict = moto_backends.get_backend(service)  # type: ignore[call-overload]
    if isinstance(backend_dict, BackendDict):
        if "us-east-1" in backend_dict[DEFAULT_ACCOUNT_ID]:
            return backend_dict[DEFAULT_ACCOUNT_ID]["us-east-1"]
        return backend_dict[DEFAULT_ACCOUNT_ID]["aws"]
    return backend_dict["global"]


def _handler(backend: Any, clean_url: str) -> Any:
    key = (type(backend), clean_url, enable_iso_regions())
    found = _handler_of.get(key, _MISSING)
    if found is _MISSING:
        if len(_handler_of) > _CACHED_URLS:
            _handler_of.clear()
        urls = backend.urls.items()
        found = next((h for url, h in urls if re.compile(url).match(clean_url)), None)
        _handler_of[key] = found
    return found


REQUEST_ID_LENGTH = 52  # as moto's, and AWS's long request ids


def gen_amzn_requestid_long(headerdict: dict[str, Any] | None = None) -> str:
    """moto's request id of an answer (also written to ``headerdict``), drawn at once."""
    request_id = os.urandom(REQUEST_ID_LENGTH // 2).hex()
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = request_id
    return request_id


PATCHES = (
    Patch(BaseJSONParser, "_parse_structure", replace_with(parse_structure)),
    Patch(BaseJSONSerializer, "_serialize_type_structure", replace_with(serialize_type_structure)),
    Patch(moto_core_responses, "method_names_from_class", replace_with(method_names_from_class)),
    Patch(moto_backends, "list_of_moto_modules", replace_with(list_of_moto_modules)),
    Patch(BotocoreStubber, "process_request", replace_with(process_request)),
    Patch(moto_core_responses, "gen_amzn_requestid_long", replace_with(gen_amzn_requestid_long)),
)


def forget() -> None:
    _method_names.clear()
    _service_of_url.clear()
    _handler_of.clear()
