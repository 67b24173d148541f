"""Templates: their keywords given as a list or as WeChat's content string."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, model_validator

from chalicelib.api.schemas.base import Page, Request, Response
from chalicelib.domain.keywords import KeywordType
from chalicelib.domain.records import Category, TemplateKind

KeywordKey = Annotated[
    str, Field(pattern=rf"^({'|'.join(KeywordType)})[0-9]+$", max_length=64, examples=["thing1"])
]


class KeywordIn(Request):
    key: KeywordKey
    name: str = Field(min_length=1, max_length=64)
    enum_values: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=100
    )


def _only(field: str, kind: str, other: str) -> dict[str, object]:
    return {"required": [field], "properties": {field: {"type": kind}, other: {"type": "null"}}}


class TemplateIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [_only("keywords", "array", "content"), _only("content", "string", "keywords")]
        }
    )

    title: str = Field(min_length=1, max_length=64)
    kind: TemplateKind
    category: Category
    keywords: list[KeywordIn] | None = Field(default=None, max_length=30)
    content: str | None = Field(default=None, min_length=1, max_length=4096)
    default_page: Page | None = None
    grant_ttl_days: int = Field(default=7, ge=0, le=3650)
    target_credits: int = Field(default=1, ge=0, le=100)

    @model_validator(mode="after")
    def keywords_or_content(self) -> TemplateIn:
        if (self.keywords is None) == (self.content is None):
            raise ValueError("give either keywords or content, not both")
        return self


class KeywordOut(Response):
    key: str
    name: str
    type: str
    enum_values: list[str]


class TemplateOut(Response):
    template_id: str
    title: str
    kind: TemplateKind
    category: Category
    keywords: list[KeywordOut]
    default_page: str | None
    grant_ttl_days: int
    target_credits: int
    updated_at: str


class TemplateList(Response):
    items: list[TemplateOut]
