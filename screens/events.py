"""The event timeline of the open consoles: newest first, grouped by hour, a histogram across the top.

Events of the window are loaded per console in background workers and merged by time. Severity and
engine filters narrow the list; `/` searches (n / N jump between matches) without hiding the context
around a match. The live tail polls for events newer than the last poll on a re-armed timer that
waits while a dialog is open, marks what is new, and never moves the cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, WorkerState

from screens.base import ExplorerScreen
from screens.event_detail import EventDetailScreen
from tui.models import Device, Event, EventPage, EventWindow, Severity
from tui.vendors.base import NotAvailableError, VendorClient
from widgets.status_line import StatusLine
from widgets.virtual_table import PLAIN, Column, VirtualTable
from widgets.window_prompt import WindowPrompt

PRESETS = {"1": timedelta(minutes=15), "2": timedelta(hours=1), "3": timedelta(hours=24), "4": timedelta(days=7)}
TAIL_EVERY = 10.0
"""Seconds between live-tail polls (the Elements EDR limit is 300 requests a minute for the whole tenant)."""
MODAL_RETRY = 2.0
SEVERITY_CELLS = {
    Severity.CRITICAL: ("● crit", Style(color="red", bold=True)),
    Severity.WARNING: ("▲ warn", Style(color="yellow")),
    Severity.INFO: ("· info", Style(color="cyan")),
    Severity.UNKNOWN: ("? unkn", Style(dim=True)),
}
SEVERITY_STEPS = (frozenset(), frozenset({Severity.CRITICAL, Severity.WARNING}), frozenset({Severity.CRITICAL}))
"""What `v` cycles through: every severity, warning and worse, critical only."""
BARS = " ▁▂▃▄▅▆▇█"


def span_text(span: timedelta) -> str:
    """"15 min", "1 h", "24 h", "7 d": the way the presets are named."""
    minutes = int(span.total_seconds() // 60)
    if minutes >= 2 * 1440 and not minutes % 1440:
        return f"{minutes // 1440} d"
    return f"{minutes // 60} h" if minutes >= 60 and not minutes % 60 else f"{minutes} min"


def histogram(events: Sequence[Event], window: EventWindow, width: int) -> Text:
    """Counts per time bucket across the window, oldest left; each bar coloured by its worst severity."""
    assert window.start is not None and window.end is not None
    width = max(width, 1)
    counts = [0] * width
    worst = [Severity.UNKNOWN] * width
    length = (window.end - window.start).total_seconds() or 1.0
    for event in events:
        bucket = min(width - 1, max(0, int((event.time - window.start).total_seconds() / length * width)))
        counts[bucket] += 1
        if event.severity.rank < worst[bucket].rank:
            worst[bucket] = event.severity
    top = max(counts) or 1
    bars = Text()
    for count, severity in zip(counts, worst, strict=True):
        level = 0 if not count else max(1, round(count / top * (len(BARS) - 1)))
        bars.append(BARS[level], style=SEVERITY_CELLS[severity][1] if count else PLAIN)
    return bars


class EventsScreen(ExplorerScreen):
    """One window of events from one or more consoles."""

    BINDINGS = [
        Binding("1", "window('1')", "15 min", show=False, tooltip="The last 15 minutes"),
        Binding("2", "window('2')", "1 h", show=False, tooltip="The last hour"),
        Binding("3", "window('3')", "24 h", show=False, tooltip="The last 24 hours"),
        Binding("4", "window('4')", "7 d", show=False, tooltip="The last 7 days"),
        Binding("w", "custom_window", "Window", show=False, tooltip="Any start and end (durations or RFC 3339 times)"),
        Binding("v", "severity", "Severity", tooltip="All severities, warning and worse, critical only"),
        Binding("e", "engine", "Engine", show=False, tooltip="Only one engine's events, each in turn (again: all)"),
        Binding("slash", "search", "Search", key_display="/", tooltip="Search title, message, device, engine"),
        Binding("n", "next_match(1)", "Next", show=False, tooltip="Next match of the search"),
        Binding("N", "next_match(-1)", "Previous", show=False, tooltip="Previous match of the search"),
        Binding("t", "tail", "Live tail", tooltip=f"Poll for new events every {TAIL_EVERY:g} s (again: stop)"),
        Binding("ctrl+r", "reload", "Reload"),
        Binding("escape,q", "back", "Back"),
    ]

    class Arrived(Message):
        def __init__(self, generation: int, page: EventPage, *, tail: bool = False) -> None:
            super().__init__()
            self.generation, self.page, self.tail = generation, page, tail

    def __init__(self, clients: Sequence[VendorClient], *, find_device: Callable[[Event], Device | None],
                 span: timedelta = PRESETS["2"]) -> None:
        super().__init__()
        self.clients = list(clients)
        self.find_device = find_device
        self.span = span
        self.custom: EventWindow | None = None
        """A window the user typed (w); None: the last `span`."""
        self.window = EventWindow.last(span, self._now())
        self.events: list[Event] = []
        self.search_keys: dict[tuple[str, str], str] = {}
        """Each event's case-folded search text, made once when the event arrives."""
        self.rows: list[int] = []
        self.severities: frozenset[Severity] = frozenset()
        self.engine: str | None = None
        """Only this engine's events (one of those loaded); None: every engine."""
        self.needle = ""
        self.fresh: set[tuple[str, str]] = set()
        """Events the live tail brought, marked until the next reload."""
        self.notes: list[str] = []
        self.failures: list[str] = []
        self.generation = 0
        self.pending = 0
        self.tailing = False
        self._timer: Timer | None = None
        self._index: dict[tuple[str, str], int] = {}
        self._heads: set[int] = set()

    def _now(self) -> datetime:
        return (self.explorer.clock or (lambda: datetime.now(UTC)))()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="window-bar")
        yield Static("", id="histogram")
        yield Input(placeholder="search title, message, device, engine; enter, then n / N", id="event-search",
                    compact=True)
        columns: list[Column[Event]] = [
            Column("when", "When", self._when_cell, 10, 10),
            Column("time", "Time", lambda e, now: (e.time.strftime("%H:%M:%S"), PLAIN), 8, 8),
            Column("severity", "Sev", lambda e, now: SEVERITY_CELLS[e.severity], 6, 6),
            Column("device", "Device", lambda e, now: (e.device_name or e.device_id or "", PLAIN), 10, 22),
            Column("title", "Event", self._title_cell, 16, 70),
            Column("engine", "Engine", lambda e, now: (e.engine, Style(dim=True)), 8, 18),
        ]
        if len(self.clients) > 1:
            columns.insert(4, Column("connection", "Connection", lambda e, now: (e.connection, Style(color="cyan")),
                                     10, 16))
        yield VirtualTable(columns, id="events", clock=self._now)
        yield StatusLine(id="status")
        yield Footer()

    @property
    def table(self) -> VirtualTable[Event]:
        return self.query_one("#events", VirtualTable)

    def on_mount(self) -> None:
        names = ", ".join(client.connection.name for client in self.clients)
        self.sub_title = f"Events · {names}"
        self.query_one("#event-search").display = False
        self.table.focus()
        self.load()

    def on_unmount(self) -> None:
        if self._timer is not None:
            self._timer.stop()

    # Loading

    def load(self) -> None:
        """(Re)load the window from every console; what the live tail marked as new is forgotten."""
        self.generation += 1
        self.workers.cancel_group(self, "events")
        self.window = self.custom or EventWindow.last(self.span, self._now())
        self.events, self.search_keys, self._index, self.fresh = [], {}, {}, set()
        self.notes, self.failures = [], []
        self.pending = len(self.clients)
        for client in self.clients:
            self.run_worker(self._fetch(self.generation, client, self.window), group="events", exit_on_error=False)
        self.refilter()

    async def _fetch(self, generation: int, client: VendorClient, window: EventWindow, *, tail: bool = False) -> None:
        async for page in client.events(window):
            self.post_message(self.Arrived(generation, page, tail=tail))

    def on_events_screen_arrived(self, message: Arrived) -> None:
        if message.generation != self.generation:
            return
        self.notes.extend(note for note in message.page.notes if note not in self.notes)
        added = self._merge(message.page.events)
        if message.tail:
            self.fresh.update(added)
        self.refilter()

    def _merge(self, events: Sequence[Event]) -> list[tuple[str, str]]:
        """Add the events not yet held, newest first; the keys of those that were new."""
        new = [event for event in events if (event.connection, event.id) not in self._index]
        if new:
            self.events = sorted([*self.events, *new], key=lambda event: event.time, reverse=True)
            self.search_keys.update(
                ((e.connection, e.id), " ".join((e.title, e.message, e.device_name or "", e.device_id or "",
                                                 e.engine, e.category)).casefold())
                for e in new
            )
            self._index = {(event.connection, event.id): row for row, event in enumerate(self.events)}
        return [(event.connection, event.id) for event in new]

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group not in ("events", "tail"):
            super().on_worker_state_changed(event)
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "events" and event.state is not WorkerState.CANCELLED:
            self.pending -= 1
        error = event.worker.error
        if isinstance(error, NotAvailableError):
            self.notes.append(str(error))
        elif error is not None:
            self.failures.append(str(error))
        if event.worker.group == "tail" or not self.pending:
            self._arm_tail()
        self.refilter()

    # Showing

    def refilter(self) -> None:
        """Apply the severity filter and show the rows; the cursor keeps its event."""
        wanted, engine = self.severities, self.engine
        events = self.events
        self.rows = [row for row, event in enumerate(events)
                     if (not wanted or event.severity in wanted) and (engine is None or event.engine == engine)]
        self._heads = self._hour_heads()
        self.table.show_rows(events, self.rows, row_of=lambda e: self._index.get((e.connection, e.id)),
                             widths={"device": 22, "title": 70, "engine": 18, "connection": 16})
        self._show_bars()

    def _hour_heads(self) -> set[int]:
        """The rows that start an hour in the list as shown (their When cell names the day and hour)."""
        heads, previous = set(), None
        for row in self.rows:
            hour = self.events[row].time.replace(minute=0, second=0, microsecond=0)
            if hour != previous:
                heads.add(row)
                previous = hour
        return heads

    def _when_cell(self, event: Event, now: datetime) -> tuple[str, Style]:
        row = self._index.get((event.connection, event.id))
        if row in self._heads:
            return event.time.strftime("%b %d %Hh"), Style(bold=True)
        return "", PLAIN

    def _title_cell(self, event: Event, now: datetime) -> tuple[str, Style]:
        new = (event.connection, event.id) in self.fresh
        return ("NEW " if new else "") + event.title, Style(bold=True) if new else PLAIN

    def _show_bars(self) -> None:
        window = self.window
        assert window.start is not None and window.end is not None
        local = window.start.astimezone()
        shown = [self.events[row] for row in self.rows]
        critical = sum(1 for event in shown if event.severity is Severity.CRITICAL)
        which = {frozenset(): "all severities", SEVERITY_STEPS[1]: "warning and worse",
                 SEVERITY_STEPS[2]: "critical only"}[self.severities]
        self.query_one("#window-bar", Static).update(Text(
            f"{'Window' if self.custom else 'Last ' + span_text(self.span)} · "
            f"{len(shown):,} event{'' if len(shown) == 1 else 's'}, {critical:,} critical · {which} · "
            f"{self.engine or 'every engine'} · "
            f"{window.start:%m-%d %H:%M}Z → {window.end:%m-%d %H:%M}Z (local from {local:%m-%d %H:%M %Z})",
            no_wrap=True, overflow="ellipsis"))
        width = max(self.size.width - 2, 10)
        self.query_one("#histogram", Static).update(histogram(shown, window, width))
        status = self.query_one("#status", StatusLine)
        tail = f" · live tail every {TAIL_EVERY:g} s" if self.tailing else ""
        if self.failures:
            status.show(f"Some events could not be loaded: {self.failures[0]} ctrl+r retries.", error=True)
        elif self.notes:
            status.show(" ".join(self.notes) + tail, warning=True)
        elif self.pending:
            status.show(f"Loading events … {len(self.events):,} so far{tail}")
        else:
            status.show(f"{len(self.events):,} events in the window · 1-4 window · enter details{tail}")

    def on_resize(self) -> None:
        self._show_bars()

    # Keys

    def action_window(self, preset: str) -> None:
        self.span, self.custom = PRESETS[preset], None
        self.load()

    def action_custom_window(self) -> None:
        def chosen(window: EventWindow | None) -> None:
            if window is not None:
                self.custom = window
                self.load()

        self.app.push_screen(WindowPrompt(self._now), chosen)

    def action_severity(self) -> None:
        step = SEVERITY_STEPS.index(self.severities)
        self.severities = SEVERITY_STEPS[(step + 1) % len(SEVERITY_STEPS)]
        self.refilter()

    def action_engine(self) -> None:
        engines = sorted({event.engine for event in self.events})
        following = engines[engines.index(self.engine) + 1:] if self.engine in engines else engines
        self.engine = following[0] if following else None
        self.refilter()

    def action_search(self) -> None:
        search = self.query_one("#event-search", Input)
        search.display = True
        search.focus()

    @on(Input.Changed, "#event-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip().casefold()
        self._jump(0)

    @on(Input.Submitted, "#event-search")
    def _search_done(self, event: Input.Submitted) -> None:
        event.input.display = bool(self.needle)
        self.table.focus()

    def action_next_match(self, step: int) -> None:
        self._jump(step)

    def _jump(self, step: int) -> None:
        """Move the cursor to the next (step 1), previous (-1) or nearest (0) row matching the search."""
        if not self.needle or not self.rows:
            return
        keys, events, rows = self.search_keys, self.events, self.rows
        start = self.table.cursor
        count = len(rows)
        for offset in range(0 if step == 0 else 1, count + 1):
            position = (start + offset * (step or 1)) % count
            event = events[rows[position]]
            if self.needle in keys[(event.connection, event.id)]:
                self.table.cursor = position
                return
        self.notify(f"No event matches “{self.needle}”.", severity="warning", markup=False)

    def action_tail(self) -> None:
        self.tailing = not self.tailing
        self._arm_tail()
        self._show_bars()

    def _arm_tail(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.tailing:
            self._timer = self.set_timer(TAIL_EVERY, self._tail_due)

    def _tail_due(self) -> None:
        """Poll for events after the window's end, unless a dialog is open over this screen."""
        self._timer = None
        if self.app.screen is not self:
            self._timer = self.set_timer(MODAL_RETRY, self._tail_due)
            return
        assert self.window.end is not None
        now = self._now()
        since = EventWindow(start=self.window.end, end=now)
        self.window = EventWindow(start=self.window.start, end=now)
        for client in self.clients:
            self.run_worker(self._fetch(self.generation, client, since, tail=True), group="tail", exit_on_error=False)

    def action_reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        search = self.query_one("#event-search", Input)
        if self.focused is search:
            search.value = ""
            search.display = False
            self.table.focus()
        else:
            self.app.pop_screen()

    @on(VirtualTable.Selected)
    def _open_event(self, message: VirtualTable.Selected) -> None:
        event = message.record
        assert isinstance(event, Event)
        self.app.push_screen(EventDetailScreen(event, self.find_device(event)))
