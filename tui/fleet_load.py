"""Loading one console, or several merged, into an inventory, without Textual: what has arrived, what is
shown, and how far each console got, said in words.

The first load streams its pages into the inventory shown; a refresh fills a fresh inventory that is swapped
in only when every console has answered, so the table never shrinks to a partial fleet and a failed refresh
leaves the last good data shown, said to be stale. The groups screen drives it from its workers
(`load_console` yields each step) and shows what it says; tests drive it directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING

from tui.export import age_text
from tui.inventory import Inventory
from tui.models import DevicePage, Group, ServerInfo, left_out

if TYPE_CHECKING:  # the snapshot store (KeptFleet) is opened before the first frame; the clients load later
    from tui.vendors.base import VendorClient
    from tui.vendors.facets import LabelMembership


@dataclass(frozen=True, slots=True)
class KeptFleet:
    """A complete load of some consoles, kept for the session: opening them again shows it at once while
    a refresh runs behind."""

    inventory: Inventory
    groups: dict[str, list[Group]]
    servers: dict[str, ServerInfo]
    labels_known: dict[str, set[str]]
    loaded_at: datetime
    snapshot: bool = False
    """Read from the snapshot store (an earlier run's load), not loaded in this session."""


@dataclass(slots=True)
class ConsoleProgress:
    """How far one console's listing has got in the current load."""

    loaded: int = 0
    total: int | None = None
    done: bool = False
    error: BaseException | None = None
    waiting: str | None = None
    skipped: int = 0
    """Items the console listed that are no device (no id): left out, said once."""
    repaired: int = 0
    """Devices whose text held bytes that are not UTF-8, kept with those bytes replaced."""
    label_members: int | None = None
    """While label members are being fetched (EPMM), how many have arrived."""

    def left_out_words(self) -> str:
        """What the console sent that is not shown as it came: items that are no device, repaired text."""
        said = left_out(self.skipped, self.repaired, "device")
        return f" ({'; '.join(said)})" if said else ""


class PageKind(Enum):
    LISTING = "listing"
    """A page of the console's full listing: counted."""
    AHEAD = "ahead"
    """A page of a filtered listing fetched ahead of the full one during the first load: shown, not counted."""
    LABELS = "labels"
    """A page of label members (EPMM): devices again, now known by a label; not counted."""


@dataclass(frozen=True, slots=True)
class Step:
    """What one console's load brought: its server info, its groups, or a page of devices."""

    info: ServerInfo | None = None
    groups: list[Group] | None = None
    page: DevicePage | None = None
    kind: PageKind = PageKind.LISTING


async def load_console(client: VendorClient, known_labels: Sequence[str]) -> AsyncIterator[Step]:
    """One console's load: what it is, its groups, every device; then, for a console whose devices do not
    list their labels, the members of the labels opened before (a refresh learns again what they hold)."""
    from tui.vendors.facets import LabelMembership  # loaded with `client`'s module by now

    yield Step(info=await client.probe())
    yield Step(groups=await client.groups())
    async for page in client.devices():
        yield Step(page=page)
    if known_labels and isinstance(client, LabelMembership):
        async for page in client.label_devices(known_labels):
            yield Step(page=page, kind=PageKind.LABELS)


@dataclass(frozen=True, slots=True)
class Progress:
    """What the load says: one status line, and a problem for the device pane when nothing is shown."""

    words: str
    error: bool = False
    warning: bool = False
    pane_problem: str | None = None


class FleetLoad:
    """The devices, groups and servers of some consoles, and the state of their current load."""

    def __init__(self, names: Sequence[str], *, clock: Callable[[], datetime] | None = None,
                 kept: KeptFleet | None = None) -> None:
        self.names = list(names)
        self.fleets = len(self.names) > 1
        self.clock = clock or (lambda: datetime.now(UTC))
        self.inventory = kept.inventory if kept else Inventory()
        self.incoming: Inventory | None = None
        """The inventory a refresh fills, shown once every console has answered."""
        self.servers: dict[str, ServerInfo] = dict(kept.servers) if kept else {}
        self.groups: dict[str, dict[tuple[str, ...], Group]] = {}
        """Per console, its groups by path (a tree node's scope names a path)."""
        for name, groups in (kept.groups.items() if kept else ()):
            self.learn_groups(name, groups)
        self.labels_known: dict[str, set[str]] = kept.labels_known if kept else {}
        """Per console, the labels whose members the inventory holds (fetched when opened; EPMM)."""
        self.loaded_at: datetime | None = kept.loaded_at if kept else None
        """When the devices shown were completely loaded (a kept fleet's time when it was reopened)."""
        self.from_snapshot = kept.snapshot if kept else False
        """The devices shown are a snapshot of an earlier run: when the console cannot be reached, STALE."""
        self.consoles: dict[str, ConsoleProgress] = {}
        self.generation = 0
        """Which load the steps belong to: a step of a cancelled load (an older generation) is dropped."""

    @property
    def loading(self) -> bool:
        return any(not state.done for state in self.consoles.values())

    @property
    def failed(self) -> bool:
        return any(state.error is not None for state in self.consoles.values())

    def start(self) -> bool:
        """Begin a load (a refresh when devices are shown); True when the shown inventory was replaced by an
        empty one because the last load failed part-way (its devices are no "last good load" to keep)."""
        self.generation += 1
        replaced = self.incoming is None and self.failed
        if replaced:
            self.inventory = Inventory()
        self.incoming = Inventory() if len(self.inventory) else None
        self.consoles = {name: ConsoleProgress() for name in self.names}
        return replaced

    def learn_groups(self, name: str, groups: list[Group]) -> None:
        self.groups[name] = {group.path: group for group in groups}

    def take(self, name: str, step: Step) -> bool:
        """Take one step of a console's load (its server, its groups or a page); True when the devices shown
        changed."""
        if step.info is not None:
            self.servers[name] = step.info
        if step.groups is not None:
            self.learn_groups(name, step.groups)
        return step.page is not None and self.add_page(name, step.page, step.kind)

    def add_page(self, name: str, page: DevicePage, kind: PageKind) -> bool:
        """Take a page of devices; True when the devices shown changed."""
        state = self.consoles[name]
        if kind is PageKind.LABELS:
            for inventory in (self.inventory, self.incoming):
                if inventory is not None:
                    inventory.add(page.devices)
            if state.label_members is not None:
                state.label_members += len(page.devices)
            return True
        if kind is PageKind.AHEAD:
            if self.incoming is not None or state.done:
                return False
            self.inventory.add(page.devices)
            return True
        state.loaded, state.total, state.waiting = state.loaded + len(page.devices), page.total, None
        state.skipped += page.skipped
        state.repaired += page.repaired
        if self.incoming is not None:
            self.incoming.add(page.devices)
            return False
        self.inventory.add(page.devices)
        return True

    def labels_loaded(self, name: str, group_ids: Sequence[str]) -> set[str]:
        """Every member of these labels has arrived; returns the labels now known for the console."""
        known = self.labels_known.setdefault(name, set())
        known.update(group_ids)
        self.consoles[name].label_members = None
        return known

    def labels_wanted(self, name: str, group: Group | None, source: LabelMembership) -> list[str]:
        """The labels a highlighted group stands for whose members are not known yet (none for no group);
        when there are some, the console counts label members from now on."""
        known = self.labels_known.setdefault(name, set())
        wanted = [label for label in source.label_ids(group.id) if label not in known] if group else []
        if wanted:
            self.consoles[name].label_members = 0
        return wanted

    def console_done(self, name: str, error: BaseException | None) -> bool:
        """One console's listing ended; True the first time it is said (a late word is ignored)."""
        state = self.consoles[name]
        if state.done:
            return False
        state.done, state.error = True, error
        return True

    def finish(self) -> KeptFleet | None:
        """Every console answered: swap in a refresh that fully succeeded; the fleet to keep, when complete."""
        if self.failed:
            return None
        if self.incoming is not None:
            self.inventory, self.incoming = self.incoming, None
        self.loaded_at = self.clock()
        self.from_snapshot = False
        return KeptFleet(self.inventory, {name: list(groups.values()) for name, groups in self.groups.items()},
                         self.servers, self.labels_known, self.loaded_at)

    def kept_words(self) -> str:
        """"14:02 UTC, 3m ago": when the devices shown were loaded."""
        if self.loaded_at is None:
            return ""
        return f"{self.loaded_at.astimezone(UTC):%H:%M} UTC, {age_text(self.loaded_at, self.clock())} ago"

    def progress(self) -> Progress:
        """Each console's progress in words; a failure, once every console has answered, in a sentence that
        says whether what is shown is stale or partial and what to do."""
        loading = self.loading
        parts = []
        problem = None
        for name, state in self.consoles.items():
            who = f"{name} " if self.fleets else (f"{self.servers[name].title} · " if name in self.servers else "")
            if state.error is not None:
                problem = problem or (name, state.error)
                parts.append(f"{who}failed")
            elif state.waiting:
                parts.append(f"{who}{state.waiting}")
            elif state.done:
                parts.append(f"{who}{state.loaded:,} devices{state.left_out_words()}")
            else:
                total = f" / {state.total:,}" if state.total is not None else ""
                kept = f"from {self.kept_words()} · " if self.loaded_at is not None else ""
                refreshing = f"{kept}refreshing " if self.incoming is not None else ""
                parts.append(f"{who}{refreshing}{state.loaded:,}{total} loaded{state.left_out_words()} …")
            if state.label_members is not None and state.error is None:
                parts.append(f"{who if self.fleets else ''}label members: {state.label_members:,} loaded …")
        if problem is not None and not loading:
            name, error = problem
            where = f"{name}: " if self.fleets else ""
            pane = None if len(self.inventory) else f"{where}{error} ctrl+r retries, q goes back."
            if self.incoming is not None:
                kept = f" ({self.kept_words()})" if self.loaded_at else ""
                if self.from_snapshot:
                    return Progress(f"STALE: snapshot from {self.kept_words()}. The console could not be reached: "
                                    f"{where}{error} ctrl+r retries.", error=True, pane_problem=pane)
                return Progress(f"Refresh failed: {where}{error} Showing the devices of the last load{kept}. "
                                "ctrl+r retries.", error=True, pane_problem=pane)
            shown = len(self.inventory)
            partial = f"{shown:,} device{' shown is' if shown == 1 else 's shown are'} PARTIAL. " if shown else ""
            return Progress(f"Load failed: {where}{error} {partial}ctrl+r retries, q goes back.", error=True,
                            pane_problem=pane)
        return Progress(" · ".join(parts), warning=any(state.waiting for state in self.consoles.values()))
