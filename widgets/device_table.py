"""The device table: a Line-API view over an `Inventory` that renders only the lines on screen.

It holds no rows of its own: `show` hands it the inventory and the row numbers a filter kept, in order,
and `render_line` draws the few that are visible (each line cached until the data, the layout or the
theme changes). So a filter over 100,000 devices costs the filter and about 24 lines, never a rebuild.

Columns have a priority; the table shows the most important ones that fit its width, so at 80 columns
a responder still sees health, name, last contact, patch state and address without scrolling sideways.
The cursor follows the device, not the line: it stays on the same device across refreshes, filters
and sorts while that device is shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

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

from tui.inventory import Inventory, Sort
from tui.models import Device, Health

HEALTH_CELLS = {
    Health.CRITICAL: ("● crit", Style(color="red", bold=True)),
    Health.WARNING: ("▲ warn", Style(color="yellow")),
    Health.OK: ("  ok", Style(color="green")),
    Health.UNKNOWN: ("? unkn", Style(dim=True)),
}
PATCH_CELLS = {
    True: ("missing", Style(color="red", bold=True)),
    False: ("ok", Style(color="green")),
    None: ("-", Style(dim=True)),
}
PLAIN = Style()
CELL_PADDING = 2  # one column of space on either side of each cell
Cell = tuple[str, Style]


def age_text(moment: datetime | None, now: datetime) -> str:
    """How long ago, in the tersest form a responder reads at a glance: 45s, 12m, 3h, 9d."""
    if moment is None:
        return "never"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def seen_cell(device: Device, now: datetime) -> Cell:
    """"online" when the console says so, else how long since the device last checked in."""
    if device.online:
        return "online", Style(color="green")
    return age_text(device.last_seen, now), Style(dim=True)


@dataclass(frozen=True, slots=True)
class Column:
    """A column in priority order; `key` names its sort (tui.inventory.SORT_KEYS).

    Text columns size to their longest value (`Inventory.widths`), up to `max_width`.
    """

    key: str
    label: str
    cell: Callable[[Device, datetime], Cell]
    min_width: int
    max_width: int
    keep_end: bool = False
    """Clip from the left: the end of a group path names the group."""


COLUMNS = (
    Column("health", "Health", lambda d, now: HEALTH_CELLS[d.health], 6, 6),
    Column("name", "Name", lambda d, now: (d.name, PLAIN), 14, 24),
    Column("connection", "Connection", lambda d, now: (d.connection, Style(color="cyan")), 10, 16),
    Column("seen", "Seen", seen_cell, 6, 6),
    Column("patches", "Patches", lambda d, now: PATCH_CELLS[d.missing_critical_patches], 7, 7),
    Column("ip", "IP", lambda d, now: (d.ip_addresses[0] if d.ip_addresses else "", PLAIN), 15, 15),
    Column("group", "Group", lambda d, now: (d.group, PLAIN), 12, 40, keep_end=True),
    Column("os", "OS", lambda d, now: (d.os, PLAIN), 10, 28),
    Column("user", "User", lambda d, now: (d.user, PLAIN), 6, 20),
)


def fit(text: str, width: int, *, keep_end: bool = False) -> str:
    """Exactly `width` cells: padded, or shortened with an ellipsis at the end or (keep_end) the start."""
    if cell_len(text) <= width:
        return set_cell_size(text, width)
    if keep_end:
        tail = text[::-1]
        return "…" + set_cell_size(tail, width - 1)[::-1]
    return set_cell_size(text, width - 1) + "…"


class DeviceTable(ScrollView, can_focus=True):
    """Rows are inventory row numbers in display order; `device_at_cursor` maps back to the record."""

    COMPONENT_CLASSES = {"device-table--header", "device-table--cursor", "device-table--even-row"}
    DEFAULT_CSS = """
    DeviceTable {
        background: $surface;
        overflow-x: hidden;
        color: $foreground;
        &:focus { background-tint: $foreground 5%; }
        & > .device-table--header { text-style: bold; background: $panel; color: $foreground; }
        & > .device-table--even-row { background: $surface-lighten-1 50%; }
        &:dark > .device-table--even-row { background: $surface-darken-1 40%; }
        & > .device-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus > .device-table--cursor {
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
    ]

    cursor: reactive[int] = reactive(0, always_update=True, init=False)
    """Position of the cursor in the shown rows."""

    class Selected(Message):
        """Enter (or a click on the highlighted line) on a device."""

        def __init__(self, device: Device) -> None:
            super().__init__()
            self.device = device

    class HeaderClicked(Message):
        """A click on a column heading: the owner decides how to sort."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, *, clock: Callable[[], datetime] | None = None, columns: Sequence[str] | None = None,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock or (lambda: datetime.now(UTC))
        self.columns = tuple(column for column in COLUMNS if columns is None or column.key in columns)
        self.inventory = Inventory()
        self.rows: list[int] = []
        self.sort = Sort()
        self.layout_columns: tuple[tuple[Column, int], ...] = ()
        self._now = self.clock()
        self._lines: LRUCache[tuple[int, bool, bool], Strip] = LRUCache(1024)
        self._styles: dict[str, Style] = {}

    @property
    def row_count(self) -> int:
        return len(self.rows)

    def show(self, inventory: Inventory, rows: list[int], sort: Sort = Sort()) -> None:
        """Show these rows; the cursor stays on its device when that device is still among them."""
        current = self.device_at_cursor()
        self.inventory, self.rows, self.sort = inventory, rows, sort
        self._now = self.clock()
        self._lines.clear()
        self._fit_columns()
        self.virtual_size = Size(self.size.width, len(rows) + 1)
        position = self.cursor
        row = inventory.row_of(current) if current is not None else None
        if row is not None:
            try:
                position = rows.index(row)
            except ValueError:
                pass
        self.cursor = min(position, max(len(rows) - 1, 0))
        self.refresh()

    @property
    def devices(self) -> list[Device]:
        """The devices shown, in display order (a copy: for export and tests, not for rendering)."""
        devices = self.inventory.devices
        return [devices[row] for row in self.rows]

    def device_at_cursor(self) -> Device | None:
        if 0 <= self.cursor < len(self.rows):
            return self.inventory.devices[self.rows[self.cursor]]
        return None

    def watch_cursor(self) -> None:
        self.scroll_to_region(
            Region(0, self.cursor + 1, max(self.size.width, 1), 1),
            spacing=Spacing(top=1), animate=False, force=True, immediate=True,
        )
        self.refresh()

    def action_cursor(self, step: int) -> None:
        self.cursor = max(0, min(self.cursor + step, len(self.rows) - 1))

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(self.scrollable_content_region.height - 2, 1))

    def action_jump(self, position: int) -> None:
        self.cursor = max(len(self.rows) - 1, 0) if position < 0 else 0

    def action_select(self) -> None:
        device = self.device_at_cursor()
        if device is not None:
            self.post_message(self.Selected(device))

    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None:
                self.post_message(self.HeaderClicked(column.key))
            return
        position = int(self.scroll_y) + event.y - 1
        if 0 <= position < len(self.rows):
            if position == self.cursor:
                self.action_select()
            self.cursor = position

    def _column_at(self, x: int) -> Column | None:
        for column, width in self.layout_columns:
            if x < width + CELL_PADDING:
                return column
            x -= width + CELL_PADDING
        return None

    def on_resize(self, event: events.Resize) -> None:
        self._fit_columns()
        self.virtual_size = Size(event.size.width, len(self.rows) + 1)

    def on_focus(self) -> None:
        self._lines.clear()

    def on_blur(self) -> None:
        self._lines.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._lines.clear()

    def _fit_columns(self) -> None:
        """The columns that fit the width, in priority order: first each at its narrowest, while they
        fit; then the room left widens them, most important first, up to their longest value."""
        available = self.size.width - self.styles.scrollbar_size_vertical
        chosen: list[tuple[Column, int]] = []
        used = 0
        for column in self.columns:
            narrowest = max(column.min_width, len(column.label) + (2 if column.key == self.sort.column else 0))
            if chosen and used + narrowest + CELL_PADDING > available:
                break
            chosen.append((column, narrowest))
            used += narrowest + CELL_PADDING
        longest = self.inventory.widths
        for index, (column, width) in enumerate(chosen):
            wanted = min(column.max_width, max(width, longest.get(column.key, 0)))
            grown = max(width, min(wanted, width + available - used))
            used += grown - width
            chosen[index] = (column, grown)
        if tuple(chosen) != self.layout_columns:
            self.layout_columns = tuple(chosen)
            self._lines.clear()

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_component_rich_style(name, partial=True)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            return self._header().adjust_cell_length(width, base + self._style("device-table--header"))
        position = int(self.scroll_y) + y - 1
        if position >= len(self.rows):
            return Strip.blank(width, base)
        row = self.rows[position]
        key = (row, position == self.cursor, position % 2 == 1)
        line = self._lines.get(key)
        if line is None:
            line = self._lines[key] = self._render_row(row, *key[1:], width)
        return line

    def _render_row(self, row: int, cursor: bool, even: bool, line_width: int) -> Strip:
        """One device's line, full width: cell colours over the zebra stripe, the cursor over both."""
        device = self.inventory.devices[row]
        line_style = self.rich_style
        if even:
            line_style += self._style("device-table--even-row")
        cursor_style = self._style("device-table--cursor") if cursor else PLAIN
        segments = []
        for column, width in self.layout_columns:
            text, style = column.cell(device, self._now)
            segments.append(Segment(f" {fit(text, width, keep_end=column.keep_end)} ", line_style + style + cursor_style))
        return Strip(segments).adjust_cell_length(line_width, line_style + cursor_style)

    def _header(self) -> Strip:
        style = self.rich_style + self._style("device-table--header")
        segments = []
        for column, width in self.layout_columns:
            label = column.label
            if column.key == self.sort.column:
                label += " ▼" if self.sort.descending else " ▲"
            segments.append(Segment(f" {fit(label, width)} ", style))
        return Strip(segments)
