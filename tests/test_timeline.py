"""The timeline's event store: merge by time, filters that narrow, search, hour heads and histogram.

Each answer is checked against the plain way of working it out over the whole list (a full sort, a
list comprehension, a pass per event), which is what the screen did before the store.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from screens.events import longest_title, shown_title
from tui.models import Event, Severity
from tui.timeline import EventFilter, Timeline, search_key

START = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
ENGINES = ("fileScanning", "deepGuard", "browsingProtection", "notification")
WORDS = ("Trojan found", "Firewall off", "Blocked site", "Scan done", "USB blocked")


def event(number: int, moment: datetime, *, connection: str = "elements", severity: Severity = Severity.INFO,
          engine: str = "fileScanning", title: str = "t", device: str = "PC-1") -> Event:
    return Event(vendor="elements", connection=connection, id=f"e{number}", time=moment, severity=severity,
                 engine=engine, title=title, device_name=device)


def fleet_events(count: int, *, seed: int = 5, connection: str = "elements", spread_hours: int = 24) -> list[Event]:
    """Events at random times in a day (some sharing a second), random severities, engines and titles."""
    rng = random.Random(seed)
    return [
        event(number, START + timedelta(seconds=rng.randrange(spread_hours * 3600 // 7) * 7,
                                        microseconds=rng.choice((0, 0, 250_000))),
              connection=connection, severity=rng.choice(list(Severity)), engine=rng.choice(ENGINES),
              title=f"{rng.choice(WORDS)} {number}", device=f"PC-{rng.randrange(40)}")
        for number in range(count)
    ]


def newest_first(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: e.time, reverse=True)


def pages(events: list[Event], size: int) -> list[list[Event]]:
    return [events[start:start + size] for start in range(0, len(events), size)]


def shown(timeline: Timeline, rows: list[int]) -> list[Event]:
    return [timeline.events[row] for row in rows]


def test_pages_in_time_order_merge_like_a_full_sort() -> None:
    events = fleet_events(1000)
    oldest_first = sorted(events, key=lambda e: e.time)
    timeline = Timeline()
    for page in pages(oldest_first, 200):  # as Elements sends them
        timeline.add(page)
    assert shown(timeline, timeline.order) == newest_first(oldest_first)


def test_unsorted_pages_and_two_consoles_interleave_by_time() -> None:
    elements, sepm = fleet_events(600, seed=1), fleet_events(400, seed=2, connection="sepm")
    random.Random(9).shuffle(sepm)
    timeline = Timeline()
    arrivals = [*pages(sorted(elements, key=lambda e: e.time), 200), sepm]
    for page in (arrivals[0], arrivals[3], arrivals[1], arrivals[2]):
        timeline.add(page)
    order = shown(timeline, timeline.order)
    assert [e.time for e in order] == sorted((e.time for e in elements + sepm), reverse=True)
    assert len(order) == len({(e.connection, e.id) for e in order}) == 1000


def test_equal_times_keep_the_event_that_arrived_first_first() -> None:
    moment = START + timedelta(hours=1)
    timeline = Timeline([event(1, moment), event(2, moment - timedelta(seconds=1))])
    timeline.add([event(3, moment), event(4, moment)])
    assert [e.id for e in shown(timeline, timeline.order)] == ["e1", "e3", "e4", "e2"]


def test_an_event_seen_again_is_not_added_twice() -> None:
    events = fleet_events(10)
    timeline = Timeline(events[:6])
    added = timeline.add(events[4:])
    assert added == [6, 7, 8, 9] and len(timeline) == 10 == len(timeline.order)
    assert timeline.row_of(events[4]) == 4 and timeline.row_of(event(99, START)) is None


FILTERS = [EventFilter(), EventFilter(frozenset({Severity.CRITICAL, Severity.WARNING})),
           EventFilter(frozenset({Severity.CRITICAL})), EventFilter(engine="deepGuard"),
           EventFilter(frozenset({Severity.CRITICAL}), "deepGuard"), EventFilter(engine="nothing"),
           EventFilter(frozenset({Severity.INFO}), "notification")]


def kept(events: list[Event], wanted: EventFilter) -> list[Event]:
    return [e for e in newest_first(events) if (not wanted.severities or e.severity in wanted.severities)
            and (wanted.engine is None or e.engine == wanted.engine)]


def test_each_filter_keeps_what_a_list_comprehension_keeps_in_any_order_of_use() -> None:
    events = fleet_events(800)
    timeline = Timeline(events)
    for wanted in [*FILTERS, *reversed(FILTERS), FILTERS[2], FILTERS[1], FILTERS[4]]:
        assert shown(timeline, timeline.select(wanted)) == kept(events, wanted), wanted


def test_a_filtered_selection_takes_in_new_pages() -> None:
    events = sorted(fleet_events(900), key=lambda e: e.time)
    wanted = EventFilter(frozenset({Severity.CRITICAL}), "fileScanning")
    timeline = Timeline(events[:300])
    before = timeline.select(wanted)
    timeline.add(events[300:600])
    timeline.add(events[600:])
    assert shown(timeline, timeline.select(wanted)) == kept(events, wanted)
    assert shown(timeline, before) == kept(events[:300], wanted)  # a list handed out does not change


def test_counts_and_histogram_stay_right_as_pages_merge_into_what_is_shown() -> None:
    events = fleet_events(900, spread_hours=20)
    random.Random(3).shuffle(events[600:])  # the last pages out of time order, as SEPM answers
    start, end = START, START + timedelta(hours=20)
    wanted = EventFilter(frozenset({Severity.CRITICAL, Severity.WARNING}))
    timeline = Timeline()
    for page in pages(sorted(events[:600], key=lambda e: e.time), 150) + [events[600:750], events[750:]]:
        timeline.add(page)
        for rows in (timeline.order, timeline.select(wanted)):
            seen = shown(timeline, rows)
            assert timeline.count(rows, Severity.CRITICAL) == sum(e.severity is Severity.CRITICAL for e in seen)
            assert timeline.histogram(rows, start, end, 50) == histogram_by_pass(seen, start, end, 50)


def test_an_engine_filter_keeps_its_engine_among_more_than_a_byte_of_engines() -> None:
    """Engines past the first 255 share one code; their filter tells them apart by name."""
    events = [event(number, START + timedelta(seconds=number), engine=f"engine-{number % 300}",
                    severity=list(Severity)[number % 4]) for number in range(900)]
    timeline = Timeline(events)
    for engine in ("engine-0", "engine-254", "engine-255", "engine-299"):
        for wanted in (EventFilter(engine=engine), EventFilter(frozenset({Severity.CRITICAL}), engine)):
            assert shown(timeline, timeline.select(wanted)) == kept(events, wanted), wanted


def test_a_page_of_two_consoles_keeps_an_event_per_console_and_id() -> None:
    ours, theirs = fleet_events(20), fleet_events(20, connection="sepm")
    timeline = Timeline(ours[:10])
    added = timeline.add([*ours[5:], *theirs, theirs[3]])
    assert added == list(range(10, 40)) and len(timeline.order) == 40
    assert timeline.row_of(theirs[3]) == 23 and timeline.row_of(ours[3]) == 3
    assert set(timeline.connections) == {"elements", "sepm"}


def scan(texts: list[str], needle: str, start: int, backwards: bool) -> int | None:
    """The screen's search before the store: event by event from `start`, wrapping round."""
    count = len(texts)
    for offset in range(count):
        position = (start - offset if backwards else start + offset) % count
        if needle in texts[position]:
            return position
    return None


def test_search_finds_the_nearest_match_either_way_as_the_user_types_and_deletes() -> None:
    events = fleet_events(700)
    timeline = Timeline(events)
    rows = timeline.select(EventFilter(frozenset({Severity.CRITICAL, Severity.WARNING})))
    texts = [f"{e.title} {e.device_name} {e.engine}".casefold() for e in shown(timeline, rows)]
    for needle in ("t", "tr", "tro", "trojan found 1", "trojan found 12", "trojan found 1", "pc-3", "zz", "zzz",
                   "z", "deepguard", "trojan found 699", "!"):
        for start in (0, 1, len(rows) // 2, len(rows) - 1):
            for backwards in (False, True):
                assert timeline.find(rows, needle, start, backwards=backwards) == scan(texts, needle, start, backwards), (
                    needle, start, backwards)


def test_matches_as_the_user_types_deletes_and_mistypes_are_those_a_pass_finds() -> None:
    events = fleet_events(700)
    timeline = Timeline(events)
    for rows in (timeline.order, timeline.select(EventFilter(frozenset({Severity.CRITICAL})))):
        texts = [search_key(e) for e in shown(timeline, rows)]
        for needle in ("t", "tr", "tro", "troj", "tro", "tr", "t", "b", "bl", "blx", "blxz", "bl", "pc-1", "pc-12",
                       "pc-1", "12", "s", "sc", "sca", "scan", "scan ", "scan d", "scan do", "scan don", "scan done"):
            assert timeline.matches(rows, needle) == [at for at, text in enumerate(texts) if needle in text], needle


def test_a_needle_that_matched_nothing_is_only_remembered_for_those_rows() -> None:
    events = fleet_events(50)
    timeline = Timeline(events)
    critical = timeline.select(EventFilter(frozenset({Severity.CRITICAL})))
    missing = next(e.title.casefold() for e in events if e.severity is not Severity.CRITICAL)
    assert timeline.find(critical, missing, 0) is None
    assert timeline.find(critical, missing + "0", 0) is None
    assert timeline.find(timeline.order, missing, 0) is not None
    assert timeline.find([], "t", 0) is None


def test_hour_heads_are_the_newest_event_of_each_hour_shown() -> None:
    events = fleet_events(500, spread_hours=30)
    timeline = Timeline(events)
    for wanted in FILTERS:
        rows = timeline.select(wanted)
        expected, previous = set(), None
        for row in rows:
            hour = timeline.events[row].time.replace(minute=0, second=0, microsecond=0)
            if hour != previous:
                expected.add(row)
                previous = hour
        assert {row for row in range(len(timeline)) if timeline.starts_hour(rows, row)} == expected


def histogram_by_pass(events: list[Event], start: datetime, end: datetime, width: int) -> list[tuple[int, Severity]]:
    """The screen's histogram before the store: one pass over every event."""
    counts, worst = [0] * width, [Severity.UNKNOWN] * width
    length = (end - start).total_seconds() or 1.0
    for e in events:
        bucket = min(width - 1, max(0, int((e.time - start).total_seconds() / length * width)))
        counts[bucket] += 1
        if e.severity.rank < worst[bucket].rank:
            worst[bucket] = e.severity
    return list(zip(counts, worst, strict=True))


@pytest.mark.parametrize("width", [1, 10, 77, 200])
def test_the_histogram_counts_each_bucket_as_a_pass_over_every_event_would(width: int) -> None:
    events = fleet_events(900, spread_hours=26)  # some before the window's start: they fall in the first bucket
    timeline = Timeline(events)
    start, end = START + timedelta(hours=2), START + timedelta(hours=25)
    for wanted in FILTERS:
        rows = timeline.select(wanted)
        assert timeline.histogram(rows, start, end, width) == histogram_by_pass(shown(timeline, rows), start, end,
                                                                                width)
    assert timeline.histogram([], start, end, width) == [(0, Severity.UNKNOWN)] * width


@pytest.mark.parametrize("width", [3, 7, 118])
def test_events_a_microsecond_either_side_of_a_bucket_start_fall_as_a_pass_would_put_them(width: int) -> None:
    start, end = START, START + timedelta(hours=1, microseconds=7)
    length = (end - start) / width
    edges = [start + length * bucket + timedelta(microseconds=shift) for bucket in range(width + 1)
             for shift in (-1, 0, 1)]
    events = [event(number, moment, severity=list(Severity)[number % 4]) for number, moment in enumerate(edges)]
    timeline = Timeline(events)
    for wanted in FILTERS[:3]:
        rows = timeline.select(wanted)
        assert timeline.histogram(rows, start, end, width) == histogram_by_pass(shown(timeline, rows), start, end,
                                                                                width)


def test_count_of_a_severity_among_the_rows() -> None:
    events = fleet_events(300)
    timeline = Timeline(events)
    rows = timeline.select(EventFilter(engine="deepGuard"))
    assert timeline.count(rows, Severity.CRITICAL) == sum(
        1 for e in events if e.engine == "deepGuard" and e.severity is Severity.CRITICAL)
    assert timeline.engines == set(ENGINES)


@pytest.mark.parametrize("room", [12, 20, 200])
def test_the_longest_title_is_the_longest_shown_one_up_to_the_room(room: int) -> None:
    """Read up to the first title that fills the room, or shortened only where one could beat the longest."""
    titles = ["CRITICAL: CLIENT SECURITY ALERT", "Informational:   short", "Minor: a much longer title than that",
              "Warning:", "Blocked site on a device", "x" * 15]
    events = [event(number, START, title=title) for number, title in enumerate(titles)]
    for chosen in (events, events[::-1], events[1:2], []):
        for title in (0, 10):
            plain = max([title, *(len(shown_title(e, engine_shown=False)) for e in chosen)])
            assert longest_title(chosen, title, room) == min(plain, room), (room, title, chosen)
