"""Asks where to export: a file path prefilled with a default, checked before the dialog lets go."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.export import export_path_problem

HINT = "enter export · esc cancel · .csv or .json"
EXISTS = "file exists: press enter again to overwrite"


@dataclass(frozen=True, slots=True)
class PathAnswer:
    path: Path
    overwrite: bool
    """True only when the file existed and the user pressed enter a second time on the same path."""


class PathPrompt(ModalScreen[PathAnswer | None]):
    """Enter answers with a path that can be written (`~` expanded), Esc cancels.

    Problems show on the line under the input and keep the dialog open: an unknown extension, a
    missing directory, and an existing file, which a second enter on the same path overwrites.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, default: Path | str) -> None:
        super().__init__()
        self.title_text = title
        self.default = str(default)
        self.confirmed_overwrite: Path | None = None  # the existing file a second enter overwrites

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Input(value=self.default, placeholder="file.csv or file.json", id="path")
            yield Static("", id="path-problem", classes="dialog-problem", markup=False)
            yield Static(HINT, classes="dialog-hint")

    def on_mount(self) -> None:
        path_input = self.query_one("#path", Input)
        path_input.focus()
        path_input.cursor_position = len(path_input.value)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.confirmed_overwrite = None
        self.show_problem("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.show_problem("type a file path ending in .csv or .json")
            return
        path = Path(text).expanduser()
        problem = export_path_problem(path)
        if problem is not None:
            self.show_problem(problem)
            return
        if path.exists():
            if self.confirmed_overwrite != path:
                self.confirmed_overwrite = path
                self.show_problem(EXISTS, warning=True)
                return
            self.dismiss(PathAnswer(path, overwrite=True))
            return
        self.dismiss(PathAnswer(path, overwrite=False))

    def show_problem(self, text: str, *, warning: bool = False) -> None:
        line = self.query_one("#path-problem", Static)
        line.update(text)
        line.set_class(warning, "-warning")

    def action_cancel(self) -> None:
        self.dismiss(None)
