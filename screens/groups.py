"""One open console: the group tree on the left, the devices of the selected group on the right."""

from __future__ import annotations

from dataclasses import replace

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Footer, Header, Input, Tree
from textual.worker import Worker, WorkerState

from screens.base import ExplorerScreen
from screens.devices import DevicesPane
from tui.inventory import count_by_group
from tui.models import Device, DevicePage, Group, ServerInfo
from tui.vendors.base import AuthenticationError, VendorClient
from widgets.group_tree import GroupTree
from widgets.status_line import StatusLine


class GroupsScreen(ExplorerScreen):
    """Loads groups then devices in one background worker; pages are shown as they arrive."""

    BINDINGS = [
        Binding("c", "toggle('critical')", "Critical", tooltip="Show only critical devices (again: all)"),
        Binding("m", "toggle('missing_patch')", "Patches",
                tooltip="Show only devices missing critical patches (again: all)"),
        Binding("slash", "search", "Filter", key_display="/", tooltip="Filter by name, IP, user, OS, group; !text excludes"),
        Binding("escape", "clear_or_back", "Clear filters, then back", show=False),
        Binding("ctrl+r", "refresh", "Refresh"),
        Binding("q", "back", "Back"),
    ]

    class Loaded(Message):
        """A step of the load finished: server info, the groups, or one page of devices."""

        def __init__(self, info: ServerInfo | None = None, groups: list[Group] | None = None,
                     page: DevicePage | None = None) -> None:
            super().__init__()
            self.info = info
            self.groups = groups
            self.page = page

    class Waiting(Message):
        """The client pauses (rate limit, retry) and says why; None when it goes on."""

        def __init__(self, reason: str | None) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self, client: VendorClient) -> None:
        super().__init__()
        self.client = client
        self.connection = client.connection
        self.server: ServerInfo | None = None
        self.devices: list[Device] = []
        self.total: int | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="explorer"):
            yield GroupTree(id="groups")
            yield DevicesPane(id="pane", clock=self.explorer.clock)
        yield StatusLine(id="status")
        yield Footer()

    @property
    def pane(self) -> DevicesPane:
        return self.query_one("#pane", DevicesPane)

    def on_mount(self) -> None:
        self.sub_title = f"{self.connection.name} · {self.client.product}"
        if self.connection.verify is False and not self.connection.url.startswith("http://"):
            self.notify(
                "TLS certificates are NOT verified on this connection; anyone on the path can read it.",
                title=self.connection.name, severity="warning", markup=False,
            )
        self.pane.table.focus()
        self.client.wait_listener = lambda reason: self.post_message(self.Waiting(reason))
        self.load()

    def on_unmount(self) -> None:
        self.client.wait_listener = None

    def on_groups_screen_waiting(self, message: Waiting) -> None:
        if message.reason is None:
            self._show_progress(loading=True)
        else:
            self.query_one("#status", StatusLine).show(f"{message.reason} · {len(self.devices):,} loaded", warning=True)

    @work(group="load", exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        self.post_message(self.Loaded(info=await self.client.probe()))
        self.post_message(self.Loaded(groups=await self.client.groups()))
        async for page in self.client.devices():
            self.post_message(self.Loaded(page=page))

    def on_groups_screen_loaded(self, message: Loaded) -> None:
        if message.info is not None:
            self.server = message.info
            self.sub_title = f"{self.connection.name} · {message.info.title}"
        if message.groups is not None:
            self.devices = []
            self.query_one(GroupTree).show_groups(message.groups)
        if message.page is not None:
            self.devices.extend(message.page.devices)
            self.total = message.page.total
            self.pane.set_devices(self.devices)
        self._show_progress(loading=True)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "load":
            return
        if event.state is WorkerState.SUCCESS:
            self._show_progress(loading=False)
        elif event.state is WorkerState.ERROR:
            if isinstance(event.worker.error, AuthenticationError):
                # A rejected login is not retried here: back to the connections, where opening asks again.
                self.run_worker(self.explorer.forget_client(self.connection.name))
                self.app.pop_screen()
                return
            partial = f"{len(self.devices):,} devices shown are PARTIAL. " if self.devices else ""
            self.query_one("#status", StatusLine).show(
                f"Load failed: {event.worker.error} {partial}ctrl+r retries, q goes back.", error=True
            )

    def _show_progress(self, *, loading: bool) -> None:
        loaded = len(self.devices)
        total = f" / {self.total:,}" if self.total is not None else ""
        what = f"{loaded:,}{total} loaded" if loading else f"{loaded:,} devices"
        server = f"{self.server.title} · " if self.server else ""
        self.query_one(GroupTree).show_counts(count_by_group(self.devices), loaded, loading=loading)
        self.query_one("#status", StatusLine).show(
            f"{server}{what}" + (" …" if loading else " · enter details · tab tree/table")
        )

    @on(Tree.NodeHighlighted, "#groups")
    def _group_highlighted(self, event: Tree.NodeHighlighted[Group | None]) -> None:
        group = event.node.data
        self.pane.set_filter(replace(self.pane.filter, group=group.path if group else ()))

    def action_toggle(self, flag: str) -> None:
        self.pane.toggle(flag)

    def action_search(self) -> None:
        self.pane.open_search()

    def action_clear_or_back(self) -> None:
        if isinstance(self.focused, Input):
            self.pane.table.focus()
        elif not self.pane.clear_filters():
            self.action_back()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_refresh(self) -> None:
        self.load()
