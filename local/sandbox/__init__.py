"""A stand-in for WeChat's servers, for the local stack and the tests.

It serves stable_token, subscribe/send and gettemplate for made-up mini-programs, keeps each
user's subscriptions the way WeChat does, records the cards it accepts, fails on demand, pushes
subscription events to an app's callback URL, and lists what it received and pushed on a small
HTML page. It listens on 127.0.0.1 only.

It is an oracle for submsg, not a mirror: it imports nothing from ``chalicelib``. Its keyword
rules (``rules``) and its signatures and encryption (``crypto``) are its own, so that a wrong
rule or a codec bug in submsg shows up against it. By concern:

- ``state``: apps, templates, cards, with ``tokens``, ``ledger`` (what users allowed), ``faults``;
- ``rules``, ``templates``: WeChat's keyword rules, the templates and their keywords;
- ``events``, ``crypto``, ``push``: the events pushed, signed and encrypted, and their retries;
- ``routes``, ``page``, ``server``: the HTTP routes, the HTML page, the server and ``Sandbox``.
"""

from local.sandbox.server import Sandbox
from local.sandbox.templates import SandboxTemplate

__all__ = ["Sandbox", "SandboxTemplate"]
