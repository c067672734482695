"""Pick one group of a console by typing part of its path: for assigning a fingerprint list to a group."""

from __future__ import annotations

from collections.abc import Mapping

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

SHOWN = 200
"""Options listed at most; typing narrows the rest."""


class GroupPicker(ModalScreen[str | None]):
    """Dismisses with the chosen group's id; typing filters the paths, up/down move, enter picks, esc cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", "Next", show=False),
        Binding("up", "move(-1)", "Previous", show=False),
    ]

    def __init__(self, title: str, paths: Mapping[str, str]) -> None:
        super().__init__()
        self.title_text = title
        self.paths = sorted(paths.items(), key=lambda item: item[1].casefold())
        """(group id, group path), by path."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="group-picker"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Input(placeholder="part of the group's path", id="group-filter")
            yield OptionList(id="group-options", compact=True)
            yield Static("", id="group-count", classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#group-filter", Input).focus()
        self._show("")

    @on(Input.Changed, "#group-filter")
    def _typed(self, event: Input.Changed) -> None:
        self._show(event.value.strip())

    def _show(self, needle: str) -> None:
        wanted = needle.casefold()
        matches = [(group_id, path) for group_id, path in self.paths if wanted in path.casefold()]
        options = self.query_one("#group-options", OptionList)
        options.clear_options()
        options.add_options(Option(path, id=group_id) for group_id, path in matches[:SHOWN])
        options.highlighted = 0 if matches else None
        more = f" (the first {SHOWN}; type to narrow)" if len(matches) > SHOWN else ""
        self.query_one("#group-count", Static).update(
            f"{len(matches):,} of {len(self.paths):,} groups{more} · enter picks · esc cancels")

    def action_move(self, step: int) -> None:
        """Up and down move the highlight while the typing stays in the filter."""
        options = self.query_one("#group-options", OptionList)
        if step > 0:
            options.action_cursor_down()
        else:
            options.action_cursor_up()

    @on(Input.Submitted, "#group-filter")
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        options = self.query_one("#group-options", OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected, "#group-options")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
