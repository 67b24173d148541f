"""Templates of an app: keywords from a list or parsed from WeChat's content string."""

from __future__ import annotations

from chalicelib.domain import clock, keywords
from chalicelib.domain.errors import FieldProblem, NotFound, ValidationFailed
from chalicelib.domain.records import Template
from chalicelib.services.caches import Entry
from chalicelib.services.commands import PutTemplate
from chalicelib.services.deps import Core


def put_template(
    core: Core, app_id: str, template_id: str, command: PutTemplate
) -> tuple[Template, bool]:
    if command.content is not None:
        try:
            parsed = keywords.parse_content(command.content)
        except ValueError as error:
            raise ValidationFailed(
                "The template content has no keywords.", [FieldProblem("content", str(error))]
            ) from error
    else:
        parsed = list(command.keywords or ())
    problems = keywords.template_keyword_problems(parsed)
    if problems:
        raise ValidationFailed("The template's keywords are not valid.", problems)
    template = Template(
        app_id=app_id,
        template_id=template_id,
        title=command.title,
        kind=command.kind,
        category=command.category,
        keywords=parsed,
        default_page=command.default_page,
        grant_ttl_days=command.grant_ttl_days,
        target_credits=command.target_credits,
        updated_at=clock.now(),
    )
    created = core.store.catalog.put_template(template)
    core.catalog_cache.forget(Entry.TEMPLATE, app_id, template_id)
    return template, created


def find_template(core: Core, app_id: str, template_id: str) -> Template:
    """The template, from the per-container cache; NotFound when the app has no such template."""
    template = core.catalog_cache.template(
        app_id,
        template_id,
        lambda: core.store.catalog.get_template(app_id, template_id),
    )
    if template is None:
        raise NotFound(f"Template {template_id} does not exist.")
    return template


def delete_template(core: Core, app_id: str, template_id: str) -> None:
    if not core.store.catalog.delete_template(app_id, template_id):
        raise NotFound(f"Template {template_id} does not exist.")
    core.catalog_cache.forget(Entry.TEMPLATE, app_id, template_id)
