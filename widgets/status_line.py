"""The line under a view that says what is loading, how far it got, and what went wrong.

A message longer than the line wraps onto a second (and third) line instead of being cut mid-sentence: at
80 columns a failure's sentence and what to do about it are often longer than one line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class StatusLine(Static):
    """Plain-text status; `error` styles the line as a failure until the next update."""

    def show(self, message: str, *, error: bool = False, warning: bool = False) -> None:
        self.set_class(error, "-error")
        self.set_class(warning and not error, "-warning")
        self.update(Text(message, overflow="ellipsis"))
