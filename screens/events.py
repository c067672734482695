"""The event timeline of the open consoles: newest first, grouped by hour, a histogram across the top.

Events of the window are loaded per console in background workers and handed to an `EventsLoad`
(tui/events_load.py), which merges them by time in a `Timeline` (tui/timeline.py, fluid at 100,000 events)
and says how the load and the live tail stand. Severity and engine filters narrow the list; `/`
searches (n / N jump between matches) without hiding the context around a match. The live tail polls
for events newer than the last poll on a re-armed timer that waits while a dialog is open, marks what
is new, and never moves the cursor.
"""

from __future__ import annotations

import re
import sys
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from itertools import compress, repeat, takewhile
from operator import attrgetter, lt

from rich.style import Style
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.timer import Timer
from textual.widgets import Header, Input, Static
from textual.worker import Worker, WorkerState

from screens.base import ExplorerScreen
from screens.event_detail import EventDetailScreen
from screens.messages import ConsoleWaiting, EventsArrived
from screens.refresh_timer import RefreshTimer
from tui.events_load import TAIL_EVERY, EventsLoad
from tui.models import Device, Event, EventWindow, Severity
from tui.textual_compat import OnceFooter
from tui.timeline import EventFilter, Timeline
from tui.vendors.base import waits_told_to
from tui.vendors.facets import EventSourceClient
from widgets.search_box import SearchBox
from widgets.status_line import StatusLine
from widgets.virtual_table import PLAIN, Column, VirtualTable
from widgets.window_prompt import WindowPrompt

PRESETS = {"1": timedelta(minutes=15), "2": timedelta(hours=1), "3": timedelta(hours=24), "4": timedelta(days=7)}
SEVERITY_CELLS = {
    Severity.CRITICAL: ("● crit", Style(color="red", bold=True)),
    Severity.WARNING: ("▲ warn", Style(color="yellow")),
    Severity.INFO: ("· info", Style(color="cyan")),
    Severity.UNKNOWN: ("? unkn", Style(dim=True)),
}
SEVERITY_STEPS = (frozenset(), frozenset({Severity.CRITICAL, Severity.WARNING}), frozenset({Severity.CRITICAL}))
"""What `v` cycles through: every severity, warning and worse, critical only."""
BARS = " ▁▂▃▄▅▆▇█"
SEVERITY_PREFIX = re.compile(r"(?i)(critical|major|minor|warning|informational|info)\s*:\s*")
"""What a SEPM title starts with that the Sev column already says ("CRITICAL: CLIENT SECURITY ALERT")."""


def shown_title(event: Event, *, engine_shown: bool) -> str:
    """The title with what other columns say taken off its front: the severity, and the engine while its
    column shows ("Deep guard: blocked …" under engine deepGuard). The Event keeps its title."""
    title = event.title
    match = SEVERITY_PREFIX.match(title)
    if match and match.end() < len(title):
        title = title[match.end():]
    head, colon, rest = title.partition(": ")
    if engine_shown and colon and rest and head.replace(" ", "").casefold() == event.engine.replace(" ", "").casefold():
        title = rest
    return title


def span_text(span: timedelta) -> str:
    """"15 min", "1 h", "24 h", "7 d": the way the presets are named."""
    minutes = int(span.total_seconds() // 60)
    if minutes >= 2 * 1440 and not minutes % 1440:
        return f"{minutes // 1440} d"
    return f"{minutes // 60} h" if minutes >= 60 and not minutes % 60 else f"{minutes} min"


def histogram(buckets: Sequence[tuple[int, Severity]]) -> Text:
    """One bar per time bucket (count, worst severity), oldest left, each coloured by its worst severity."""
    top = max((count for count, _ in buckets), default=0) or 1
    bars = Text()
    for count, severity in buckets:
        level = 0 if not count else max(1, round(count / top * (len(BARS) - 1)))
        bars.append(BARS[level], style=SEVERITY_CELLS[severity][1] if count else PLAIN)
    return bars


def longest_up_to(lengths: Iterable[int], longest: int, widest: int) -> int:
    """The greatest of `longest` and `lengths`, no more than `widest`: the first length that reaches it ends the
    reading."""
    for length in lengths if longest < widest else ():
        if length > longest:
            longest = min(length, widest)
            if longest == widest:
                break
    return longest


def longest_title(events: Sequence[Event], title: int, room: int) -> int:
    """The longest shown title of `events` (engine column hidden) and `title`, or `room` as soon as one fills it.

    Titles are read in C loops up to each that is as long as the room, and that one is shortened: in a window
    of long titles the first usually fills the room and ends the reading. Otherwise, as a shown title is never
    longer than its event's title, only the titles that could beat the longest are shortened, longest first: a
    window of 100,000 events shortens a handful, not every title."""
    lengths: list[int] = []
    titles = map(len, map(attrgetter("title"), events))
    while True:
        lengths += takewhile(room.__gt__, titles)
        if len(lengths) == len(events):
            break
        event = events[len(lengths)]  # the title takewhile stopped at (and took)
        lengths.append(len(event.title))
        if len(shown_title(event, engine_shown=False)) >= room:
            return room
    most = max(lengths, default=0)
    if lengths and most > title:
        title = max(title, len(shown_title(events[lengths.index(most)], engine_shown=False)))
    if most > title:  # the longest was shortened: another may be shortened less
        for event in sorted(compress(events, map(lt, repeat(title), lengths)), key=lambda event: len(event.title),
                            reverse=True):
            if len(event.title) <= title:
                break
            title = max(title, len(shown_title(event, engine_shown=False)))
    return title


class EventsScreen(ExplorerScreen):
    """One window of events from one or more consoles."""

    BINDINGS = [
        # Named by their key so that the palette, which sorts by name, lists them shortest first.
        Binding("1", "window('1')", "Window 1: last 15 min", show=False, tooltip="The last 15 minutes"),
        Binding("2", "window('2')", "Window 2: last 1 h", show=False, tooltip="The last hour"),
        Binding("3", "window('3')", "Window 3: last 24 h", show=False, tooltip="The last 24 hours"),
        Binding("4", "window('4')", "Window 4: last 7 d", show=False, tooltip="The last 7 days"),
        Binding("w", "custom_window", "Window", tooltip="Any start and end (durations or RFC 3339 times)"),
        Binding("v", "severity", "Severity", tooltip="All severities, warning and worse, critical only"),
        Binding("e", "engine", "Engine", tooltip="Only one engine's events, each in turn (again: all)"),
        Binding("slash", "search", "Search", key_display="/", priority=True,  # widgets/search_box.py says why
                tooltip="Search title, message, device, engine"),
        Binding("n", "next_match(1)", "Next", show=False, tooltip="Next match of the search"),
        Binding("N", "next_match(-1)", "Previous", show=False, tooltip="Previous match of the search"),
        Binding("t", "tail", "Tail", tooltip=f"Live tail: poll for new events every {TAIL_EVERY:g} s (again: stop)"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Load the window again"),
        Binding("escape,q", "back", "Back"),
    ]

    def __init__(self, clients: Sequence[EventSourceClient], *, find_device: Callable[[Event], Device | None],
                 span: timedelta = PRESETS["2"]) -> None:
        super().__init__()
        self.clients = list(clients)
        self.find_device = find_device
        self.span = span
        self.custom: EventWindow | None = None
        """A window the user typed (w); None: the last `span`."""
        self.feed = EventsLoad([client.connection.name for client in self.clients], EventWindow.last(span, self._now()))
        """The window's events, what the consoles said and the live tail (tui/events_load.py)."""
        self.rows: list[int] = []
        """The timeline's rows shown, newest first."""
        self.severities: frozenset[Severity] = frozenset()
        self.engine: str | None = None
        """Only this engine's events (one of those loaded); None: every engine."""
        self.needle = ""
        self.longest: dict[str, int] = {}
        """The longest device, title, engine and connection of the window, each up to its column's `max_width`:
        columns are no wider than their values."""
        self.load_workers: set[Worker[None]] = set()
        """The current load's workers, one per console: the end of a replaced load's worker is not counted."""
        self.tail_timer = RefreshTimer(self, self._poll_tail)
        self._tick: Timer | None = None
        """While tailing: the status line says every second when the tail polled and when it polls next."""

    @property
    def timeline(self) -> Timeline:
        return self.feed.timeline

    @property
    def window(self) -> EventWindow:
        return self.feed.window

    @property
    def pending(self) -> int:
        """Consoles still loading the window."""
        return self.feed.pending

    def _now(self) -> datetime:
        return self.session.now()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="window-bar")
        yield Static("", id="histogram")
        yield SearchBox(placeholder="search title, message, device, engine; enter, then n / N", id="event-search",
                        leave_to="#events")
        # In priority order: at 80 columns the title gets the room and the engine (and the connection) give way.
        columns: list[Column[Event]] = [
            Column("when", "When", self._when_cell, 10, 10),
            Column("time", "Time", lambda e, now: (e.time.strftime("%H:%M:%S"), PLAIN), 8, 8, place=1),
            Column("severity", "Sev", lambda e, now: SEVERITY_CELLS[e.severity], 6, 6, place=2),
            Column("device", "Device", lambda e, now: (e.device_name or e.device_id or "", PLAIN), 10, 22, place=3),
            Column("title", "Event", self._title_cell, 26, 70, place=5),
        ]
        if len(self.clients) > 1:
            columns.append(Column("connection", "Connection", lambda e, now: (e.connection, Style(color="cyan")),
                                  10, 16, place=4))
        columns.append(Column("engine", "Engine", lambda e, now: (e.engine, Style(dim=True)), 12, 18, place=6))
        yield VirtualTable(columns, id="events", clock=self._now)
        yield StatusLine(id="status")
        yield OnceFooter()

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
        self.tail_timer.stop()
        if self._tick is not None:
            self._tick.stop()

    # Loading

    def load(self) -> None:
        """(Re)load the window from every console; what the live tail marked as new is forgotten."""
        self.workers.cancel_group(self, "events")
        self.feed.start(self.custom or EventWindow.last(self.span, self._now()))
        self.longest = {}
        self.load_workers = {self._load_console(self.feed.generation, client, self.window) for client in self.clients}
        self.refilter()

    @work(group="events", exit_on_error=False)
    async def _load_console(self, generation: int, client: EventSourceClient, window: EventWindow) -> None:
        """One console's events of the window (each console in its own worker: one slow console delays none)."""
        await self._fetch(generation, client, window)

    @work(group="tail", exit_on_error=False)
    async def _tail_console(self, generation: int, client: EventSourceClient, since: EventWindow) -> None:
        """One console's events after the window's end, marked new as they arrive."""
        await self._fetch(generation, client, since, tail=True)

    async def _fetch(self, generation: int, client: EventSourceClient, window: EventWindow, *,
                     tail: bool = False) -> None:
        name = client.connection.name
        with waits_told_to(lambda reason: self.post_message(ConsoleWaiting(generation, name, reason))):
            async for page in client.events(window):
                self.post_message(EventsArrived(generation, page, tail))

    def on_console_waiting(self, message: ConsoleWaiting) -> None:
        if message.generation == self.feed.generation:
            self.feed.console_waiting(message.connection, message.reason)
            self._show_status()

    def on_events_arrived(self, message: EventsArrived) -> None:
        if message.generation != self.feed.generation:
            return
        self.feed.take(message.page, tail=message.tail)
        self._measure(message.page.events)
        self.refilter()

    def _measure(self, events: list[Event]) -> None:
        """Widen `longest` to these events' device, title ("NEW " and all), engine and connection, each no
        further than its column is ever shown (its `max_width`).

        A device or title that fills its column ends the reading of that column, so a window of long names and
        titles reads a handful of events, not 100,000, and the pages after it none; so does an engine. The
        connections are the timeline's few names, not a pass over the events."""
        longest = self.longest
        widest = {column.key: column.max_width or sys.maxsize for column in self.table.columns}
        devices = (len(event.device_name or event.device_id or "") for event in events)
        longest["device"] = longest_up_to(devices, longest.get("device", 0), widest["device"])
        engines = map(len, map(attrgetter("engine"), events))
        longest["engine"] = longest_up_to(engines, longest.get("engine", 0), widest["engine"])
        longest["connection"] = max(longest.get("connection", 0), max(map(len, self.timeline.connections), default=0))
        title, room = longest.get("title", 0) - len("NEW "), widest["title"] - len("NEW ")
        longest["title"] = (longest_title(events, title, room) if title < room else title) + len("NEW ")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group not in ("events", "tail"):
            return  # ExplorerScreen's handler (Textual runs it too) reports other workers' failures
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "tail":
            self.feed.tail_done(event.worker.error, self._now())
        elif event.worker in self.load_workers:  # not one a reload cancelled, or that ended just before it
            self.feed.console_done(event.worker.error)
        if event.worker.group == "tail" or not self.pending:
            self._arm_tail()
        self.refilter()

    # Showing

    def refilter(self) -> None:
        """Apply the severity and engine filters and show the rows; the cursor keeps its event."""
        timeline = self.timeline
        self.rows = timeline.select(EventFilter(self.severities, self.engine))
        self.table.show_rows(timeline.events, self.rows, row_of=timeline.row_of,
                             widths=self.longest)
        self._show_bars()

    def _when_cell(self, event: Event, now: datetime) -> tuple[str, Style]:
        """The day and hour on the first event of each hour as shown."""
        row = self.timeline.row_of(event)
        if row is not None and self.timeline.starts_hour(self.rows, row):
            return event.time.strftime("%b %d %Hh"), Style(bold=True)
        return "", PLAIN

    def _title_cell(self, event: Event, now: datetime) -> tuple[str, Style]:
        new = self.timeline.row_of(event) in self.feed.fresh
        engine_shown = any(column.key == "engine" for column, _ in self.table.layout_columns)
        return ("NEW " if new else "") + shown_title(event, engine_shown=engine_shown), Style(bold=True) if new else PLAIN

    def _show_bars(self) -> None:
        window = self.window
        assert window.start is not None and window.end is not None
        local = window.start.astimezone()
        timeline, shown = self.timeline, len(self.rows)
        critical = timeline.count(self.rows, Severity.CRITICAL)
        which = {frozenset(): "all severities", SEVERITY_STEPS[1]: "warning and worse",
                 SEVERITY_STEPS[2]: "critical only"}[self.severities]
        # The window's ends first: at 80 columns the end is what a responder checks, the rest may be cut.
        self.query_one("#window-bar", Static).update(Text(
            f"{'Window' if self.custom else 'Last ' + span_text(self.span)} "
            f"{window.start:%m-%d %H:%M}Z → {window.end:%m-%d %H:%M}Z · "
            f"{shown:,} event{'' if shown == 1 else 's'}, {critical:,} critical · {which} · "
            f"{self.engine or 'every engine'} · local from {local:%m-%d %H:%M %Z}",
            no_wrap=True, overflow="ellipsis"))
        width = max(self.size.width - 2, 10)
        self.query_one("#histogram", Static).update(histogram(timeline.histogram(self.rows, window.start, window.end,
                                                                                 width)))
        self._show_status()

    def _show_status(self) -> None:
        progress = self.feed.progress(self._now(), self._match_words())
        self.query_one("#status", StatusLine).show(progress.words, error=progress.error, warning=progress.warning)

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
        engines = sorted(self.timeline.engines)
        following = engines[engines.index(self.engine) + 1:] if self.engine in engines else engines
        self.engine = following[0] if following else None
        self.refilter()

    def action_search(self) -> None:
        self.query_one("#event-search", SearchBox).open()

    @on(Input.Changed, "#event-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.search_for(event.value)

    def search_for(self, text: str) -> None:
        """The cursor goes to the nearest event matching `text` (from where it is, wrapping round)."""
        self.needle = text.strip().casefold()
        self._jump(0)

    def _match_words(self) -> str:
        """" · match 3 of 14" for the search, counted in the rows shown; nothing without a search."""
        if not self.needle:
            return ""
        matches = self.timeline.matches(self.rows, self.needle)
        if not matches:
            return f" · no match for “{self.needle}”"
        at = bisect_left(matches, self.table.cursor)
        here = f"match {at + 1} of" if at < len(matches) and matches[at] == self.table.cursor else "matches:"
        return f" · {here} {len(matches):,} · n / N"

    @on(SearchBox.Done, "#event-search")
    def _search_done(self, event: SearchBox.Done) -> None:
        if event.escaped:  # escape drops the search; enter keeps it for n / N
            event.box.value = ""
        event.box.display = not event.escaped and bool(self.needle)

    def action_next_match(self, step: int) -> None:
        self._jump(step)

    def _jump(self, step: int) -> None:
        """Move the cursor to the next (step 1), previous (-1) or nearest (0) row matching the search."""
        if not self.needle or not self.rows:
            return
        start = (self.table.cursor + step) % len(self.rows)
        found = self.timeline.find(self.rows, self.needle, start, backwards=step < 0)
        if found is not None:
            self.table.move_to(found)
            self._show_bars()
            return
        self._show_bars()  # the status line says "no match for …"
        if step:  # n or N pressed in vain is said aloud too; typing is not, or each keystroke would add a toast
            self.notify(f"No event matches “{self.needle}”.", severity="warning", markup=False)

    def action_tail(self) -> None:
        tailing = self.feed.toggle_tail(self._now())
        if self._tick is not None:
            self._tick.stop()
            self._tick = None
        if tailing:
            self._tick = self.set_interval(1, self._show_status)  # a quiet tail must not look frozen
        self._arm_tail()
        self._show_bars()

    def _arm_tail(self) -> None:
        self.tail_timer.arm(TAIL_EVERY if self.feed.tailing else 0)

    def _poll_tail(self) -> None:
        """Ask every console for the events after the window's end."""
        since = self.feed.poll_tail(self._now())
        for client in self.clients:
            self._tail_console(self.feed.generation, client, since)
        self._show_status()

    def action_reload(self) -> None:
        self.load()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(VirtualTable.Selected)
    def _open_event(self, message: VirtualTable.Selected) -> None:
        event = message.record
        assert isinstance(event, Event)
        self.app.push_screen(EventDetailScreen(event, self.find_device(event)))
