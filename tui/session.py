"""What the screens work with, in one typed object without Textual: the config and its file, the open
clients, the clock, the remembered state and the fleets loaded this session.

The app builds one and every screen reaches it as `self.session`. Changes to the config file go through
here and run in a thread: saving takes a file lock (polled up to seconds) and an fsync, which must not
freeze the terminal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tui.config import Config, ConfigError, load_config, save_config
from tui.models import Connection
from tui.snapshots import SnapshotError, SnapshotStore
from tui.state import StateStore

if TYPE_CHECKING:
    import httpx

    from tui.fleet_load import KeptFleet  # with the inventory it loads with the first fleet: a faster start
    from tui.vendors.base import VendorClient


@dataclass
class Session:
    config: Config
    config_error: ConfigError | None = None
    """Why the config file could not be read: nothing offers to write it until it reads again."""
    transports: Mapping[str, httpx.AsyncBaseTransport] = field(default_factory=dict)
    """Per connection, a transport to an in-process simulator (demo, tests); others go over the network."""
    clock: Callable[[], datetime] | None = None
    state: StateStore = field(default_factory=lambda: StateStore(None))
    """What the app remembers between runs (the fingerprint lists each connection opened)."""
    open_at_start: str | None = None
    """A connection named on the command line, opened once at start."""
    clients: dict[str, VendorClient] = field(default_factory=dict)
    kept_fleets: dict[tuple[str, ...], KeptFleet] = field(default_factory=dict)
    """The last complete load of each opened connection (or set of them, All fleets), for the session."""
    snapshots: SnapshotStore = field(default_factory=lambda: SnapshotStore(None))
    """Every complete load, kept between runs (in memory for the demo and tests)."""

    @property
    def demo(self) -> bool:
        return self.config.path is None

    def now(self) -> datetime:
        return self.clock() if self.clock else datetime.now(UTC)

    def take_open_at_start(self) -> str | None:
        """The connection to open at start, once."""
        name, self.open_at_start = self.open_at_start, None
        return name

    async def prepare(self, connection: Connection) -> None:
        """Have the connection's transport ready, in a thread: the demo builds a simulated console when its
        transport is first asked for (tui/demo.py), seconds for a large fleet, which must not freeze the
        terminal. Call it from a worker before `client_for`."""
        await asyncio.to_thread(self.transports.get, connection.name)

    def client_for(self, connection: Connection, secret: str | None) -> VendorClient:
        """The long-lived client of a connection, created on first use (one AsyncClient each)."""
        client = self.clients.get(connection.name)
        if client is None or client.connection != connection:
            from tui.vendors import open_client  # the clients and httpx load with the first one: a faster start

            client = open_client(
                connection,
                secret,
                transport=self.transports.get(connection.name),
                clock=self.clock,
                page_concurrency=self.config.settings.page_concurrency,
                request_timeout=self.config.settings.request_timeout,
            )
            self.clients[connection.name] = client
        return client

    async def forget_client(self, name: str) -> None:
        """Close a connection's client, e.g. after its profile was edited or its login failed."""
        client = self.clients.pop(name, None)
        self.kept_fleets = {names: kept for names, kept in self.kept_fleets.items() if name not in names}
        if client is not None:
            await client.aclose()

    async def close(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    def kept(self, names: tuple[str, ...]) -> KeptFleet | None:
        return self.kept_fleets.get(names)

    def keep(self, names: tuple[str, ...], fleet: KeptFleet) -> None:
        self.kept_fleets[names] = fleet

    def snapshot_problem(self, error: SnapshotError) -> str | None:
        """What to say about a store that failed: once (later failures are `repeated`)."""
        return None if error.repeated else f"{error} Snapshots are off; devices load live."

    async def write_snapshot(self, fleet: KeptFleet, vendors: Mapping[str, str]) -> str | None:
        """Keep a complete load in the store, in a thread (the screen is never held up by it); what to say once
        when the store failed."""
        try:
            await asyncio.to_thread(self.snapshots.write_kept, fleet, vendors, self.config.settings.keep_snapshots)
        except SnapshotError as error:
            return self.snapshot_problem(error)
        return None

    async def save_profile(self, connection: Connection, previous_name: str | None) -> None:
        """Store an added or edited profile; raises ConfigError or OSError, memory untouched, when the write
        fails."""
        items = list(self.config.connections.items())
        if previous_name is None:
            items.append((connection.name, connection))
        else:
            items = [(connection.name, connection) if name == previous_name else (name, c) for name, c in items]
        await self._change_connections(dict(items), {connection.name, previous_name or connection.name})

    async def delete_profile(self, name: str) -> None:
        """Remove a profile (raises as `save_profile`), then close its client."""
        await self._change_connections({n: c for n, c in self.config.connections.items() if n != name}, {name})
        await self.forget_client(name)

    async def save_password(self, connection: Connection, secret: str) -> None:
        """Keep a password in the profile and the file (asked for by the user); raises as `save_profile`, with
        the profile left without it."""
        connection.password = secret
        try:
            await self._write({connection.name})
        except (ConfigError, OSError):
            connection.password = None
            raise

    async def _change_connections(self, connections: dict[str, Connection], changed: set[str]) -> None:
        before, self.config.connections = self.config.connections, connections
        try:
            await self._write(changed)
        except (ConfigError, OSError):
            self.config.connections = before
            raise

    async def _write(self, changed: set[str]) -> None:
        if self.config.path is not None:
            await asyncio.to_thread(save_config, self.config, changed=changed)

    async def reload_config(self) -> None:
        """Read the file again; a file that does not read is kept as `config_error` (and never written)."""
        if self.config.path is None:
            return
        try:
            self.config = await asyncio.to_thread(load_config, self.config.path)
            self.config_error = None
        except ConfigError as error:
            self.config_error = error
