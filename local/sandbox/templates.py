"""The sandbox's templates: what an app's template is, its keywords, its gettemplate shape."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from local.sandbox import rules
from local.sandbox.base import Json

KINDS = {"one_time": 2, "long_term": 3}  # the kinds and WeChat's ``type`` for each
_PLACEHOLDER = re.compile(r"\{\{(\w+)\.DATA\}\}")


@dataclass
class SandboxTemplate:
    template_id: str
    title: str
    content: str
    kind: str  # "one_time" | "long_term"
    enum_values: dict[str, list[str]] = field(default_factory=dict)


def keyword_names(content: str) -> dict[str, str]:
    """Each ``{{key.DATA}}`` of ``content``, in order, named by the label before it on its line
    (``商品名称:{{thing1.DATA}}`` -> thing1: 商品名称); a keyword without a label by its key."""
    names = {}
    for line in content.splitlines():
        label_start = 0
        for match in _PLACEHOLDER.finditer(line):
            label = line[label_start : match.start()].strip().rstrip(":：").strip()
            names[match[1]] = label or match[1]
            label_start = match.end()
    return names


def keywords(template: SandboxTemplate) -> dict[str, list[str]]:
    """The template's keys, in order, with the enum values of each (none but for enums)."""
    return {key: template.enum_values.get(key, []) for key in keyword_names(template.content)}


def check(template: SandboxTemplate) -> None:
    """ValueError unless WeChat could have such a template."""
    texts = (template.template_id, template.title, template.content)
    if not all(isinstance(text, str) and text.strip() for text in texts):
        raise ValueError("template_id, title and content must be non-empty strings")
    if not (len(template.template_id) <= 128 and template.template_id.isprintable()):
        raise ValueError("template_id must be at most 128 printable characters")
    if not isinstance(template.kind, str) or template.kind not in KINDS:
        raise ValueError("kind must be one_time or long_term")
    keys = keyword_names(template.content)
    if not keys:
        raise ValueError("content has no {{key.DATA}} placeholder")
    if untyped := [key for key in keys if rules.keyword_type(key) is None]:
        raise ValueError(f"content has keys of no keyword type: {', '.join(untyped)}")
    enums = {key for key in keys if rules.keyword_type(key) == "enum_string"}
    values = template.enum_values
    if not isinstance(values, dict) or set(values) != enums:
        raise ValueError("enum_values must give the values of each enum_string key, only")
    for listed in values.values():
        if not (isinstance(listed, list) and listed and all(isinstance(v, str) for v in listed)):
            raise ValueError("the values of an enum_string key are a non-empty list of strings")


def wechat_shape(template: SandboxTemplate) -> Json:
    """As gettemplate lists it."""
    return {
        "priTmplId": template.template_id,
        "title": template.title,
        "content": template.content,
        "example": _PLACEHOLDER.sub(r"\1", template.content),
        "type": KINDS[template.kind],
        "keywordEnumValueList": [
            {"keywordCode": key, "enumValueList": list(values)}
            for key, values in template.enum_values.items()
        ],
    }
