"""Benchmark: All fleets at a million devices (issue 16, item 5): four consoles of 250,000 in one inventory.

Each console is a simulator in its own child process (as a console runs on its own machine; 250,000 is over
`epx simulate`'s cap, so the child builds the simulator itself and serves it as `epx simulate` does). The
explorer's clients list every device through their real mapping (each Device with its compressed RawPage),
page by page into one Inventory, as the groups screen's load does. Then the All fleets devices pane (with its
Connection column) shows it in a headless Textual app at 120x40 and, as in bench_table:

- index: the time `Inventory.add` spent on the pages as they arrived (spread over the load, never one pause);
- first rows: from the loaded inventory to the visible lines rendered (what opening a kept fleet costs), and
  from the devices in memory, the inventory built at once (bench_table's measure);
- filter keystrokes (bench_table's sequence), each to the visible lines rendered, p50 and p95;
- sort by name;
- RSS of the whole process (VmRSS) with the fleet shown, and per device;
- the floors under the keystroke and the sort in CPython: one substring test of every device's search key (C-level
  map), and a sort of every row by ready-made name keys.

Not a timed test: run it by hand,

    .venv/bin/python tests/bench/bench_million.py [--size 250000] [--consoles sepm,epmm,elements,sepm]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import compress, repeat
from operator import contains

from bench_paging import free_port
from bench_table import SIZE, Bench, first_rows_and_keystrokes, percentile, render_visible, rss_mb

from screens.devices import DevicesPane
from tui.inventory import Inventory
from tui.models import Connection, Device
from tui.simulators import build_simulator
from tui.simulators.serve import ServerThread
from tui.vendors import open_client


def serve(vendor: str, size: int, seed: int, port: int) -> None:
    """The child: one simulated console on loopback until its parent closes stdin."""
    with ServerThread(build_simulator(vendor, size=size, seed=seed).app, port=port):
        print("ready", flush=True)
        sys.stdin.read()


@contextmanager
def console_process(vendor: str, size: int, seed: int) -> Iterator[str]:
    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", vendor, str(size), str(seed), str(port)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {vendor} simulator did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(30)


async def load(name: str, vendor: str, url: str, inventory: Inventory) -> tuple[int, float]:
    """One console's devices into the inventory page by page; the device count and the seconds spent indexing."""
    credentials = build_simulator(vendor, size=1)
    connection = Connection(name=name, vendor=vendor, url=url, username=credentials.username, allow_http=True)
    client = open_client(connection, credentials.password)
    devices = 0
    indexing = 0.0
    try:
        async for page in client.devices():
            started = time.perf_counter()
            inventory.add(page.devices)
            inventory.prepare(len(inventory))  # as the devices pane does while idle between pages
            indexing += time.perf_counter() - started
            devices += len(page.devices)
    finally:
        await client.aclose()
    return devices, indexing


async def show(inventory: Inventory) -> dict[str, float | list[float]]:
    pane = DevicesPane(fleets=True)
    async with Bench(pane).run_test(size=SIZE) as pilot:
        await pilot.pause()
        first, _, strokes = await first_rows_and_keystrokes(pilot, pane, lambda: inventory)
        started = time.perf_counter()
        pane.sort_by("name")
        render_visible(pane.table)
        sort = time.perf_counter() - started
        gc.collect()
        return {"first": first, "strokes": strokes, "sort": sort, "rss": rss_mb()}


def floors(inventory: Inventory) -> tuple[float, float]:
    """Seconds for one substring test per device (a needle most keys lack) and for a sort by name keys already made."""
    started = time.perf_counter()
    list(compress(range(len(inventory)), map(contains, inventory.search, repeat("srv"))))
    scan = time.perf_counter() - started
    keys = [device.name.casefold() for device in inventory.devices]
    started = time.perf_counter()
    sorted(range(len(keys)), key=keys.__getitem__)
    return scan, time.perf_counter() - started


def rebuilt(devices: list[Device]) -> float:
    """bench_table's first rows: the inventory built at once from the devices in memory (no render: the same)."""
    started = time.perf_counter()
    Inventory(devices)
    return time.perf_counter() - started


def main() -> None:
    if sys.argv[1:2] == ["--serve"]:
        vendor, size, seed, port = sys.argv[2:]
        serve(vendor, int(size), int(seed), int(port))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=250_000, help="devices per console")
    parser.add_argument("--consoles", default="sepm,epmm,elements,sepm")
    args = parser.parse_args()
    gc.collect()
    baseline = rss_mb()
    inventory = Inventory()
    indexing = 0.0
    started = time.perf_counter()
    for number, vendor in enumerate(args.consoles.split(","), 1):
        with console_process(vendor, args.size, seed=number) as url:
            count, seconds = asyncio.run(load(f"{vendor}-{number}", vendor, url, inventory))
        indexing += seconds
        print(f"{vendor}-{number}: {count:,} devices; RSS {rss_mb():.0f} MB", flush=True)
    loaded = time.perf_counter() - started
    gc.collect()
    devices = len(inventory)
    print(f"{devices:,} devices from {len(args.consoles.split(','))} consoles in {loaded:.0f} s "
          f"(index {indexing:.2f} s of it); RSS {rss_mb():.0f} MB ({baseline:.0f} MB before loading)")
    figures = asyncio.run(show(inventory))
    scan, sort = floors(inventory)
    at_once = rebuilt(inventory.devices)
    strokes = figures["strokes"]
    assert isinstance(strokes, list)
    rss = figures["rss"]
    assert isinstance(rss, float)
    print(f"{'first rows':24}{figures['first'] * 1000:10.1f} ms  (loaded inventory to visible lines; target <= 300)")
    print(f"{'  inventory at once':24}{at_once * 1000:10.1f} ms  (Inventory(devices) from the devices in memory)")
    print(f"{'filter keystroke p50':24}{percentile(strokes, 0.5) * 1000:10.1f} ms")
    print(f"{'filter keystroke p95':24}{percentile(strokes, 0.95) * 1000:10.1f} ms  (target <= 50); slowest: " + ", ".join(
        f"{seconds * 1000:.0f}" for seconds in sorted(strokes)[-4:]))
    print(f"{'  floor: one scan':24}{scan * 1000:10.1f} ms  (a substring test of every search key, C-level)")
    print(f"{'sort by name':24}{figures['sort'] * 1000:10.1f} ms  (target <= 300)")
    print(f"{'  floor: the sort alone':24}{sort * 1000:10.1f} ms  (rows by name keys already case-folded)")
    print(f"{'RSS':24}{rss:10.0f} MB  (whole process, target <= 2048); "
          f"{rss * 2**20 / devices:,.0f} bytes per device ({(rss - baseline) * 2**20 / devices:,.0f} over the "
          f"{baseline:.0f} MB before loading)")


if __name__ == "__main__":
    main()
