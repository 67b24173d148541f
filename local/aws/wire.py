"""Requests parsed, answered and dispatched without moto's repeated work.

- ``BaseJSONParser._parse_structure`` (moto's): a value of one member (as every attribute value
  of DynamoDB is) is parsed as that member alone, which gives the same result faster.
- ``BaseJSONSerializer._serialize_type_structure`` (moto's): plain DynamoDB attribute values are
  written as they are.
- ``moto.core.responses.method_names_from_class``: moto lists the methods of a handler's class for
  every request it answers; here once per class.
- ``moto.backends.list_of_moto_modules``: moto's server lists moto's own folder on disk for every
  request it dispatches; here once.
- ``moto.utilities.aws_headers.gen_amzn_requestid_long`` (as ``moto.core.responses`` imports it):
  the request id of every answer, 52 characters drawn one ``random.choice`` at a time; here 52
  hexadecimal characters from one read of the system's random source.
"""

from __future__ import annotations

import os
from typing import Any

from moto import backends as moto_backends
from moto.core import responses as moto_core_responses
from moto.core.parse import BaseJSONParser
from moto.core.serialize import BaseJSONSerializer

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
    Patch(moto_core_responses, "gen_amzn_requestid_long", replace_with(gen_amzn_requestid_long)),
)


def forget() -> None:
    _method_names.clear()
