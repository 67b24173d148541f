"""The DynamoDB key layout: the only package that knows how records are keyed
(one module per area; every name is also here).

One table, four sparse GSIs:
- ``work``: messages that need attention, sharded ``due#<n>``, sorted by ``work_at`` (epoch ms);
- ``expiry``: unused one-time credits that expire, sharded ``exp#<n>``, sorted by ``exp_at``;
- ``by_user``: a user's messages, newest last, for listing and erasure; apart from them, the
  webhook deliveries about a user, for erasure;
- ``holders``: who holds a template (each unused credit, each active long-term grant), sharded
  ``HOLD#<app>#<template>#<n>`` by openid, sorted by openid: a campaign's ``holders`` audience.
``purge_at`` (epoch seconds) is the TTL attribute, used for retention only.
"""

from chalicelib.adapters.store.layout.campaigns import *  # noqa: F403
from chalicelib.adapters.store.layout.catalog import *  # noqa: F403
from chalicelib.adapters.store.layout.keys import *  # noqa: F403
from chalicelib.adapters.store.layout.users import *  # noqa: F403
from chalicelib.adapters.store.layout.webhooks import *  # noqa: F403
from chalicelib.domain.clock import epoch_ms as epoch_ms
