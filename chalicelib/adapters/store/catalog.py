"""Apps, API keys and templates: the configuration records of each tenant."""

from __future__ import annotations

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.dynamo import ConditionFailed, Dynamo
from chalicelib.domain.records import ApiKey, App, Template


class Catalog:
    def __init__(self, db: Dynamo) -> None:
        self.db = db

    def reachable(self) -> bool:
        """The table answers a read (what every route needs first)."""
        return self.db.answers(layout.health_key())

    def put_app(self, app: App) -> None:
        # keep_none: a setting switched off (quiet_hours None) must not read back as its default
        self.db.put({**layout.app_key(app.app_id), **app.model_dump(mode="json")}, keep_none=True)

    def get_app(self, app_id: str) -> App | None:
        item = self.db.get(layout.app_key(app_id))
        return App.model_validate(item) if item else None

    def list_apps(self) -> list[App]:
        items = self.db.query_all(
            "pk = :pk AND begins_with(sk, :prefix)",
            {":pk": layout.apps_partition(), ":prefix": "APP#"},
        )
        return [App.model_validate(item) for item in items]

    def put_api_key(self, key: ApiKey) -> None:
        record = key.model_dump(mode="json")
        self.db.transact(
            [
                self.db.put_op({**layout.api_key_key(key.key_hash), **record}),
                self.db.put_op({**layout.api_key_ref_key(key.app_id, key.key_id), **record}),
            ]
        )

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        item = self.db.get(layout.api_key_key(key_hash))
        return ApiKey.model_validate(item) if item else None

    def list_api_keys(self, app_id: str) -> list[ApiKey]:
        items = self.db.query_all(
            "pk = :pk AND begins_with(sk, :prefix)",
            {":pk": layout.app_partition(app_id), ":prefix": "KEYREF#"},
        )
        return [ApiKey.model_validate(item) for item in items]

    def revoke_api_key(self, app_id: str, key_id: str) -> bool:
        item = self.db.get(layout.api_key_ref_key(app_id, key_id))
        if item is None:
            return False
        key = ApiKey.model_validate(item)
        self.db.transact(
            [
                self.db.delete_op(layout.api_key_key(key.key_hash)),
                self.db.delete_op(layout.api_key_ref_key(app_id, key_id)),
            ]
        )
        return True

    def put_template(self, template: Template) -> bool:
        """Store a template; True when it is new."""
        key = layout.template_key(template.app_id, template.template_id)
        return not self.db.put({**key, **template.model_dump(mode="json")})

    def get_template(self, app_id: str, template_id: str) -> Template | None:
        item = self.db.get(layout.template_key(app_id, template_id))
        return Template.model_validate(item) if item else None

    def list_templates(self, app_id: str) -> list[Template]:
        items = self.db.query_all(
            "pk = :pk AND begins_with(sk, :prefix)",
            {":pk": layout.app_partition(app_id), ":prefix": layout.templates_prefix()},
        )
        return [Template.model_validate(item) for item in items]

    def delete_template(self, app_id: str, template_id: str) -> bool:
        try:
            self.db.delete(
                layout.template_key(app_id, template_id), condition="attribute_exists(pk)"
            )
            return True
        except ConditionFailed:
            return False
