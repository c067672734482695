"""The demo's past: a snapshot of each demo console as it was a few hours ago, so `epx --demo` opens at once from
it ("from 09:02 UTC, 3h ago · refreshing") and the changes view has something to show.

The simulators generate one fleet; its past is derived from it, the same every run: some devices were not yet
critical, not yet missing patches, still online, in another group, not yet enrolled, or since retired. The
snapshots go to the demo's in-memory store only. Non-UI core: no textual import.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from tui.models import Connection, Device, Group, Health, ServerInfo
from tui.snapshots import SnapshotStore

if TYPE_CHECKING:  # `epx --demo` reads DEMO_HISTORY_MAX_SIZE before its first frame, the clients load later
    import httpx

DEMO_PAST = timedelta(hours=3)
DEMO_HISTORY_MAX_SIZE = 2_000
"""Larger demo fleets start without a past: making it loads every console once before the UI shows."""
RETIRED = 3
"""Devices the past fleet had that the console no longer lists."""


def past_fleet(devices: list[Device], groups: list[Group]) -> list[Device]:
    """`devices` as they were a few hours ago (module docstring), deterministic."""
    paths = [group.path_text for group in groups if group.path]
    earlier = []
    for number, device in enumerate(devices):
        if number % 37 == 5:
            continue  # enrolled since
        if number % 7 == 0 and device.health is Health.CRITICAL:
            device = replace(device, health=Health.OK, health_reasons=())
        elif number % 5 == 0 and device.missing_critical_patches is True:
            device = replace(device, missing_critical_patches=False)
        elif number % 11 == 0 and device.online is False:
            device = replace(device, online=True)
        elif number % 13 == 0 and len(paths) > 1:
            device = replace(device, group=next(path for path in paths[number % len(paths):] + paths
                                                if path != device.group))
        earlier.append(device)
    earlier.extend(replace(device, id=f"retired-{number}", name=f"{device.name}-old")
                   for number, device in enumerate(devices[:RETIRED]))
    return earlier


def seed_demo_history(store: SnapshotStore, transports: Mapping[str, httpx.AsyncBaseTransport],
                      connections: Mapping[str, Connection], now: datetime | None = None, *,
                      present: bool = False) -> None:
    """Load each demo console once (in-process) and keep its past as a snapshot taken DEMO_PAST ago, and with
    `present` the fleet as it is now too (the CLI's demo answers from snapshots alone; the UI loads it live).
    In a thread of its own, so it works whether or not the caller runs an event loop (a test may)."""
    moment = now or datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-history") as pool:
        pool.submit(lambda: asyncio.run(_seed(store, transports, connections, moment, present))).result()


async def _seed(store: SnapshotStore, transports: Mapping[str, httpx.AsyncBaseTransport],
                connections: Mapping[str, Connection], now: datetime, present: bool) -> None:
    from tui.fleet_load import load_console  # both load when the demo first builds a console: a faster start
    from tui.vendors import open_client

    for name, connection in connections.items():
        client = open_client(connection, connection.password, transport=transports.get(name))
        devices: list[Device] = []
        groups: list[Group] = []
        server: ServerInfo | None = None
        try:
            async for step in load_console(client, []):
                server = step.info or server
                groups = step.groups if step.groups is not None else groups
                if step.page is not None:
                    devices.extend(step.page.devices)
        finally:
            await client.aclose()
        store.write(name, connection.vendor, past_fleet(devices, groups), groups, server, (), now - DEMO_PAST)
        if present:
            store.write(name, connection.vendor, devices, groups, server, (), now)
