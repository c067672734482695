"""Asks for a password at connect time; the answer lives in memory unless the user ticks "save"."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static


@dataclass(frozen=True, slots=True)
class SecretAnswer:
    secret: str
    save: bool


class SecretPrompt(ModalScreen[SecretAnswer | None]):
    """A masked input; Enter answers, Esc cancels. `can_save` offers writing it to the config file."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, prompt: str, *, can_save: bool) -> None:
        super().__init__()
        self.prompt = prompt
        self.can_save = can_save

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Password", classes="dialog-title")
            yield Static(self.prompt, classes="dialog-body", markup=False)
            yield Input(password=True, placeholder="password", id="secret")
            if self.can_save:
                yield Checkbox("save secret in config file (plain text, mode 0600)", id="save")
            yield Static("enter connect · esc cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        save = self.can_save and self.query_one("#save", Checkbox).value
        self.dismiss(SecretAnswer(event.value, save))

    def action_cancel(self) -> None:
        self.dismiss(None)
