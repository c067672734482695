"""Benchmark: the Line-API device table over the inventory against the stock DataTable, same run.

The SEPM simulator runs in a child process (as a console runs on its own machine), so the memory
measured is the explorer's own. The client lists 100,000 devices into memory once; then each path
shows them in a real (headless) Textual app at 120x40 and the same operations are timed:

- first rows: from the devices in memory to the visible lines rendered;
- filter keystrokes: typing, deleting, negating and toggling the critical/patch/online filters,
  each from the keystroke to the visible lines rendered (p50 and p95);
- sort by name;
- RSS of the process with the fleet loaded and shown (the stock path's growth is reported too).

Prints each figure for both paths and the ratio. Not a timed test: run it by hand,

    .venv/bin/python tests/bench/bench_table.py [--size 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from bench_paging import simulator_process
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import DataTable

from screens.devices import DevicesPane
from tui.inventory import DeviceFilter, Inventory
from tui.models import Connection, Device
from tui.simulators import build_simulator
from tui.vendors import open_client
from widgets.device_table import COLUMNS

SIZE = (120, 40)
KEYSTROKES: list[Callable[[DeviceFilter], DeviceFilter]] = [
    *(lambda f, text=text: replace(f, text=text) for text in ("w", "ws", "ws-", "ws-e", "ws-en", "ws-eng", "ws-eng-0")),
    *(lambda f, text=text: replace(f, text=text) for text in ("ws-eng", "ws-e", "ws", "w", "")),
    *(lambda f, text=text: replace(f, text=text) for text in ("!", "!s", "!sr", "!srv", "")),
    lambda f: replace(f, critical=True),
    lambda f: replace(f, missing_patch=True),
    lambda f: replace(f, online=True),
    lambda f: replace(f, text="10."),
    lambda f: replace(f, critical=False),
    lambda f: replace(f, missing_patch=False, online=False, text=""),
]
"""What a responder does in the filter: type a host prefix, delete it, exclude servers, toggle flags."""


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / 2**20


def render_visible(widget: Widget) -> None:
    """What the compositor does after a change: render the lines on screen."""
    widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Bench(App[None]):
    def __init__(self, widget: Widget) -> None:
        super().__init__()
        self.widget = widget

    def compose(self) -> ComposeResult:
        yield self.widget


async def virtual_path(devices: list[Device]) -> dict[str, float | list[float]]:
    pane = DevicesPane()
    async with Bench(pane).run_test(size=SIZE) as pilot:
        await pilot.pause()
        table = pane.table
        started = time.perf_counter()
        pane.set_inventory(Inventory(devices))
        render_visible(table)
        first = time.perf_counter() - started
        strokes = []
        for keystroke in KEYSTROKES:
            started = time.perf_counter()
            pane.set_filter(keystroke(pane.filter))
            render_visible(table)
            strokes.append(time.perf_counter() - started)
        started = time.perf_counter()
        pane.sort_by("name")
        render_visible(table)
        sort = time.perf_counter() - started
        gc.collect()
        return {"first": first, "strokes": strokes, "sort": sort, "rss": rss_mb()}


def stock_rows(devices: list[Device], now: datetime) -> list[list[Text]]:
    return [[Text(*column.cell(device, now)) for column in COLUMNS] for device in devices]


async def stock_path(devices: list[Device]) -> dict[str, float | list[float]]:
    """The old devices pane: DeviceFilter over the list, then clear() and add_rows() of the survivors."""
    table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True)
    async with Bench(table).run_test(size=SIZE) as pilot:
        await pilot.pause()
        now = datetime.now(UTC)
        gc.collect()
        before = rss_mb()
        started = time.perf_counter()
        keys = table.add_columns(*(column.label for column in COLUMNS))
        table.add_rows(stock_rows(devices, now))
        render_visible(table)
        first = time.perf_counter() - started
        gc.collect()
        grown = rss_mb() - before
        wanted = DeviceFilter()
        strokes = []
        for keystroke in KEYSTROKES:
            started = time.perf_counter()
            wanted = keystroke(wanted)
            table.clear()
            table.add_rows(stock_rows(wanted.apply(devices), now))
            render_visible(table)
            strokes.append(time.perf_counter() - started)
        table.clear()
        table.add_rows(stock_rows(devices, now))
        started = time.perf_counter()
        table.sort(keys[1], key=lambda name: str(name).casefold())
        render_visible(table)
        sort = time.perf_counter() - started
        return {"first": first, "strokes": strokes, "sort": sort, "rss": grown}


async def load(url: str) -> list[Device]:
    credentials = build_simulator("sepm", size=1)
    connection = Connection(name="bench", vendor="sepm", url=url, username=credentials.username, allow_http=True)
    client = open_client(connection, credentials.password)
    devices: list[Device] = []
    try:
        async for page in client.devices():
            devices.extend(page.devices)
    finally:
        await client.aclose()
    return devices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    with simulator_process("sepm", args.size, 0) as url:
        devices = asyncio.run(load(url))
    gc.collect()
    print(f"{len(devices):,} SEPM devices in memory; RSS {rss_mb():.0f} MB; {len(KEYSTROKES)} filter keystrokes")
    virtual = asyncio.run(virtual_path(devices))
    stock = asyncio.run(stock_path(devices))
    ms = 1000
    for label, key in (("time to first rows", "first"), ("sort by name", "sort")):
        print(f"{label:22} line API {virtual[key] * ms:8.1f} ms   DataTable {stock[key] * ms:9.1f} ms"
              f"   {stock[key] / virtual[key]:7.1f}x faster")
    for label, fraction in (("filter keystroke p50", 0.5), ("filter keystroke p95", 0.95)):
        ours, theirs = percentile(virtual["strokes"], fraction), percentile(stock["strokes"], fraction)
        print(f"{label:22} line API {ours * ms:8.1f} ms   DataTable {theirs * ms:9.1f} ms"
              f"   {theirs / ours:7.1f}x faster   (target: p95 <= 30 ms, >= 50x)")
    print(f"{'RSS':22} line API {virtual['rss']:8.0f} MB (whole process, target <= 400)"
          f"   DataTable adds {stock['rss']:.0f} MB more for its rows")


if __name__ == "__main__":
    main()
