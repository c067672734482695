"""`epx --demo`: simulated consoles, and profiles that point at them.

Nothing leaves this machine or touches the user's config: each demo connection gets a transport to its
simulator (an `httpx.ASGITransport` in this process, or, for a fleet too large for a past, plain HTTP on
loopback to a child process), and the config has no path, so it is never saved.

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

    from tui.simulators.process import SimulatorProcess

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


DEMO_SEED = 7
"""The demo fleets' seed: the same consoles every run."""


def build_demo(size: int = 500, *, seed: int = DEMO_SEED, now: datetime | None = None, writes: bool = False,
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
             seed: int = DEMO_SEED, now: datetime | None = None, history: bool = False, present: bool = False,
             ) -> tuple[dict[str, httpx.AsyncBaseTransport], dict[str, Any]]:
    """The consoles behind the demo's `connections`: each one's transport and simulator. The demo SEPM's
    fingerprint lists go into `state`, and with `history` (`present`) the consoles' past (and present) into
    `snapshots` (see `build_demo`)."""
    import httpx  # with the consoles: the UI lists the demo's profiles before either is needed

    from tui.demo_history import seed_demo_history

    transports: dict[str, httpx.AsyncBaseTransport] = {}
    simulators: dict[str, Any] = {}
    for name, connection in connections.items():
        simulated = build_simulator(connection.vendor, size=size, seed=seed, now=now)
        transports[name] = httpx.ASGITransport(app=simulated.app)
        simulators[name] = simulated.simulator
        remember_lists(state, name, simulated.fingerprint_lists, now)
    if history:
        sepm, elements = simulators["demo-sepm"].fleet, simulators["demo-elements"].fleet
        elements.borrowed_names = [sepm.name(index) for index in range(len(sepm))]  # machines both consoles see
        seed_demo_history(snapshots, transports, connections, now, present=present)
    return transports, simulators


def remember_lists(state: StateStore, name: str, records: list[dict[str, Any]], now: datetime | None) -> None:
    """A demo console's fingerprint list records (`Simulated.fingerprint_lists`), remembered as opened."""
    from tui.vendors.sepm import fingerprint_list_from_record

    for record in records:
        state.remember_list(name, fingerprint_list_from_record(record), now=now)


class DemoTransports(Mapping[str, "httpx.AsyncBaseTransport"]):
    """The UI's demo transports: the connections they serve are known at once (the connections screen marks
    them in-process), the consoles behind them are built when a transport is first asked for (opening or
    testing a demo connection, `Session.prepare`), so the connections show without waiting for three fleets
    and their past. The past needs all three, built in-process by `simulate`. Without one, each console is a
    child process of its own (tui/simulators/process.py), built when its transport is first asked for: a
    100,000-device fleet's records are generated on the other core while this one decodes and shows them."""

    def __init__(self, config: Config, state: StateStore, snapshots: SnapshotStore, *, size: int,
                 history: bool) -> None:
        self._connections = dict(config.connections)  # the demo's own: a profile added later gets no console
        self._state, self._snapshots, self._size, self._history = state, snapshots, size, history
        self._lock = threading.Lock()
        self._built: dict[str, httpx.AsyncBaseTransport] = {}
        self._processes: list[SimulatorProcess] = []

    def __getitem__(self, name: str) -> httpx.AsyncBaseTransport:
        if name not in self._connections:
            raise KeyError(name)
        with self._lock:
            if name not in self._built:
                if self._history:
                    built, _ = simulate(self._connections, self._state, self._snapshots, size=self._size,
                                        history=True)
                    self._built.update(built)
                else:
                    self._built[name] = self._child_console(self._connections[name])
        return self._built[name]

    def _child_console(self, connection: Connection) -> httpx.AsyncBaseTransport:
        from tui.simulators.process import SimulatorProcess

        served = SimulatorProcess.start(connection.vendor, size=self._size, seed=DEMO_SEED)
        self._processes.append(served)
        remember_lists(self._state, connection.name, served.lists, None)
        return served.transport()

    def close(self) -> None:
        """End the consoles' child processes (they also end when this process does)."""
        for served in self._processes:
            served.stop()
        self._processes.clear()

    def __contains__(self, name: object) -> bool:
        return name in self._connections

    def __iter__(self) -> Iterator[str]:
        return iter(self._connections)

    def __len__(self) -> int:
        return len(self._connections)
