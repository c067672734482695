"""The form of an Evidence of Compromise scan: which hashes, where, and whether to delete what is found.

Deleting is off unless the user ticks it, and ticking it shows a red warning; the SHA-1 note of the
vendor's documentation stays in sight because SHA-1 deletion behaves differently.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static

from tui.hashes import SHA1_NOTE, FileHash, HashError, hashes_in_text
from widgets.toggles import ShapedCheckbox

REMEDIATE_WARNING = ("Matching files will be DELETED from the computers (RemediationAction REMEDIATE). "
                     "SEPM cannot bring them back.")


@dataclass(frozen=True, slots=True)
class ScanRequest:
    hashes: tuple[FileHash, ...]
    remediate: bool
    whole_group: bool
    """Scan every computer of the group in scope instead of the computers named."""


class ScanForm(ModalScreen[ScanRequest | None]):
    """Enter queues (after the caller's confirmation) from any field; space ticks a box; Esc cancels.

    Enter is the form's own key, bound with priority: a checkbox would otherwise take it to tick itself, and
    enter on "delete matching files" must never tick it by surprise."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("enter", "queue", "Queue the scan", priority=True)]
    DEFAULT_CSS = """
    ScanForm #hashes { margin: 0 0 1 0; }
    ScanForm #scan-problem { margin-bottom: 1; }
    """

    def __init__(self, connection: str, computers: str, group_path: str | None = None) -> None:
        super().__init__()
        self.connection = connection
        self.computers = computers
        """The computers in words ("3 computers: a, b, c")."""
        self.group_path = group_path

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="scan-form"):
            yield Static(f"Evidence of Compromise scan on {self.connection}", classes="dialog-title", markup=False)
            yield Static(f"On {self.computers}", id="scan-targets", classes="dialog-body", markup=False)
            if self.group_path is not None:
                yield ShapedCheckbox(f"scan every computer of {self.group_path} instead", id="whole-group",
                                     compact=True)
            yield Input(placeholder="MD5, SHA-1 or SHA-256 hashes, separated by spaces or commas", id="hashes",
                        compact=True)
            yield Static("", id="scan-problem", classes="dialog-problem", markup=False)
            yield ShapedCheckbox("delete matching files", id="remediate", compact=True)
            yield Static(REMEDIATE_WARNING, id="remediate-warning", classes="dialog-problem", markup=False)
            yield Static(f"SHA-1: {SHA1_NOTE}", id="sha1-note", classes="dialog-hint", markup=False)
            yield Static("enter queue the scan · tab next field · space ticks · esc cancel", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#remediate-warning").display = False
        self.query_one("#scan-problem").display = False
        self.query_one("#hashes", Input).focus()

    @on(Checkbox.Changed, "#remediate")
    def _remediate_changed(self, event: Checkbox.Changed) -> None:
        self.query_one("#remediate-warning").display = event.value

    @on(Input.Changed, "#hashes")
    def _typed(self) -> None:
        self.show_problem("")

    def show_problem(self, text: str) -> None:
        problem = self.query_one("#scan-problem", Static)
        problem.update(text)
        problem.display = bool(text)

    def action_queue(self) -> None:
        """Dismiss with the request, or say under the hashes what is missing or wrong."""
        try:
            hashes = hashes_in_text(self.query_one("#hashes", Input).value, allow_sha1=True)
        except HashError as error:
            self.show_problem(str(error))
            return
        if not hashes:
            self.show_problem("Type or paste at least one hash.")
            return
        whole_group = self.group_path is not None and self.query_one("#whole-group", Checkbox).value
        remediate = self.query_one("#remediate", Checkbox).value
        self.dismiss(ScanRequest(hashes, remediate, whole_group))

    def action_cancel(self) -> None:
        self.dismiss(None)
