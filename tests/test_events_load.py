"""The Textual-free loader of the event timeline (tui/events_load.py): what a load of a window says while the
consoles answer, what they said (notes, failures, waits), and the live tail's bookkeeping, driven step by step
and against the demo's simulators."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from helpers import load_demo_events
from tui.events_load import EventsLoad
from tui.models import Event, EventPage, EventWindow, Severity
from tui.vendors.base import NetworkError, NotAvailableError

NOW = datetime(2026, 12, 5, 14, 2, tzinfo=UTC)
HOUR = EventWindow.last(timedelta(hours=1), NOW)


def page(connection: str, *ids: str, minutes_ago: int = 5, notes: tuple[str, ...] = (), skipped: int = 0,
         repaired: int = 0) -> EventPage:
    events = [Event(vendor="elements", connection=connection, id=id_, time=NOW - timedelta(minutes=minutes_ago),
                    severity=Severity.WARNING, engine="fileScanning", title=f"event {id_}") for id_ in ids]
    return EventPage(events, len(events), notes=notes, skipped=skipped, repaired=repaired)


def started(*names: str) -> EventsLoad:
    feed = EventsLoad(names, HOUR)
    feed.start(HOUR)
    return feed


def test_a_load_counts_what_arrived_until_every_console_answered() -> None:
    feed = started("a", "b")
    feed.take(page("a", "1", "2"))
    assert feed.pending == 2
    assert feed.progress(NOW).words == "Loading events … 2 so far"
    feed.console_done(None)
    feed.take(page("b", "1", skipped=1, repaired=2))
    feed.take(page("b", "1"))  # the same event again: held once
    feed.console_done(None)
    assert feed.pending == 0 and len(feed.timeline) == 3
    progress = feed.progress(NOW, " · match 1 of 2 · n / N")
    assert not progress.error and not progress.warning
    assert progress.words == ("3 events in the window (1 item without an id left out; 2 events with bytes that are "
                              "not UTF-8 repaired) · 1-4 window · enter details · match 1 of 2 · n / N")


def test_one_event_is_one_event() -> None:
    feed = started("a")
    feed.take(page("a", "1"))
    feed.console_done(None)
    assert feed.progress(NOW).words.startswith("1 event in the window · ")


def test_waits_are_said_per_console_until_it_goes_on() -> None:
    feed = started("a", "b")
    feed.console_waiting("a", "a: rate limited, again in 4 s")
    feed.console_waiting("b", "b: retrying in 1 s")
    progress = feed.progress(NOW)
    assert progress.warning
    assert progress.words == "Loading events … 0 so far · a: rate limited, again in 4 s · b: retrying in 1 s"
    feed.console_waiting("a", None)
    assert feed.progress(NOW).words == "Loading events … 0 so far · b: retrying in 1 s"


def test_a_source_not_offered_is_a_note_and_a_failure_says_to_retry() -> None:
    feed = started("a", "b")
    feed.take(page("a", "1", notes=("SEPM command history is not available to this API user.",)))
    feed.take(page("a", "2", notes=("SEPM command history is not available to this API user.",)))  # said once
    feed.console_done(NotAvailableError("Elements has no such log.", scope="vendor"))
    progress = feed.progress(NOW)
    assert progress.warning and not progress.error
    assert progress.words == "SEPM command history is not available to this API user. Elements has no such log."
    error = NetworkError("The console did not answer.")
    feed.console_done(error)
    progress = feed.progress(NOW)
    assert progress.error and progress.words == f"Some events could not be loaded: {error} ctrl+r retries."


def test_a_new_load_forgets_what_the_last_one_held_and_said() -> None:
    feed = started("a")
    feed.take(page("a", "1", notes=("A note.",)))
    feed.console_done(NetworkError("Connection reset."))
    generation = feed.generation
    day = EventWindow.last(timedelta(hours=24), NOW)
    feed.start(day)
    assert feed.generation == generation + 1 and feed.window == day and feed.pending == 1
    assert not feed.timeline and not feed.notes and not feed.failures and not feed.fresh


def test_the_tail_asks_after_the_window_marks_what_it_brought_and_says_when_it_polls() -> None:
    feed = started("a", "b")
    feed.take(page("a", "1"))
    feed.console_done(None), feed.console_done(None)
    assert feed.tail_words(NOW) == "" and feed.toggle_tail(NOW)
    assert feed.progress(NOW + timedelta(seconds=4)).words.startswith("Live tail: first poll in 6 s · 1 event in ")

    later = NOW + timedelta(seconds=10)
    since = feed.poll_tail(later)
    assert (since.start, since.end) == (HOUR.end, later) and (feed.window.start, feed.window.end) == (HOUR.start, later)
    assert feed.tail_words(later) == "live tail: polling now"
    feed.take(page("a", "2", "1", minutes_ago=0), tail=True)  # "1" was in the window already: not new
    assert feed.fresh == {feed.timeline.row_of(feed.timeline.events[-1])}
    feed.tail_done(None, later)
    assert feed.tail_polled_at is None  # b has not answered yet
    feed.tail_done(None, later)
    assert feed.tail_polled_at == later
    assert feed.progress(later + timedelta(seconds=3)).words == (
        "Live tail: polled 3 s ago · next in 7 s · 1 new · 2 events in the window")
    assert not feed.toggle_tail(later) and feed.tail_words(later) == ""


def test_a_tail_poll_that_fails_is_said_like_a_load_that_fails() -> None:
    feed = started("a")
    feed.console_done(None)
    feed.toggle_tail(NOW)
    feed.poll_tail(NOW)
    feed.tail_done(NetworkError("Connection reset."), NOW)
    assert feed.progress(NOW).error and feed.tail_polled_at == NOW and feed.tail_found == 0


async def test_the_demo_consoles_events_load_completely() -> None:
    feed = await load_demo_events(100, timedelta(hours=24))
    assert feed.pending == 0 and not feed.failures and len(feed.timeline) > 0
    assert {event.connection for event in feed.timeline.events} == set(feed.names)
    assert all(feed.window.contains(event.time) for event in feed.timeline.events)
    assert feed.progress(feed.window.end).words.startswith(f"{len(feed.timeline):,} events in the window")
