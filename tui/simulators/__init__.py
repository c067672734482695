"""Loopback simulators of the three vendor APIs: generated fleets, real shapes, injectable faults."""

from __future__ import annotations

import importlib
import random
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from _typeshed import SupportsLenAndGetItem

# vendor -> (module, fleet class, simulator class); every module also has create_app, DEMO_USERNAME, DEMO_PASSWORD.
_SIMULATORS = {
    "sepm": ("tui.simulators.sepm", "SepmFleet", "SepmSimulator"),
    "epmm": ("tui.simulators.epmm", "EpmmFleet", "EpmmSimulator"),
    "elements": ("tui.simulators.elements", "ElementsFleet", "ElementsSimulator"),
}
SIMULATED_VENDORS = tuple(_SIMULATORS)
DEMO_CREDENTIALS = {
    "sepm": ("admin", "demo-password"),
    "epmm": ("admin", "demo-password"),
    # The Elements client id is shaped like the seed's `fusion_aae404cb18404fabcede`.
    "elements": ("fusion_5e1f0c2a9b7d4e3f8a61", "demo-client-secret"),
}
"""The account each simulator accepts (its module's DEMO_USERNAME, DEMO_PASSWORD): here, so `epx --demo` lists
its connections before any simulator module (and starlette) is imported."""
T = TypeVar("T")
MAX_FLEET = 200_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = 60_000
HOUR = 60 * MINUTE
DAY = 24 * HOUR
"""Milliseconds, the unit of the simulated consoles' timestamps and ages."""


class Draw(random.Random):
    """The simulators' random source: `random.Random` with `randint` and `choice` drawn in one step.

    Each draws below the width as CPython 3.11's do (`_randbelow_with_getrandbits`: the width's bit length
    from `getrandbits`, again while out of range), so a seed gives the same fleet as before, without the
    argument checks that were half of a record's cost (a 100,000-device SEPM fleet makes 2.5 million draws).
    Defined here, the draws stay the same whatever a later Python does inside `random`.
    """

    def _below(self, width: int) -> int:
        bits = width.bit_length()
        drawn = self.getrandbits(bits)
        while drawn >= width:
            drawn = self.getrandbits(bits)
        return drawn

    def randint(self, a: int, b: int) -> int:
        return a + self._below(b - a + 1)

    def choice(self, seq: SupportsLenAndGetItem[T]) -> T:
        return seq[self._below(len(seq))]


def distinct_seeds(rng: random.Random, count: int) -> array[int]:
    """One 32-bit seed per device, none twice: two devices grown from one seed would be twins with one id."""
    seeds: array[int] = array("I")
    seen: set[int] = set()
    for _ in range(count):
        seed = rng.getrandbits(32)
        while seed in seen:
            seed = rng.getrandbits(32)
        seen.add(seed)
        seeds.append(seed)
    return seeds


def fleet_clock(now: datetime | None) -> tuple[datetime, int]:
    """A fleet's fixed "now" (aware UTC; naive means UTC; None means the current time) and it in epoch ms.

    Every timestamp of a fleet derives from it, so a fixed `now` gives byte-identical answers.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return now, (now - EPOCH) // timedelta(milliseconds=1)


@dataclass(slots=True)
class Simulated:
    """A ready simulator: the ASGI app, the state behind it, and the credentials it accepts."""

    app: Any
    simulator: Any
    username: str
    password: str

    @property
    def fingerprint_lists(self) -> list[dict[str, Any]]:
        """The fingerprint list records a user of this console would have opened: SEPM's, which its API cannot
        list (a client knows a list by having opened it); none on the other consoles."""
        hash_actions = getattr(self.simulator, "hash_actions", None)
        return list(hash_actions.lists.values()) if hash_actions is not None else []


def event_log_of(simulator: Any, build: Callable[[Any], T]) -> T:
    """The simulator's event log, `build(simulator.fleet)` on first use, kept while it serves the same fleet."""
    log = getattr(simulator, "_event_log", None)
    if log is None or log.fleet is not simulator.fleet:
        log = simulator._event_log = build(simulator.fleet)
    return log


def build_simulator(vendor: str, *, size: int = 500, seed: int = 7, now: datetime | None = None) -> Simulated:
    module_name, fleet_class, simulator_class = _SIMULATORS[vendor]
    module = importlib.import_module(module_name)
    simulator = getattr(module, simulator_class)(getattr(module, fleet_class)(size=size, seed=seed, now=now))
    return Simulated(module.create_app(simulator), simulator, module.DEMO_USERNAME, module.DEMO_PASSWORD)
