"""Open consoles: the group tree on the left, the devices of the selected group on the right.

One console, or several merged (All fleets, with a Connection column). Each console loads in its own
background worker; the first load streams its pages into the table as they arrive, a refresh loads
into a fresh inventory and swaps it in when every console has answered, so the table never shrinks
to a partial fleet and a failed refresh leaves the last good data on screen, said to be stale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Tree
from textual.worker import Worker, WorkerState

from screens.base import ExplorerScreen
from screens.commands import queue_fetch, queue_scan
from screens.devices import DevicesPane
from screens.events import EventsScreen
from screens.fingerprints import FingerprintsScreen
from screens.respond import offers_actions, respond_flow
from tui.export import age_text
from tui.inventory import DeviceFilter, Inventory
from tui.models import VENDORS, Device, DevicePage, DeviceQuery, Group, ServerInfo, left_out
from tui.vendors.base import AuthenticationError, LabelMembership, ResponseActions, VendorClient
from widgets.group_tree import GroupTree
from widgets.status_line import StatusLine

DEFAULT_AUTO_REFRESH = 60
"""Seconds between automatic refreshes when `a` turns them on and the config names no interval."""
MODAL_RETRY = 2.0
"""Seconds before an automatic refresh that met an open dialog or detail screen tries again."""


@dataclass(frozen=True, slots=True)
class KeptFleet:
    """A complete load of a screen's consoles, kept by the app for the session (`ExplorerApp.kept_fleets`)."""

    inventory: Inventory
    groups: dict[str, list[Group]]
    servers: dict[str, ServerInfo]
    labels_known: dict[str, set[str]]
    loaded_at: datetime


@dataclass(slots=True)
class LoadState:
    """How far one console's listing has got in the current load."""

    loaded: int = 0
    total: int | None = None
    done: bool = False
    error: BaseException | None = None
    waiting: str | None = None
    skipped: int = 0
    """Items the console listed that are no device (no id): left out, said once."""
    repaired: int = 0
    """Devices whose text held bytes that are not UTF-8, kept with those bytes replaced."""
    label_members: int | None = None
    """While label members are being fetched (EPMM), how many have arrived."""


class GroupsScreen(ExplorerScreen):
    """Loads groups then devices per console in background workers; pages are shown as they arrive."""

    BINDINGS = [
        Binding("c", "toggle('critical')", "Critical", tooltip="Show only critical devices (again: all)"),
        Binding("m", "toggle('missing_patch')", "Patches",
                tooltip="Show only devices missing critical patches (again: all)"),
        Binding("o", "toggle('online')", "Online", show=False, tooltip="Show only devices online now (again: all)"),
        Binding("slash", "search", "Filter", key_display="/", tooltip="Filter by name, IP, user, OS, group; !text excludes"),
        Binding("s", "sort", "Sort", show=False, tooltip="Sort by the next column (arrival order after the last)"),
        Binding("S", "reverse_sort", "Reverse", show=False, tooltip="Reverse the sort direction"),
        Binding("y", "copy", "Copy", tooltip="Copy a cell, the id, the row or the JSON record of the device"),
        Binding("e", "export", "Export", show=False, tooltip="Export the devices shown to a CSV or JSON file"),
        Binding("escape", "clear_or_back", "Clear filters, then back", show=False),
        Binding("E", "events", "Events", show=False, tooltip="The event timeline of these consoles (last hour)"),
        Binding("F", "fingerprints", "Fingerprints", show=False,
                tooltip="SEPM fingerprint lists: the known lists, their hashes, find a hash"),
        Binding("H", "scan", "Scan for hash", show=False,
                tooltip="SEPM: Evidence of Compromise scan of the marked (space) or highlighted computers, or the group"),
        Binding("f", "fetch", "Fetch file", show=False,
                tooltip="SEPM: upload a file from the marked (space) or highlighted computers to the console"),
        Binding("x", "respond", "Respond", show=False,  # like H and f: listed by help and the palette
                tooltip="Response actions on the marked (space) or highlighted devices: isolate, quarantine, scan, "
                        "show a message (what the console offers)"),
        Binding("ctrl+r", "refresh", "Refresh"),
        Binding("a", "auto_refresh", "Auto-refresh", show=False, tooltip="Refresh on a timer (again: stop)"),
        Binding("q", "back", "Back"),
    ]

    class Loaded(Message):
        """A step of one console's load: server info, the groups, or one page of devices."""

        def __init__(self, generation: int, connection: str, *, info: ServerInfo | None = None,
                     groups: list[Group] | None = None, page: DevicePage | None = None, ahead: bool = False,
                     labels: bool = False) -> None:
            super().__init__()
            self.ahead = ahead
            """A page of the filtered listing fetched ahead of the full one: shown, not counted."""
            self.labels = labels
            """A page of label members (EPMM): the devices again, now known by a label; not counted."""
            self.generation = generation
            self.connection = connection
            self.info = info
            self.groups = groups
            self.page = page

    class LabelsLoaded(Message):
        """Every member of these labels has arrived: their counts come from the inventory from now on."""

        def __init__(self, generation: int, connection: str, group_ids: list[str]) -> None:
            super().__init__()
            self.generation = generation
            self.connection = connection
            self.group_ids = group_ids

    class Waiting(Message):
        """A client pauses (rate limit, retry) and says why; None when it goes on."""

        def __init__(self, connection: str, reason: str | None) -> None:
            super().__init__()
            self.connection = connection
            self.reason = reason

    def __init__(self, clients: Sequence[VendorClient]) -> None:
        super().__init__()
        self.clients = {client.connection.name: client for client in clients}
        self.fleets = len(self.clients) > 1
        self.servers: dict[str, ServerInfo] = {}
        self.inventory = Inventory()
        self.incoming: Inventory | None = None
        """The inventory a refresh fills, shown once every console has answered."""
        self.loads: dict[str, LoadState] = {}
        self.groups: dict[str, dict[tuple[str, ...], Group]] = {}
        """Per console, its groups by path (a tree node's scope names a path)."""
        self.labels_known: dict[str, set[str]] = {}
        """Per console, the labels whose members the inventory holds (fetched when opened; EPMM)."""
        self.loaded_at: datetime | None = None
        """When the devices shown were completely loaded (a kept fleet's time when it was reopened)."""
        self._workers: dict[str, Worker[None]] = {}
        self.generation = 0
        self.refresh_every = 0
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="explorer"):
            yield GroupTree(list(self.clients), id="groups")
            yield DevicesPane(id="pane", clock=self.explorer.clock, fleets=self.fleets)
        yield StatusLine(id="status")
        yield Footer()

    @property
    def pane(self) -> DevicesPane:
        return self.query_one("#pane", DevicesPane)

    @property
    def loading(self) -> bool:
        return any(not state.done for state in self.loads.values())

    def on_mount(self) -> None:
        self.sub_title = "All fleets · " + ", ".join(self.clients) if self.fleets else self._title(self.only)
        for name, client in self.clients.items():
            connection = client.connection
            if connection.verify is False and not connection.url.startswith("http://"):
                self.notify(
                    "TLS certificates are NOT verified on this connection; anyone on the path can read it.",
                    title=name, severity="warning", markup=False,
                )
            client.wait_listener = lambda reason, name=name: self.post_message(self.Waiting(name, reason))
        kept = self.explorer.kept_fleets.get(tuple(self.clients))
        if kept is not None:  # opened before in this session: shown at once, refreshed behind
            self.inventory, self.servers, self.labels_known = kept.inventory, dict(kept.servers), kept.labels_known
            self.loaded_at = kept.loaded_at
            for name, groups in kept.groups.items():
                self._show_groups(name, groups)
            if not self.fleets and self.only in self.servers:
                self.sub_title = self._title(self.only)
        self.pane.inventory = self.inventory
        self.pane.set_filter(self.query_one(GroupTree).root.data or DeviceFilter())
        self.pane.table.focus()
        self.refresh_every = self.explorer.config.settings.auto_refresh
        self.load()

    @property
    def only(self) -> str:
        return next(iter(self.clients))

    def _title(self, name: str) -> str:
        server = self.servers.get(name)
        return f"{name} · {server.title if server else self.clients[name].product}"

    def on_unmount(self) -> None:
        for client in self.clients.values():
            client.wait_listener = None

    def load(self) -> None:
        """Start (or restart) every console's listing; a refresh fills a fresh inventory."""
        self.generation += 1
        for group in ("load", *(f"{kind}-{name}" for name in self.clients for kind in ("first", "labels"))):
            self.workers.cancel_group(self, group)
        if self.incoming is None and any(state.error is not None for state in self.loads.values()):
            # The last load failed part-way: its devices are no "last good load" to keep, so start afresh.
            self.inventory = Inventory()
            self.pane.set_inventory(self.inventory)
        self.incoming = Inventory() if len(self.inventory) else None
        self.loads = {name: LoadState() for name in self.clients}
        self._workers = {
            name: self.run_worker(self._load(self.generation, client), group="load", name=name, exit_on_error=False)
            for name, client in self.clients.items()
        }
        self._show_progress()

    async def _load(self, generation: int, client: VendorClient) -> None:
        name = client.connection.name
        self.post_message(self.Loaded(generation, name, info=await client.probe()))
        self.post_message(self.Loaded(generation, name, groups=await client.groups()))
        async for page in client.devices():
            self.post_message(self.Loaded(generation, name, page=page))
        known = sorted(self.labels_known.get(name, ()))
        if known and isinstance(client, LabelMembership):  # a refresh learns again what the opened labels hold
            async for page in client.label_devices(known):
                self.post_message(self.Loaded(generation, name, page=page, labels=True))

    def on_groups_screen_loaded(self, message: Loaded) -> None:
        if message.generation != self.generation:
            return  # a cancelled load's last words
        name = message.connection
        if message.info is not None:
            self.servers[name] = message.info
            if not self.fleets:
                self.sub_title = self._title(name)
        if message.groups is not None:
            self._show_groups(name, message.groups)
        if message.page is not None and message.labels:
            for inventory in (self.inventory, self.incoming):
                if inventory is not None:
                    inventory.add(message.page.devices)
            state = self.loads[name]
            if state.label_members is not None:
                state.label_members += len(message.page.devices)
            self.pane.refilter()
        elif message.page is not None and message.ahead:
            if self.incoming is None and not self.loads[name].done:
                self.inventory.add(message.page.devices)
                self.pane.refilter()
        elif message.page is not None:
            state = self.loads[name]
            state.loaded, state.total, state.waiting = state.loaded + len(message.page.devices), message.page.total, None
            state.skipped += message.page.skipped
            state.repaired += message.page.repaired
            if self.incoming is not None:
                self.incoming.add(message.page.devices)
            else:
                self.inventory.add(message.page.devices)
                self.pane.refilter()
        self._show_progress()

    def _show_groups(self, name: str, groups: list[Group]) -> None:
        tree = self.query_one(GroupTree)
        tree.show_groups(name, groups)
        self.groups[name] = {group.path: group for group in groups}
        client = self.clients[name]
        if isinstance(client, LabelMembership):  # until a label's members arrive, its count is the console's
            known = self.labels_known.get(name, set())
            tree.show_console_counts(name, {
                group.path: group.device_count if client.label_ids(group.id) == [group.id] else None
                for group in groups if client.label_ids(group.id) and not set(client.label_ids(group.id)) <= known
            })

    def on_groups_screen_labels_loaded(self, message: LabelsLoaded) -> None:
        if message.generation != self.generation:
            return
        name = message.connection
        known = self.labels_known.setdefault(name, set())
        known.update(message.group_ids)
        self.loads[name].label_members = None
        client = self.clients[name]
        if isinstance(client, LabelMembership):
            self.query_one(GroupTree).forget_console_counts(name, [
                path for path, group in self.groups.get(name, {}).items()
                if client.label_ids(group.id) and set(client.label_ids(group.id)) <= known])
        self._show_progress()

    def on_groups_screen_waiting(self, message: Waiting) -> None:
        state = self.loads.get(message.connection)
        if state is not None:
            state.waiting = message.reason
            self._show_progress()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        name = event.worker.name
        if event.worker is not self._workers.get(name):
            return  # ExplorerScreen's handler (Textual runs it too) reports other workers' failures
        state = self.loads[name]
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR) or state.done:
            return
        state.done = True
        self.workers.cancel_group(self, f"first-{name}")  # the full listing has it all now
        if event.state is WorkerState.ERROR:
            state.error = event.worker.error
            if isinstance(state.error, AuthenticationError):
                # A rejected login is not retried here: back to the connections, where opening asks again.
                self.run_worker(self.explorer.forget_client(name))
                if not self.fleets:  # ExplorerScreen's handler, which Textual runs next, says why
                    self.app.pop_screen()
                    return
        if not self.loading:
            self._finish()
        self._show_progress()

    def _finish(self) -> None:
        """Every console answered: swap in a refresh that fully succeeded, re-arm the auto-refresh."""
        failed = any(state.error is not None for state in self.loads.values())
        if self.incoming is not None and not failed:
            self.inventory, self.incoming = self.incoming, None
            self.pane.set_inventory(self.inventory)
        if not failed:
            self.loaded_at = self._now()
            self.explorer.kept_fleets[tuple(self.clients)] = KeptFleet(
                self.inventory, {name: list(groups.values()) for name, groups in self.groups.items()},
                self.servers, self.labels_known, self.loaded_at)
        self._arm_timer()

    def _now(self) -> datetime:
        return self.explorer.clock() if self.explorer.clock else datetime.now(UTC)

    def _kept_words(self) -> str:
        """"14:02 UTC, 3m ago": when the devices shown were loaded."""
        if self.loaded_at is None:
            return ""
        return f"{self.loaded_at.astimezone(UTC):%H:%M} UTC, {age_text(self.loaded_at, self._now())} ago"

    def _show_progress(self) -> None:
        loading = self.loading
        partial = loading or any(state.error is not None for state in self.loads.values())
        self.query_one(GroupTree).show_counts(self.inventory, loading=partial and self.incoming is None)
        parts = []
        problem = None
        for name, state in self.loads.items():
            who = f"{name} " if self.fleets else (f"{self.servers[name].title} · " if name in self.servers else "")
            if state.error is not None:
                problem = problem or (name, state.error)
                parts.append(f"{who}failed")
            elif state.waiting:
                parts.append(f"{who}{state.waiting}")
            elif state.done:
                parts.append(f"{who}{state.loaded:,} devices{_left_out(state)}")
            else:
                total = f" / {state.total:,}" if state.total is not None else ""
                kept = f"from {self._kept_words()} · " if self.loaded_at is not None else ""
                refreshing = f"{kept}refreshing " if self.incoming is not None else ""
                parts.append(f"{who}{refreshing}{state.loaded:,}{total} loaded{_left_out(state)} …")
            if state.label_members is not None and state.error is None:
                parts.append(f"{who if self.fleets else ''}label members: {state.label_members:,} loaded …")
        tree = self.query_one(GroupTree)
        for name, state in self.loads.items():
            failure = state.error if state.done else None
            tree.show_failure(name, "ctrl+r retries" if failure else None)
        status = self.query_one("#status", StatusLine)
        if problem is not None and not loading:
            name, error = problem
            where = f"{name}: " if self.fleets else ""
            self.pane.show_problem(None if len(self.inventory) else f"{where}{error} ctrl+r retries, q goes back.")
            if self.incoming is not None:
                status.show(f"Refresh failed: {where}{error} Showing the devices of the last load"
                            f"{f' ({self._kept_words()})' if self.loaded_at else ''}. ctrl+r retries.", error=True)
            else:
                partial = f"{len(self.inventory):,} devices shown are PARTIAL. " if len(self.inventory) else ""
                status.show(f"Load failed: {where}{error} {partial}ctrl+r retries, q goes back.", error=True)
            return
        self.pane.show_problem(None)
        tail = " · enter details · tab tree/table" if not loading else ""
        auto = f" · auto-refresh {self.refresh_every}s" if self.refresh_every else ""
        status.show(" · ".join(parts) + auto + tail, warning=any(state.waiting for state in self.loads.values()))

    def _arm_timer(self, delay: float | None = None) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.refresh_every:
            self._timer = self.set_timer(delay or self.refresh_every, self._auto_refresh_due)

    def _auto_refresh_due(self) -> None:
        """Refresh now, unless a dialog or a detail screen is open over this one: then look again soon."""
        self._timer = None
        if self.app.screen is not self or self.loading:
            self._arm_timer(MODAL_RETRY)
        else:
            self.load()

    @on(Tree.NodeHighlighted, "#groups")
    def _group_highlighted(self, event: Tree.NodeHighlighted[DeviceFilter]) -> None:
        scope = event.node.data
        if scope is not None:
            self.pane.set_filter(replace(self.pane.filter, connection=scope.connection, group=scope.group))
            self._fetch_label_members(scope)

    def _fetch_label_members(self, scope: DeviceFilter) -> None:
        """Opening a label (or the labels' root) of a console whose devices do not list their labels asks the
        console for the members it does not know yet; moving on to another label cancels the fetch."""
        name = scope.connection
        client = self.clients.get(name)
        if not isinstance(client, LabelMembership) or not scope.group:
            return
        group = self.groups.get(name, {}).get(scope.group)
        known = self.labels_known.setdefault(name, set())
        wanted = [label for label in client.label_ids(group.id) if label not in known] if group else []
        if not wanted:
            return
        self.loads[name].label_members = 0
        self.run_worker(self._load_label_members(self.generation, name, client, wanted), group=f"labels-{name}",
                        exclusive=True, exit_on_error=False)
        self._show_progress()

    async def _load_label_members(
        self, generation: int, name: str, source: LabelMembership, group_ids: list[str]
    ) -> None:
        async for page in source.label_devices(group_ids):
            self.post_message(self.Loaded(generation, name, page=page, labels=True))
        self.post_message(self.LabelsLoaded(generation, name, group_ids))

    def action_toggle(self, flag: str) -> None:
        self.pane.toggle(flag)
        self._fetch_filtered_first()

    def _fetch_filtered_first(self) -> None:
        """During the first load, consoles that filter on the server send the filtered devices first.

        The full listing goes on; rows it brings again replace the same rows, so nothing is counted twice.
        """
        wanted = self.pane.filter
        flags = {flag for flag in ("critical", "missing_patch") if getattr(wanted, flag)}
        if not flags or self.incoming is not None:
            return
        query = DeviceQuery(critical=wanted.critical, missing_patch=wanted.missing_patch)
        for name, client in self.clients.items():
            if not self.loads[name].done and flags <= client.server_filters:
                self.run_worker(self._load_filtered(self.generation, client, query), group=f"first-{name}",
                                exclusive=True, exit_on_error=False)

    async def _load_filtered(self, generation: int, client: VendorClient, query: DeviceQuery) -> None:
        async for page in client.devices(query):
            self.post_message(self.Loaded(generation, client.connection.name, page=page, ahead=True))

    def action_search(self) -> None:
        self.pane.open_search()

    def action_sort(self) -> None:
        self.pane.cycle_sort()

    def action_reverse_sort(self) -> None:
        self.pane.reverse_sort()

    def action_copy(self) -> None:
        self.pane.copy_menu()

    def action_export(self) -> None:
        self.pane.export_prompt()

    def action_clear_or_back(self) -> None:
        if isinstance(self.focused, Input):
            self.pane.table.focus()
        elif not self.pane.table.clear_marks() and not self.pane.clear_filters():
            self.action_back()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_events(self) -> None:
        with_events = [client for client in self.clients.values() if client.capabilities.events]
        if not with_events:
            self.notify("None of these consoles offers events to this explorer.", severity="warning", markup=False)
            return
        self.app.push_screen(EventsScreen(with_events, find_device=lambda event: self.inventory.find(
            event.connection, event.device_id, event.device_name)))

    def action_fingerprints(self) -> None:
        """The lists of the console in scope (the only one, or the highlighted one in All fleets)."""
        name = self.pane.filter.connection or next(iter(self.clients))
        self.app.push_screen(FingerprintsScreen(self.clients[name], self.group_paths(name)))

    def group_paths(self, name: str) -> dict[str, str]:
        """A console's group paths by id (fingerprint lists name their lockdown groups by id)."""
        return {group.id: group.path_text for group in self.groups.get(name, {}).values()}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Scans and fetches show only where a console can run them and allows changes."""
        if action in ("scan", "fetch"):
            return any(client.capabilities.commands and not client.connection.read_only
                       for client in self.clients.values())
        if action == "respond":
            return any(map(offers_actions, self.clients.values()))
        return True

    def on_key(self, event: events.Key) -> None:
        if event.key in ("H", "f") and not isinstance(self.focused, Input) and not self.check_action("scan", ()):
            event.stop()
            self._command_targets()  # says why not
        if event.key == "x" and not isinstance(self.focused, Input) and not self.check_action("respond", ()):
            event.stop()
            self._response_targets()  # says why not

    def _one_console_targets(self, noun: str, what: str) -> tuple[VendorClient, list[Device]] | None:
        """The marked (else highlighted) devices and their one console, or None after saying why not; `noun`
        names them ("computer"), `what` the thing sent ("a command")."""
        devices = self.pane.command_targets()
        consoles = {device.connection for device in devices}
        if not devices:
            self.notify(f"No {noun} is highlighted or marked.", severity="warning", markup=False)
            return None
        if len(consoles) > 1:
            self.notify(f"The marked {noun}s are on {len(consoles)} consoles; {what} goes to one console: "
                        f"mark {noun}s of one.", severity="warning", markup=False)
            return None
        return self.clients[consoles.pop()], devices

    def _command_targets(self) -> tuple[VendorClient, list[Device]] | None:
        """The console and computers a command goes to, or None after saying why there are none."""
        targets = self._one_console_targets("computer", "a command")
        if targets is None:
            return None
        client, devices = targets
        if not client.capabilities.commands:
            vendor = VENDORS.get(client.vendor, client.vendor)
            self.notify(f"Scans and file fetches are SEPM commands; {vendor} has none.", severity="warning",
                        markup=False)
            return None
        if client.connection.read_only:
            self.refuse_write(client.connection.name)
            return None
        return client, devices

    def _response_targets(self) -> tuple[VendorClient, list[Device]] | None:
        """The console and devices a response action goes to, or None after saying why there are none."""
        targets = self._one_console_targets("device", "an action")
        if targets is None:
            return None
        client, devices = targets
        if not isinstance(client, ResponseActions) or not client.offered_actions():
            self.notify(f"{VENDORS.get(client.vendor, client.vendor)} offers no response action through its API.",
                        severity="warning", markup=False)
            return None
        if client.connection.read_only:
            self.refuse_write(client.connection.name)
            return None
        return client, devices

    def action_respond(self) -> None:
        targets = self._response_targets()
        if targets is not None:
            self.run_worker(respond_flow(self, *targets, on_closed=self.load), group="respond", exit_on_error=False)

    def action_scan(self) -> None:
        targets = self._command_targets()
        if targets is not None:
            client, devices = targets
            name = client.connection.name
            scope = self.pane.filter
            found = self.groups.get(name, {}).get(scope.group)
            group = (found.id, found.path_text) if found and scope.connection in (name, "") else None
            self.run_worker(queue_scan(self, client, devices, group), group="command", exit_on_error=False)

    def action_fetch(self) -> None:
        targets = self._command_targets()
        if targets is not None:
            self.run_worker(queue_fetch(self, *targets), group="command", exit_on_error=False)

    def action_refresh(self) -> None:
        self.load()

    def action_auto_refresh(self) -> None:
        configured = self.explorer.config.settings.auto_refresh
        self.refresh_every = 0 if self.refresh_every else (configured or DEFAULT_AUTO_REFRESH)
        self.notify(f"Auto-refresh every {self.refresh_every} s." if self.refresh_every else "Auto-refresh off.",
                    markup=False)
        if not self.loading:
            self._arm_timer()
        self._show_progress()


def _left_out(state: LoadState) -> str:
    """What the console sent that is not shown as it came: items that are no device, repaired text."""
    said = left_out(state.skipped, state.repaired, "device")
    return f" ({'; '.join(said)})" if said else ""
