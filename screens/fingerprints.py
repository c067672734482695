"""SEPM fingerprint lists: the lists this connection knows, their hashes, and "is this hash on a list?".

SEPM documents no call that lists every fingerprint list, so the screen shows the lists this
connection opened before (remembered in the state file, `tui.state`) and opens any other by name. What is
shown, chosen and left out is a `FingerprintLoad` (tui/fingerprint_load.py), fed by the screen's workers.
Consoles without fingerprint lists (EPMM, Elements) show the screen as not available, not as an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from rich.style import Style
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Input, Static

from screens.base import ExplorerScreen
from screens.messages import KnownListRead, ListDeleted, ListOpened
from tui.fingerprint_load import FingerprintLoad, read_known
from tui.hashes import LABELS, MD5, SHA256, HashError, diff_hashes, hashes_in_text, parse_hash
from tui.models import VENDORS, FingerprintList
from tui.textual_compat import OnceFooter
from tui.vendors.base import NotAvailableError, VendorClient
from tui.vendors.facets import FingerprintLists
from widgets.confirm import ConfirmDialog
from widgets.group_picker import GroupPicker
from widgets.list_form import ListForm
from widgets.status_line import StatusLine
from widgets.virtual_table import PLAIN, Column, VirtualTable

WRITE_ACTIONS = {"remove_hash", "delete_list", "new_list", "assign"}
WRITE_KEYS = {"a", "x", "D", "n", "L"}
PROMPTS = {
    "open": "the name of a fingerprint list to open (it is remembered)",
    "add": "MD5 or SHA-256 hashes, separated by spaces or commas",
    "hash": "an MD5 or SHA-256 to look for in the known lists",
    "search": "part of a hash to show only the hashes that contain it",
}
A_HASH = {MD5: "an MD5", SHA256: "a SHA-256"}


class FingerprintsScreen(ExplorerScreen):
    """Known lists on top, the hashes of the chosen list below; writes come with their own confirmations."""

    DEFAULT_CSS = """
    #fp-prompt {
        padding: 0 1;
        color: $text-accent;
        &.-problem {
            color: $text-error;
        }
    }
    """
    AUTO_FOCUS = ""  # none: the tables are focused once there is something to show
    BINDINGS = [
        Binding("o", "prompt('open')", "Open", tooltip="Open a fingerprint list by its name"),
        Binding("h", "prompt('hash')", "Find hash", tooltip="Which known lists hold an MD5 or SHA-256"),
        Binding("slash", "prompt('search')", "Search", key_display="/", show=False,
                tooltip="Search the hashes of the list"),
        Binding("y", "copy", "Copy", tooltip="Copy the highlighted hash"),
        Binding("a", "prompt('add')", "Add", tooltip="Add hashes to the chosen list (shows the change first)"),
        Binding("x", "remove_hash", "Remove hash", show=False, tooltip="Remove the highlighted hash from its list"),
        Binding("D", "delete_list", "Delete list", show=False, tooltip="Delete the chosen list from the console"),
        Binding("n", "new_list", "New list", show=False, tooltip="Create a fingerprint list on the console"),
        Binding("L", "assign", "Lockdown", show=False,
                tooltip="Assign the chosen list to a group for system lockdown"),
        Binding("ctrl+r", "reload", "Reload", show=False),
        Binding("escape,q", "back", "Back"),
    ]

    def __init__(self, client: VendorClient, group_paths: Mapping[str, str]) -> None:
        super().__init__()
        self.client = client
        self.connection = client.connection.name
        self.group_paths = group_paths
        self.known = FingerprintLoad()
        self.wanted_hash: str | None = None
        self.needle = ""
        self.mode = ""
        self.add_to: FingerprintList | None = None
        """The list `a` adds to: the one highlighted when the prompt opened, named in it."""

    @property
    def lists(self) -> list[FingerprintList]:
        """The known lists read so far, by name."""
        return self.known.lists

    @property
    def chosen(self) -> FingerprintList | None:
        """The list whose hashes are shown."""
        return self.known.chosen

    @property
    def available(self) -> bool:
        return isinstance(self.client, FingerprintLists)

    @property
    def lists_api(self) -> FingerprintLists:
        """The console's fingerprint lists; the screen offers no action that reads them when not `available`."""
        if not isinstance(self.client, FingerprintLists):
            raise NotAvailableError(f"{self.client.product} has no fingerprint lists.", scope="vendor")
        return self.client

    def is_write(self, action: str, parameters: tuple[object, ...]) -> bool:
        return action in WRITE_ACTIONS or (action == "prompt" and parameters == ("add",))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Writes are hidden on a read-only connection (the key then says how to allow them)."""
        if not self.available:
            return action == "back"
        return not (self.is_write(action, parameters) and self.client.connection.read_only)

    def on_key(self, event: events.Key) -> None:
        if event.key in WRITE_KEYS and self.available and self.client.connection.read_only \
                and not isinstance(self.focused, Input):
            event.stop()
            self.refuse_write(self.connection)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="fp-summary", markup=False)
        yield Static("", id="fp-prompt", markup=False)
        yield Input(id="fp-input", compact=True)
        yield VirtualTable([
            Column("name", "List", lambda f, now: (f.name, Style(bold=True)), 16, 40),
            Column("hashes", "Hashes", lambda f, now: (f"{len(f.hashes):,}", PLAIN), 6, 8),
            Column("type", "Type", lambda f, now: (f.hash_type or "", PLAIN), 6, 7),
            Column("groups", "Lockdown groups", self._groups_cell, 16, 60, keep_end=True),
            Column("source", "Source", lambda f, now: (f.source or "", Style(dim=True)), 7, 10),
        ], id="lists")
        yield VirtualTable([Column("hash", "Hash", lambda h, now: (h, PLAIN), 32, 64)], id="hashes")
        yield StatusLine(id="status")
        yield OnceFooter()

    def _groups_cell(self, listing: FingerprintList, now: object) -> tuple[str, Style]:
        paths = [self.group_paths.get(group_id, group_id) for group_id in listing.group_ids]
        return ", ".join(paths) or "none", PLAIN if paths else Style(dim=True)

    @property
    def list_table(self) -> VirtualTable[FingerprintList]:
        return self.query_one("#lists", VirtualTable)

    @property
    def hash_table(self) -> VirtualTable[str]:
        return self.query_one("#hashes", VirtualTable)

    def on_mount(self) -> None:
        self.sub_title = f"Fingerprint lists · {self.connection}"
        self.query_one("#fp-input").display = self.query_one("#fp-prompt").display = False
        if not self.available:
            vendor = VENDORS.get(self.client.vendor, self.client.vendor)
            self.query_one("#fp-summary", Static).update(
                f"Fingerprint lists are a SEPM feature: {vendor} has none, so there is nothing to show here.")
            self.list_table.display = self.hash_table.display = False
            return
        self.list_table.focus()
        self.action_reload()

    def action_reload(self) -> None:
        self.known.start()
        self._load_known(self.known.generation)
        self._show()

    @work(group="lists", exclusive=True, exit_on_error=False)
    async def _load_known(self, generation: int) -> None:
        """Every list this connection knows, read again; a failure ends the reading (the app says it)."""
        async for read in read_known(self.lists_api, self.session.state, self.connection):
            self.post_message(KnownListRead(generation, read))

    def on_known_list_read(self, message: KnownListRead) -> None:
        if message.generation != self.known.generation:
            return  # a reading started again since
        notice = message.read.notice()
        if notice is not None:
            self.notify(notice, markup=False)
        self._show_read(self.known.take(message.read))

    @work(group="open", exit_on_error=False)
    async def _open(self, name: str) -> None:
        listing = await self.lists_api.fingerprint_list(name)
        self.session.state.remember_list(self.connection, listing)
        self.post_message(ListOpened(listing))

    def on_list_opened(self, message: ListOpened) -> None:
        self._show_read(self.known.opened(message.listing))

    def _show_read(self, chosen: bool) -> None:
        """Show the lists after one was read; `chosen`: it is the list whose hashes are shown, so the cursor
        goes to it (unless a hash is looked for)."""
        self._show()
        if chosen and self.wanted_hash is None:
            self.list_table.cursor = self.lists.index(self.chosen)

    def _show(self) -> None:
        """Both tables and the summary, for the lists known, the hash looked for and the hash search."""
        wanted = self.wanted_hash
        self.list_table.show_rows(self.lists, self.known.holding(wanted),
                                  widths={"name": 40, "groups": 60, "source": 10}, row_of=self.known.row_of)
        chosen = self.chosen
        hashes = list(chosen.hashes) if chosen else []
        needle = self.needle.upper()
        self.hash_table.show_rows(hashes, [row for row, value in enumerate(hashes) if needle in value],
                                  widths={"hash": 64}, row_of=lambda value: hashes.index(value) if value in hashes else None)
        self.query_one("#fp-summary", Static).update(self.known.summary(wanted))
        writes = "" if self.client.connection.read_only else " · n new · a add · x remove · L lockdown · D delete"
        self.query_one("#status", StatusLine).show(f"enter shows a list's hashes · o open · h find a hash · y copy{writes}")

    @on(VirtualTable.Selected, "#lists")
    def _chosen(self, message: VirtualTable.Selected) -> None:
        self.known.chosen = cast(FingerprintList, message.record)
        self.needle = ""
        self._show()
        self.hash_table.focus()

    def action_prompt(self, mode: str) -> None:
        field = self.query_one("#fp-input", Input)
        question = PROMPTS[mode]
        if mode == "add":
            # The highlighted row when the lists have focus; from the hashes, the list they belong to.
            self.add_to = self.list_table.record_at_cursor() if self.list_table.has_focus else self.chosen
            if self.add_to is None:
                self.notify("Open or highlight a list first: a adds to the highlighted one.", markup=False)
                return
            kind = self._hash_type(self.add_to)
            question = f"Add to {self.add_to.name!r}{f' ({LABELS[kind]} only)' if kind else ''}: {question}"
        self.mode = mode
        field.placeholder = PROMPTS[mode]
        field.value = self.needle if mode == "search" else ""
        self._ask(question)
        field.display = True
        field.focus()

    def _ask(self, text: str, *, problem: bool = False) -> None:
        """The prompt's question above the field, or what is wrong with what was typed (the text is kept)."""
        prompt = self.query_one("#fp-prompt", Static)
        prompt.update(text)
        prompt.set_class(problem, "-problem")
        prompt.display = True

    def _close_prompt(self) -> None:
        self.query_one("#fp-input").display = self.query_one("#fp-prompt").display = False

    @staticmethod
    def _hash_type(listing: FingerprintList) -> str | None:
        """"MD5" or "SHA256" as SEPM names a list's type (it may write "SHA-256"); None for a list with no type."""
        kind = (listing.hash_type or "").upper().replace("-", "")
        return kind if kind in (MD5, SHA256) else None

    @on(Input.Changed, "#fp-input")
    def _typed(self, event: Input.Changed) -> None:
        if self.mode == "search":
            self.needle = event.value.strip()
            self._show()

    @on(Input.Submitted, "#fp-input")
    def _entered(self, event: Input.Submitted) -> None:
        """Act on what was typed; on a problem the prompt stays open, says it, and keeps the text to fix."""
        text = event.value.strip()
        if self.mode == "open" and text:
            self._open(text)
        elif self.mode == "add" and self.add_to is not None:
            problem = self._problem_adding(self.add_to, text)
            if problem:
                self._ask(problem, problem=True)
                return
            added = hashes_in_text(text)
            self._confirm_update(self.add_to, [*self.add_to.hashes, *(value.value for value in added)])
        elif self.mode == "hash":
            try:
                self.wanted_hash = parse_hash(text).value if text else None
            except HashError as error:
                self._ask(str(error), problem=True)
                return
            self._show()
        self._close_prompt()
        event.input.display = self.mode == "search" and bool(text)
        (self.hash_table if self.mode == "search" else self.list_table).focus()

    def _problem_adding(self, listing: FingerprintList, text: str) -> str | None:
        """Why `text` cannot be added to `listing` (not hashes, or not of the list's one type), or None."""
        try:
            added = hashes_in_text(text)
        except HashError as error:
            return str(error)
        if not added:
            return "Type or paste at least one hash to add."
        kind = self._hash_type(listing) or added[0].type
        wrong = next((value for value in added if value.type != kind), None)
        if wrong is None:
            return None
        return (f"{listing.name!r} holds {LABELS[kind]} hashes only, and {wrong.value[:12]}… is {A_HASH[wrong.type]}: "
                f"give its {LABELS[kind]} instead.")

    def action_remove_hash(self) -> None:
        value = self.hash_table.record_at_cursor()
        if self.chosen is not None and value is not None:
            self._confirm_update(self.chosen, [kept for kept in self.chosen.hashes if kept != value])

    def _confirm_update(self, listing: FingerprintList, hashes: list[str]) -> None:
        """Show what the update changes, then send it: SEPM replaces the whole list with what is sent."""
        diff = diff_hashes(listing.hashes, hashes)
        if not diff.changed:
            self.notify(f"No change to {listing.name!r}: {diff.summary()}.", markup=False)
            return
        shown = [f"+ {value}" for value in diff.added[:3]] + [f"- {value}" for value in diff.removed[:3]]
        more = len(diff.added) + len(diff.removed) - len(shown)
        message = (f"{diff.summary()}: {len(listing.hashes):,} -> {len(diff.added) + len(diff.kept):,} hashes. "
                   f"SEPM replaces the whole list with the new one.\n" + "\n".join(shown)
                   + (f"\n… and {more} more" if more > 0 else ""))

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._update(listing, hashes), group="write", exit_on_error=False)

        self.app.push_screen(ConfirmDialog(f"Update fingerprint list {listing.name!r} on {self.connection}?",
                                           message, confirm_label="Update"), answer)

    async def _update(self, listing: FingerprintList, hashes: list[str]) -> None:
        updated = await self.lists_api.update_fingerprint_list(listing, hashes)
        self.session.state.remember_list(self.connection, updated)
        self.post_message(ListOpened(updated))
        self.notify(f"{updated.name!r} now holds {len(updated.hashes):,} hashes.", markup=False)

    def action_delete_list(self) -> None:
        listing = self.chosen
        if listing is None:
            return
        groups = ", ".join(self.group_paths.get(group_id, group_id) for group_id in listing.group_ids) or "no group"

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._delete(listing), group="write", exit_on_error=False)

        self.app.push_screen(ConfirmDialog(
            f"Delete fingerprint list {listing.name!r} from {self.connection}?",
            f"{len(listing.hashes):,} hashes; assigned for system lockdown to {groups}. "
            "SEPM removes it from those groups too. This cannot be undone.",
            confirm_label="Delete", danger=True), answer)

    async def _delete(self, listing: FingerprintList) -> None:
        await self.lists_api.delete_fingerprint_list(listing.id, name=listing.name)
        self.session.state.forget_list(self.connection, listing.id)
        self.post_message(ListDeleted(listing))

    def on_list_deleted(self, message: ListDeleted) -> None:
        self.known.deleted(message.listing)
        self.notify(f"Deleted {message.listing.name!r}.", markup=False)
        self._show()

    def action_new_list(self) -> None:
        self.run_worker(self._create(), group="write", exit_on_error=False)

    async def _create(self) -> None:
        """The new list's form, a confirmation naming it and its hashes, then the list is created and opened."""
        new = await self.app.push_screen_wait(ListForm(self.connection))
        if new is None:
            return
        shown = "\n".join(f"  {value.value}" for value in new.hashes[:3])
        more = f"\n  … and {len(new.hashes) - 3:,} more" if len(new.hashes) > 3 else ""
        message = (f"{len(new.hashes):,} {new.hashes[0].label} hash{'es' if len(new.hashes) != 1 else ''}"
                   f"{': ' + new.description if new.description else ''}. It is assigned to no group yet (L).\n"
                   f"{shown}{more}")
        if not await self.app.push_screen_wait(ConfirmDialog(
                f"Create fingerprint list {new.name!r} on {self.connection}?", message, confirm_label="Create")):
            return
        created = await self.lists_api.create_fingerprint_list(
            new.name, [value.value for value in new.hashes], description=new.description)
        self.session.state.remember_list(self.connection, created)
        self.known.chosen = created
        self.post_message(ListOpened(created))
        self.notify(f"Created {created.name!r} with {len(created.hashes):,} hashes.", markup=False)

    def action_assign(self) -> None:
        if self.chosen is not None:
            self.run_worker(self._assign(self.chosen), group="write", exit_on_error=False)

    async def _assign(self, listing: FingerprintList) -> None:
        """Pick a group, confirm naming the list and the group path, assign, then show the list as SEPM has it."""
        if not self.group_paths:
            self.notify("The groups of this console are not loaded yet: go back, let them load, then try again.",
                        severity="warning", markup=False)
            return
        group_id = await self.app.push_screen_wait(
            GroupPicker(f"Assign {listing.name!r} to a group for system lockdown", self.group_paths))
        if group_id is None:
            return
        path = self.group_paths.get(group_id, group_id)
        if group_id in listing.group_ids:
            self.notify(f"{listing.name!r} is already assigned to {path}.", markup=False)
            return
        message = (f"{len(listing.hashes):,} hashes. The group's system lockdown then applies this list to every "
                   f"computer of {path}, allowing or blocking these files as the group's lockdown mode says.")
        if not await self.app.push_screen_wait(ConfirmDialog(
                f"Assign {listing.name!r} to {path} on {self.connection}?", message, confirm_label="Assign",
                danger=True)):
            return
        await self.lists_api.assign_fingerprint_list(
            listing.id, group_id, list_name=listing.name, group_path=path)
        self.post_message(ListOpened(await self.lists_api.fingerprint_list_by_id(listing.id)))
        self.notify(f"Assigned {listing.name!r} to {path} for system lockdown.", markup=False)

    def action_copy(self) -> None:
        value = self.hash_table.record_at_cursor()
        if value is not None:
            self.explorer.copy(value, "the hash")

    def action_back(self) -> None:
        field = self.query_one("#fp-input", Input)
        if self.focused is field:
            self._close_prompt()
            self.list_table.focus()
        elif self.wanted_hash is not None:
            self.wanted_hash = None
            self._show()
        else:
            self.app.pop_screen()
