"""The webhook deliverer's HTTP client: one ``requests`` session per container, connect and read
timeouts, no redirects, and every connection checked on the address it actually reaches.

The host's name is resolved here, each address checked (domain/webhooks.py), and the connection
made to that very address, with the name kept in the Host header and in TLS (SNI and the
certificate's check): a name that resolves to a public address when the endpoint is created and
to the metadata service at delivery time (DNS rebinding) never reaches it.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from chalicelib.adapters.addresses import AddressRefused, checked_address
from chalicelib.domain.webhooks import TIMEOUT_S

ANSWER_BYTES = 1024  # what a receiver's answer may tell (its status line is what counts)


class PinnedAdapter(HTTPAdapter):
    """Connects to the checked address of the request's host, the name kept for TLS."""

    def __init__(self, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        super().__init__(max_retries=0)

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        address = checked_address(host, port, self.allow_loopback)
        request.headers["Host"] = parts.netloc.rpartition("@")[2]
        pool_kwargs: dict[str, Any] = {}
        if parts.scheme == "https":
            pool_kwargs = {
                "server_hostname": host,
                "assert_hostname": host,
                "cert_reqs": "CERT_REQUIRED" if verify is not False else "CERT_NONE",
            }
            if isinstance(verify, str):
                pool_kwargs["ca_certs"] = verify
        return self.poolmanager.connection_from_host(
            address, port=port, scheme=parts.scheme, pool_kwargs=pool_kwargs
        )


@dataclass(frozen=True)
class Answer:
    status_code: int | None  # None: no answer (refused, timed out, not allowed)
    error: str | None = None


class WebhookClient:
    """POSTs one signed event; never follows a redirect, never waits more than ``deadline_s``
    in all (the read timeout bounds each wait for bytes; a receiver that trickles its answer
    byte by byte meets the deadline)."""

    def __init__(
        self,
        connect_timeout_s: float,
        read_timeout_s: float,
        allow_loopback: bool,
        deadline_s: float = TIMEOUT_S,
    ):
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.deadline_s = deadline_s
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment between us and the check
        adapter = PinnedAdapter(allow_loopback)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        answers: list[Answer] = []
        attempt = threading.Thread(
            target=lambda: answers.append(self._post(url, body, headers)),
            name="webhook-post",
            daemon=True,
        )
        attempt.start()
        attempt.join(self.deadline_s)
        return answers[0] if answers else Answer(None, f"no answer within {self.deadline_s:g} s")

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        try:
            with self.session.post(
                url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            ) as answer:
                if 200 <= answer.status_code < 300:
                    return Answer(answer.status_code)
                return Answer(answer.status_code, f"answered {answer.status_code}")
        except AddressRefused as refused:
            return Answer(None, str(refused))
        except requests.Timeout:
            return Answer(None, "timed out")
        except requests.ConnectionError as error:
            cause = error.__context__ or error
            if isinstance(cause, AddressRefused):
                return Answer(None, str(cause))
            return Answer(None, "could not connect")
        except socket.gaierror:
            return Answer(None, "the host does not resolve")
        except (requests.RequestException, OSError) as error:
            return Answer(None, f"request failed ({type(error).__name__})")
