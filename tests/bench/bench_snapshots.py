"""Benchmark: the snapshot store, changes and coverage at 100,000 devices, against baselines of the same run.

The SEPM simulator runs in a child process; the client lists 100,000 devices (raw pages included) once.
Then, in a temporary store:

- write: one 100,000-device snapshot in a worker thread, as the groups screen writes it, and the longest
  stall a 5 ms ticker on the event loop saw meanwhile (the load is never slowed); baseline: the same devices
  as `epx devices --format json` output (`Device.to_json` + json);
- open: the latest snapshot's first chunk read back to the first rows of the device table rendered in a
  headless app (120x40), as the groups screen shows it while the rest is read behind; baseline: all the devices
  already in memory to the first rows (bench_table's "first rows");
- changes: two 100,000-device snapshots read and compared (about 5% of the devices changed);
- coverage: four consoles of 100,000 devices each (about 10% missing from each) matched as machines;
- size: the store's bytes per 100,000 devices (the file, and the snapshot's own rows).

Targets (issue 17): write <= 1 s, open <= 0.5 s, changes <= 1 s, coverage <= 2 s. Not a timed test:

    .venv/bin/python tests/bench/bench_snapshots.py [--size 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench_paging import simulator_process
from bench_table import SIZE, Bench, load, render_visible

from screens.devices import DevicesPane
from tui.changes import changes_between
from tui.coverage import CoverageFilter, match_machines
from tui.inventory import Inventory
from tui.models import Device, Health
from tui.snapshots import SnapshotStore

NOW = datetime(2026, 12, 5, 14, 2, tzinfo=UTC)


async def timed_write(store: SnapshotStore | None, devices: list[Device], at: datetime) -> tuple[float, float]:
    """Seconds the write took in its thread, and the longest gap between ticks of the event loop meanwhile;
    with no store, the event loop's longest gap over one second of doing nothing (the machine's own noise)."""
    longest = 0.0
    done = False

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not done:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            longest, last = max(longest, now - last - 0.005), now

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    if store is None:
        await asyncio.sleep(1)
    else:
        await asyncio.to_thread(store.write, "bench", "sepm", devices, [], None, (), at)
    took = time.perf_counter() - started
    done = True
    await ticking
    return took, longest


async def first_rows(pane_inventory: callable) -> float:
    """Seconds from nothing to the device table's first rows rendered, the inventory made by `pane_inventory`."""
    pane = DevicesPane()
    async with Bench(pane).run_test(size=SIZE) as pilot:
        await pilot.pause()
        started = time.perf_counter()
        pane.inventory = pane_inventory()
        render_visible(pane.table)
        return time.perf_counter() - started


def aged(devices: list[Device]) -> list[Device]:
    """The fleet a while later: about 5% of the devices changed, dropped or new."""
    later = []
    for number, device in enumerate(devices):
        if number % 97 == 0:
            continue  # disappeared
        if number % 50 == 1:
            device = replace(device, health=Health.CRITICAL)
        elif number % 50 == 2:
            device = replace(device, online=False)
        elif number % 50 == 3:
            device = replace(device, group=device.group + "\\Moved")
        later.append(device)
    later.extend(replace(device, id=f"new-{number}") for number, device in enumerate(devices[: len(devices) // 100]))
    return later


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    args = parser.parse_args()
    with simulator_process("sepm", args.size, 0) as (url, _):
        devices = asyncio.run(load(url))
    devices = [replace(device, connection="bench") for device in devices]
    print(f"{len(devices):,} SEPM devices in memory (raw pages included)")
    ms = 1000
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "snapshots.sqlite3"
        store = SnapshotStore(path)

        started = time.perf_counter()
        json.dumps([device.to_json() for device in devices])
        baseline = time.perf_counter() - started
        took, stall = asyncio.run(timed_write(store, devices, NOW - timedelta(hours=1)))
        _, noise = asyncio.run(timed_write(None, devices, NOW))
        print(f"{'write snapshot':24} {took * ms:8.1f} ms (target <= 1000)   baseline json output {baseline * ms:7.1f} ms"
              f"   ratio {took / baseline:5.2f}   longest event-loop stall meanwhile {stall * ms:5.1f} ms"
              f" (idle loop, same machine: {noise * ms:.1f} ms)")
        info = store.listing()[0]
        size = path.stat().st_size
        with sqlite3.connect(path) as db:
            raw = db.execute("SELECT SUM(LENGTH(body)) FROM raw_pages").fetchone()[0]
        db.close()
        print(f"{'store size':24} {size / 2**20:8.1f} MB per {len(devices):,} devices (the snapshot "
              f"{info.size / 2**20:.1f} MB: raw vendor pages {raw / 2**20:.1f} MB, device rows and facts "
              f"{(info.size - raw) / 2**20:.1f} MB)")

        opened = asyncio.run(first_rows(lambda: store.open_fleet(["bench"])[0].inventory))
        started = time.perf_counter()
        store.read(info)
        whole = time.perf_counter() - started
        in_memory = asyncio.run(first_rows(lambda: Inventory(devices)))
        print(f"{'open to first rows':24} {opened * ms:8.1f} ms (target <= 500)    baseline from memory {in_memory * ms:7.1f} ms"
              f"   ratio {opened / in_memory:5.2f}   (the whole snapshot read behind: {whole * ms:.0f} ms)")

        asyncio.run(timed_write(store, aged(devices), NOW))
        newest = store.latest("bench")
        assert newest is not None
        older = store.previous(newest)
        assert older is not None
        started = time.perf_counter()
        found = store.changes(older, newest)
        changed = time.perf_counter() - started
        started = time.perf_counter()
        compared_only = len(changes_between(devices, aged(devices)))
        compare = time.perf_counter() - started
        print(f"{'changes of two snapshots':24} {changed * ms:8.1f} ms (target <= 1000)   {len(found):,} changes; the"
              f" comparison alone (in memory) {compare * ms:.1f} ms for {compared_only:,}")

    consoles = [[replace(device, connection=f"console-{console}") for number, device in enumerate(devices)
                 if (number + console) % 10] for console in range(4)]
    everything = [device for console in consoles for device in console]
    started = time.perf_counter()
    machines = match_machines(everything)
    blind = CoverageFilter(only_one=True).apply(machines)
    missing = CoverageFilter(missing_from="console-0").apply(machines)
    covered = time.perf_counter() - started
    started = time.perf_counter()
    {(device.connection, device.name.casefold()) for device in everything}
    floor = time.perf_counter() - started
    print(f"{'coverage of 4 consoles':24} {covered * ms:8.1f} ms (target <= 2000)   {len(everything):,} devices, "
          f"{len(machines):,} machines, {len(blind):,} seen once, {len(missing):,} missing from console-0;"
          f" baseline one set of names {floor * ms:.1f} ms, ratio {covered / floor:.1f}")


if __name__ == "__main__":
    main()
