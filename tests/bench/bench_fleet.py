"""Benchmark: a whole fleet of one console, from the first request to the last row in the inventory (issue 16,
item 3), against the client's own CPU for those pages.

The simulator runs in its own process (`epx simulate --cache-pages`, no added latency), warmed by one untimed
listing. The load is the app's: `load_console` (probe, groups, every device page) into a `FleetLoad`. Prints the
wall time and its ratio to this process's CPU over it (transport, mapping, inventory: all but the simulator's)
and to the client's CPU for the same pages measured alone (bench_parse's replay: decode, mapping, RawPage).

Then the demo's fleet of the same size in the UI (target: under 8 s): `epx --demo --demo-size`'s console (a
child process for a fleet this large), the app headless at 120x40, from enter on the connection to every device
in the table. Not a timed test: run it
by hand,

    .venv/bin/python tests/bench/bench_fleet.py [--size 100000] [--vendors sepm,epmm,elements] [--no-demo]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from bench_paging import simulator_process
from bench_parse import Replaying, listing, recording_transport

from screens.groups import GroupsScreen
from tui.app import ExplorerApp
from tui.demo import DemoTransports, demo_config
from tui.demo_history import DEMO_HISTORY_MAX_SIZE
from tui.fleet_load import FleetLoad, load_console
from tui.models import Connection
from tui.simulators import SIMULATED_VENDORS, build_simulator
from tui.snapshots import SnapshotStore
from tui.state import StateStore
from tui.vendors import open_client


async def load_fleet(vendor: str, url: str) -> tuple[float, float, int]:
    """Wall seconds and CPU seconds from the first request to the last page in the inventory, and its rows."""
    credentials = build_simulator(vendor, size=1)
    connection = Connection(name="bench", vendor=vendor, url=url, username=credentials.username, allow_http=True)
    client = open_client(connection, credentials.password)
    fleet = FleetLoad(["bench"])
    fleet.start()
    started, cpu = time.perf_counter(), time.process_time()
    try:
        async for step in load_console(client, ()):
            fleet.take("bench", step)
        return time.perf_counter() - started, time.process_time() - cpu, len(fleet.inventory)
    finally:
        await client.aclose()


def client_cpu(vendor: str, size: int) -> float:
    """The client's CPU seconds for every page of the fleet, replayed in-process (no server, no inventory)."""
    recorder, recorded, password = recording_transport(vendor, size)
    username = build_simulator(vendor, size=1).username
    asyncio.run(listing(vendor, recorder, password, username))
    replay = Replaying(recorded)
    asyncio.run(listing(vendor, replay, password, username))
    started = time.process_time()
    asyncio.run(listing(vendor, replay, password, username))
    return time.process_time() - started


async def demo_in_ui(vendor: str, size: int) -> float:
    """Seconds from enter on the demo connection to all `size` devices in the table, the load finished: the
    demo as `epx --demo --demo-size` runs it (a fleet this large has no past; its console is a child process,
    started by the enter)."""
    config = demo_config()
    state, snapshots = StateStore(None), SnapshotStore(None)
    demo = DemoTransports(config, state, snapshots, size=size, history=size <= DEMO_HISTORY_MAX_SIZE)
    app = ExplorerApp(config, transports=demo, state=state, snapshots=snapshots)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            for _ in range(SIMULATED_VENDORS.index(vendor)):  # the demo lists its consoles in this order
                await pilot.press("down")
            started = time.perf_counter()
            await pilot.press("enter")
            while not (isinstance(app.screen, GroupsScreen) and not app.screen.loading
                       and len(app.screen.pane.selection.rows) == size):
                await asyncio.sleep(0.01)
            return time.perf_counter() - started
    finally:
        demo.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--vendors", default=",".join(SIMULATED_VENDORS))
    parser.add_argument("--no-demo", action="store_true", help="skip the demo's fleet in the UI")
    args = parser.parse_args()
    for vendor in args.vendors.split(","):
        alone = client_cpu(vendor, args.size)
        with simulator_process(vendor, args.size, 0) as (url, _):
            asyncio.run(load_fleet(vendor, url))  # warms the simulator's page cache; not timed
            wall, cpu, rows = asyncio.run(load_fleet(vendor, url))
        print(f"{vendor:9} {rows:,} rows in {wall:6.2f} s; this process's CPU {cpu:5.2f} s (wall / it {wall / cpu:.2f}x);"
              f" client CPU for the pages alone {alone:5.2f} s (wall / it {wall / alone:.2f}x)")
    for vendor in [] if args.no_demo else args.vendors.split(","):
        print(f"{vendor:9} demo fleet of {args.size:,} in the UI: {asyncio.run(demo_in_ui(vendor, args.size)):6.2f} s"
              " (target: under 8 s)")


if __name__ == "__main__":
    main()
