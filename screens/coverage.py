"""Coverage across the consoles of All fleets: each machine (devices matched by host name, case and domain
suffix ignored: tui/coverage.py) with the consoles that see it; `1` keeps the machines one console alone sees,
`x` those missing from one connection after another. Each row opens the machine's first device."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header

from screens.base import ExplorerScreen
from screens.device_detail import DeviceDetailScreen
from tui.coverage import CoverageFilter, Machine, match_machines
from tui.models import Device
from tui.textual_compat import OnceFooter
from widgets.sized_table import SizedTable
from widgets.status_line import StatusLine

COLUMNS = ("Machine", "Seen by", "Consoles", "Missing from")


class CoverageScreen(ExplorerScreen):
    DEFAULT_CSS = """
    CoverageScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("1", "only_one", "One console only"),
        Binding("x", "missing", "Missing from …", tooltip="Machines missing from one connection, then the next"),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "back", "Back"),
    ]

    def __init__(self, names: list[str], devices: list[Device]) -> None:
        super().__init__()
        self.names = names
        self.devices = devices
        self.machines: list[Machine] = []
        self.shown: list[Machine] = []
        self.filter = CoverageFilter()

    def compose(self) -> ComposeResult:
        yield Header()
        yield SizedTable(id="coverage", cursor_type="row", zebra_stripes=True)
        yield StatusLine(id="status")
        yield OnceFooter()

    def on_mount(self) -> None:
        self.sub_title = "Coverage · " + ", ".join(self.names)
        self.query_one(DataTable).focus()
        self._match()

    @work(group="coverage", exclusive=True, exit_on_error=False)
    async def _match(self) -> None:
        self.machines = await asyncio.to_thread(match_machines, self.devices)
        self.refilter()

    def refilter(self) -> None:
        self.shown = self.filter.apply(self.machines)
        self.query_one(SizedTable).show_rows(COLUMNS, [[Text(cell) for cell in (  # Text: never read as markup
            machine.name, f"{len(machine.seen)} of {len(self.names)}", " ".join(machine.consoles),
            " ".join(machine.missing(self.names)))] for machine in self.shown])
        scope = []
        if self.filter.only_one:
            scope.append("seen by one console only")
        if self.filter.missing_from:
            scope.append(f"missing from {self.filter.missing_from}")
        words = f" ({'; '.join(scope)})" if scope else ""
        self.query_one("#status", StatusLine).show(
            f"{len(self.shown):,} of {len(self.machines):,} machines{words} · matched by host name (case and domain "
            "ignored) · enter opens the device")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.shown):
            machine = self.shown[event.cursor_row]
            self.app.push_screen(DeviceDetailScreen(machine.seen[machine.consoles[0]][0]))

    def action_only_one(self) -> None:
        self.filter = CoverageFilter(only_one=not self.filter.only_one, missing_from=self.filter.missing_from)
        self.refilter()

    def action_missing(self) -> None:
        following = self.names[self.names.index(self.filter.missing_from) + 1:] if self.filter.missing_from else self.names
        self.filter = CoverageFilter(only_one=self.filter.only_one, missing_from=following[0] if following else "")
        self.refilter()

    def action_back(self) -> None:
        self.app.pop_screen()
