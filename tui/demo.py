"""`epx --demo`: simulated consoles served in-process, and profiles that point at them.

Nothing touches the network or the user's config: each demo connection gets an `httpx.ASGITransport`
onto its simulator, and the config has no path, so it is never saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx

from tui.config import Config
from tui.demo_history import seed_demo_history
from tui.models import Connection
from tui.simulators import SIMULATED_VENDORS, build_simulator
from tui.snapshots import SnapshotStore
from tui.state import StateStore
from tui.vendors.sepm import fingerprint_list_from_record

DEMO_URLS = {
    "sepm": "https://sepm.demo.invalid:8446",
    "epmm": "https://epmm.demo.invalid",
    "elements": "https://elements.demo.invalid",
}


@dataclass(slots=True)
class Demo:
    config: Config
    transports: dict[str, httpx.AsyncBaseTransport]
    state: StateStore
    """In memory, knowing the demo SEPM's fingerprint lists (SEPM cannot list them: a user opens them once)."""
    simulators: dict[str, Any]
    """Each connection's simulator, for tests that look at or move the server side."""
    snapshots: SnapshotStore
    """In memory: the demo's past (with `history`) and the loads of this run, never the user's store."""


def build_demo(size: int = 500, *, seed: int = 7, now: datetime | None = None, writes: bool = False,
               history: bool = False, present: bool = False) -> Demo:
    """One demo connection per simulated vendor; `now` pins the fleets' clock for snapshots; `writes` makes
    the connections allow changes (they reach only the in-process simulators); `history` keeps a snapshot of
    each console as it was hours ago (tui/demo_history.py), and `present` one as it is now."""
    config = Config(path=None)
    transports: dict[str, httpx.AsyncBaseTransport] = {}
    state = StateStore(None)
    simulators: dict[str, Any] = {}
    for vendor in SIMULATED_VENDORS:
        simulated = build_simulator(vendor, size=size, seed=seed, now=now)
        name = f"demo-{vendor}"
        config.connections[name] = Connection(
            name=name, vendor=vendor, url=DEMO_URLS[vendor], username=simulated.username, password=simulated.password,
            read_only=not writes,
        )
        transports[name] = httpx.ASGITransport(app=simulated.app)
        simulators[name] = simulated.simulator
        if vendor == "sepm":
            for record in simulated.simulator.hash_actions.lists.values():
                state.remember_list(name, fingerprint_list_from_record(record), now=now)
    snapshots = SnapshotStore(None)
    if history:
        sepm, elements = simulators["demo-sepm"].fleet, simulators["demo-elements"].fleet
        elements.borrowed_names = [sepm.name(index) for index in range(len(sepm))]  # machines both consoles see
        seed_demo_history(snapshots, transports, config.connections, now, present=present)
    return Demo(config=config, transports=transports, state=state, simulators=simulators, snapshots=snapshots)
