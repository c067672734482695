"""Pilot tests of the fingerprint lists screen: known lists, find a hash, open by name, copy, other vendors."""

from __future__ import annotations

from dataclasses import replace

from helpers import demo_app, loaded, notifications, wait_until
from screens.fingerprints import FingerprintsScreen
from screens.messages import ListOpened
from tui.simulators.sepm import DEMO_BLOCKLIST_NAME, DEMO_FILES
from widgets.confirm import ConfirmDialog


async def open_lists(pilot, app, *, row: int = 0, size: int = 100) -> FingerprintsScreen:
    await pilot.press(*["down"] * row, "enter")
    await wait_until(pilot, loaded(app, size))
    await pilot.press("F")
    assert isinstance(app.screen, FingerprintsScreen)
    return app.screen


async def test_the_known_lists_and_a_hash_found_on_one_of_them() -> None:
    app = demo_app(100)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lists(pilot, app)
        await wait_until(pilot, lambda: len(screen.lists) == 3)
        await pilot.pause()
        assert {item.name for item in screen.lists} >= {DEMO_BLOCKLIST_NAME}
        await pilot.press("h", *DEMO_FILES[0].sha256.lower(), "enter")
        assert [item.name for item in screen.list_table.shown] == [DEMO_BLOCKLIST_NAME]
        assert f"is on 1 of the 3 known lists: {DEMO_BLOCKLIST_NAME}" in str(screen.query_one("#fp-summary").render())
        assert "Quarantine" in str(screen.list_table.render_line(1).text)  # its lockdown group, by path
        await pilot.press("escape")
        assert len(screen.list_table.shown) == 3
        await pilot.press("h", *"not-a-hash", "enter")
        assert "is not a hash" in str(screen.query_one("#fp-prompt").render())
        assert screen.query_one("#fp-input").value == "not-a-hash"  # kept, to be fixed


async def test_enter_shows_the_hashes_and_y_copies_one() -> None:
    app = demo_app(100)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lists(pilot, app)
        await wait_until(pilot, lambda: len(screen.lists) == 3)
        screen.list_table.cursor = next(r for r, item in enumerate(screen.lists) if item.name == DEMO_BLOCKLIST_NAME)
        await pilot.press("enter")
        assert screen.hash_table.has_focus
        assert set(screen.hash_table.shown) == {DEMO_FILES[0].sha256, DEMO_FILES[1].sha256}
        await pilot.press("y")
        assert app.clipboard == screen.hash_table.shown[0]


async def test_open_by_name_remembers_the_list_and_a_missing_name_is_said_in_words() -> None:
    app = demo_app(100)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lists(pilot, app)
        await wait_until(pilot, lambda: len(screen.lists) == 3)
        await pilot.press("o", *"No Such List", "enter")
        await wait_until(pilot, lambda: any("no fingerprint list named" in text for text in notifications(app)))
        assert len(screen.lists) == 3


async def test_other_vendors_show_the_screen_as_not_available() -> None:
    app = demo_app(50)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lists(pilot, app, row=1, size=50)
        assert "a SEPM feature" in str(screen.query_one("#fp-summary").render())
        assert not screen.list_table.display
        await pilot.press("h")
        assert not screen.query_one("#fp-input").display  # no action but back
        await pilot.press("escape")
        assert not isinstance(app.screen, FingerprintsScreen)


async def chosen_blocklist(pilot, app) -> FingerprintsScreen:
    screen = await open_lists(pilot, app)
    await wait_until(pilot, lambda: len(screen.lists) == 3)
    screen.list_table.cursor = next(r for r, item in enumerate(screen.lists) if item.name == DEMO_BLOCKLIST_NAME)
    await pilot.press("enter")
    return screen


async def test_a_read_only_connection_hides_writes_and_says_how_to_allow_them() -> None:
    app = demo_app(100)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await chosen_blocklist(pilot, app)
        assert not screen.check_action("prompt", ("add",)) and not screen.check_action("delete_list", ())
        await pilot.press("a")
        assert not screen.query_one("#fp-input").display
        assert any("epx --demo --demo-writes" in text for text in notifications(app))  # the demo's own way


async def test_adding_hashes_shows_the_change_then_replaces_the_list() -> None:
    app = demo_app(100, writes=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await chosen_blocklist(pilot, app)
        new = DEMO_FILES[2].sha256.lower() if len(DEMO_FILES) > 2 else "A" * 64
        await pilot.press("a", *f"{new}, {DEMO_FILES[0].sha256}", "enter")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert DEMO_BLOCKLIST_NAME in dialog.title_text and "1 added" in dialog.message and "2 -> 3" in dialog.message
        await pilot.press("y")
        await wait_until(pilot, lambda: screen.chosen is not None and len(screen.chosen.hashes) == 3)
        assert new.upper() in screen.chosen.hashes
        screen.hash_table.cursor = screen.hash_table.shown.index(new.upper())
        await pilot.press("x")
        assert "1 removed" in app.screen.message
        await pilot.press("n")  # no: nothing sent
        assert len(screen.chosen.hashes) == 3


async def test_deleting_a_list_names_it_and_its_groups_and_forgets_it() -> None:
    app = demo_app(100, writes=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await chosen_blocklist(pilot, app)
        await pilot.press("D")
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog) and dialog.danger
        assert DEMO_BLOCKLIST_NAME in dialog.title_text and "Quarantine" in dialog.message
        await pilot.press("y")
        await wait_until(pilot, lambda: len(screen.lists) == 2)
        assert DEMO_BLOCKLIST_NAME not in {known.name for known in app.session.state.known_lists("demo-sepm")}


async def test_add_names_the_highlighted_list_and_refuses_a_wrong_hash_type_keeping_the_text() -> None:
    app = demo_app(100, writes=True)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await chosen_blocklist(pilot, app)  # its hashes are shown
        chosen = screen.chosen
        screen.list_table.focus()
        other_row = next(r for r, item in enumerate(screen.lists) if item.id != chosen.id and item.hash_type)
        screen.list_table.cursor = other_row
        other = screen.lists[other_row]
        await pilot.press("a")
        prompt = str(screen.query_one("#fp-prompt").render())
        assert f"Add to {other.name!r}" in prompt and chosen.name not in prompt

        wrong = "d41d8cd98f00b204e9800998ecf8427e" if other.hash_type.upper().replace("-", "") == "SHA256" else "e" * 64
        await pilot.press(*f"{wrong} zz", "enter")
        field = screen.query_one("#fp-input")
        assert field.display and field.has_focus and field.value == f"{wrong} zz"
        assert "is not a hash" in str(screen.query_one("#fp-prompt").render())
        await pilot.press("backspace", "backspace", "backspace", "enter")
        assert not isinstance(app.screen, ConfirmDialog)
        assert field.value == wrong and f"{other.name!r} holds" in str(screen.query_one("#fp-prompt").render())
        assert not any("Unexpected" in text or "Error" in text for text in notifications(app))


async def test_a_list_name_that_looks_like_markup_is_shown_as_it_is() -> None:
    """Console text is shown as text: a list named like Textual markup neither styles the summary nor breaks it."""
    app = demo_app(100)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await open_lists(pilot, app)
        await wait_until(pilot, lambda: len(screen.lists) == 3)
        chosen = screen.chosen
        screen.post_message(ListOpened(replace(chosen, name="[/x] [b]evil")))
        await wait_until(pilot, lambda: screen.chosen.name == "[/x] [b]evil")
        await pilot.pause()
        assert "· [/x] [b]evil: " in str(screen.query_one("#fp-summary").render())
