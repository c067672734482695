"""A Line-API table over records kept elsewhere: it renders only the lines on screen.

It holds no rows of its own: `show_rows` hands it the records and the row numbers a filter kept, in
order, and `render_line` draws the few that are visible (each line cached under an update count that
any change of the data, the marks, the layout or the styles bumps, as in DataTable). So a filter over
100,000 records costs the filter and about 24 lines, never a rebuild. Columns have a priority; the
table shows the most important ones that fit its width. The cursor follows the record, not the line,
across refreshes, filters and sorts. When the owner gives a `mark_key`, space marks records (by key, so
marks survive filters, sorts and refreshes) for an action on several at once.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size, Spacing
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

Record = TypeVar("Record")
PLAIN = Style()
CELL_PADDING = 2  # one column of space on either side of each cell
Cell = tuple[str, Style]
AGE_STEP = timedelta(seconds=1)
"""The finest step of a cell's age text ("45s"): drawn lines are reused for a new order of the same records
until the clock has moved this far."""


@dataclass(frozen=True, slots=True)
class Column(Generic[Record]):
    """A column in priority order; `key` names its sort and its entry in the table's `widths`.

    Text columns size to their longest value (`widths`) when the room allows, up to `max_width` if one is given.
    """

    key: str
    label: str
    cell: Callable[[Record, datetime], Cell]
    min_width: int
    max_width: int | None = None
    """None: as wide as the longest value, room allowing."""
    keep_end: bool = False
    """Clip from the left: the end of a group path names the group."""
    place: int = 0
    """Where the column is shown, left to right, when that differs from its priority."""


@dataclass(frozen=True, slots=True)
class ColumnSort:
    """What the header shows of the rows' order: the column they are sorted by (an arrow on it), and which way.

    The table never sorts: its owner orders the rows and tells it, so the widget needs no sort type of the core.
    """

    column: str | None = None
    descending: bool = False


def fit(text: str, width: int, *, keep_end: bool = False) -> str:
    """Exactly `width` cells: padded, or shortened with an ellipsis at the end or (keep_end) the start."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if keep_end:
        tail = text[::-1]
        return "…" + set_cell_size(tail, width - 1)[::-1]
    return set_cell_size(text, width - 1) + "…"


class TableMessage(Message):
    """What every message of a VirtualTable (a DeviceTable's too) carries: the table that posted it, as `control`,
    so `@on(VirtualTable.Selected, "#devices")` hears one table. Handlers by name are `on_virtual_table_selected`
    and so on, whichever subclass posted them (the messages are the VirtualTable's, as in DataTable)."""

    def __init__(self, table: VirtualTable[Any]) -> None:
        super().__init__()
        self.table = table

    @property
    def control(self) -> VirtualTable[Any]:
        return self.table


class VirtualTable(ScrollView, Generic[Record], can_focus=True):
    """Rows are positions in `records`, in display order; `record_at_cursor` maps back to the record."""

    COMPONENT_CLASSES = {"virtual-table--header", "virtual-table--cursor", "virtual-table--even-row",
                         "virtual-table--marked"}
    DEFAULT_CSS = """
    VirtualTable {
        background: $surface;
        overflow-x: hidden;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .virtual-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .virtual-table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .virtual-table--even-row { background: $surface-darken-1 40%; }
        & > .virtual-table--marked { color: $text-accent; text-style: bold; }
        & > .virtual-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .virtual-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("home,g", "jump(0)", "First", show=False),
        Binding("end,G", "jump(-1)", "Last", show=False),
        Binding("enter", "select", "Details", show=False),
        Binding("space", "mark", "Mark", show=False, tooltip="Mark the highlighted row for an action (again: unmark)"),
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)
    """Position of the cursor in the shown rows; `validate_cursor` keeps it among them."""

    class Selected(TableMessage):
        """Enter (or a click on the highlighted line) on a record."""

        def __init__(self, table: VirtualTable[Any], record: object) -> None:
            super().__init__(table)
            self.record = record

    class Marked(TableMessage):
        """The set of marked records changed."""

    class HeaderClicked(TableMessage):
        """A click on a column heading: the owner decides how to sort."""

        def __init__(self, table: VirtualTable[Any], column: str) -> None:
            super().__init__(table)
            self.column = column

    def __init__(self, columns: Sequence[Column[Record]], *, clock: Callable[[], datetime] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.columns = tuple(columns)
        self.records: Sequence[Record] = ()
        self.widths: Mapping[str, int] = {}
        self.row_of: Callable[[Record], int | None] = lambda record: None
        self.mark_key: Callable[[Record], Hashable] | None = None
        """What identifies a record for marking; None: this table does not mark."""
        self.marked: set[Hashable] = set()
        self.moved = False
        """The user moved the cursor since the rows were last empty; until then a cursor at the top stays at
        the top when rows arrive above its record (the newest first, not the first that came)."""
        self.rows: list[int] = []
        self.sort = ColumnSort()
        self.layout_columns: tuple[tuple[Column[Record], int], ...] = ()
        self._now = self.clock()
        self._version: Hashable | None = None
        self._update_count = 0
        """Part of every cached line's key: bumped when what the lines show changes, so old lines are never hit."""
        self._lines: LRUCache[tuple[int, int, Style, int, bool, bool, bool], Strip] = LRUCache(1024)
        self._base_style = PLAIN
        """The widget's own style (its background over its ancestors'), taken at the start of each render pass."""
        self._styles: dict[str, Style] = {}
        self._line_styles: dict[tuple[tuple[Style, bool, bool, bool], Style | None], Style] = {}

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def show_rows(self, records: Sequence[Record], rows: list[int], *, sort: ColumnSort = ColumnSort(),
                  widths: Mapping[str, int] | None = None, row_of: Callable[[Record], int | None] | None = None,
                  version: Hashable | None = None) -> None:
        """Show `records[row]` for these rows; the cursor stays on its record when it is still among them.

        `widths` is the longest value per column key; `row_of` finds a record's row among `records`
        (by identity of the thing it describes), so the cursor survives a swap of the records too.
        `version` changes whenever a record does (None: assume each call brings changed records): while it and the
        records stay the same, a new order or filter of them reuses the lines already drawn (a sort flipped back
        and forth draws nothing), the ages in them measured against a clock read at most `AGE_STEP` ago.
        """
        current = self.record_at_cursor()
        now = self.clock()
        if version is None or version != self._version or records is not self.records or now - self._now >= AGE_STEP:
            self._now, self._version = now, version
            self._update_count += 1
        self.records, self.rows, self.sort = records, rows, sort
        self.widths = widths if widths is not None else self.widths
        self.row_of = row_of or self.row_of
        self._fit_columns()
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        if not rows:
            self.moved = False
        before, position = self.cursor, self.cursor
        if current is not None and (self.moved or before):
            row = self.row_of(current)
            try:
                position = rows.index(row) if row is not None else 0
            except ValueError:
                position = 0  # its record is no longer shown: the top, not whichever record took its place
        self.cursor = position
        if self.cursor != before:  # its record moved (a sort, a filter): show it with rows around it
            self.scroll_to_region(self._cursor_region(), center=True, animate=False, force=True, immediate=True)
        self.refresh()

    @property
    def shown(self) -> list[Record]:
        """The records shown, in display order (a copy: for export and tests, not for rendering)."""
        records = self.records
        return [records[row] for row in self.rows]

    def record_at_cursor(self) -> Record | None:
        if 0 <= self.cursor < len(self.rows):
            return self.records[self.rows[self.cursor]]
        return None

    def _cursor_region(self) -> Region:
        """The cursor's line, exactly as wide as the view: centring it must not scroll sideways."""
        return Region(0, self.cursor + 1, max(self.scrollable_content_region.width, 1), 1)

    def validate_cursor(self, position: int) -> int:
        return max(0, min(position, len(self.rows) - 1))

    def watch_cursor(self) -> None:
        self.scroll_to_region(self._cursor_region(), spacing=Spacing(top=1), animate=False, force=True,
                              immediate=True)
        self.refresh()

    def move_to(self, position: int) -> None:
        """The cursor to a position the user asked for (a key, a click, a search)."""
        self.moved = True
        self.cursor = position

    def action_cursor(self, step: int) -> None:
        self.move_to(self.cursor + step)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(self.scrollable_content_region.height - 2, 1))

    def action_jump(self, position: int) -> None:
        self.move_to(len(self.rows) - 1 if position < 0 else 0)

    def action_select(self) -> None:
        record = self.record_at_cursor()
        if record is not None:
            self.post_message(self.Selected(self, record))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "mark" or self.mark_key is not None

    def action_mark(self) -> None:
        """Mark or unmark the highlighted record, then step down so space marks a run of rows."""
        record = self.record_at_cursor()
        if record is None or self.mark_key is None:
            return
        self.marked ^= {self.mark_key(record)}
        self._update_count += 1
        self.post_message(self.Marked(self))
        self.action_cursor(1)
        self.refresh()

    def clear_marks(self) -> bool:
        """Unmark everything; False when nothing was marked."""
        if not self.marked:
            return False
        self.marked = set()
        self._update_count += 1
        self.post_message(self.Marked(self))
        self.refresh()
        return True

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.post_message(self.HeaderClicked(self, column.key))
            return
        position = int(self.scroll_y) + event.y - 1
        if 0 <= position < len(self.rows):
            if position == self.cursor:
                self.action_select()
            self.move_to(position)

    def _column_at(self, x: int) -> Column[Record] | None:
        for column, width in self.layout_columns:
            if x < width + CELL_PADDING:
                return column
            x -= width + CELL_PADDING
        return None

    def on_resize(self, event: events.Resize) -> None:
        self._fit_columns()
        self.virtual_size = Size(event.size.width, len(self.rows) + 1)

    def notify_style_update(self) -> None:
        """Textual calls this on any change of the CSS that applies, a focus change or a theme change among them."""
        super().notify_style_update()
        self._styles.clear()
        self._line_styles.clear()
        self._update_count += 1

    def _fit_columns(self) -> None:
        """The columns that fit the width, in priority order: first each at its narrowest, while they
        fit; then the room left widens each, most important first, to its longest value (or its `max_width`),
        so a wide terminal shows every value whole that it can."""
        available = self.size.width - self.styles.scrollbar_size_vertical
        chosen: list[tuple[Column[Record], int]] = []
        used = 0
        for column in self.columns:
            narrowest = max(column.min_width, len(column.label) + (2 if column.key == self.sort.column else 0))
            if chosen and used + narrowest + CELL_PADDING > available:
                break
            chosen.append((column, narrowest))
            used += narrowest + CELL_PADDING
        longest = self.widths
        for index, (column, width) in enumerate(chosen):
            wanted = max(width, longest.get(column.key, 0))
            if column.max_width is not None:
                wanted = min(wanted, column.max_width)
            grown = max(width, min(wanted, width + available - used))
            used += grown - width
            chosen[index] = (column, grown)
        chosen.sort(key=lambda chosen_column: chosen_column[0].place)
        if tuple(chosen) != self.layout_columns:
            self.layout_columns = tuple(chosen)
            self._update_count += 1

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._base_style = self.rich_style  # once a pass, not once a line: it walks every ancestor's styles
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self._base_style
        if y == 0:
            return self._header().adjust_cell_length(width, base + self._style("virtual-table--header"))
        position = int(self.scroll_y) + y - 1
        if position >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[position]
        marked = self.mark_key is not None and bool(self.marked) and self.mark_key(self.records[row]) in self.marked
        key = (self._update_count, width, base, row, position == self.cursor, position % 2 == 1, marked)
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = self._render_row(row, *key[4:], width)
        return line

    def _render_row(self, row: int, cursor: bool, even: bool, marked: bool, line_width: int) -> Strip:
        """One record's line, full width: cell colours over the zebra stripe, the cursor over both; a
        marked line starts with a bullet in the marked style. One Strip of a known length (a Strip is costly to make:
        adjusting its length makes a second), its styles combined once per kind of line (`_line_style`)."""
        record = self.records[row]
        kind = (self._base_style, cursor, even, marked)
        segments = []
        used = 0
        for column, width in self.layout_columns:
            text, style = column.cell(record, self._now)
            pad = "•" if marked and not segments else " "
            segments.append(Segment(f"{pad}{fit(text, width, keep_end=column.keep_end)} ", self._line_style(kind, style)))
            used += width + CELL_PADDING
        fill = self._line_style(kind, None)
        if used < line_width:
            segments.append(Segment(" " * (line_width - used), fill))
            return Strip(segments, line_width)
        return Strip(segments, used).adjust_cell_length(line_width, fill)

    def _line_style(self, kind: tuple[Style, bool, bool, bool], cell: Style | None) -> Style:
        """A cell's style on a kind of line (base, cursor, even, marked): the zebra stripe, then the cell's colour and
        the marked style, the cursor over all; None: the line's own, for the padding past the last cell. Kept per
        kind and cell style (a handful), as three Style additions per cell were a third of a line's time."""
        style = self._line_styles.get((kind, cell))
        if style is None:
            base, cursor, even, marked = kind
            line = base + self._style("virtual-table--even-row") if even else base
            cursor_style = self._style("virtual-table--cursor") if cursor else PLAIN
            if cell is None:
                style = line + cursor_style
            else:
                style = line + cell + (self._style("virtual-table--marked") if marked else PLAIN) + cursor_style
            self._line_styles[(kind, cell)] = style
        return style

    def _header(self) -> Strip:
        style = self._base_style + self._style("virtual-table--header")
        segments = []
        for column, width in self.layout_columns:
            label = column.label
            if column.key == self.sort.column:
                label += " ▼" if self.sort.descending else " ▲"
            segments.append(Segment(f" {fit(label, width)} ", style))
        return Strip(segments)
