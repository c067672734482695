"""Asks for a time window: a start and an end, each a duration back from now or an RFC 3339 time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.models import EventWindow, iso_utc, parse_time_bound

HINT = "15m · 1h · 24h · 7d back from now, or 2026-11-25T08:00:00+01:00 · end empty: now · enter · esc"


class WindowPrompt(ModalScreen[EventWindow | None]):
    """Enter answers with the window once both bounds parse and the start comes first; Esc cancels.

    A problem is shown under the fields, in words, and keeps the dialog open; the window as understood
    is shown in UTC and local time before it is used.
    """

    DEFAULT_CSS = """
    WindowPrompt Input { width: 100%; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, now: Callable[[], datetime], start: str = "1h", end: str = "",
                 title: str = "Events from … to …") -> None:
        super().__init__()
        self.now = now
        self.start_text, self.end_text = start, end
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Input(value=self.start_text, placeholder="start: 24h or an RFC 3339 time", id="window-start",
                        compact=True)
            yield Input(value=self.end_text, placeholder="end: empty for now", id="window-end", compact=True)
            yield Static("", id="window-problem", classes="dialog-problem", markup=False)
            yield Static(HINT, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#window-start", Input).focus()
        self._understood()

    def window(self) -> EventWindow:
        """The window the fields say; ValueError with a sentence when they do not make one."""
        now = self.now()
        start = parse_time_bound(self.query_one("#window-start", Input).value, now)
        end_text = self.query_one("#window-end", Input).value.strip()
        return EventWindow(start=start, end=parse_time_bound(end_text, now) if end_text else now)

    def _understood(self) -> None:
        problem = self.query_one("#window-problem", Static)
        try:
            window = self.window()
        except ValueError as error:
            problem.update(str(error))
            problem.remove_class("-ok")
            return
        assert window.start is not None and window.end is not None
        problem.add_class("-ok")
        problem.update(f"{iso_utc(window.start)} → {iso_utc(window.end)} "
                       f"(local {window.start.astimezone():%m-%d %H:%M} → {window.end.astimezone():%m-%d %H:%M %Z})")

    def on_input_changed(self) -> None:
        self._understood()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "window-start":
            self.query_one("#window-end", Input).focus()
            return
        try:
            self.dismiss(self.window())
        except ValueError:
            self._understood()

    def action_cancel(self) -> None:
        self.dismiss(None)
