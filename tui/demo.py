"""`epx --demo`: simulated consoles served in-process, and profiles that point at them.

Nothing touches the network or the user's config: each demo connection gets an `httpx.ASGITransport`
onto its simulator, and the config has no path, so it is never saved.

The UI lists the demo's profiles at once and builds the consoles behind them when one is first opened
(`DemoTransports`): generating three fleets and the demo's past takes longer than starting the app. So this
module imports neither httpx nor a simulator module until the consoles are built.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tui.config import Config
from tui.models import Connection
from tui.simulators import DEMO_CREDENTIALS, SIMULATED_VENDORS, build_simulator
from tui.snapshots import SnapshotStore
from tui.state import StateStore

if TYPE_CHECKING:
    import httpx

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


def demo_config(*, writes: bool = False) -> Config:
    """One demo profile per simulated vendor, in memory; `writes` lets them make changes (they reach only the
    in-process simulators)."""
    config = Config(path=None)
    for vendor in SIMULATED_VENDORS:
        username, password = DEMO_CREDENTIALS[vendor]
        name = f"demo-{vendor}"
        config.connections[name] = Connection(name=name, vendor=vendor, url=DEMO_URLS[vendor], username=username,
                                              password=password, read_only=not writes)
    return config


def build_demo(size: int = 500, *, seed: int = 7, now: datetime | None = None, writes: bool = False,
               history: bool = False, present: bool = False) -> Demo:
    """One demo connection per simulated vendor; `now` pins the fleets' clock for snapshots; `writes` makes
    the connections allow changes; `history` keeps a snapshot of each console as it was hours ago
    (tui/demo_history.py), and `present` one as it is now."""
    config = demo_config(writes=writes)
    state, snapshots = StateStore(None), SnapshotStore(None)
    transports, simulators = simulate(config.connections, state, snapshots, size=size, seed=seed, now=now,
                                      history=history, present=present)
    return Demo(config=config, transports=transports, state=state, simulators=simulators, snapshots=snapshots)


def simulate(connections: Mapping[str, Connection], state: StateStore, snapshots: SnapshotStore, *, size: int,
             seed: int = 7, now: datetime | None = None, history: bool = False, present: bool = False,
             ) -> tuple[dict[str, httpx.AsyncBaseTransport], dict[str, Any]]:
    """The consoles behind the demo's `connections`: each one's transport and simulator. The demo SEPM's
    fingerprint lists go into `state`, and with `history` (`present`) the consoles' past (and present) into
    `snapshots` (see `build_demo`)."""
    import httpx  # with the consoles: the UI lists the demo's profiles before either is needed

    from tui.demo_history import seed_demo_history
    from tui.vendors.sepm import fingerprint_list_from_record

    transports: dict[str, httpx.AsyncBaseTransport] = {}
    simulators: dict[str, Any] = {}
    for name, connection in connections.items():
        simulated = build_simulator(connection.vendor, size=size, seed=seed, now=now)
        transports[name] = httpx.ASGITransport(app=simulated.app)
        simulators[name] = simulated.simulator
        if connection.vendor == "sepm":
            for record in simulated.simulator.hash_actions.lists.values():
                state.remember_list(name, fingerprint_list_from_record(record), now=now)
    if history:
        sepm, elements = simulators["demo-sepm"].fleet, simulators["demo-elements"].fleet
        elements.borrowed_names = [sepm.name(index) for index in range(len(sepm))]  # machines both consoles see
        seed_demo_history(snapshots, transports, connections, now, present=present)
    return transports, simulators


class DemoTransports(Mapping[str, "httpx.AsyncBaseTransport"]):
    """The UI's demo transports: the connections they serve are known at once (the connections screen marks
    them in-process), the consoles behind them are built by `simulate` when a transport is first asked for
    (opening or testing a demo connection, `Session.prepare`), so the connections show without waiting for
    three fleets and their past. Without a past each console is built alone, when its own transport is asked
    for (a 100,000-device demo opens one console in a third of the time); the past needs all three."""

    def __init__(self, config: Config, state: StateStore, snapshots: SnapshotStore, *, size: int,
                 history: bool) -> None:
        self._connections = dict(config.connections)  # the demo's own: a profile added later gets no console
        self._state, self._snapshots, self._size, self._history = state, snapshots, size, history
        self._lock = threading.Lock()
        self._built: dict[str, httpx.AsyncBaseTransport] = {}

    def __getitem__(self, name: str) -> httpx.AsyncBaseTransport:
        if name not in self._connections:
            raise KeyError(name)
        with self._lock:
            if name not in self._built:
                wanted = self._connections if self._history else {name: self._connections[name]}
                built, _ = simulate(wanted, self._state, self._snapshots, size=self._size, history=self._history)
                self._built.update(built)
        return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._connections

    def __iter__(self) -> Iterator[str]:
        return iter(self._connections)

    def __len__(self) -> int:
        return len(self._connections)
