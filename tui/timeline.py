"""The events of one time window, newest first, kept so that a timeline of 100,000 events stays fluid.

Events keep the row they arrived in (`events[row]`); `order` lists the rows newest first. A page is
merged where its times fall (Elements pages come in time order, each lands in one place; SEPM's one
unsorted answer is sorted once), so a page costs a copy of row numbers, never a sort of the window.
Each event's time is kept per row as a timestamp, what the order is sorted and halved by. The severity
ranks and engine codes are kept in the order's order, as byte strings, so a filter is a byte translation and
one `compress` of the order, a count is `bytes.count` and the histogram's buckets are found by halving. What
the first rows do not show waits until it is asked for: the engines and their codes until the first engine
filter (or `e`), the search text until the first search.
Lists handed out are never changed afterwards: a new page makes new ones.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, KeysView
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat
from operator import attrgetter, contains

from tui.models import Event, Severity

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
HOUR = timedelta(hours=1)
BY_RANK = sorted(Severity, key=lambda severity: severity.rank)
RANK = {severity: severity.rank for severity in Severity}
KEPT_NEEDLES = 8
"""Needles whose matches are kept per rows searched (each up to a list as long as the rows)."""
SHARED_CODE = 255
"""Engines are coded by a byte in the order they are first seen; any after the first 255 share this last code
(an engine filter then tells them apart by name)."""


def search_key(event: Event) -> str:
    """What `/` looks in: title, message, device name and id, engine and category, case-folded."""
    return " ".join((event.title, event.message, event.device_name or "", event.device_id or "", event.engine,
                     event.category)).casefold()


def byte_table(keep: Iterable[bool]) -> bytes:
    """A `bytes.translate` table that maps each byte to 1 when `keep` says so (in byte order), else to 0."""
    return bytes(keep).ljust(256, b"\0")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events the timeline shows; an empty filter shows them all."""

    severities: frozenset[Severity] = frozenset()
    """Only these severities; empty means all."""
    engine: str | None = None
    """Only this engine's events; None: every engine."""


class Timeline:
    """Every event of the window once (by connection and id), with what the order and the filters read."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self.events: list[Event] = []
        self._search: list[str] = []
        self.stamps: list[float] = []
        """Each row's time as `datetime.timestamp` gives it, what the order is sorted and halved by: a float key
        sorts about three times as fast as a datetime, and the correctly rounded seconds of an aware time keep
        its order exactly (two times a microsecond apart stay apart up to the year 2242), so the histogram's
        buckets are also found by comparing them with the timestamp each bucket starts at. Whole hours are
        counted on the event's own datetime."""
        self._engine_codes: dict[str, int] = {}
        """Each engine's code (`SHARED_CODE` for engines after the first 255)."""
        self._codes = bytearray()
        """The engine code of each row, for the rows coded so far (see `_coded`)."""
        self.order: list[int] = []
        """Every row, newest first; among equal times, the one that arrived first."""
        self._order_ranks = b""
        """The severity rank of each row of `order`, position by position."""
        self._order_codes: bytes | None = None
        """The engine code of each row of `order`, made when an engine filter first asks and merged with the
        order after that."""
        self._rows: dict[str, dict[str, int]] = {}
        """Per connection, the row of each event id."""
        self._selected: tuple[EventFilter, list[int], list[int], bytes] | None = None
        """The last filter asked for, the order it was applied to, the rows it kept and their severity ranks."""
        self._needles: tuple[list[int], dict[str, list[int]]] = ([], {})
        """The rows last searched, and the matches of the last needles looked for in them."""
        self._starts: tuple[tuple[datetime, datetime, int], list[float]] | None = None
        """The histogram's last window and width, and the timestamps its buckets start at."""
        self.add(events)

    def __len__(self) -> int:
        return len(self.events)

    @property
    def connections(self) -> KeysView[str]:
        return self._rows.keys()

    @property
    def engines(self) -> KeysView[str]:
        """The engines of the window's events, gathered when first asked for (by `e`, not by the first rows)."""
        self._coded()
        return self._engine_codes.keys()

    def row_of(self, event: Event) -> int | None:
        rows = self._rows.get(event.connection)
        return None if rows is None else rows.get(event.id)

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
        self._hold(list(events))
        new = self.events[first:]
        if not new:
            return []
        self.stamps.extend(map(datetime.timestamp, map(attrgetter("time"), new)))
        added = list(range(first, len(self.events)))
        self._merge(sorted(added, key=self.stamps.__getitem__, reverse=True))
        return added

    def _hold(self, events: list[Event]) -> None:
        """Append the events not yet held (by connection and id) to `self.events`, each once, and note their
        rows: one dict of ids per connection, built whole for the usual page (one console's, every event new)."""
        first = len(self.events)
        connections = set(map(attrgetter("connection"), events))
        if len(connections) == 1:
            (connection,) = connections
            keys = dict(zip(map(attrgetter("id"), events), range(first, first + len(events))))
            rows = self._rows.get(connection)
            if len(keys) == len(events) and (rows is None or rows.keys().isdisjoint(keys.keys())):
                if rows is None:
                    self._rows[connection] = keys
                else:
                    rows.update(keys)
                self.events.extend(events)
                return
        for event in events:
            rows = self._rows.setdefault(event.connection, {})
            if event.id not in rows:
                rows[event.id] = len(self.events)
                self.events.append(event)

    def _after(self, row: int) -> float:
        """A key that grows along a list newest first, as `bisect` wants."""
        return -self.stamps[row]

    def _merge(self, new: list[int]) -> None:
        """Merge rows newest first into a new order (with its ranks and codes); only the span of time they share
        with the order is sorted."""
        order = self.order
        low = bisect.bisect_left(order, self._after(new[0]), key=self._after)
        high = bisect.bisect_right(order, self._after(new[-1]), lo=low, key=self._after)
        shared = sorted([*order[low:high], *new], key=self.stamps.__getitem__, reverse=True) if high > low else new
        self.order = [*order[:low], *shared, *order[high:]]
        ranks, codes = self._order_ranks, self._order_codes
        self._order_ranks = ranks[:low] + self._ranks(shared) + ranks[high:]
        if codes is not None:
            self._order_codes = codes[:low] + bytes(map(self._coded().__getitem__, shared)) + codes[high:]

    def _events_of(self, rows: list[int]) -> Iterator[Event]:
        return map(self.events.__getitem__, rows)

    def _ranks(self, rows: list[int]) -> bytes:
        return bytes(map(RANK.__getitem__, map(attrgetter("severity"), self._events_of(rows))))

    def _coded(self) -> bytearray:
        """Each row's engine code, made for the rows not coded yet, engines not seen yet taking the next codes."""
        codes, coded = self._engine_codes, self._codes
        if len(coded) < len(self.events):
            engines = list(map(attrgetter("engine"), self.events[len(coded):]))
            for engine in set(engines).difference(codes):
                codes[engine] = min(len(codes), SHARED_CODE)
            coded.extend(map(codes.__getitem__, engines))
        return coded

    def select(self, wanted: EventFilter) -> list[int]:
        """The rows the filter keeps, newest first: the same list while the filter and the order stay."""
        if wanted == EventFilter():
            return self.order
        last = self._selected
        if last is not None and last[0] == wanted and last[1] is self.order:
            return last[2]
        kept = self._kept(wanted)
        rows = list(compress(self.order, kept))
        self._selected = (wanted, self.order, rows, bytes(compress(self._order_ranks, kept)))
        return rows

    def _kept(self, wanted: EventFilter) -> bytes:
        """1 at each position of the order the filter keeps, else 0: a translation of the ranks, one of the
        codes, and the two as integers anded."""
        severities = byte_table(not wanted.severities or severity in wanted.severities for severity in BY_RANK)
        kept = int.from_bytes(self._order_ranks.translate(severities), "little")
        if wanted.engine is not None:
            kept &= int.from_bytes(self._engine_kept(wanted.engine), "little")
        return kept.to_bytes(len(self.order), "little")

    def _engine_kept(self, engine: str) -> bytes:
        if self._order_codes is None:
            self._order_codes = bytes(map(self._coded().__getitem__, self.order))
        code = self._engine_codes.get(engine)
        if code is None:
            return bytes(len(self.order))
        if code < SHARED_CODE:
            return self._order_codes.translate(byte_table(byte == code for byte in range(256)))
        return bytes(map(engine.__eq__, map(attrgetter("engine"), self._events_of(self.order))))

    def matches(self, rows: list[int], needle: str) -> list[int]:
        """The positions in `rows` whose search text holds the case-folded `needle`, in order.

        The last few needles asked of the same rows are kept with their matches: deleting back costs nothing,
        and a needle that holds a kept one (typing on) is looked for only among that one's matches.
        """
        if self._needles[0] is not rows:
            self._needles = (rows, {})
        kept = self._needles[1]
        found = kept.get(needle)
        if found is None:
            wider = min((matched for known, matched in kept.items() if known in needle), key=len, default=None)
            among = range(len(rows)) if wider is None else wider
            texts = map(self.search.__getitem__, map(rows.__getitem__, among))
            found = kept[needle] = list(compress(among, map(contains, texts, repeat(needle))))
            while len(kept) > KEPT_NEEDLES:
                del kept[next(iter(kept))]
        return found

    def find(self, rows: list[int], needle: str, start: int, *, backwards: bool = False) -> int | None:
        """The first position in `rows` from `start` on (backwards: towards the top), wrapping round, whose search
        text holds the case-folded `needle`; None when none does. Found by halving the needle's `matches`."""
        found = self.matches(rows, needle)
        if not found:
            return None
        if backwards:
            return found[bisect.bisect_right(found, start) - 1]  # none above: -1, the last
        at = bisect.bisect_left(found, start)
        return found[at] if at < len(found) else found[0]

    def starts_hour(self, rows: list[int], row: int) -> bool:
        """Whether `row` is the first of its hour in `rows` (newest first); found by halving, so asking only
        for the rows on screen costs nothing however many there are."""
        position = bisect.bisect_left(rows, self._after(row), key=self._after)
        if position == len(rows) or rows[position] != row:
            return False  # not shown, or after an event of the same time
        events = self.events
        return position == 0 or (events[rows[position - 1]].time - EPOCH) // HOUR != (events[row].time - EPOCH) // HOUR

    def count(self, rows: list[int], severity: Severity) -> int:
        return self._ranks_of(rows).count(severity.rank)

    def histogram(self, rows: list[int], start: datetime, end: datetime, width: int) -> list[tuple[int, Severity]]:
        """(count, worst severity) per time bucket from `start` to `end`, oldest first, for rows newest first.

        An event's bucket is worked out as from its datetime (times outside fall in the end buckets). Where each
        bucket starts is worked out once per window and width, as a timestamp; the rows from there on are
        found by halving `rows`, and each bucket's worst severity looked for in a byte string.
        """
        width = max(width, 1)
        starts = self._bucket_starts(start, end, width)
        shown = self._ranks_of(rows)
        buckets = [(0, Severity.UNKNOWN)] * width
        newer = 0  # rows in the buckets after this one
        for bucket in range(width - 1, -1, -1):
            from_here = bisect.bisect_right(rows, -starts[bucket - 1], lo=newer, key=self._after) if bucket else len(rows)
            if from_here > newer:
                worst = next(severity for severity in BY_RANK if shown.find(severity.rank, newer, from_here) >= 0)
                buckets[bucket] = (from_here - newer, worst)
            newer = from_here
        return buckets

    def _bucket_starts(self, start: datetime, end: datetime, width: int) -> list[float]:
        """The timestamp of the first microsecond of each bucket after the first, by the histogram's own sum
        (a time's microseconds from `start` over the window's seconds, times the width, whole); kept for the
        last window and width."""
        known = self._starts
        if known is not None and known[0] == (start, end, width):
            return known[1]
        length = (end - start).total_seconds() or 1.0
        if length < 0:
            raise ValueError(f"A histogram's window ends ({end}) before it starts ({start}).")

        def bucket(micros: int) -> int:
            return int(micros / 10**6 / length * width)

        starts = []
        for wanted in range(1, width):
            micros = int(wanted * length * 10**6 / width)  # within a microsecond or two of the first one
            while bucket(micros - 1) >= wanted:
                micros -= 1
            while bucket(micros) < wanted:
                micros += 1
            starts.append((start + micros * MICROSECOND).timestamp())
        self._starts = ((start, end, width), starts)
        return starts

    def _ranks_of(self, rows: list[int]) -> bytes:
        """The severity ranks of `rows` in their order: kept for the order and the last selection."""
        if rows is self.order:
            return self._order_ranks
        selected = self._selected
        if selected is not None and selected[2] is rows:
            return selected[3]
        return self._ranks(rows)
