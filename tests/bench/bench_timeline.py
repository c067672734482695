"""Benchmark: the event timeline over tui/timeline.py against the screen's old merge and filters, same run.

The Elements simulator runs in a child process (as a console runs on its own machine); the client reads
30 days of security events and the newest 100,000 are kept, in the 200-event pages Elements sends, oldest
first. Then each path shows them on the real EventsScreen in a headless app at 120x40 and the same
operations are timed, each from the call to the visible table lines rendered:

- first rows: the whole window handed over as one unsorted page (as SEPM answers: one call);
- whole-window merge: the window again, page by page as Elements sends them, each merged, filtered and its
  histogram drawn; then the same with the visible lines rendered after each page;
- search keystrokes: typing, deleting and mistyping in `/` (the cursor jumps to the nearest match), p50, p95;
- filter toggles: severity (`v`: warning and worse, critical only, all, twice round) and engine (`e`: each
  engine in turn, then all), p50 and p95;
- live-tail merge: a page of 20 events newer than the window, marked NEW, p50 and p95 of 5;
- RSS of the process with the window loaded and shown.

The baseline is the screen as it was before the store (`OldEventsScreen` below): a full re-sort and index
rebuild per page, list comprehensions for the filters, a scan from the cursor for the search, and a pass
over every event for the hour heads and the histogram. Not a timed test: run it by hand,

    .venv/bin/python tests/bench/bench_timeline.py [--events 100000] [--size 140000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bench_paging import simulator_process
from bench_table import percentile, render_visible, rss_mb
from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.widgets import Static

from screens.events import BARS, SEVERITY_CELLS, EventsScreen
from screens.messages import EventsArrived
from tui.config import Config
from tui.models import Connection, Event, EventPage, EventWindow, Severity
from tui.session import Session
from tui.simulators import build_simulator
from tui.vendors import open_client
from widgets.virtual_table import PLAIN

SIZE = (120, 40)
PAGE = 200
SEARCHES = ["l", "lo", "loc", "lock", "lockb", "lockbi", "lockbit", "lockbi", "lockb", "lock", "loc",
            "d", "de", "des", "desk", "deskt", "deskto", "desktop", "desktop-", "desktop-z", "desktop-zq",
            "desktop-zqx", "desktop-zq", "desktop-z", "desktop-"]
"""What a responder types in `/`: an infection name, back, then a device name with a typo."""
TOGGLES = 6  # two rounds of v
TAILS = 5


class Idle:
    """A client with nothing to send: the benchmark hands the screen its pages itself."""

    def __init__(self) -> None:
        self.connection = Connection(name="bench", vendor="elements", url="http://127.0.0.1", username="bench")

    async def events(self, window: EventWindow) -> AsyncIterator[EventPage]:
        return
        yield


class OldEventsScreen(EventsScreen):
    """The baseline: the screen's merge, filters, search, hour heads and histogram before tui/timeline.py."""

    def load(self) -> None:
        self.events: list[Event] = []
        self.old_keys: dict[tuple[str, str], str] = {}
        self.old_index: dict[tuple[str, str], int] = {}
        self.old_fresh: set[tuple[str, str]] = set()
        super().load()

    def on_resize(self) -> None:
        if hasattr(self, "events"):
            self._show_bars()

    def on_events_arrived(self, message: EventsArrived) -> None:
        new = [e for e in message.page.events if (e.connection, e.id) not in self.old_index]
        if new:
            self.events = sorted([*self.events, *new], key=lambda event: event.time, reverse=True)
            self.old_keys.update(((e.connection, e.id), " ".join((
                e.title, e.message, e.device_name or "", e.device_id or "", e.engine, e.category)).casefold())
                for e in new)
            self.old_index = {(event.connection, event.id): row for row, event in enumerate(self.events)}
        if message.tail:
            self.old_fresh.update((e.connection, e.id) for e in new)
        self.refilter()

    def refilter(self) -> None:
        wanted, engine, events = self.severities, self.engine, self.events
        self.rows = [row for row, event in enumerate(events)
                     if (not wanted or event.severity in wanted) and (engine is None or event.engine == engine)]
        heads, previous = set(), None
        for row in self.rows:
            hour = events[row].time.replace(minute=0, second=0, microsecond=0)
            if hour != previous:
                heads.add(row)
                previous = hour
        self.old_heads = heads
        self.table.show_rows(events, self.rows, row_of=lambda e: self.old_index.get((e.connection, e.id)),
                             widths={"device": 22, "title": 70, "engine": 18, "connection": 16})
        self._show_bars()

    def _show_bars(self) -> None:
        window = self.window
        assert window.start is not None and window.end is not None
        shown = [self.events[row] for row in self.rows]
        critical = sum(1 for event in shown if event.severity is Severity.CRITICAL)
        self.query_one("#window-bar", Static).update(Text(f"{len(shown):,} events, {critical:,} critical"))
        width = max(self.size.width - 2, 10)
        counts, worst = [0] * width, [Severity.UNKNOWN] * width
        length = (window.end - window.start).total_seconds() or 1.0
        for event in shown:
            bucket = min(width - 1, max(0, int((event.time - window.start).total_seconds() / length * width)))
            counts[bucket] += 1
            if event.severity.rank < worst[bucket].rank:
                worst[bucket] = event.severity
        top, bars = max(counts) or 1, Text()
        for count, severity in zip(counts, worst, strict=True):
            level = 0 if not count else max(1, round(count / top * (len(BARS) - 1)))
            bars.append(BARS[level], style=SEVERITY_CELLS[severity][1] if count else PLAIN)
        self.query_one("#histogram", Static).update(bars)

    def _when_cell(self, event: Event, now: datetime) -> tuple[str, Style]:
        if self.old_index.get((event.connection, event.id)) in self.old_heads:
            return event.time.strftime("%b %d %Hh"), Style(bold=True)
        return "", PLAIN

    def _title_cell(self, event: Event, now: datetime) -> tuple[str, Style]:
        new = (event.connection, event.id) in self.old_fresh
        return ("NEW " if new else "") + event.title, Style(bold=True) if new else PLAIN

    def _jump(self, step: int) -> None:
        if not self.needle or not self.rows:
            return
        keys, events, rows = self.old_keys, self.events, self.rows
        start, count = self.table.cursor, len(rows)
        for offset in range(0 if step == 0 else 1, count + 1):
            position = (start + offset * (step or 1)) % count
            event = events[rows[position]]
            if self.needle in keys[(event.connection, event.id)]:
                self.table.cursor = position
                return
        self.notify(f"No event matches “{self.needle}”.", severity="warning", markup=False)


@dataclass(frozen=True, slots=True)
class Figures:
    first: float
    merge: float
    """The whole window page by page: the screen's handling of each page (merge, filters, bars)."""
    whole: float
    """The same with the visible lines rendered after each page."""
    strokes: list[float]
    toggles: list[float]
    tails: list[float]
    rss: float


class Bench(App[None]):
    clock = None

    def __init__(self, kind: type[EventsScreen], window: EventWindow) -> None:
        super().__init__()
        self.kind, self.window = kind, window
        self.session = Session(Config(path=None))

    def on_mount(self) -> None:
        screen = self.kind([Idle()], find_device=lambda event: None)  # type: ignore[list-item]
        screen.custom = self.window
        self.push_screen(screen)


def timed(action: Callable[[], None], screen: EventsScreen) -> float:
    started = time.perf_counter()
    action()
    render_visible(screen.table)
    return time.perf_counter() - started


async def measure(kind: type[EventsScreen], pages: list[list[Event]], window: EventWindow) -> Figures:
    async with Bench(kind, window).run_test(size=SIZE) as pilot:
        while not isinstance(pilot.app.screen, EventsScreen) or pilot.app.screen.pending:
            await pilot.pause()
        screen = pilot.app.screen

        def arrive(events: list[Event], *, tail: bool = False) -> Callable[[], None]:
            page = EventPage(events, len(events))
            return lambda: screen.on_events_arrived(EventsArrived(screen.feed.generation, page, tail))

        everything = [event for page in pages for event in page]
        random.Random(1).shuffle(everything)
        first = timed(arrive(everything), screen)
        screen.load()
        merge = whole = 0.0
        for page in pages:
            started = time.perf_counter()
            arrive(page)()
            merged = time.perf_counter()
            render_visible(screen.table)
            merge += merged - started
            whole += time.perf_counter() - started
        gc.collect()
        rss = rss_mb()
        strokes = [timed(lambda text=text: screen.search_for(text), screen) for text in SEARCHES]
        screen.search_for("")
        toggles = [timed(screen.action_severity, screen) for _ in range(TOGGLES)]
        toggles += [timed(screen.action_engine, screen) for _ in range(len(screen.timeline.engines) + 1)]
        tails = []
        assert window.end is not None
        for round_ in range(TAILS):
            newest = window.end + timedelta(seconds=10 * round_)
            fresh = [replace(event, id=f"tail-{round_}-{n}", time=newest + timedelta(milliseconds=n))
                     for n, event in enumerate(pages[-1][:20])]
            screen.feed.window = EventWindow(start=window.start, end=newest + timedelta(seconds=10))
            tails.append(timed(arrive(fresh, tail=True), screen))
        return Figures(first, merge, whole, strokes, toggles, tails, rss)


async def load(url: str, wanted: int) -> list[Event]:
    """The newest `wanted` events of the last 30 days, oldest first (as Elements sends them)."""
    credentials = build_simulator("elements", size=1)
    connection = Connection(name="bench", vendor="elements", url=url, username=credentials.username, allow_http=True)
    client = open_client(connection, credentials.password)
    events: list[Event] = []
    try:
        async for page in client.events(EventWindow.last(timedelta(days=30), datetime.now(UTC) + timedelta(minutes=1))):
            events.extend(page.events)
    finally:
        await client.aclose()
    return events[-wanted:]


def line(label: str, new: float, old: float, note: str = "") -> None:
    ms = 1000
    print(f"{label:26} store {new * ms:9.1f} ms   old {old * ms:10.1f} ms   {old / new:8.1f}x faster{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=140_000, help="Elements devices (about 0.74 events each in 30 days)")
    args = parser.parse_args()
    with simulator_process("elements", args.size, 0) as (url, _):
        events = asyncio.run(load(url, args.events))
    pages = [events[start:start + PAGE] for start in range(0, len(events), PAGE)]
    window = EventWindow(start=events[0].time, end=events[-1].time + timedelta(seconds=1))
    gc.collect()
    print(f"{len(events):,} Elements events in memory ({len(pages)} pages of {PAGE}) over "
          f"{(window.end - window.start) / timedelta(days=1):.1f} days; RSS {rss_mb():.0f} MB")  # type: ignore[operator]
    new = asyncio.run(measure(EventsScreen, pages, window))
    old = asyncio.run(measure(OldEventsScreen, pages, window))
    line("first rows (one page)", new.first, old.first)
    line(f"whole window ({len(pages)} pages)", new.merge, old.merge)
    line("  and a render per page", new.whole, old.whole)
    for label, samples, fraction in (("search keystroke p50", "strokes", 0.5), ("search keystroke p95", "strokes", 0.95),
                                     ("filter toggle p50", "toggles", 0.5), ("filter toggle p95", "toggles", 0.95),
                                     ("live-tail page p50", "tails", 0.5), ("live-tail page p95", "tails", 0.95)):
        line(label, percentile(getattr(new, samples), fraction), percentile(getattr(old, samples), fraction))
    print(f"{'RSS':26} store {new.rss:9.0f} MB (whole process, window loaded and shown)")
    print("targets: first rows <= 150 ms, filter toggle p95 <= 20 ms, live-tail page p95 <= 20 ms")


if __name__ == "__main__":
    main()
