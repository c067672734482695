"""The form of a file fetch: the file's full path on the computer, its hash, and where SEPM looks for it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, RadioSet, Static

from tui.hashes import FileHash, HashError, parse_hash
from widgets.toggles import ShapedRadioButton


@dataclass(frozen=True, slots=True)
class FetchRequest:
    path: str
    hash: FileHash
    source: str
    """One of the form's sources (SEPM: FILESYSTEM, QUARANTINE or BOTH)."""


class FetchForm(ModalScreen[FetchRequest | None]):
    """Enter in the path moves to the hash, enter in the hash asks (after the caller's confirmation); Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, connection: str, computers: str, sources: Mapping[str, str]) -> None:
        """`sources`: where the console can take the file from, value to words, the first the default."""
        super().__init__()
        self.connection = connection
        self.computers = computers
        self.sources = sources

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="fetch-form"):
            yield Static(f"Fetch a file to {self.connection}", classes="dialog-title", markup=False)
            yield Static(f"From {self.computers}", classes="dialog-body", markup=False)
            yield Input(placeholder=r"full path on the computer, e.g. C:\Windows\Temp\x.exe", id="file-path")
            with RadioSet(id="file-source", compact=True):
                for index, (source, words) in enumerate(self.sources.items()):
                    yield ShapedRadioButton(f"from {words}", value=index == 0, name=source, compact=True)
            yield Input(placeholder="the file's MD5 or SHA-256", id="file-hash")
            yield Static("", id="fetch-problem", classes="dialog-problem", markup=False)
            yield Static("enter next field, then fetch · tab reaches the source · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#file-path", Input).focus()

    @on(Input.Changed)
    def _typed(self) -> None:
        self.query_one("#fetch-problem", Static).update("")

    @on(Input.Submitted, "#file-path")
    def _path_entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#file-hash", Input).focus()

    @on(Input.Submitted, "#file-hash")
    def _hash_entered(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        """Dismiss with the request, or say under the fields what is missing or wrong."""
        problem = self.query_one("#fetch-problem", Static)
        path = self.query_one("#file-path", Input).value.strip()
        if not path:
            problem.update("Give the file's full path on the computer.")
            self.query_one("#file-path", Input).focus()
            return
        try:
            wanted = parse_hash(self.query_one("#file-hash", Input).value)
        except HashError as error:
            problem.update(str(error))
            self.query_one("#file-hash", Input).focus()
            return
        pressed = self.query_one("#file-source", RadioSet).pressed_button
        self.dismiss(FetchRequest(path, wanted, pressed.name if pressed and pressed.name else next(iter(self.sources))))

    def action_cancel(self) -> None:
        self.dismiss(None)
