"""One async client per vendor behind the `VendorClient` protocol; `open_client` picks the right one."""

from __future__ import annotations

from collections.abc import Callable
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


async def check_connection(
    connection: Connection,
    secret: str | None,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    request_timeout: float = REQUEST_TIMEOUT_S,
) -> ServerInfo:
    """Reach the console, then log in, with a throw-away client: what "test connection" means everywhere."""
    client = open_client(connection, secret, transport=transport, request_timeout=request_timeout)
    try:
        info = await client.probe()
        await client.check_login()
        return info
    finally:
        await client.aclose()
