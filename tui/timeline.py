"""The events of one time window, newest first, kept so that a timeline of 100,000 events stays fluid.

Events keep the row they arrived in (`events[row]`); `order` lists the rows newest first. A page is
merged where its times fall (Elements pages come in time order, each lands in one place; SEPM's one
unsorted answer is sorted once), so a page costs a copy of row numbers, never a sort of the window.
Each event's time (integer microseconds), severity and engine are kept per row when it arrives, and its search
text when the first search needs it, so filters, the search, the hour heads and the histogram work on integers and
strings, not records, in C-level passes.
Lists handed out are never changed afterwards: a new page makes new ones.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain, compress, repeat
from operator import attrgetter, contains, floordiv, sub

from tui.models import Event, Severity

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
HOUR = 3_600_000_000
"""An hour in microseconds."""
BY_RANK = sorted(Severity, key=lambda severity: severity.rank)
RANK = {severity: severity.rank for severity in Severity}


def search_key(event: Event) -> str:
    """What `/` looks in: title, message, device name and id, engine and category, case-folded."""
    return " ".join((event.title, event.message, event.device_name or "", event.device_id or "", event.engine,
                     event.category)).casefold()


def epoch_micros(moment: datetime) -> int:
    """An aware time as whole microseconds since the epoch: exact, so buckets match the datetimes' own."""
    return (moment - EPOCH) // MICROSECOND


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events the timeline shows; an empty filter shows them all."""

    severities: frozenset[Severity] = frozenset()
    """Only these severities; empty means all."""
    engine: str | None = None
    """Only this engine's events; None: every engine."""

    def within(self, other: EventFilter) -> bool:
        """Whether every event this filter keeps is kept by `other` (so its rows can be narrowed from other's)."""
        severities = not other.severities or bool(self.severities) and self.severities <= other.severities
        return severities and (other.engine is None or other.engine == self.engine)


class Timeline:
    """Every event of the window once (by connection and id), with the per-row columns filters read."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = []
        self._search: list[str] = []
        self.micros: list[int] = []
        self.ranks = bytearray()
        self.engine_of: list[str] = []
        self.engines: set[str] = set()
        self.order: list[int] = []
        """Every row, newest first; among equal times, the one that arrived first."""
        self._rows: dict[tuple[str, str], int] = {}
        self._selected: tuple[EventFilter, list[int]] | None = None
        self._missing: tuple[list[int], str] | None = None
        """The last needle that matched none of these rows."""
        self._shown_ranks: dict[int, tuple[list[int], bytes]] = {}
        """The severity ranks of the last lists handed out, in their order, by id of the list (kept with it)."""
        self.add(events)

    def __len__(self) -> int:
        return len(self.events)

    def row_of(self, event: Event) -> int | None:
        return self._rows.get((event.connection, event.id))

    @property
    def search(self) -> list[str]:
        """Each row's search text, made when a search first asks (a window's first rows do not wait for it)."""
        keys = self._search
        if len(keys) < len(self.events):
            keys.extend(map(search_key, self.events[len(keys):]))
        return keys

    def add(self, events: Iterable[Event]) -> list[int]:
        """Merge the events not yet held into the order; the rows of those that were new."""
        first = len(self.events)
        events = list(events)
        keys = dict(zip(zip(map(attrgetter("connection"), events), map(attrgetter("id"), events)),
                        range(first, first + len(events))))
        if len(keys) == len(events) and self._rows.keys().isdisjoint(keys):  # the usual page: every event new
            self._rows.update(keys)
            self.events.extend(events)
        else:
            for event in events:
                key = (event.connection, event.id)
                if key not in self._rows:
                    self._rows[key] = len(self.events)
                    self.events.append(event)
        new = self.events[first:]
        self.micros.extend(map(floordiv, map(sub, map(attrgetter("time"), new), repeat(EPOCH)), repeat(MICROSECOND)))
        self.ranks.extend(map(RANK.__getitem__, map(attrgetter("severity"), new)))
        self.engine_of.extend(map(attrgetter("engine"), new))
        self.engines.update(self.engine_of[first:])
        added = list(range(first, len(self.events)))
        if added:
            newest_first = sorted(added, key=self.micros.__getitem__, reverse=True)
            self.order = self._merged(self.order, newest_first)
            if self._selected is not None:
                wanted, rows = self._selected
                self._selected = (wanted, self._merged(rows, self._keep(wanted, newest_first)))
        return added

    def _merged(self, rows: list[int], new: list[int]) -> list[int]:
        """Two lists of rows, newest first, as one new list; only the span of time they share is sorted."""
        if not new:
            return rows
        if not rows:
            return new
        times = self.micros

        def age(row: int) -> int:
            return -times[row]

        low = bisect.bisect_left(rows, age(new[0]), key=age)
        high = bisect.bisect_right(rows, age(new[-1]), lo=low, key=age)
        shared = sorted([*rows[low:high], *new], key=times.__getitem__, reverse=True)
        merged = [*rows[:low], *shared, *rows[high:]]
        known = self._shown_ranks.get(id(rows))
        if known is not None and known[0] is rows:  # the ranks in order are merged the same way
            ranks = known[1]
            self._remember_ranks(merged, ranks[:low] + bytes(map(self.ranks.__getitem__, shared)) + ranks[high:])
        return merged

    def _keep(self, wanted: EventFilter, rows: Sequence[int]) -> list[int]:
        """The rows the filter keeps, in their order: a byte lookup per severity, a string comparison per engine."""
        kept = list(rows)
        if wanted.severities:
            allowed = bytes(severity in wanted.severities for severity in BY_RANK)
            kept = list(compress(kept, map(allowed.__getitem__, map(self.ranks.__getitem__, kept))))
        if wanted.engine is not None:
            kept = list(compress(kept, map(wanted.engine.__eq__, map(self.engine_of.__getitem__, kept))))
        return kept

    def select(self, wanted: EventFilter) -> list[int]:
        """The rows the filter keeps, newest first; a stricter filter narrows the previous answer."""
        if wanted == EventFilter():
            self._selected = None
            return self.order
        last = self._selected
        if last is not None and last[0] == wanted:
            return last[1]
        rows = self._keep(wanted, last[1] if last is not None and wanted.within(last[0]) else self.order)
        self._selected = (wanted, rows)
        return rows

    def find(self, rows: list[int], needle: str, start: int, *, backwards: bool = False) -> int | None:
        """The first position in `rows` from `start` on (backwards: towards the top), wrapping round, whose search
        text holds the case-folded `needle`; None when none does.

        It reads only as far as the match, in C loops. Typing on after a needle that matched nothing in
        these rows finds nothing without reading them again.
        """
        missing = self._missing
        if not rows or missing is not None and missing[0] is rows and missing[1] in needle:
            return None
        count = len(rows)

        def positions() -> Iterator[int]:
            if backwards:
                return chain(range(start, -1, -1), range(count - 1, start, -1))
            return chain(range(start, count), range(start))

        keys = map(self.search.__getitem__, map(rows.__getitem__, positions()))
        found = next(compress(positions(), map(contains, keys, repeat(needle))), None)
        if found is None:
            self._missing = (rows, needle)
        return found

    def starts_hour(self, rows: list[int], row: int) -> bool:
        """Whether `row` is the first of its hour in `rows` (newest first); found by halving, so asking only
        for the rows on screen costs nothing however many there are."""
        times = self.micros
        position = bisect.bisect_left(rows, -times[row], key=lambda other: -times[other])
        if position == len(rows) or rows[position] != row:
            return False  # not shown, or after an event of the same time
        return position == 0 or times[rows[position - 1]] // HOUR != times[row] // HOUR

    def count(self, rows: list[int], severity: Severity) -> int:
        return self._ranks_of(rows).count(severity.rank)

    def histogram(self, rows: list[int], start: datetime, end: datetime, width: int) -> list[tuple[int, Severity]]:
        """(count, worst severity) per time bucket from `start` to `end`, oldest first, for rows newest first.

        An event's bucket is worked out as from its datetime (times outside fall in the end buckets); the
        buckets are runs of `rows`, so each is found by halving and its worst severity read from a byte string.
        """
        width = max(width, 1)
        origin = epoch_micros(start)
        length = (end - start).total_seconds() or 1.0
        times = self.micros

        def buckets_back(row: int) -> int:
            return -min(width - 1, max(0, int((times[row] - origin) / 10**6 / length * width)))

        shown = self._ranks_of(rows)
        buckets = [(0, Severity.UNKNOWN)] * width
        position = 0
        while position < len(rows):
            bucket = buckets_back(rows[position])
            end_of_run = bisect.bisect_right(rows, bucket, lo=position, key=buckets_back)
            buckets[-bucket] = (end_of_run - position, BY_RANK[min(shown[position:end_of_run])])
            position = end_of_run
        return buckets

    def _ranks_of(self, rows: list[int]) -> bytes:
        """The severity ranks of `rows` in their order, kept for the lists in use (the order, a selection)."""
        known = self._shown_ranks.get(id(rows))
        if known is not None and known[0] is rows:
            return known[1]
        ranks = bytes(map(self.ranks.__getitem__, rows))
        self._remember_ranks(rows, ranks)
        return ranks

    def _remember_ranks(self, rows: list[int], ranks: bytes) -> None:
        shown = self._shown_ranks
        shown[id(rows)] = (rows, ranks)
        while len(shown) > 2:
            del shown[next(iter(shown))]
