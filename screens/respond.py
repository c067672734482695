"""Response actions from the device table and the device detail (issue 18): the actions this console offers,
the message, a danger confirmation naming the console, the action, the devices and the message, then a
results view with one row per device, followed to a final state where the API can tell.

`respond_flow` runs those steps in a worker of the screen that starts them; every action sent is appended to
the actions log (`tui.respond`) before it is followed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from screens.base import ExplorerScreen
from screens.messages import ResponseFollowed
from tui.models import VENDORS, Device
from tui.respond import (
    ACTIONS,
    MESSAGE_MAX,
    ActionResult,
    actions_log,
    device_list_words,
    respond_and_log,
)
from tui.textual_compat import OnceFooter
from tui.vendors.base import ForbiddenError, VendorClient
from tui.vendors.facets import ResponseActions
from widgets.confirm import ConfirmDialog
from widgets.respond_dialogs import ChoiceMenu, TextPrompt, TypedConfirmDialog
from widgets.status_line import StatusLine
from widgets.virtual_table import PLAIN, Column, VirtualTable

FAILED = Style(color="red", bold=True)
DONE = Style(color="green")
WAITING = Style(color="cyan")


def result_style(result: ActionResult) -> Style:
    """Refused or failed red, taken effect green, still followed cyan, sent with nothing more to tell plain."""
    if not result.accepted or result.succeeded is False:
        return FAILED
    if result.succeeded:
        return DONE
    return PLAIN if result.final else WAITING


def offers_actions(client: VendorClient | None) -> bool:
    """The console has response actions and the connection allows changes: the key is shown."""
    return (client is not None and not client.connection.read_only and isinstance(client, ResponseActions)
            and bool(client.offered_actions()))


def confirmation(console: str, connection: str, action: str, devices: Sequence[Device], message: str) -> str:
    """What the confirmation says: the console, the action, every device (the first ones and how many more) and
    what the device's user will see."""
    spec = ACTIONS[action]
    count = f"{len(devices)} device{'s' if len(devices) != 1 else ''}"
    lines = [f"{spec.title} on {count} through {console} {connection}:",
             device_list_words([device.name or device.id for device in devices], shown=5)]
    if spec.message:
        lines.append(f"The device's user will see: {message}" if message else "No message is shown on the device.")
    if spec.cuts_off:
        lines.append(f"This cuts the devices off the network until undone ({ACTIONS[spec.undo].title}).")
    return "\n".join(lines)


async def respond_flow(screen: ExplorerScreen, client: VendorClient, devices: Sequence[Device],
                       on_closed: Callable[[], object] | None = None) -> None:
    """Menu, message, confirmation, then the action is sent, logged and followed; `on_closed` runs when the
    results are left (the device table reloads, so the devices show their new state). Run in a worker."""
    app = screen.app
    if not isinstance(client, ResponseActions):
        return
    name = client.connection.name
    console = VENDORS.get(client.vendor, client.vendor)
    count = f"{len(devices)} device{'s' if len(devices) != 1 else ''}"
    action = await app.push_screen_wait(ChoiceMenu(
        f"Respond on {name} ({console}): {count}",
        [(key, ACTIONS[key].title + ("  (cuts off)" if ACTIONS[key].cuts_off else ""))
         for key in client.offered_actions()]))
    if action is None:
        return
    spec = ACTIONS[action]
    message = ""
    if spec.message:
        typed = await app.push_screen_wait(TextPrompt(
            f"{spec.title}: the message the device's user will see"
            + ("" if spec.message == "required" else " (optional)"),
            "e.g. Your computer was isolated by IT security; call 555-0100", required=spec.message == "required",
            max_length=MESSAGE_MAX))
        if typed is None:
            return
        message = typed
    title = f"{spec.title} on {name}?"
    text = confirmation(console, name, action, devices, message)
    if spec.needs_typed_count:
        confirmed = await app.push_screen_wait(TypedConfirmDialog(title, text, str(len(devices)),
                                                                  confirm_label=spec.title))
    else:
        confirmed = await app.push_screen_wait(ConfirmDialog(title, text, confirm_label=spec.title, danger=True))
    if not confirmed:
        return
    log = actions_log(demo=screen.session.demo)
    try:
        results, log_problem = await respond_and_log(
            client, log, connection=name, vendor=client.vendor, action=action, devices=devices, message=message)
    except ForbiddenError as error:
        screen.notify(f"{error.message} {error.hint}", title="Not allowed", severity="error", markup=False,
                      timeout=20)
        return
    if log_problem:
        screen.notify(f"Sent, but {log_problem}.", severity="warning", markup=False)
    await app.push_screen(ResponseResultsScreen(client, action, results, logged=log.path is not None),
                          callback=(lambda _: on_closed()) if on_closed is not None else None)


class ResponseResultsScreen(ExplorerScreen):
    """One row per device: accepted, or failed with the console's reason, then where it stands on the device
    as it is followed; `esc` leaves (the action goes on on the console)."""

    BINDINGS = [Binding("escape,q", "back", "Back")]

    def __init__(self, client: VendorClient, action: str, results: list[ActionResult], *, logged: bool) -> None:
        super().__init__()
        self.client = client
        self.action = action
        self.results = results
        self.logged = logged
        """Written to the actions log file (the demo keeps its log in memory)."""
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="respond-summary", markup=False)
        yield VirtualTable([
            Column("device", "Device", lambda result, now: (result.device_name or result.device_id, PLAIN), 12, 28),
            Column("result", "Result", lambda result, now: (result.words, result_style(result)), 12, 60),
            Column("reference", "Reference", lambda result, now: (result.reference, Style(dim=True)), 9, 32),
        ], id="respond-rows")
        yield StatusLine(id="status")
        yield OnceFooter()

    @property
    def table(self) -> VirtualTable[ActionResult]:
        return self.query_one("#respond-rows", VirtualTable)

    @property
    def done(self) -> bool:
        return all(result.final for result in self.results)

    def on_mount(self) -> None:
        self.sub_title = f"{ACTIONS[self.action].title} · {self.client.connection.name}"
        self.table.focus()
        self._show()
        if not self.done and isinstance(self.client, ResponseActions):
            self.run_worker(self._follow(self.client), group="respond-follow", exclusive=True, exit_on_error=False)

    async def _follow(self, client: ResponseActions) -> None:
        async for update in client.follow_response(self.action, self.results):
            self.post_message(ResponseFollowed(update))

    def on_response_followed(self, message: ResponseFollowed) -> None:
        self.results = message.results
        self._show()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.group == "respond-follow":
            self.problem = f"Following stopped: {event.worker.error}"
            self._show()

    def _show(self) -> None:
        results = self.results
        now = self.table.clock()
        widths = {column.key: max((len(column.cell(result, now)[0]) for result in results), default=0)
                  for column in self.table.columns}
        rows = {result.device_id: row for row, result in enumerate(results)}
        self.table.show_rows(results, list(range(len(results))), widths=widths,
                             row_of=lambda result: rows.get(result.device_id))
        self.query_one("#respond-summary", Static).update(self.summary())
        status = self.query_one("#status", StatusLine)
        if self.problem is not None:
            status.show(self.problem, error=True)
        elif self.done:
            where = "recorded in the actions log (epx actions)" if self.logged else "the demo logs it in memory only"
            status.show(f"Every device is final · {where} · esc reloads the table")
        else:
            status.show("Following on the console… esc leaves it running")

    def summary(self) -> str:
        """"Isolate from the network on demo-elements: 2 devices · 1 accepted, 1 failed · now: 1 isolated"."""
        accepted = sum(result.accepted for result in self.results)
        failed = len(self.results) - accepted
        states = Counter(result.progress for result in self.results if result.accepted and result.progress)
        line = (f"{ACTIONS[self.action].title} on {self.client.connection.name}: {len(self.results)} "
                f"device{'s' if len(self.results) != 1 else ''} · {accepted} accepted, {failed} failed")
        if states:
            line += " · now: " + ", ".join(f"{number} {state}" for state, number in states.items())
        return line

    def action_back(self) -> None:
        if not self.done:
            self.notify("Stopped following; the action goes on on the console.", markup=False)
        self.dismiss(None)
