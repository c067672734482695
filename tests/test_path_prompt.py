"""Pilot tests of the export path dialog: the prefilled default, enter, esc, the problems it shows under
the input, and the second enter that overwrites an existing file; all at 80x24."""

from __future__ import annotations

from pathlib import Path

from textual.geometry import Region
from textual.widgets import Input, Static

from tui.app import ExplorerApp
from tui.config import Config
from widgets.path_prompt import EXISTS, HINT, PathAnswer, PathPrompt

TITLE = "Export 37 devices (critical) to CSV or JSON"
UNSET = object()


class Host:
    """An app showing the prompt, and what the prompt dismissed with."""

    def __init__(self, default: Path) -> None:
        self.app = ExplorerApp(Config(path=None))
        self.default = default
        self.answer: object = UNSET

    async def open(self, pilot) -> PathPrompt:
        prompt = PathPrompt(TITLE, self.default)
        self.app.push_screen(prompt, callback=self.record)
        await pilot.pause()
        assert self.app.screen is prompt
        return prompt

    def record(self, answer: PathAnswer | None) -> None:
        self.answer = answer


def problem(prompt: PathPrompt) -> Static:
    return prompt.query_one("#path-problem", Static)


def problem_text(prompt: PathPrompt) -> str:
    return str(problem(prompt).render())


async def replace_text(pilot, prompt: PathPrompt, text: str) -> None:
    """Set all but the last characters, then type those as keys (typing a whole temp path is slow)."""
    path_input = prompt.query_one("#path", Input)
    path_input.value = text[:-3]
    path_input.cursor_position = len(path_input.value)
    await pilot.press(*text[-3:])
    assert path_input.value == text


async def test_the_default_is_prefilled_with_the_cursor_at_the_end_and_enter_takes_it(tmp_path) -> None:
    default = tmp_path / "epx-prod-sepm-20261125-090507.csv"
    host = Host(default)
    async with host.app.run_test(size=(80, 24)) as pilot:
        prompt = await host.open(pilot)
        path_input = prompt.query_one("#path", Input)

        assert prompt.focused is path_input
        assert path_input.value == str(default)
        assert path_input.cursor_position == len(str(default))
        texts = [str(static.render()) for static in prompt.query(Static)]
        assert TITLE in texts and HINT in texts
        assert problem_text(prompt) == ""

        await pilot.press("enter")
        await pilot.pause()

        assert host.answer == PathAnswer(default, overwrite=False)
        assert not isinstance(host.app.screen, PathPrompt)


async def test_typing_a_path_then_enter(tmp_path) -> None:
    host = Host(tmp_path / "epx-a.csv")
    async with host.app.run_test(size=(80, 24)) as pilot:
        await host.open(pilot)

        await pilot.press(*["backspace"] * len("csv"), *"json")
        await pilot.press("enter")
        await pilot.pause()

        assert host.answer == PathAnswer(tmp_path / "epx-a.json", overwrite=False)


async def test_escape_cancels(tmp_path) -> None:
    host = Host(tmp_path / "epx-a.csv")
    async with host.app.run_test(size=(80, 24)) as pilot:
        await host.open(pilot)

        await pilot.press("x", "escape")
        await pilot.pause()

        assert host.answer is None
        assert not isinstance(host.app.screen, PathPrompt)
        assert not (tmp_path / "epx-a.csvx").exists()


async def test_an_existing_file_needs_a_second_enter(tmp_path) -> None:
    existing = tmp_path / "devices.csv"
    existing.write_text("previous\n")
    host = Host(existing)
    async with host.app.run_test(size=(80, 24)) as pilot:
        prompt = await host.open(pilot)

        await pilot.press("enter")
        await pilot.pause()

        assert host.app.screen is prompt and host.answer is UNSET
        assert problem_text(prompt) == EXISTS
        assert problem(prompt).has_class("-warning")

        await pilot.press("enter")
        await pilot.pause()

        assert host.answer == PathAnswer(existing, overwrite=True)
        assert existing.read_text() == "previous\n"  # the prompt only asks; it writes nothing


async def test_editing_the_path_withdraws_the_overwrite(tmp_path) -> None:
    (tmp_path / "a.csv").write_text("x")
    (tmp_path / "b.csv").write_text("x")
    host = Host(tmp_path / "a.csv")
    async with host.app.run_test(size=(80, 24)) as pilot:
        prompt = await host.open(pilot)

        await pilot.press("enter")  # a.csv exists: asks
        await replace_text(pilot, prompt, str(tmp_path / "b.csv"))
        await pilot.pause()
        assert problem_text(prompt) == ""

        await pilot.press("enter")  # b.csv exists too: asks again, does not overwrite it
        await pilot.pause()
        assert host.answer is UNSET and problem_text(prompt) == EXISTS

        await replace_text(pilot, prompt, str(tmp_path / "c.csv"))
        await pilot.press("enter")
        await pilot.pause()
        assert host.answer == PathAnswer(tmp_path / "c.csv", overwrite=False)


async def test_problems_keep_the_dialog_open(tmp_path) -> None:
    host = Host(tmp_path / "a.csv")
    async with host.app.run_test(size=(80, 24)) as pilot:
        prompt = await host.open(pilot)

        await replace_text(pilot, prompt, str(tmp_path / "a.txt"))
        await pilot.press("enter")
        await pilot.pause()
        assert problem_text(prompt) == "unknown extension: use .csv or .json"
        assert not problem(prompt).has_class("-warning")

        await replace_text(pilot, prompt, str(tmp_path / "missing" / "a.csv"))
        await pilot.press("enter")
        await pilot.pause()
        assert problem_text(prompt) == f"directory {tmp_path / 'missing'} does not exist"

        prompt.query_one("#path", Input).value = "   "
        await pilot.press("enter")
        await pilot.pause()
        assert problem_text(prompt) == "type a file path ending in .csv or .json"

        assert host.app.screen is prompt and host.answer is UNSET


async def test_a_home_relative_path_is_expanded(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    host = Host(Path("~/out.json"))
    async with host.app.run_test(size=(80, 24)) as pilot:
        await host.open(pilot)

        await pilot.press("enter")
        await pilot.pause()

        assert host.answer == PathAnswer(tmp_path / "out.json", overwrite=False)


async def test_it_fits_80x24_with_a_long_path_and_a_long_problem(tmp_path) -> None:
    deep = tmp_path / ("a-rather-long-directory-name-" * 3) / "epx-prod-sepm-20261125-090507.csv"
    host = Host(deep)
    async with host.app.run_test(size=(80, 24)) as pilot:
        prompt = await host.open(pilot)
        await pilot.press("enter")  # the directory is missing: a problem that wraps
        await pilot.pause()

        screen = Region(0, 0, 80, 24)
        for widget in (prompt.query_one(".dialog"), *prompt.query(".dialog > *")):
            assert screen.contains_region(widget.region), widget
            assert widget.region.height >= 1, widget
        hint = prompt.query_one(".dialog-hint", Static)
        assert hint.region.bottom <= prompt.query_one(".dialog").region.bottom
