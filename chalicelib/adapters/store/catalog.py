"""Apps, API keys and templates: the configuration records of each tenant."""

from __future__ import annotations

from chalicelib.adapters.store import layout
from chalicelib.adapters.store.table import EXISTING, BeginsWith, Delete, Put, Query
from chalicelib.domain.records import ApiKey, App, Template
from chalicelib.ports import ConditionFailed, Table, Transaction, WriteName


class Catalog:
    def __init__(self, table: Table) -> None:
        self.table = table

    def reachable(self) -> bool:
        """The table answers a read (what every route needs first)."""
        return self.table.answers()

    def put_app(self, app: App) -> None:
        # keep_none: a setting switched off (quiet_hours None) must not read back as its default
        item = {**layout.app_key(app.app_id), **app.model_dump(mode="json")}
        self.table.write(Put(item, keep_none=True))

    def get_app(self, app_id: str) -> App | None:
        item = self.table.get(layout.app_key(app_id))
        return App.model_validate(item) if item else None

    def list_apps(self) -> list[App]:
        query = Query("pk", layout.apps_partition(), sort=BeginsWith("APP#"))
        return [App.model_validate(item) for item in self.table.query_all(query)]

    def put_api_key(self, key: ApiKey) -> None:
        record = key.model_dump(mode="json")
        transaction = Transaction(self.table)
        transaction.add(WriteName.API_KEY, Put({**layout.api_key_key(key.key_hash), **record}))
        listed = Put({**layout.api_key_ref_key(key.app_id, key.key_id), **record})
        transaction.add(WriteName.API_KEY_LISTING, listed).commit()

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        item = self.table.get(layout.api_key_key(key_hash))
        return ApiKey.model_validate(item) if item else None

    def list_api_keys(self, app_id: str) -> list[ApiKey]:
        query = Query("pk", layout.app_partition(app_id), sort=BeginsWith("KEYREF#"))
        return [ApiKey.model_validate(item) for item in self.table.query_all(query)]

    def revoke_api_key(self, app_id: str, key_id: str) -> bool:
        item = self.table.get(layout.api_key_ref_key(app_id, key_id))
        if item is None:
            return False
        key = ApiKey.model_validate(item)
        transaction = Transaction(self.table)
        transaction.add(WriteName.API_KEY, Delete(layout.api_key_key(key.key_hash)))
        listed = Delete(layout.api_key_ref_key(app_id, key_id))
        transaction.add(WriteName.API_KEY_LISTING, listed).commit()
        return True

    def put_template(self, template: Template) -> bool:
        """Store a template; True when it is new."""
        key = layout.template_key(template.app_id, template.template_id)
        return self.table.write(Put({**key, **template.model_dump(mode="json")})) is None

    def get_template(self, app_id: str, template_id: str) -> Template | None:
        item = self.table.get(layout.template_key(app_id, template_id))
        return Template.model_validate(item) if item else None

    def list_templates(self, app_id: str) -> list[Template]:
        query = Query(
            "pk", layout.app_partition(app_id), sort=BeginsWith(layout.templates_prefix())
        )
        return [Template.model_validate(item) for item in self.table.query_all(query)]

    def delete_template(self, app_id: str, template_id: str) -> bool:
        try:
            self.table.write(Delete(layout.template_key(app_id, template_id), EXISTING))
        except ConditionFailed:
            return False
        return True
