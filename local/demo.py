"""The demo mini-program of the local stack: its app, API key and two subscription templates."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.bootstrap import Services
from chalicelib.domain.records import Category, TemplateKind
from chalicelib.ports import APP_SECRET
from chalicelib.services import admin, templates
from chalicelib.services.caches import Entry
from chalicelib.services.commands import PutTemplate
from local.sandbox import Sandbox, SandboxTemplate

DEMO_OPENID = "oUser0000000000000000000001"
# Made up: the sandbox signs its pushes to the demo app's callback with these (plain mode).
DEMO_CALLBACK_TOKEN = "made-up-local-callback-token"
DEMO_ENCODING_AES_KEY = "madeUpLocalEncodingAesKey000000000000000000"  # 43 characters


@dataclass(frozen=True)
class DemoTemplate:
    template_id: str
    title: str
    category: Category
    content: str
    example: dict[str, str]  # keyword values that pass WeChat's rules, for curl lines and tests


ORDER_SHIPPED = DemoTemplate(
    template_id="TplOrderShipped0000000000000000000000000001",
    title="Order shipped",
    category=Category.TRANSACTIONAL,
    content="Item:{{thing1.DATA}}\nOrder number:{{character_string2.DATA}}\n"
    "Shipped at:{{time3.DATA}}",
    example={"thing1": "Blue mug", "character_string2": "SO20260001", "time3": "15:01"},
)
CLASS_STARTS = DemoTemplate(
    template_id="TplClassStarts00000000000000000000000000001",
    title="Class starts",
    category=Category.REMINDER,
    content="Class:{{thing1.DATA}}\nStarts at:{{time2.DATA}}\nRoom:{{thing3.DATA}}",
    example={"thing1": "Piano lesson", "time2": "18:30", "thing3": "Room 301"},
)
DEMO_TEMPLATES = (ORDER_SHIPPED, CLASS_STARTS)


@dataclass(frozen=True)
class DemoApp:
    app_id: str
    secret: str
    api_key: str
    callback_token: str = DEMO_CALLBACK_TOKEN
    encoding_aes_key: str = DEMO_ENCODING_AES_KEY


def callback_url(api_url: str, app_id: str) -> str:
    return f"{api_url}/v1/wechat/{app_id}/callback"


def seed_submsg(services: Services, demo: DemoApp) -> None:
    """The demo app (quiet hours off, so a card goes out at night too), its key, callback secrets
    and templates. Grants come from the API (``grant_source`` api): the sandbox's popup pushes
    are remembered without counting a tap twice.

    Writes over what is there, so seeding a store that already holds the demo does no harm.
    """
    app = admin.new_app(demo.app_id, "Local demo", quiet_hours=None)
    services.app_secrets.secrets.put(demo.app_id, APP_SECRET, demo.secret)
    admin.set_callback_secrets(
        services.app_secrets, demo.app_id, demo.callback_token, demo.encoding_aes_key
    )
    services.core.store.catalog.put_app(app)
    services.core.catalog_cache.forget(Entry.APP, demo.app_id)
    admin.create_key(services.core, demo.app_id, demo.api_key)
    for template in DEMO_TEMPLATES:
        body = PutTemplate(
            title=template.title,
            kind=TemplateKind.ONE_TIME,
            category=template.category,
            content=template.content,
        )
        templates.put_template(services.core, demo.app_id, template.template_id, body)


def seed_sandbox(sandbox: Sandbox, demo: DemoApp, api_url: str | None = None) -> None:
    """The demo app in the sandbox; with ``api_url`` its events are pushed to submsg there."""
    sandbox.add_app(
        demo.app_id,
        demo.secret,
        callback_url=callback_url(api_url, demo.app_id) if api_url else None,
        token=demo.callback_token if api_url else None,
        encoding_aes_key=demo.encoding_aes_key if api_url else None,
    )
    for template in DEMO_TEMPLATES:
        sandbox.add_template(
            demo.app_id,
            SandboxTemplate(
                template.template_id, template.title, template.content, TemplateKind.ONE_TIME
            ),
        )
