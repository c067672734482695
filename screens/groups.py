"""Open consoles: the group tree on the left, the devices of the selected group on the right.

One console, or several merged (All fleets, with a Connection column). Each console loads in its own
background worker; the first load streams its pages into the table as they arrive, a refresh loads
into a fresh inventory and swaps it in when every console has answered, so the table never shrinks
to a partial fleet and a failed refresh leaves the last good data on screen, said to be stale. Consoles not yet
loaded this session open from their latest snapshot (tui/snapshots.py), labelled with its age, and every
complete load is written to the store behind the screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from time import monotonic

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Header, Input, Tree
from textual.worker import Worker, WorkerState

from screens.base import ExplorerScreen
from screens.changes import ChangesScreen
from screens.commands import queue_fetch, queue_scan
from screens.coverage import CoverageScreen
from screens.devices import DevicesPane
from screens.events import EventsScreen
from screens.fingerprints import FingerprintsScreen
from screens.messages import ConsoleStep, ConsoleWaiting, LabelsLoaded, SnapshotChunk, SnapshotOpened
from screens.refresh_timer import RefreshTimer
from screens.respond import offers_actions, respond_flow
from tui.fleet_load import FleetLoad, KeptFleet, PageKind, Step, load_console
from tui.inventory import DeviceFilter, Inventory
from tui.models import VENDORS, Device, DeviceQuery, Group
from tui.snapshots import SnapshotError
from tui.textual_compat import OnceFooter
from tui.vendors.base import AuthenticationError, VendorClient, WaitListener, waits_told_to
from tui.vendors.facets import CommandQueue, CommandQueueClient, EventSource, LabelMembership, ResponseActions
from widgets.group_tree import GroupTree
from widgets.status_line import StatusLine

DEFAULT_AUTO_REFRESH = 60
"""Seconds between automatic refreshes when `a` turns them on and the config names no interval."""

SHOW_PAGES_EVERY = 0.25
"""While pages stream in, the rows and counts are redrawn at most this often (the first page at once). A
console sends pages far faster than a terminal is worth redrawing: a 100,000-device Elements fleet is 500
pages, and a redraw of the table, the tree and the status line for each took four times the load itself."""


class GroupsScreen(ExplorerScreen):
    """Loads groups then devices per console in background workers; pages are shown as they arrive."""

    BINDINGS = [
        Binding("c", "toggle('critical')", "Critical", tooltip="Show only critical devices (again: all)"),
        Binding("m", "toggle('missing_patch')", "Patches",
                tooltip="Show only devices missing critical patches (again: all)"),
        Binding("o", "toggle('online')", "Online", show=False, tooltip="Show only devices online now (again: all)"),
        # priority: "/" opens the box before the next key is read (keys typed ahead go into it; widgets/search_box.py)
        Binding("slash", "search", "Filter", key_display="/", priority=True,
                tooltip="Filter by name, IP, user, OS, group; !text excludes"),
        Binding("s", "sort", "Sort", show=False, tooltip="Sort by the next column (arrival order after the last)"),
        Binding("S", "reverse_sort", "Reverse", show=False, tooltip="Reverse the sort direction"),
        Binding("y", "copy", "Copy", tooltip="Copy a cell, the id, the row or the JSON record of the device"),
        Binding("e", "export", "Export", show=False, tooltip="Export the devices shown to a CSV or JSON file"),
        Binding("escape", "clear_or_back", "Clear filters, then back", show=False),
        Binding("E", "events", "Events", show=False, tooltip="The event timeline of these consoles (last hour)"),
        Binding("C", "changes", "Changes", show=False,
                tooltip="What changed since the previous snapshot"),
        Binding("V", "coverage", "Coverage", show=False,
                tooltip="All fleets: which consoles see each machine"),
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

    refresh_every: reactive[int] = reactive(0, init=False)
    """Seconds between automatic refreshes; 0: none."""

    def __init__(self, clients: Sequence[VendorClient]) -> None:
        super().__init__()
        self.clients = {client.connection.name: client for client in clients}
        self.fleets = len(self.clients) > 1
        self.fleet = FleetLoad(list(self.clients))
        """Made again on mount, from what the session kept of these consoles."""
        self._workers: dict[str, Worker[None]] = {}
        self._pages_shown_at = float("-inf")
        self._pages_pending: Timer | None = None
        self._rows_stale = False
        self.refresh_timer = RefreshTimer(self, self.load, busy=lambda: self.loading)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="explorer"):
            yield GroupTree(list(self.clients), id="groups")
            yield DevicesPane(id="pane", clock=self.session.clock, fleets=self.fleets)
        yield StatusLine(id="status")
        yield OnceFooter()

    @property
    def pane(self) -> DevicesPane:
        return self.query_one("#pane", DevicesPane)

    @property
    def inventory(self) -> Inventory:
        return self.fleet.inventory

    @property
    def loading(self) -> bool:
        return self.fleet.loading

    def on_mount(self) -> None:
        for name, client in self.clients.items():
            connection = client.connection
            if connection.verify is False and not connection.url.startswith("http://"):
                self.notify(
                    "TLS certificates are NOT verified on this connection; anyone on the path can read it.",
                    title=name, severity="warning", markup=False,
                )
        kept = self.session.kept(tuple(self.clients))  # opened before in this session: shown at once
        self.pane.filter = self.query_one(GroupTree).root.data or DeviceFilter()
        self.pane.table.focus()
        self.set_reactive(GroupsScreen.refresh_every, self.session.config.settings.auto_refresh)
        if kept is None:  # else the latest snapshot, from the store, is shown at once if there is one
            self._open_snapshot()
        else:
            self._show_fleet(kept)

    def _show_fleet(self, kept: KeptFleet | None) -> None:
        """Show what was kept of these consoles (nothing: an empty table), then load them live behind it."""
        self.fleet = FleetLoad(list(self.clients), clock=self.session.now, kept=kept)
        if kept is not None:
            for name, groups in kept.groups.items():
                self._show_groups(name, groups)
        self.sub_title = "All fleets · " + ", ".join(self.clients) if self.fleets else self._title(self.only)
        self.pane.inventory = self.inventory
        self.load()

    @work(thread=True, group="snapshot", exit_on_error=False)
    def _open_snapshot(self) -> None:
        """Read the latest snapshots in a thread: the first devices at once, the rest chunk by chunk."""
        try:
            opened = self.session.snapshots.open_fleet(list(self.clients))
            if opened is None:
                self.post_message(SnapshotOpened(None))
                return
            fleet, rest = opened
            self.post_message(SnapshotOpened(fleet))
            for devices in rest:
                self.post_message(SnapshotChunk(fleet.inventory, devices))
        except SnapshotError as error:
            self.post_message(SnapshotOpened(None, self.session.snapshot_problem(error)))

    def on_snapshot_opened(self, message: SnapshotOpened) -> None:
        if message.problem:
            self.notify(message.problem, title="Snapshots", severity="warning", markup=False)
        if not self.fleet.consoles:  # not yet loading: the first word of the store decides what is shown
            self._show_fleet(message.fleet)

    def on_snapshot_chunk(self, message: SnapshotChunk) -> None:
        if message.inventory is self.inventory:  # still the snapshot shown (no load has replaced it)
            self.inventory.add(message.devices)
            self._rows_stale = True
            self._show_pages_soon()

    @property
    def only(self) -> str:
        return next(iter(self.clients))

    def _title(self, name: str) -> str:
        server = self.fleet.servers.get(name)
        return f"{name} · {server.title if server else self.clients[name].product}"

    def load(self) -> None:
        """Start (or restart) every console's listing; a refresh fills a fresh inventory."""
        for group in ("load", "labels", *(f"first-{name}" for name in self.clients)):
            self.workers.cancel_group(self, group)
        if self.fleet.start():
            self.pane.inventory = self.inventory
        self._workers = {name: self._load(self.fleet.generation, client) for name, client in self.clients.items()}
        self._show_progress()

    def _waits_said(self, generation: int, name: str) -> WaitListener:
        return lambda reason: self.post_message(ConsoleWaiting(generation, name, reason))

    @work(group="load", exit_on_error=False)
    async def _load(self, generation: int, client: VendorClient) -> None:
        name = client.connection.name
        with waits_told_to(self._waits_said(generation, name)):
            async for step in load_console(client, sorted(self.fleet.labels_known.get(name, ()))):
                self.post_message(ConsoleStep(generation, name, step))

    def on_console_step(self, message: ConsoleStep) -> None:
        if message.generation != self.fleet.generation:
            return  # a cancelled load's last words
        name, step = message.connection, message.step
        if self.fleet.take(name, step):
            self._rows_stale = True
        if step.info is not None and not self.fleets:
            self.sub_title = self._title(name)
        if step.groups is not None:
            self._show_groups(name, step.groups)
        self._show_pages_soon()

    def _show_pages_soon(self) -> None:
        """Show the rows and counts now, or once `SHOW_PAGES_EVERY` has passed since they were last shown."""
        if self._pages_pending is not None:
            return
        wait = self._pages_shown_at + SHOW_PAGES_EVERY - monotonic()
        if wait > 0:
            self._pages_pending = self.set_timer(wait, self._show_pages)
        else:
            self._show_pages()

    def _show_pages(self) -> None:
        """Show what arrived since the last time: the rows (refiltered) and the progress."""
        if self._pages_pending is not None:
            self._pages_pending.stop()
            self._pages_pending = None
        self._pages_shown_at = monotonic()
        if self._rows_stale:
            self._rows_stale = False
            self.pane.refilter()
        self._show_progress()

    def _show_groups(self, name: str, groups: list[Group]) -> None:
        tree = self.query_one(GroupTree)
        tree.show_groups(name, groups)
        client = self.clients[name]
        if isinstance(client, LabelMembership):  # until a label's members arrive, its count is the console's
            known = self.fleet.labels_known.get(name, set())
            tree.show_console_counts(name, {
                group.path: group.device_count if client.label_ids(group.id) == [group.id] else None
                for group in groups if client.label_ids(group.id) and not set(client.label_ids(group.id)) <= known
            })

    def on_labels_loaded(self, message: LabelsLoaded) -> None:
        if message.generation != self.fleet.generation:
            return
        name = message.connection
        known = self.fleet.labels_loaded(name, message.group_ids)
        client = self.clients[name]
        if isinstance(client, LabelMembership):
            self.query_one(GroupTree).forget_console_counts(name, [
                path for path, group in self.fleet.groups.get(name, {}).items()
                if client.label_ids(group.id) and set(client.label_ids(group.id)) <= known])
        self._show_progress()

    def on_console_waiting(self, message: ConsoleWaiting) -> None:
        state = self.fleet.consoles.get(message.connection)
        if state is not None and message.generation == self.fleet.generation:
            state.waiting = message.reason
            self._show_progress()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        name = next((name for name, worker in self._workers.items() if worker is event.worker), None)
        if name is None or event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return  # ExplorerScreen's handler (Textual runs it too) reports other workers' failures
        error = event.worker.error if event.state is WorkerState.ERROR else None
        if not self.fleet.console_done(name, error):
            return
        self.workers.cancel_group(self, f"first-{name}")  # the full listing has it all now
        if isinstance(error, AuthenticationError):
            # A rejected login is not retried here: back to the connections, where opening asks again.
            self.run_worker(self.session.forget_client(name))
            if not self.fleets:  # ExplorerScreen's handler, which Textual runs next, says why
                self.app.pop_screen()
                return
        if not self.loading:
            self._finish()
        self._show_pages()  # what is still waiting for its redraw, and the words of the end

    def _finish(self) -> None:
        """Every console answered: swap in a refresh that fully succeeded, re-arm the auto-refresh."""
        shown = self.inventory
        kept = self.fleet.finish()
        if self.inventory is not shown:
            self.pane.inventory = self.inventory
        if kept is not None:
            self.session.keep(tuple(self.clients), kept)
            self._write_snapshot(kept)
        self.refresh_timer.arm(self.refresh_every)

    @work(group="snapshot-write", exit_on_error=False)
    async def _write_snapshot(self, kept: KeptFleet) -> None:
        """Keep the complete load in the store, in a thread; a store that fails is said once."""
        problem = await self.session.write_snapshot(
            kept, {name: client.vendor for name, client in self.clients.items()})
        if problem:
            self.notify(problem, title="Snapshots", severity="warning", markup=False)

    def _show_progress(self) -> None:
        progress = self.fleet.progress()
        partial = self.loading or self.fleet.failed
        tree = self.query_one(GroupTree)
        tree.show_counts(self.inventory, loading=partial and self.fleet.incoming is None)
        for name, state in self.fleet.consoles.items():
            tree.show_failure(name, "ctrl+r retries" if state.done and state.error is not None else None)
        status = self.query_one("#status", StatusLine)
        self.pane.show_problem(progress.pane_problem)
        if progress.error:
            status.show(progress.words, error=True)
            return
        tail = " · enter details · tab tree/table" if not self.loading else ""
        auto = f" · auto-refresh {self.refresh_every}s" if self.refresh_every else ""
        status.show(progress.words + auto + tail, warning=progress.warning)

    @on(Tree.NodeHighlighted, "#groups")
    def _group_highlighted(self, event: Tree.NodeHighlighted[DeviceFilter]) -> None:
        scope = event.node.data
        if scope is not None:
            self.pane.filter = replace(self.pane.filter, connection=scope.connection, group=scope.group)
            self._fetch_label_members(scope)

    def _fetch_label_members(self, scope: DeviceFilter) -> None:
        """Opening a label (or the labels' root) of a console whose devices do not list their labels asks the
        console for the members it does not know yet; moving on to another label cancels the fetch."""
        name = scope.connection
        client = self.clients.get(name)
        if not isinstance(client, LabelMembership) or not scope.group:
            return
        wanted = self.fleet.labels_wanted(name, self.fleet.groups.get(name, {}).get(scope.group), client)
        if wanted:
            self._load_label_members(self.fleet.generation, name, client, wanted)
            self._show_progress()

    @work(group="labels", exclusive=True, exit_on_error=False)
    async def _load_label_members(
        self, generation: int, name: str, source: LabelMembership, group_ids: list[str]
    ) -> None:
        """One exclusive worker for every console's label fetch: opening another label moves on."""
        with waits_told_to(self._waits_said(generation, name)):
            async for page in source.label_devices(group_ids):
                self.post_message(ConsoleStep(generation, name, Step(page=page, kind=PageKind.LABELS)))
        self.post_message(LabelsLoaded(generation, name, group_ids))

    def action_toggle(self, flag: str) -> None:
        self.pane.toggle(flag)
        self._fetch_filtered_first()

    def _fetch_filtered_first(self) -> None:
        """During the first load, consoles that filter on the server send the filtered devices first.

        The full listing goes on; rows it brings again replace the same rows, so nothing is counted twice.
        """
        wanted = self.pane.filter
        flags = {flag for flag in ("critical", "missing_patch") if getattr(wanted, flag)}
        if not flags or self.fleet.incoming is not None:
            return
        query = DeviceQuery(critical=wanted.critical, missing_patch=wanted.missing_patch)
        for name, client in self.clients.items():
            if not self.fleet.consoles[name].done and flags <= client.server_filters:
                self.run_worker(self._load_filtered(self.fleet.generation, client, query), group=f"first-{name}",
                                exclusive=True, exit_on_error=False)

    async def _load_filtered(self, generation: int, client: VendorClient, query: DeviceQuery) -> None:
        name = client.connection.name
        with waits_told_to(self._waits_said(generation, name)):
            async for page in client.devices(query):
                self.post_message(ConsoleStep(generation, name, Step(page=page, kind=PageKind.AHEAD)))

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
        if not self.pane.table.clear_marks() and not self.pane.clear_filters():
            self.action_back()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_events(self) -> None:
        with_events = [client for client in self.clients.values() if isinstance(client, EventSource)]
        if not with_events:
            self.notify("None of these consoles offers events to this explorer.", severity="warning", markup=False)
            return
        self.app.push_screen(EventsScreen(with_events, find_device=lambda event: self.inventory.find(
            event.connection, event.device_id, event.device_name)))

    def action_changes(self) -> None:
        self.app.push_screen(ChangesScreen(list(self.clients), list(self.inventory.devices), self.fleet.loaded_at))

    def action_coverage(self) -> None:
        if not self.fleets:
            self.notify("Coverage compares consoles: open All fleets.", severity="warning", markup=False)
            return
        self.app.push_screen(CoverageScreen(list(self.clients), list(self.inventory.devices)))

    def action_fingerprints(self) -> None:
        """The lists of the console in scope (the only one, or the highlighted one in All fleets)."""
        name = self.pane.filter.connection or next(iter(self.clients))
        self.app.push_screen(FingerprintsScreen(self.clients[name], self.group_paths(name)))

    def group_paths(self, name: str) -> dict[str, str]:
        """A console's group paths by id (fingerprint lists name their lockdown groups by id)."""
        return {group.id: group.path_text for group in self.fleet.groups.get(name, {}).values()}

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

    def _command_targets(self) -> tuple[CommandQueueClient, list[Device]] | None:
        """The console and computers a command goes to, or None after saying why there are none."""
        targets = self._one_console_targets("computer", "a command")
        if targets is None:
            return None
        client, devices = targets
        if not isinstance(client, CommandQueue):
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
            found = self.fleet.groups.get(name, {}).get(scope.group)
            group = (found.id, found.path_text) if found and scope.connection in (name, "") else None
            self.run_worker(queue_scan(self, client, devices, group), group="command", exit_on_error=False)

    def action_fetch(self) -> None:
        targets = self._command_targets()
        if targets is not None:
            self.run_worker(queue_fetch(self, *targets), group="command", exit_on_error=False)

    def action_refresh(self) -> None:
        self.load()

    def action_auto_refresh(self) -> None:
        configured = self.session.config.settings.auto_refresh
        self.refresh_every = 0 if self.refresh_every else (configured or DEFAULT_AUTO_REFRESH)
        self.notify(f"Auto-refresh every {self.refresh_every} s." if self.refresh_every else "Auto-refresh off.",
                    markup=False)

    def watch_refresh_every(self) -> None:
        if not self.loading:
            self.refresh_timer.arm(self.refresh_every)
        self._show_progress()
