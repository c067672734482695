"""Loading one window of events from some consoles, without Textual: the merged timeline, what the consoles
said (notes, failures, why a client waits), the live tail's bookkeeping, and the status in words.

A load is started per window (a reload forgets what the tail marked new); each console's pages are merged
into a `Timeline` (tui/timeline.py) as they arrive. The live tail asks every console for the events after the
window's end, which then moves to the poll's time, and marks the rows it brought. The events screen feeds it
what its workers post and shows what `progress` says; tests drive it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tui.fleet_load import Progress
from tui.models import EventPage, EventWindow, left_out
from tui.polling import poll_words
from tui.timeline import Timeline
from tui.vendors.base import NotAvailableError

TAIL_EVERY = 10.0
"""Seconds between live-tail polls (the Elements EDR limit is 300 requests a minute for the whole tenant)."""


class EventsLoad:
    """The events of one window from some consoles, and the state of their load and of the live tail."""

    def __init__(self, names: Sequence[str], window: EventWindow) -> None:
        self.names = list(names)
        self.window = window
        self.timeline = Timeline()
        self.fresh: set[int] = set()
        """Rows of the events the live tail brought, marked until the next load."""
        self.notes: list[str] = []
        """Sentences about a source that is not available, said once each; not errors."""
        self.failures: list[str] = []
        self.waiting: dict[str, str] = {}
        """Per console, why its client pauses (a rate limit, a retry) while it does."""
        self.skipped = self.repaired = 0
        """Items of the window that were left out or repaired (Elements: no id, bytes that are not UTF-8)."""
        self.generation = 0
        """Which load the pages belong to: a page of a load that was replaced (an older generation) is dropped."""
        self.pending = 0
        """Consoles whose listing of the window has not ended yet."""
        self.tailing = False
        self.tail_since: datetime | None = None
        """When the tail was switched on (for "first poll in 7 s")."""
        self.tail_polled_at: datetime | None = None
        """When the last tail poll came back."""
        self.tail_found = 0
        """Events the last tail poll brought (shown as "0 new")."""
        self._found = 0
        """Events the running tail poll has brought so far."""
        self._tail_running = 0
        """Consoles the running tail poll still waits for."""

    def start(self, window: EventWindow) -> None:
        """Begin loading `window` from every console; what was loaded, said and marked new is forgotten."""
        self.generation += 1
        self.window = window
        self.timeline, self.fresh = Timeline(), set()
        self.notes, self.failures, self.waiting = [], [], {}
        self.skipped = self.repaired = 0
        self.pending = len(self.names)

    def take(self, page: EventPage, *, tail: bool = False) -> None:
        """Merge a page of a console's events (`tail`: brought by the live tail, its new rows marked)."""
        self.notes.extend(note for note in page.notes if note not in self.notes)
        self.skipped, self.repaired = self.skipped + page.skipped, self.repaired + page.repaired
        added = self.timeline.add(page.events)
        if tail:
            self.fresh.update(added)
            self._found += len(added)

    def console_waiting(self, name: str, reason: str | None) -> None:
        """A console's client pauses and says why (None: it goes on)."""
        if reason:
            self.waiting[name] = reason
        else:
            self.waiting.pop(name, None)

    def console_done(self, error: BaseException | None) -> None:
        """One console's listing of the window ended, failed with `error` when not None."""
        self.pending -= 1
        self._said(error)

    def tail_done(self, error: BaseException | None, now: datetime) -> None:
        """One console's tail poll ended (or was cancelled); the poll came back when the last one did."""
        self._tail_running = max(0, self._tail_running - 1)
        if not self._tail_running:
            self.tail_polled_at, self.tail_found = now, self._found
        self._said(error)

    def _said(self, error: BaseException | None) -> None:
        """A source the console does not offer is a note; any other error a failure."""
        if isinstance(error, NotAvailableError):
            self.notes.append(str(error))
        elif error is not None:
            self.failures.append(str(error))

    def toggle_tail(self, now: datetime) -> bool:
        """Switch the live tail on or off; whether it is on now. Its clock starts again either way."""
        self.tailing = not self.tailing
        self.tail_since, self.tail_polled_at, self.tail_found = now, None, 0
        return self.tailing

    def poll_tail(self, now: datetime) -> EventWindow:
        """A tail poll begins: the window to ask each console for (from the window's end to `now`); the
        window shown now ends at `now`."""
        assert self.window.end is not None
        since = EventWindow(start=self.window.end, end=now)
        self.window = EventWindow(start=self.window.start, end=now)
        self._found, self._tail_running = 0, len(self.names)
        return since

    def tail_words(self, now: datetime) -> str:
        """"live tail: polled 3 s ago · next in 7 s · 0 new"; nothing while not tailing."""
        if not self.tailing:
            return ""
        if self._tail_running:
            when = "polling now"
        else:
            when = poll_words(now, self.tail_polled_at, TAIL_EVERY, waiting_since=self.tail_since)
        found = f" · {self.tail_found:,} new" if self.tail_polled_at is not None else ""
        return f"live tail: {when}{found}"

    def progress(self, now: datetime, matches: str = "") -> Progress:
        """The status line: the first failure, else the consoles' notes, else how far the load got and why a
        client waits, else the events of the window; with the tail's words and `matches` (the search's)."""
        tail = f" · {self.tail_words(now)}" if self.tailing else ""
        if self.failures:
            return Progress(f"Some events could not be loaded: {self.failures[0]} ctrl+r retries.", error=True)
        if self.notes:
            return Progress(" ".join(self.notes) + tail + matches, warning=True)
        if self.pending:
            waits = "".join(f" · {reason}" for reason in self.waiting.values())
            return Progress(f"Loading events … {len(self.timeline):,} so far{waits}{tail}{matches}",
                            warning=bool(waits))
        said = left_out(self.skipped, self.repaired, "event")
        left = f" ({'; '.join(said)})" if said else ""
        count = len(self.timeline)
        events = f"{count:,} event{'' if count == 1 else 's'} in the window{left}"
        if self.tailing:  # first, so that at 80 columns the tail's clock is what shows
            return Progress(f"{self.tail_words(now).capitalize()} · {events}{matches}")
        return Progress(f"{events} · 1-4 window · enter details{matches}")
