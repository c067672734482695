"""`epx --demo`: simulated consoles served in-process, and profiles that point at them.

Nothing touches the network or the user's config: each demo connection gets an `httpx.ASGITransport`
onto its simulator, and the config has no path, so it is never saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import httpx

from tui.config import Config
from tui.models import Connection
from tui.simulators import SIMULATED_VENDORS, build_simulator
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


def build_demo(size: int = 500, *, seed: int = 7, now: datetime | None = None) -> Demo:
    """One demo connection per simulated vendor; `now` pins the fleets' clock for snapshots."""
    config = Config(path=None)
    transports: dict[str, httpx.AsyncBaseTransport] = {}
    state = StateStore(None)
    for vendor in SIMULATED_VENDORS:
        simulated = build_simulator(vendor, size=size, seed=seed, now=now)
        name = f"demo-{vendor}"
        config.connections[name] = Connection(
            name=name, vendor=vendor, url=DEMO_URLS[vendor], username=simulated.username, password=simulated.password
        )
        transports[name] = httpx.ASGITransport(app=simulated.app)
        if vendor == "sepm":
            for record in simulated.simulator.hash_actions.lists.values():
                state.remember_list(name, fingerprint_list_from_record(record), now=now)
    return Demo(config=config, transports=transports, state=state)
