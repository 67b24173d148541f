"""Ready means healthy: health answers 200 only when every route can serve, and a key, app or
template works the moment it exists (a miss is never remembered)."""

from __future__ import annotations

from chalicelib import bootstrap
from chalicelib.domain.records import Category, Keyword, TemplateKind
from chalicelib.services import admin, templates
from chalicelib.services.commands import PutTemplate
from tests.support.tenants import APP_ID, TEMPLATE, Api, Tenant


def test_health_is_503_in_the_error_format_until_the_table_answers(client, aws, monkeypatch):
    monkeypatch.setenv("SUBMSG_TABLE_NAME", "submsg-not-there-yet")
    bootstrap.reset()
    waiting = client.http.get("/v1/health")
    assert waiting.status_code == 503
    assert waiting.json_body["error"]["code"] == "unavailable"

    monkeypatch.setenv("SUBMSG_TABLE_NAME", aws.table_name)
    bootstrap.reset()
    ready = client.http.get("/v1/health")
    assert (ready.status_code, ready.json_body) == (200, {"status": "ok"})


def test_health_is_503_while_the_send_queue_is_not_configured(client, backend, monkeypatch):
    monkeypatch.setenv("SUBMSG_SEND_QUEUE_URL", "")
    bootstrap.reset()
    assert client.http.get("/v1/health").status_code == 503


def test_a_key_refused_before_it_existed_works_the_moment_it_is_created(client, services, tenant):
    early = {"Authorization": "Bearer sk_made_up_key_created_later"}
    assert client.http.get("/v1/templates", headers=early).status_code == 401
    admin.create_key(services.core, APP_ID, "sk_made_up_key_created_later")
    assert client.http.get("/v1/templates", headers=early).status_code == 200


def test_a_template_written_by_another_container_is_found_at_once(api: Api, tenant: Tenant):
    assert api.call("GET", f"/v1/templates/{TEMPLATE}").status_code == 404
    other_container = bootstrap.build(bootstrap.get_settings())
    body = PutTemplate(
        title="Order shipped",
        kind=TemplateKind.ONE_TIME,
        category=Category.TRANSACTIONAL,
        keywords=(Keyword(key="thing1", name="Item"),),
    )
    templates.put_template(other_container.core, tenant.app_id, TEMPLATE, body)
    assert api.call("GET", f"/v1/templates/{TEMPLATE}").status_code == 200
    assert api.grant().status_code == 201
