"""Pilot tests of the event timeline: windows, severity filter, search with n / N, detail, device jump, tail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from textual.command import CommandList
from textual.worker import Worker, WorkerState

from helpers import (
    FIXED_NOW,
    demo_app,
    fixed_clock,
    loaded,
    notifications,
    palette_listed,
    screen_lines,
    type_ahead,
    wait_until,
)
from screens.device_detail import DeviceDetailScreen
from screens.event_detail import EventDetailScreen
from screens.events import EventsScreen
from screens.groups import GroupsScreen
from screens.help import HelpScreen
from tui.app import ExplorerApp
from tui.demo import build_demo
from tui.models import Severity
from widgets.confirm import ConfirmDialog
from widgets.window_prompt import WindowPrompt


async def open_events(pilot, app, *, row: int = 2, size: int = 300, window: str | None = None) -> EventsScreen:
    """The events screen of the `row`-th demo console; `window` is a window key ("3": the last 24 h) pressed
    once it is open, its events then loaded."""
    await pilot.press(*["down"] * row, "enter")
    await wait_until(pilot, loaded(app, size))
    await pilot.press("E")
    await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen) and not app.screen.pending)
    await pilot.pause()
    screen = app.screen
    if window is not None:
        await pilot.press(window)
        await wait_until(pilot, lambda: not screen.pending)
    return screen


def browsing_rows(shown) -> list[int]:
    """The positions of the events a search for "browsing" matches (title or engine)."""
    return [position for position, event in enumerate(shown)
            if "browsing" in f"{event.title} {event.engine}".casefold()]


async def test_the_timeline_is_newest_first_and_filters_by_window_and_severity() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app)
        hour = len(screen.table.shown)
        await pilot.press("3")
        await wait_until(pilot, lambda: not screen.pending)
        events = screen.table.shown
        assert len(events) > hour and events == sorted(events, key=lambda e: e.time, reverse=True)
        assert all(screen.window.contains(event.time) for event in events)
        await pilot.press("v")
        assert {e.severity for e in screen.table.shown} <= {Severity.CRITICAL, Severity.WARNING}
        await pilot.press("v")
        critical = screen.table.shown
        assert critical and {e.severity for e in critical} == {Severity.CRITICAL}
        assert f"{len(critical)} events, {len(critical)} critical · critical only" in str(
            screen.query_one("#window-bar").render())
        await pilot.press("v")
        assert len(screen.table.shown) == len(events)


async def test_search_jumps_between_matches_with_n_and_shift_n() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        table = screen.table
        matches = browsing_rows(table.shown)
        assert len(matches) >= 2
        await pilot.press("slash", *"browsing", "enter")
        assert table.cursor == matches[0]
        await pilot.press("n")
        assert table.cursor == matches[1]
        await pilot.press("N")
        assert table.cursor == matches[0]


async def test_keys_typed_ahead_search_then_move_between_matches() -> None:
    """`/browsing⏎n` in one burst: the box gets the word, enter leaves it, n goes to the second match."""
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        table = screen.table
        matches = browsing_rows(table.shown)
        type_ahead(app, "slash", *"browsing", "enter", "n")
        await wait_until(pilot, lambda: table.cursor == matches[1])
        assert screen.needle == "browsing" and app.focused is table

        type_ahead(app, "slash", "escape")  # escape drops the search and leaves the box
        await wait_until(pilot, lambda: not screen.needle and app.focused is table)
        assert not screen.query_one("#event-search").display


async def test_a_search_without_match_is_said_on_the_status_line_and_aloud_only_for_n() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        said = lambda: [words for words in notifications(app) if "No event matches" in words]  # noqa: E731
        await pilot.press("slash", *"zqx", "enter")
        assert "no match for “zqx”" in str(screen.query_one("#status").render())
        assert not said()  # a toast per keystroke would bury the screen
        await pilot.press("n")
        assert len(said()) == 1 and "“zqx”" in said()[0]


async def test_at_80_columns_the_rows_say_what_happened_and_the_bar_when_the_window_ends() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_events(pilot, app, row=0, window="3")
        await pilot.pause()
        lines = screen_lines(app)
        assert any(f"→ {screen.window.end:%m-%d %H:%M}Z" in line for line in lines)
        alerts = [line for line in lines if "● crit" in line]
        assert alerts and all("CRITICAL:" not in line for line in alerts)
        assert any("CLIENT SECURITY ALERT" in line for line in alerts)
        assert any(e.title.startswith("CRITICAL: ") for e in screen.table.shown)  # the record keeps its title
        footer = lines[-1]
        assert "w Window" in footer and "e Engine" in footer and "? Help" in footer


async def test_elements_titles_lose_the_engine_only_while_its_column_shows() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        await pilot.pause()
        blocked = next(e for e in screen.table.shown if e.title.startswith("Browsing protection: blocked "))
        title_of = next(column for column in screen.table.columns if column.key == "title").cell
        assert title_of(blocked, FIXED_NOW)[0].startswith("blocked https://")
        await pilot.resize_terminal(80, 24)
        # the table hears of its new width a few messages after the terminal's
        await wait_until(pilot, lambda: "engine" not in [column.key for column, _ in screen.table.layout_columns])
        assert title_of(blocked, FIXED_NOW)[0].startswith("Browsing protection: blocked")


async def test_search_counts_its_matches() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_events(pilot, app, window="3")
        matches = browsing_rows(screen.table.shown)
        await pilot.press("slash", *"browsing", "enter", "n")
        assert f"match 2 of {len(matches)}" in str(screen.query_one("#status").render())
        await pilot.press("N")
        assert f"match 1 of {len(matches)}" in str(screen.query_one("#status").render())


async def test_with_several_consoles_the_untouched_cursor_stays_on_the_newest_event() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f")
        await wait_until(pilot, lambda: isinstance(app.screen, GroupsScreen) and app.screen.fleet.consoles
                         and not app.screen.loading)
        await pilot.press("E")
        await wait_until(pilot, lambda: isinstance(app.screen, EventsScreen) and not app.screen.pending)
        await pilot.pause()
        screen = app.screen
        await pilot.press("3")
        await wait_until(pilot, lambda: not screen.pending)
        await pilot.pause()
        assert len({e.connection for e in screen.table.shown}) > 1
        assert screen.table.cursor == 0 and screen.table.scroll_y == 0
        await pilot.press("j", "j", "ctrl+r")
        await wait_until(pilot, lambda: not screen.pending)
        await pilot.pause()
        assert screen.table.cursor == 0  # a reload starts untouched again: the newest first


async def test_enter_opens_the_event_and_d_its_device() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        event = screen.table.record_at_cursor()
        await pilot.press("enter")
        assert isinstance(app.screen, EventDetailScreen)
        assert ("Event", event.title) in app.screen.summary
        assert app.screen.raw  # every raw field of the console's record
        await pilot.press("d")
        assert isinstance(app.screen, DeviceDetailScreen)
        assert app.screen.device.id == event.device_id
        await pilot.press("escape", "escape", "escape")
        assert isinstance(app.screen, GroupsScreen)


async def test_epmm_events_are_its_audit_log() -> None:
    """E on EPMM: the audit log (who locked, wiped, retired which device), once "no events" (issue 12)."""
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        # 4: the last 7 days, as the demo's admins act every few hours
        screen = await open_events(pilot, app, row=1, window="4")
        events = screen.table.shown
        assert events and {event.source for event in events} == {"audit-logs"}
        assert all(event.device_id for event in events)
        assert not any("offers events" in text for text in notifications(app))


async def test_live_tail_polls_after_the_window_and_waits_for_dialogs() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app)
        client = screen.clients[0]
        asked = []
        listing = client.events

        def spy(window):
            asked.append(window)
            return listing(window)

        client.events = spy  # type: ignore[method-assign]
        await pilot.press("t")
        assert screen.feed.tailing and "live tail" in str(screen.query_one("#status").render()).lower()
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        screen.tail_timer.fire()
        assert not asked  # not while the help is open
        await pilot.press("escape")
        end = screen.window.end
        screen.tail_timer.fire()
        await wait_until(pilot, lambda: asked)
        assert asked[0].start == end
        await pilot.press("t")
        assert not screen.feed.tailing


async def test_live_tail_says_when_it_polled_when_it_polls_next_and_what_it_found() -> None:
    demo = build_demo(300, now=FIXED_NOW)
    now = [FIXED_NOW]
    app = ExplorerApp(demo.config, transports=demo.transports, clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_events(pilot, app)

        def status() -> str:
            return str(screen.query_one("#status").render())

        await pilot.press("t")
        assert status().startswith("Live tail: first poll in 10 s")
        now[0] += timedelta(seconds=4)
        await wait_until(pilot, lambda: status().startswith("Live tail: first poll in 6 s"))  # by itself, each second
        screen.tail_timer.fire()
        assert status().startswith("Live tail: polling now")
        await wait_until(pilot, lambda: screen.feed.tail_polled_at is not None)
        now[0] += timedelta(seconds=3)
        await wait_until(pilot, lambda: status().startswith("Live tail: polled 3 s ago · next in 7 s · 0 new · "))
        assert any("polled 3 s ago · next in 7 s · 0 new" in line for line in screen_lines(app))  # seen at 80x24
        await pilot.press("t")
        assert "live tail" not in status().lower() and "polled" not in status()


async def test_the_palette_lists_the_windows_shortest_first_and_names_keys_without_symbols() -> None:
    app = demo_app(300)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_events(pilot, app)
        await pilot.press("ctrl+p")
        await wait_until(pilot, palette_listed(app))
        options = app.screen.query_one(CommandList)
        prompts = [str(options.get_option_at_index(at).prompt) for at in range(options.option_count)]
        windows = [prompt.split("\n")[0] for prompt in prompts if "(key: " in prompt and prompt[-2] in "1234"]
        assert windows == ["Window 1: last 15 min", "Window 2: last 1 h", "Window 3: last 24 h", "Window 4: last 7 d"]
        keys = [prompt.rpartition("(key: ")[2] for prompt in prompts if "(key: " in prompt]
        assert "enter)" in keys and all(key.isascii() for key in keys), keys  # no "⏎", two cells wide in many terminals


async def test_e_keeps_one_engine_at_a_time_then_all_again() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        everything = screen.table.shown
        engines = sorted({event.engine for event in everything})
        assert len(engines) >= 2
        seen = []
        for _ in engines:
            await pilot.press("e")
            assert {event.engine for event in screen.table.shown} == {screen.engine}
            seen.append(screen.engine)
        assert seen == engines
        await pilot.press("e")
        assert screen.engine is None and screen.table.shown == everything


async def test_the_device_detail_lists_its_recent_events() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        event = next(e for e in screen.table.shown if e.device_id)
        screen.table.cursor = screen.table.shown.index(event)
        await pilot.press("enter", "d")
        detail = app.screen
        assert isinstance(detail, DeviceDetailScreen)
        await wait_until(pilot, lambda: detail.related is not None and detail.related[1][0][0] != "loading…")
        assert any(title == event.title for _, title in detail.related[1])


async def test_w_takes_any_window_with_offsets_and_refuses_nonsense_in_words() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app)
        await pilot.press("w")
        prompt = app.screen
        assert isinstance(prompt, WindowPrompt)
        start = prompt.query_one("#window-start")
        start.value = "yesterday"
        await pilot.pause()
        assert "neither a duration" in str(prompt.query_one("#window-problem").render())
        await pilot.press("enter", "enter")
        assert app.screen is prompt  # still asking
        start.value = "2026-11-25T00:00:00+01:00"
        prompt.query_one("#window-end").value = "2026-11-25T11:00:00Z"
        await pilot.pause()
        assert "2026-11-24T23:00:00Z → 2026-11-25T11:00:00Z" in str(prompt.query_one("#window-problem").render())
        await pilot.press("enter")
        assert isinstance(app.screen, EventsScreen)
        await wait_until(pilot, lambda: not screen.pending)
        assert (screen.window.start, screen.window.end) == (datetime(2026, 11, 24, 23, tzinfo=UTC),
                                                            datetime(2026, 11, 25, 11, tzinfo=UTC))
        assert screen.table.shown and all(screen.window.contains(event.time) for event in screen.table.shown)
        assert str(screen.query_one("#window-bar").render()).startswith("Window 11-24 23:00Z → 11-25 11:00Z · ")


def writable_sepm_app():
    demo = build_demo(300, now=FIXED_NOW)
    demo.config.connections["demo-sepm"].read_only = False
    return ExplorerApp(demo.config, transports=demo.transports, clock=fixed_clock, state=demo.state)


async def unacknowledged_sepm_event(pilot, app) -> tuple[EventsScreen, object]:
    screen = await open_events(pilot, app, row=0, window="4")
    event = next(e for e in screen.table.shown if e.source == "critical-events" and e.acknowledged is False)
    screen.table.cursor = screen.table.shown.index(event)
    await pilot.press("enter")
    assert isinstance(app.screen, EventDetailScreen)
    return screen, event


async def test_acknowledge_asks_then_marks_the_sepm_event_as_seen() -> None:
    app = writable_sepm_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen, event = await unacknowledged_sepm_event(pilot, app)
        await pilot.press("A")
        assert isinstance(app.screen, ConfirmDialog) and event.title in app.screen.message
        await pilot.press("y")
        await wait_until(pilot, lambda: any("Acknowledged on demo-sepm" in text for text in notifications(app)))
        again = [e async for page in screen.clients[0].events(screen.window) for e in page.events if e.id == event.id]
        assert again and again[0].acknowledged is True


async def test_acknowledge_on_a_read_only_connection_is_hidden_and_explained() -> None:
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        await unacknowledged_sepm_event(pilot, app)
        assert not app.screen.check_action("acknowledge", ())
        await pilot.press("A")
        assert isinstance(app.screen, EventDetailScreen)
        assert any("--demo-writes" in text for text in notifications(app))  # the demo says how to allow it


async def test_one_event_is_one_event() -> None:
    """"1 events in the window" (issue 15): a window holding exactly one event says "1 event"."""
    from datetime import timedelta

    from tui.models import EventWindow

    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app, window="3")
        first = screen.table.shown[0]
        screen.custom = EventWindow(start=first.time, end=first.time + timedelta(milliseconds=1))
        screen.load()
        await wait_until(pilot, lambda: not screen.pending)
        assert len(screen.table.shown) == 1
        assert str(screen.query_one("#status").render()).startswith("1 event in the window")


async def test_a_load_that_ended_just_before_a_reload_is_not_counted_in_the_reload() -> None:
    """A worker's end is a message: one handled after the reload that replaced its load must not count as
    one of the new load's consoles answering (the status said "loaded" too early, then "Loading" forever)."""
    app = demo_app(300)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_events(pilot, app)
        ended = next(iter(screen.load_workers))
        screen.load()
        consoles = screen.pending
        screen.on_worker_state_changed(Worker.StateChanged(ended, WorkerState.SUCCESS))
        assert screen.pending == consoles
        await wait_until(pilot, lambda: not screen.pending)
        assert screen.pending == 0 and "in the window" in str(screen.query_one("#status").render())
