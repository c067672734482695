"""A DataTable whose columns are as wide as their widest cell from the moment its rows are given.

Textual's DataTable (8.2.8) measures new rows later, when its message queue next runs dry (`_on_idle`), against
the app console's width. The changes and coverage screens fill theirs at once; in tmux on a busy machine their
columns stayed as wide as their headings for good, in two test runs of five (the rows' text cut to four
letters). Here the widths are counted as the rows are given, and nothing is left to measure.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable


class SizedTable(DataTable[Text]):
    def show_rows(self, labels: Sequence[str], rows: list[list[Text]]) -> None:
        """Replace the columns and rows; each column as wide as its label or its longest cell."""
        widths = [max([cell_len(label), *(row[index].cell_len for row in rows)]) for index, label in enumerate(labels)]
        self.clear(columns=True)
        for label, width in zip(labels, widths, strict=True):
            self.add_column(label, width=width)
        self.add_rows(rows)
