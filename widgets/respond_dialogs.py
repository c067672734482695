"""The dialogs of a response action: pick one of a few choices, type the message a device's user will see,
and a confirmation that needs the number of devices typed before `y` (for actions that cut machines off)."""

from __future__ import annotations

from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, OptionList, Static
from textual.widgets.option_list import Option


class ChoiceMenu(ModalScreen[str | None]):
    """`enter` answers with the highlighted choice's key, `esc` with None."""

    DEFAULT_CSS = """
    ChoiceMenu OptionList { height: auto; max-height: 12; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: Sequence[tuple[str, str]], hint: str = "enter picks · esc cancels") -> None:
        super().__init__()
        self.title_text = title
        self.choices = list(choices)
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(*(Option(words, id=key) for key, words in self.choices), id="choices")
            yield Static(self.hint, classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#choices", OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextPrompt(ModalScreen[str | None]):
    """One line of text: `enter` answers with it (refused while empty when `required`), `esc` with None."""

    DEFAULT_CSS = """
    TextPrompt Input { width: 100%; margin-bottom: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, placeholder: str, *, required: bool, max_length: int) -> None:
        super().__init__()
        self.title_text = title
        self.placeholder = placeholder
        self.required = required
        self.max_length = max_length

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Input(placeholder=self.placeholder, max_length=self.max_length, id="text", compact=True)
            yield Static("", id="text-problem", classes="dialog-problem", markup=False)
            yield Static(f"at most {self.max_length} characters · enter · esc cancels", classes="dialog-hint",
                         markup=False)

    def on_mount(self) -> None:
        self.query_one("#text", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if self.required and not text:
            self.query_one("#text-problem", Static).update("The message is required.")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TypedConfirmDialog(ModalScreen[bool]):
    """A danger confirmation that arms `y` only after `expected` (the number of devices) is typed and
    `enter` pressed; `esc` and `n` say no."""

    DEFAULT_CSS = """
    TypedConfirmDialog .dialog { border: thick $error; }
    TypedConfirmDialog Input { width: 100%; margin-bottom: 1; }
    """
    BINDINGS = [
        Binding("y", "yes", "Yes", show=False),
        Binding("n,escape", "no", "No"),
    ]

    def __init__(self, title: str, message: str, expected: str, *, confirm_label: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.expected = expected
        self.confirm_label = confirm_label
        self.armed = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield Static(self.message, classes="dialog-body", markup=False)
            yield Input(placeholder=f"type {self.expected} and enter", id="typed", compact=True)
            yield Static("", id="typed-problem", classes="dialog-problem", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.confirm_label} (y)", id="yes", variant="error", disabled=True)
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.query_one("#typed-problem", Static)
        if event.value.strip() != self.expected:
            problem.update(f"Type {self.expected}, the number of devices, to go on.")
            event.input.value = ""
            return
        self.armed = True
        event.input.disabled = True
        self.query_one("#yes", Button).disabled = False
        problem.update("Press y to send, n to cancel.")
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes" and self.armed)

    def action_yes(self) -> None:
        if self.armed:
            self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)
