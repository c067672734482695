"""The detail of any record: its normalized fields first, then every raw field the console sent, searchable."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Input

from screens.base import ExplorerScreen
from tui.textual_compat import OnceFooter
from widgets.search_box import SearchBox


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Nested JSON as dotted keys and printable values, so every raw field gets one row."""
    if isinstance(value, dict):
        for key in sorted(value, key=str.casefold):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        for index, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{index}]")
    elif isinstance(value, list):
        yield prefix, ", ".join(str(item) for item in value)
    elif isinstance(value, bool) or value is None:
        yield prefix, json.dumps(value)  # as the console sent it: true, false, null
    else:
        yield prefix, str(value)


FIELD_WIDTH = 26
RAW_HEADING = "─ raw fields ─"


class DetailScreen(ExplorerScreen):
    """Normalized fields, then every raw field under a heading; a long value (an IPv6 list, a command's XML
    result, a path) wraps onto as many lines as it needs, so it is readable in full without copying it."""

    BINDINGS = [
        Binding("slash", "search", "Search", key_display="/", priority=True,  # widgets/search_box.py says why
                tooltip="Search the field names and values"),
        Binding("y", "copy", "Copy", tooltip="Copy the highlighted value, whole"),
        Binding("escape,q", "back", "Back"),
    ]

    def __init__(self, title: str, summary: list[tuple[str, str]], raw: dict[str, Any]) -> None:
        super().__init__()
        self.title_text = title
        self.summary = summary
        self.raw = list(flatten(raw))  # JSON keys are unique, so a field names one row
        self.related: tuple[str, list[tuple[str, str]]] | None = None
        """A titled section between the fields and the raw fields (a device's recent events)."""
        self.needle = ""

    def compose(self) -> ComposeResult:
        yield Header()
        yield SearchBox(placeholder="search field names and values", id="field-search", leave_to="#fields")
        yield DataTable(id="fields", cursor_type="row", zebra_stripes=True)
        yield OnceFooter()

    def on_mount(self) -> None:
        self.sub_title = self.title_text
        self.query_one("#field-search").display = False
        self.query_one("#fields").focus()

    def on_resize(self) -> None:
        self.show_rows()

    def show_rows(self) -> None:
        """(Re)fill the table for the current width and search text."""
        table = self.query_one("#fields", DataTable)
        # The table spans the terminal. Its own width is not used: a pushed screen hears of its size before
        # its layout, sometimes after a refresh too, and values wrapped then stayed ten columns wide.
        value_width = max(10, self.app.size.width - FIELD_WIDTH - 6)  # cell padding and the scrollbar
        table.clear(columns=True)
        table.add_column("Field", width=FIELD_WIDTH, key="field")
        table.add_column("Value", width=value_width, key="value")
        lowered = self.needle.casefold()

        def wanted(field: str, value: str) -> bool:
            return not lowered or lowered in field.casefold() or lowered in value.casefold()

        def add(field: str, value: str, key: str) -> None:
            cell, height = _wrapped(value, value_width)
            table.add_row(_clip(field, FIELD_WIDTH), cell, key=key, height=height)

        for field, value in self.summary:
            if wanted(field, value):
                add(field, value, f"summary:{field}")
        if self.related is not None:
            heading, rows = self.related
            related = [(index, row) for index, row in enumerate(rows) if wanted(*row)]
            if related:
                table.add_row(Text(heading, style="bold"), Text(""), key="related-heading")
            for index, (field, value) in related:
                add(field, value, f"related:{index}")
        raw = [(field, value) for field, value in self.raw if wanted(field, value)]
        if raw:
            table.add_row(Text(RAW_HEADING, style="bold"), Text(""), key="raw-heading")
            for field, value in raw:
                add(field, value, f"raw:{field}")

    def selected_field(self) -> tuple[str, str] | None:
        """The full (unclipped) field name and value under the cursor."""
        table = self.query_one("#fields", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value or ""
        kind, _, field = key.partition(":")
        if kind == "related" and self.related is not None:
            return self.related[1][int(field)]
        rows = dict(self.summary) if kind == "summary" else dict(self.raw) if kind == "raw" else {}
        return (field, rows[field]) if field in rows else None

    def action_search(self) -> None:
        self.query_one("#field-search", SearchBox).open()

    @on(Input.Changed, "#field-search")
    def _search(self, event: Input.Changed) -> None:
        self.needle = event.value.strip()
        self.show_rows()

    @on(SearchBox.Done, "#field-search")
    def _search_done(self, event: SearchBox.Done) -> None:
        if event.escaped:  # escape drops the search; enter keeps it
            event.box.value = ""
            event.box.display = False

    def action_copy(self) -> None:
        selected = self.selected_field()
        if selected is not None:
            field, value = selected
            self.explorer.copy(value, field)

    def action_back(self) -> None:
        self.app.pop_screen()


MAX_VALUE_LINES = 60
"""A value longer than this many lines (a big XML result) ends in an ellipsis; `y` copies it whole."""


def _wrapped(text: str, width: int) -> tuple[Text, int]:
    """A value folded to the column's width (at its own line breaks, then at a space or anywhere), and its height."""
    lines: list[str] = []
    for line in text.split("\n"):
        while True:
            if len(lines) == MAX_VALUE_LINES:
                lines[-1] = set_cell_size(lines[-1], max(width - 1, 1)).rstrip() + "…"
                return Text("\n".join(lines), no_wrap=True, overflow="ellipsis"), len(lines)
            cut = _fold_point(line, width)
            lines.append(cut)
            line = line[len(cut):].lstrip(" ")
            if not line:
                break
    return Text("\n".join(lines), no_wrap=True, overflow="ellipsis"), max(1, len(lines))


def _fold_point(line: str, width: int) -> str:
    """The longest start of `line` that fits `width` cells, ending after a space when there is one late enough."""
    used = 0
    for index, char in enumerate(line):
        used += cell_len(char)
        if used > width:
            break
    else:
        return line
    fitting = line[:max(index, 1)]
    space = fitting.rfind(" ")
    return fitting[:space + 1] if space > width // 2 else fitting


def _clip(text: str, width: int) -> Text:
    clipped = Text(text, no_wrap=True)
    clipped.truncate(width, overflow="ellipsis")
    return clipped
