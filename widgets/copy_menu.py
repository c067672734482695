"""What to copy, lazygit style: one letter per choice, each shown with the value it would copy."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

PREVIEW = 44
"""Characters of a value shown in the menu; the copy itself is whole."""


@dataclass(frozen=True, slots=True)
class CopyChoice:
    key: str
    label: str
    value: str


class CopyMenu(ModalScreen[CopyChoice | None]):
    """Its letter or enter on a choice dismisses with it; Esc with None."""

    DEFAULT_CSS = """
    CopyMenu OptionList, CopyMenu OptionList:focus { height: auto; max-height: 14; border: none; padding: 0; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, choices: Sequence[CopyChoice]) -> None:
        super().__init__()
        self.title_text = title
        self.choices = {choice.key: choice for choice in choices}

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="copy-menu"):
            yield Static(self.title_text, classes="dialog-title", markup=False)
            yield OptionList(*(Option(self._line(choice), id=choice.key) for choice in self.choices.values()))
            yield Static("letter or enter copies · esc cancel", classes="dialog-hint")

    @staticmethod
    def _line(choice: CopyChoice) -> Text:
        value = " ".join(choice.value.split())
        if len(value) > PREVIEW:
            value = value[: PREVIEW - 1] + "…"
        line = Text.assemble((f" {choice.key} ", "bold"), f" {choice.label:<12} ")
        line.append(value or "(empty)", style="dim")
        return line

    def on_key(self, event: events.Key) -> None:
        choice = self.choices.get(event.character or "")
        if choice is not None:
            event.stop()
            self.dismiss(choice)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[event.option.id or ""])

    def action_cancel(self) -> None:
        self.dismiss(None)
