"""The fingerprint lists a SEPM connection knows, read from the console without Textual: which lists are shown,
which one is chosen, how many a failed read left out, and the summary in words.

SEPM documents no call that lists every fingerprint list, so the lists shown are those the connection opened
before (remembered in the state file, tui/state.py), each read again by id; a list gone from the console is
forgotten, said once. The fingerprint screen runs `read_known` in its worker, feeds `FingerprintLoad` what it
yields and what is opened, changed or deleted, and shows what it says; tests drive it directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from tui.models import FingerprintList
from tui.state import KnownList, StateStore
from tui.vendors.base import NotFoundError, VendorError
from tui.vendors.facets import FingerprintLists


@dataclass(frozen=True, slots=True)
class KnownRead:
    """One step of reading the known lists: a list as the console has it, a list gone from the console (now
    forgotten), or, when the reading stops on a failure, how many lists it did not read."""

    listing: FingerprintList | None = None
    gone: KnownList | None = None
    unloaded: int = 0

    def notice(self) -> str | None:
        """What to tell the user once: a known list that is no longer on the console was forgotten."""
        if self.gone is None:
            return None
        return f"The list {self.gone.name!r} is no longer on the console; forgotten."


async def read_known(source: FingerprintLists, state: StateStore, connection: str) -> AsyncIterator[KnownRead]:
    """Every list `connection` knows, read by id, most recently used first; a list gone from the console is
    forgotten. A failure is raised after saying how many lists were not read, so the lists shown are said to
    be only part of them."""
    known_lists = state.known_lists(connection)
    for position, known in enumerate(known_lists):
        try:
            listing = await source.fingerprint_list_by_id(known.id)
        except NotFoundError:
            state.forget_list(connection, known.id)
            yield KnownRead(gone=known)
            continue
        except VendorError:
            yield KnownRead(unloaded=len(known_lists) - position)
            raise
        yield KnownRead(listing=listing)


class FingerprintLoad:
    """The lists shown (by name), the one whose hashes are shown, and what a failed read left out."""

    def __init__(self) -> None:
        self.lists: list[FingerprintList] = []
        self.chosen: FingerprintList | None = None
        """The list whose hashes are shown."""
        self.unloaded = 0
        """Known lists a failed read did not read: the lists shown are then only part of them."""
        self.generation = 0
        """Which reading of the known lists a step belongs to: a step of a reading started again is dropped."""

    def start(self) -> None:
        """Read the known lists again: none is shown until it arrives (the chosen one stays chosen)."""
        self.generation += 1
        self.lists, self.unloaded = [], 0

    def take(self, read: KnownRead) -> bool:
        """One step of reading the known lists; True when it brought the chosen list."""
        if read.unloaded:
            self.unloaded = read.unloaded
        return read.listing is not None and self.opened(read.listing)

    def opened(self, listing: FingerprintList) -> bool:
        """A list was read (opened, created or changed): shown in name order in place of what it was, and
        chosen when none is or it was; True when it is the chosen list."""
        self.lists = [item for item in self.lists if item.id != listing.id] + [listing]
        self.lists.sort(key=lambda item: item.name.casefold())
        if self.chosen is None or self.chosen.id == listing.id:
            self.chosen = listing
        return self.chosen is listing

    def deleted(self, listing: FingerprintList) -> None:
        """A list was deleted from the console: no longer shown; when it was chosen, the first list is."""
        self.lists = [item for item in self.lists if item.id != listing.id]
        if self.chosen is not None and self.chosen.id == listing.id:
            self.chosen = self.lists[0] if self.lists else None

    def row_of(self, listing: FingerprintList) -> int | None:
        """Where the list (by id) is shown, for a table that keeps its cursor on it."""
        return next((row for row, item in enumerate(self.lists) if item.id == listing.id), None)

    def holding(self, wanted: str | None) -> list[int]:
        """The rows of the lists that hold the hash `wanted` (every row when no hash is looked for)."""
        return [row for row, item in enumerate(self.lists) if wanted is None or wanted in item.hashes]

    def summary(self, wanted: str | None) -> str:
        """The line above the tables: how many lists are known (PARTIAL after a failed read), and which hold
        the hash `wanted`, or the chosen list's size, or how to open one."""
        lists, chosen = self.lists, self.chosen
        known = f"{len(lists)} known list{'s' if len(lists) != 1 else ''}"
        if self.unloaded:
            known += f" (PARTIAL: {self.unloaded} more not loaded, ctrl+r retries)"
        if wanted is not None:
            rows = self.holding(wanted)
            names = ", ".join(lists[row].name for row in rows)
            return f"{wanted[:12]}… is on {len(rows)} of the {known}" + (f": {names}" if names else
                   " (SEPM cannot search lists nobody opened: o opens one by name).")
        if chosen is not None:
            return f"{known} · {chosen.name}: {len(chosen.hashes):,} hashes · {chosen.description or ''}"
        return f"{known}. o opens a list by name; SEPM cannot list them all."
