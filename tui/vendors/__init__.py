"""One async client per vendor behind the `VendorClient` protocol; `open_client` picks the right one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx

from tui.models import Connection, ServerInfo
from tui.vendors.base import DEFAULT_PAGE_CONCURRENCY, REQUEST_TIMEOUT_S, VendorClient
from tui.vendors.elements import ElementsClient
from tui.vendors.epmm import EpmmClient
from tui.vendors.sepm import SepmClient

CLIENTS: dict[str, type[VendorClient]] = {
    SepmClient.vendor: SepmClient,
    ElementsClient.vendor: ElementsClient,
    EpmmClient.vendor: EpmmClient,
}


def open_client(
    connection: Connection,
    secret: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] | None = None,
    page_concurrency: int = DEFAULT_PAGE_CONCURRENCY,
    request_timeout: float = REQUEST_TIMEOUT_S,
) -> VendorClient:
    """A client for `connection`; `transport` routes it to an in-process simulator in demo mode and tests."""
    return CLIENTS[connection.vendor](
        connection, secret, transport=transport, clock=clock, page_concurrency=page_concurrency,
        request_timeout=request_timeout,
    )


_TLS_WORDS = {"plain http": "plain http, no TLS", "NOT verified": "TLS NOT verified (lab only)",
              "custom CA": "TLS verified against the profile's CA bundle", "verified": "TLS verified"}


def tls_words(connection: Connection) -> str:
    """How the probe's connection was secured, in words for the test's sentence (`Connection.tls_label` decides)."""
    return _TLS_WORDS[connection.tls_label]


async def probe_connection(
    connection: Connection,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    request_timeout: float = REQUEST_TIMEOUT_S,
) -> ServerInfo:
    """Reach the console without a secret: the address, the port and the certificate, before any password."""
    client = open_client(connection, None, transport=transport, request_timeout=request_timeout)
    try:
        return await client.probe()
    finally:
        await client.aclose()


async def check_login(
    connection: Connection,
    secret: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    request_timeout: float = REQUEST_TIMEOUT_S,
) -> None:
    """Log in with a throw-away client; raises the vendor's error when the console refuses."""
    client = open_client(connection, secret, transport=transport, request_timeout=request_timeout)
    try:
        await client.check_login()
    finally:
        await client.aclose()


async def test_in_steps(
    connection: Connection,
    ask_secret: Callable[[], Awaitable[tuple[bool, str | None]]],
    say: Callable[[str], None],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    request_timeout: float = REQUEST_TIMEOUT_S,
) -> str:
    """What `ctrl+t` does: reach the console and say so, only then ask for the secret (when the profile does not
    give one) and log in. Returns the sentence for the status line; a failure raises the vendor's error, so
    a console out of reach is said without a password ever being asked for.

    `ask_secret` answers (given, secret): given False when the user cancelled the prompt."""
    say(f"Reaching {connection.name} at {connection.url}…")
    info = await probe_connection(connection, transport=transport, request_timeout=request_timeout)
    reached = f"{connection.name}: reached {info.title} · {tls_words(connection)}"
    say(reached)
    given, secret = await ask_secret()
    if not given:
        return f"{reached} · login not tested (no password given)."
    say(f"{reached} · logging in…")
    await check_login(connection, secret, transport=transport, request_timeout=request_timeout)
    return f"{reached} · login OK."
