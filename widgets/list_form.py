"""The form of a new fingerprint list: its name, a description and its first hashes (one type per list)."""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.hashes import FileHash, HashError, hashes_in_text


@dataclass(frozen=True, slots=True)
class NewList:
    name: str
    description: str
    hashes: tuple[FileHash, ...]


class ListForm(ModalScreen[NewList | None]):
    """Enter moves to the next field and, in the hashes, asks (after the caller's confirmation); Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, connection: str) -> None:
        super().__init__()
        self.connection = connection

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="list-form"):
            yield Static(f"New fingerprint list on {self.connection}", classes="dialog-title", markup=False)
            yield Input(placeholder="name (unique on the console)", id="list-name")
            yield Input(placeholder="description (optional)", id="list-description")
            yield Input(placeholder="MD5 or SHA-256 hashes (one type), separated by spaces or commas",
                        id="list-hashes")
            yield Static("", id="list-problem", classes="dialog-problem", markup=False)
            yield Static("enter next field, then create · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#list-name", Input).focus()

    @on(Input.Changed)
    def _typed(self) -> None:
        self.query_one("#list-problem", Static).update("")

    @on(Input.Submitted)
    def _entered(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id != "list-hashes":
            self.focus_next(Input)
            return
        problem = self.query_one("#list-problem", Static)
        name = self.query_one("#list-name", Input).value.strip()
        if not name:
            problem.update("Give the list a name.")
            self.query_one("#list-name", Input).focus()
            return
        try:
            hashes = hashes_in_text(event.value)
        except HashError as error:
            problem.update(str(error))
            return
        if not hashes:
            problem.update("Type or paste at least one hash: SEPM needs one to know the list's hash type.")
            return
        if len({value.type for value in hashes}) > 1:
            problem.update("One hash type per list: give only MD5s or only SHA-256s.")
            return
        self.dismiss(NewList(name, self.query_one("#list-description", Input).value.strip(), hashes))

    def action_cancel(self) -> None:
        self.dismiss(None)
