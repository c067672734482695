"""Commands queued on a console's computers: follow each until every computer is done, or cancel it.

An Evidence of Compromise scan and a file fetch take the same steps: a form (what to look for or fetch),
a confirmation that names the computers or the group and the counts, then `CommandScreen`, which polls
SEPM's command queue and says where each computer stands, in words (Broadcom KB 229117).
`queue_scan` and `queue_fetch` run those steps in a worker of the screen that starts them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from rich.style import Style
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from screens.base import ExplorerScreen
from screens.detail import DetailScreen
from screens.messages import CommandFileFound, CommandPolled
from tui.models import Command, CommandRow, CommandStatus, Device, FileDetails, iso_utc
from tui.polling import poll_words
from tui.textual_compat import OnceFooter
from tui.vendors.facets import CommandQueueClient
from tui.vendors.sepm import FILE_SOURCE_WORDS
from widgets.confirm import ConfirmDialog
from widgets.fetch_form import FetchForm
from widgets.scan_form import REMEDIATE_WARNING, ScanForm
from widgets.status_line import StatusLine
from widgets.virtual_table import PLAIN, Column, VirtualTable

POLL_SECONDS = 5.0
"""Between two polls of a command's status: SEPM computers check in every few seconds at best."""
NAMES_SHOWN = 5
STATE_STYLES = {0: Style(dim=True), 1: PLAIN, 2: Style(color="cyan"), 3: Style(color="green"),
                4: Style(color="red"), 5: Style(color="yellow"), 6: Style(color="red", bold=True)}
"""By `stateId`: waiting dim, running cyan, completed green, rejected or failed red, cancelled yellow."""


def computers_in_words(names: Sequence[str]) -> str:
    """"3 computers: A, B, C", or the first few and how many more."""
    shown = ", ".join(names[:NAMES_SHOWN])
    more = f" and {len(names) - NAMES_SHOWN:,} more" if len(names) > NAMES_SHOWN else ""
    return f"{len(names):,} computer{'s' if len(names) != 1 else ''}: {shown}{more}"


def result_text(row: CommandRow, details: FileDetails | None = None, wanted: str | None = None) -> str:
    """What the computer reported: the EOC matches and what deleting them did, or the fetched file."""
    if row.matches:
        found = [match for match in row.matches if match.matched]
        if not found:
            return "no match"
        parts = []
        for match in found:
            where = match.path or match.file_name or match.hash_value[:12]
            outcome = f", delete {match.remediation.lower()}" if match.remediation else ""
            parts.append(f"{match.result}: {where}{outcome}")
        return "; ".join(parts)
    if row.binary_file_id:
        if details is None:
            return f"uploaded as {row.binary_file_id}"
        size = f"{details.size:,} bytes" if details.size is not None else "size not reported"
        if details.checksum is None:
            return f"uploaded, {size}"
        if wanted is None or len(wanted) != len(details.checksum):  # SEPM's checksum looks like an MD5
            return f"uploaded, {size}, checksum {details.checksum}"
        verdict = "checksum matches" if details.checksum == wanted else f"checksum {details.checksum} differs"
        return f"uploaded, {size}, {verdict}"
    return ""


def row_fields(row: CommandRow, result: str) -> list[tuple[str, str]]:
    """A computer's row of a command, for its detail screen."""
    fields = [
        ("Computer", row.computer_name or row.computer_id),
        ("Computer ID", row.computer_id),
        ("State", row.state),
        ("Detail", row.sub_state or "none"),
        ("Result", result or "none yet"),
        ("IP address", row.computer_ip),
        ("Domain", row.domain),
        ("User", row.user),
        ("Began (UTC)", iso_utc(row.begin_time) or "not yet"),
        ("Last update (UTC)", iso_utc(row.last_update) or "not yet"),
    ]
    if row.binary_file_id:
        fields.append(("Uploaded file ID", row.binary_file_id))
    for index, match in enumerate(row.matches, 1):
        fields.append((f"Hash {index}", f"{match.hash_type} {match.hash_value}: {match.result or 'no result'}"))
    return fields


@dataclass(frozen=True, slots=True)
class Line:
    """One computer's row of one command, as the table shows it."""

    command_id: str
    row: CommandRow


class CommandScreen(ExplorerScreen):
    """The rows of the commands just queued, polled until every computer is done; `C` cancels."""

    BINDINGS = [
        Binding("C", "cancel_command", "Cancel command",
                tooltip="Cancel the command on the computers that have not finished it"),
        Binding("y", "copy", "Copy ID", tooltip="Copy the command's id (to find it in the SEPM console)"),
        Binding("ctrl+r", "poll", "Poll now"),
        Binding("escape,q", "back", "Back"),
    ]

    def __init__(self, client: CommandQueueClient, commands: Sequence[Command], *, wanted_hash: str | None = None) -> None:
        super().__init__()
        self.client = client
        self.commands = list(commands)
        self.wanted_hash = wanted_hash
        """For a fetch: the hash asked for, compared with the uploaded file's checksum."""
        self.statuses: dict[str, CommandStatus] = {}
        self.files: dict[str, FileDetails] = {}
        self.cancelled: set[str] = set()
        self.problem: str | None = None
        self.poll_seconds = POLL_SECONDS
        self.polled_at: datetime | None = None
        """When the last status arrived, by the app's clock: the status line counts from it."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="command-summary", markup=False)
        yield VirtualTable([
            Column("computer", "Computer", lambda line, now: (line.row.computer_name or line.row.computer_id, PLAIN),
                   12, 24),
            Column("state", "State", lambda line, now: (line.row.state, STATE_STYLES.get(line.row.state_id, PLAIN)),
                   11, 16),
            Column("result", "Result", lambda line, now: (self._result(line), PLAIN), 16, 60),
            Column("detail", "Detail", lambda line, now: (line.row.sub_state, Style(dim=True)), 10, 40),
            Column("updated", "Updated", lambda line, now: (_clock_time(line.row), Style(dim=True)), 8, 8),
        ], id="command-rows")
        yield StatusLine(id="status")
        yield OnceFooter()

    @property
    def table(self) -> VirtualTable[Line]:
        return self.query_one("#command-rows", VirtualTable)

    @property
    def done(self) -> bool:
        return len(self.statuses) == len(self.commands) and all(status.done for status in self.statuses.values())

    def on_mount(self) -> None:
        first = self.commands[0]
        self.sub_title = f"{first.description} · {self.client.connection.name}"
        self.table.focus()
        self.action_poll()
        self.set_interval(1, self._show_status)  # a slow command must not look frozen

    def now(self) -> datetime:
        return self.session.now()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel_command":
            return not self.done and not self.client.connection.read_only
        return True

    def on_key(self, event: events.Key) -> None:
        if event.key == "C" and self.client.connection.read_only:
            event.stop()
            self.refuse_write(self.client.connection.name)

    def action_poll(self) -> None:
        """Follow every command not yet done (again after a failed poll)."""
        self.problem = None
        for command in self.commands:
            status = self.statuses.get(command.id)
            if status is None or not status.done:
                self.run_worker(self._follow(command), group=f"follow-{command.id}", exclusive=True,
                                exit_on_error=False)
        self._show()

    async def _follow(self, command: Command) -> None:
        last = CommandStatus(command.id, ())
        async for last in self.client.follow_command(command.id, interval=self.poll_seconds):
            self.post_message(CommandPolled(last))
        for row in last.rows:
            if row.binary_file_id and row.binary_file_id not in self.files:
                self.post_message(CommandFileFound(await self.client.file_details(row.binary_file_id)))

    def on_command_polled(self, message: CommandPolled) -> None:
        self.statuses[message.status.command_id] = message.status
        self.polled_at = self.now()
        self._show()

    def on_command_file_found(self, message: CommandFileFound) -> None:
        self.files[message.details.id] = message.details
        self._show()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and (event.worker.group or "").startswith("follow-"):
            self.problem = f"Following stopped: {event.worker.error} ctrl+r polls again."
            self._show()

    def _result(self, line: Line) -> str:
        row = line.row
        return result_text(row, self.files.get(row.binary_file_id or ""), self.wanted_hash)

    def _show(self) -> None:
        lines = [Line(command_id, row) for command_id, status in self.statuses.items() for row in status.rows]
        rows = {(line.command_id, line.row.computer_id): row for row, line in enumerate(lines)}
        now = self.table.clock()
        widths = {column.key: max((len(column.cell(line, now)[0]) for line in lines), default=0)
                  for column in self.table.columns}  # a few hundred rows at most: measure them all
        self.table.show_rows(lines, list(range(len(lines))), widths=widths,
                             row_of=lambda line: rows.get((line.command_id, line.row.computer_id)))
        self.query_one("#command-summary", Static).update(self.summary())
        self.refresh_bindings()  # C goes from the footer once every computer is done
        self._show_status()

    def _show_status(self) -> None:
        """The problem, or that all is done, or when the last poll was and when the next one is."""
        status = self.query_one("#status", StatusLine)
        if self.problem is not None:
            status.show(self.problem, error=True)
        elif self.done:
            status.show("Every computer is done · enter shows a computer's row · y copies the command id")
        else:
            when = poll_words(self.now(), self.polled_at, self.poll_seconds)
            status.show(f"{when} · C cancels · esc leaves it running")

    def summary(self) -> str:
        """"3 computers: 1 completed, 2 in progress · hash found on 1 so far", a line per command."""
        parts = []
        for command in self.commands:
            status = self.statuses.get(command.id)
            head = f"{command.target.capitalize()} command: " if len(self.commands) > 1 else ""
            if status is None:
                parts.append(f"{head}queued as {command.id}, waiting for its first status…")
                continue
            counts = ", ".join(f"{count:,} {state}" for state, count in status.counts().items())
            total = len(status.rows)
            line = f"{head}{total:,} computer{'s' if total != 1 else ''}: {counts or 'none reported yet'}"
            if command.kind == "eoc":
                found = sum(1 for row in status.rows if any(match.matched for match in row.matches))
                line += f" · hash found on {found:,}{'' if status.done else ' so far'}"
            if command.id in self.cancelled:
                line += " · cancel sent"
            parts.append(line)
        return "\n".join(parts)

    def action_cancel_command(self) -> None:
        running = [command for command in self.commands
                   if not (self.statuses.get(command.id) and self.statuses[command.id].done)]
        if not running:
            return
        waiting = sum(1 for command in running for row in self._rows(command) if not row.final)
        names = ", ".join(command.id for command in running)

        def answer(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._cancel(running), group="cancel", exit_on_error=False)

        self.app.push_screen(ConfirmDialog(
            f"Cancel {running[0].description} on {self.client.connection.name}?",
            f"Command {names}: {waiting:,} computer{' has' if waiting == 1 else 's have'} not finished it and "
            f"will be told to stop; those already done keep their result.", confirm_label="Cancel command",
            cancel_label="Keep running", danger=True),
            answer)

    def _rows(self, command: Command) -> tuple[CommandRow, ...]:
        status = self.statuses.get(command.id)
        return status.rows if status is not None else ()

    async def _cancel(self, commands: list[Command]) -> None:
        for command in commands:
            await self.client.cancel_command(command.id)
            self.cancelled.add(command.id)
        self.notify(f"Cancellation sent for {', '.join(command.id for command in commands)}; computers stop "
                    "as they hear of it.", markup=False)
        self._show()

    def on_virtual_table_selected(self, message: VirtualTable.Selected) -> None:
        line = message.record
        if isinstance(line, Line):
            raw = {"resultInXML": line.row.result_xml} if line.row.result_xml else {}
            self.app.push_screen(DetailScreen(f"{line.row.computer_name} · command {line.command_id}",
                                              row_fields(line.row, self._result(line)), raw))

    def action_copy(self) -> None:
        self.explorer.copy(" ".join(command.id for command in self.commands), "the command id")

    def action_back(self) -> None:
        if not self.done:
            self.notify("Stopped following; the command goes on on the console.", markup=False)
        self.app.pop_screen()


def _clock_time(row: CommandRow) -> str:
    moment = row.last_update or row.begin_time
    return moment.strftime("%H:%M:%S") if moment else ""


# --- the steps that queue a command --------------------------------------------------------------------


async def queue_scan(screen: ExplorerScreen, client: CommandQueueClient, computers: Sequence[Device],
                     group: tuple[str, str] | None = None) -> None:
    """Form, confirmation, then the scan is queued and followed. `group` is (id, path) of the group in
    scope, offered instead of the computers. Run in a worker: it waits for the dialogs."""
    app = screen.app
    names = [device.name or device.id for device in computers]
    request = await app.push_screen_wait(ScanForm(client.connection.name, computers_in_words(names),
                                                  group[1] if group else None))
    if request is None:
        return
    where = f"every computer of the group {group[1]}" if request.whole_group and group else computers_in_words(names)
    kinds = Counter(value.label for value in request.hashes)
    count = f"{len(request.hashes)} hash{'es' if len(request.hashes) != 1 else ''}"
    count += f" ({', '.join(f'{number} {label}' for label, number in kinds.items())})"
    message = f"Look for {count} on {where}:\n" + "\n".join(value.value for value in request.hashes)
    if request.remediate:
        message += f"\n{REMEDIATE_WARNING}"
    title = f"Queue an Evidence of Compromise scan on {client.connection.name}?"
    label = "Scan and delete" if request.remediate else "Queue scan"
    if not await app.push_screen_wait(ConfirmDialog(title, message, confirm_label=label, danger=request.remediate)):
        return
    commands = await client.eoc_scan(
        [value.value for value in request.hashes],
        computer_ids=() if request.whole_group else [device.id for device in computers],
        group_ids=[group[0]] if request.whole_group and group else (),
        remediate=request.remediate,
    )
    await app.push_screen(CommandScreen(client, commands))


async def queue_fetch(screen: ExplorerScreen, client: CommandQueueClient, computers: Sequence[Device]) -> None:
    """Form, confirmation, then the fetch is queued and followed. Run in a worker: it waits for the dialogs."""
    app = screen.app
    names = computers_in_words([device.name or device.id for device in computers])
    request = await app.push_screen_wait(FetchForm(client.connection.name, names, FILE_SOURCE_WORDS))
    if request is None:
        return
    message = (f"Upload {request.path} ({request.hash.label} {request.hash.value}) from "
               f"{FILE_SOURCE_WORDS[request.source]} of {names} to the console.")
    if not await app.push_screen_wait(ConfirmDialog(f"Fetch a file to {client.connection.name}?", message,
                                                    confirm_label="Fetch")):
        return
    command = await client.fetch_file(
        [device.id for device in computers], request.path, request.hash.value, source=request.source)
    await app.push_screen(CommandScreen(client, [command], wanted_hash=request.hash.value))
