"""What changed in the open consoles since their previous snapshot (or a chosen time): devices that became
critical, now miss critical patches, appeared, disappeared, went offline or moved group. Each row opens its
device; the groups screen's filters (c, m, o, /) and export (e) work here too."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Header, Input

from screens.base import ExplorerScreen
from screens.device_detail import DeviceDetailScreen
from tui.changes import CHANGE_FIELDS, Change, changes_between
from tui.export import age_text, default_export_path, write_csv, write_json
from tui.export import export_file as write_export
from tui.inventory import DeviceFilter
from tui.models import Device, EventWindow
from tui.snapshots import SnapshotError
from tui.textual_compat import OnceFooter
from widgets.path_prompt import PathAnswer, PathPrompt
from widgets.search_box import SearchBox
from widgets.sized_table import SizedTable
from widgets.status_line import StatusLine
from widgets.window_prompt import WindowPrompt

COLUMNS = ("Change", "Name", "Before", "After", "Group", "Health", "Connection")


class ChangesScreen(ExplorerScreen):
    """The changes from a snapshot of these consoles to the devices shown on the groups screen."""

    DEFAULT_CSS = """
    ChangesScreen DataTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("c", "toggle('critical')", "Critical"),
        Binding("m", "toggle('missing_patch')", "Patches"),
        Binding("o", "toggle('online')", "Online", show=False),
        Binding("slash", "search", "Filter", key_display="/", priority=True),  # widgets/search_box.py says why
        Binding("w", "since", "Since", tooltip="Compare with the snapshot at a chosen time (1h, 24h, RFC 3339)"),
        Binding("e", "export", "Export", tooltip="Export the changes shown to a CSV or JSON file"),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "back", "Back"),
    ]

    def __init__(self, names: list[str], devices: list[Device], loaded_at: datetime | None) -> None:
        super().__init__()
        self.names = names
        self.devices = devices
        self.before = loaded_at
        """Compare with the newest snapshot taken before this moment (the load shown, or a chosen time)."""
        self.changes: list[Change] = []
        self.shown: list[Change] = []
        self.filter = DeviceFilter()
        self.baseline: datetime | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield SearchBox(placeholder="filter: name, IP, user, OS, group; !text excludes", id="changes-search",
                        leave_to="#changes")
        yield SizedTable(id="changes", cursor_type="row", zebra_stripes=True)
        yield StatusLine(id="status")
        yield OnceFooter()

    def on_mount(self) -> None:
        self.sub_title = "Changes · " + ", ".join(self.names)
        self.query_one("#changes-search", Input).display = False
        self.query_one(DataTable).focus()
        self.compare()

    def compare(self) -> None:
        self.query_one("#status", StatusLine).show("Reading the snapshot to compare with …")
        self._compare(self.before)

    @work(group="changes", exclusive=True, exit_on_error=False)
    async def _compare(self, before: datetime | None) -> None:
        try:
            opened = await asyncio.to_thread(self.session.snapshots.open_fleet, self.names, before=before)
            if opened is None:
                self.baseline, self.changes = None, []
            else:
                fleet, rest = opened
                baseline = list(fleet.inventory.devices)
                baseline.extend(await asyncio.to_thread(lambda: [device for chunk in rest for device in chunk]))
                self.baseline = fleet.loaded_at
                self.changes = await asyncio.to_thread(changes_between, baseline, self.devices)
        except SnapshotError as error:
            self.query_one("#status", StatusLine).show(self.session.snapshot_problem(error) or str(error), error=True)
            return
        self.refilter()

    def refilter(self) -> None:
        self.shown = [change for change in self.changes if self.filter.matches(change.device)]
        self.query_one(SizedTable).show_rows(COLUMNS, [[Text(cell) for cell in (  # Text: never read as markup
            change.kind.value, change.device.name, change.before, change.after, change.device.group,
            change.device.health.value, change.device.connection)] for change in self.shown])
        self.query_one("#status", StatusLine).show(self.describe())

    def describe(self) -> str:
        if self.baseline is None:
            return ("No earlier snapshot of these consoles to compare with: each complete load keeps one. "
                    "w chooses a time, q goes back.")
        now = self.session.now()
        since = f"Since {self.baseline.astimezone():%Y-%m-%d %H:%M} ({age_text(self.baseline, now)} ago)"
        flags = [word for flag, word in (("critical", "critical"), ("missing_patch", "missing patches"),
                                         ("online", "online")) if getattr(self.filter, flag)]
        if self.filter.text:
            flags.append(f"“{self.filter.text}”")
        scope = f" · {' · '.join(flags)}" if flags else ""
        return f"{since}: {len(self.shown):,} of {len(self.changes):,} changes{scope} · enter opens the device"

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self.shown):
            self.app.push_screen(DeviceDetailScreen(self.shown[event.cursor_row].device))

    def action_toggle(self, flag: str) -> None:
        self.filter = replace(self.filter, **{flag: not getattr(self.filter, flag)})
        self.refilter()

    def action_search(self) -> None:
        self.query_one("#changes-search", SearchBox).open()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter = replace(self.filter, text=event.value)
        self.refilter()

    def action_since(self) -> None:
        def chosen(window: EventWindow | None) -> None:
            if window is not None and window.start is not None:
                self.before = window.start
                self.compare()

        self.app.push_screen(WindowPrompt(self.session.now, start="24h",
                                          title="Changes since the snapshot before … (the start)"), chosen)

    def action_export(self) -> None:
        if not self.shown:
            self.notify("Nothing to export: no change is shown.", severity="warning", markup=False)
            return
        changes = list(self.shown)

        def export(answer: PathAnswer | None) -> None:
            if answer is not None:
                self.run_worker(self._export(changes, answer), group="export", exit_on_error=False)

        default = default_export_path(Path.cwd(), "changes", self.session.now().astimezone())
        self.app.push_screen(PathPrompt(f"Export {len(changes):,} changes to CSV or JSON", default), export)

    async def _export(self, changes: list[Change], answer: PathAnswer) -> None:
        records = [change.to_json() for change in changes]

        def write(stream, fmt: str) -> int:
            return write_csv(stream, records, CHANGE_FIELDS) if fmt == "csv" else write_json(stream, records)

        count = await asyncio.to_thread(write_export, answer.path, write, overwrite=answer.overwrite)
        self.notify(f"Exported {count:,} changes to {answer.path}.", markup=False)

    def action_back(self) -> None:
        self.app.pop_screen()
