"""Resolving a webhook URL's host, and the check of every address it resolves to."""

from __future__ import annotations

import socket

from chalicelib.domain.webhooks import address_refused


class AddressRefused(Exception):
    """The URL's host resolves to an address a delivery may never reach."""


def resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (an IP literal answers itself); OSError when there are none."""
    found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in found))


def checked_address(host: str, port: int, allow_loopback: bool) -> str:
    """The address to connect to: the first of ``host``'s, if none of them is refused."""
    addresses = resolve(host, port)
    for address in addresses:
        refused = address_refused(address.partition("%")[0], allow_loopback)
        if refused:
            raise AddressRefused(f"{host} resolves to {refused}")
    return addresses[0]


def refused_now(host: str, port: int, allow_loopback: bool) -> str | None:
    """Why ``host`` may not be an endpoint's as it resolves now (None: allowed, or it does not
    resolve yet; every delivery checks again)."""
    try:
        checked_address(host, port, allow_loopback)
    except AddressRefused as refused:
        return str(refused)
    except (OSError, UnicodeError):
        return None
    return None
