"""A search or filter box that gives the keyboard back the moment enter or escape is read.

Textual hands each key to the widget that has the focus when the key is read, and `Widget.focus` takes effect
a turn later. Keys typed ahead in one burst (`/web⏎c`, as a fast typist or a paste sends them) went past a
box that was opening, or into a box that was closing. Here `open`, called from the action of a priority
binding (`/`), and the box's own priority bindings move the focus with `Screen.set_focus`, which is
immediate, before the next key is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.actions import SkipAction
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Input


class SearchBox(Input):
    """An `Input` that `open` shows and focuses; enter or escape focuses `leave_to`, then posts `Done`."""

    BINDINGS = [
        Binding("enter", "leave(False)", show=False, priority=True),
        Binding("escape", "leave(True)", show=False, priority=True),
    ]

    @dataclass
    class Done(Message):
        """The box was left: by escape (`escaped`) or by enter."""

        box: SearchBox
        escaped: bool

        @property
        def control(self) -> SearchBox:
            return self.box

    def __init__(self, *, leave_to: str, **kwargs: Any) -> None:
        super().__init__(compact=True, **kwargs)
        self.leave_to = leave_to
        """The selector, on this screen, of the widget the focus goes back to."""

    def open(self) -> None:
        """Show the box and focus it; from a priority binding's action, which stands aside when a box (this one,
        or another) has the focus, so the key is typed into it as text."""
        if isinstance(self.screen.focused, Input):
            raise SkipAction()
        self.display = True
        self.screen.set_focus(self)

    def action_leave(self, escaped: bool) -> None:
        self.screen.set_focus(self.screen.query_one(self.leave_to))
        self.post_message(self.Done(self, escaped))
